/**
 * A one-line progress bar on stderr: files, bytes, rate, ETA. Shown only when stderr is a
 * terminal and the work has run longer than a second, so scripts and pipes see nothing extra.
 */
import { humanSize } from './entry-format.js';
import { networkBytesReceived } from '../source/remote.js';

export interface ProgressState {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export class ProgressBar {
  private readonly started = Date.now();
  private lastDraw = 0;
  private shown = false;
  private readonly enabled: boolean;
  /** Network bytes already received when the bar started (an image by URL: its opening). */
  private readonly netAtStart = networkBytesReceived();

  constructor(quiet = false, private readonly stream: NodeJS.WriteStream = process.stderr) {
    this.enabled = !quiet && !!stream.isTTY;
  }

  update(p: ProgressState): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.started < 1000 || now - this.lastDraw < 100) return;
    this.lastDraw = now;
    this.shown = true;
    this.stream.write(`\r${this.render(p, now)}\x1b[K`);
  }

  render(p: ProgressState, now = Date.now()): string {
    const secs = Math.max(0.001, (now - this.started) / 1000);
    const rate = p.bytesDone / secs;
    const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 0;
    const width = 24;
    const filled = Math.round(frac * width);
    const eta = rate > 0 && p.bytesTotal > p.bytesDone ? Math.ceil((p.bytesTotal - p.bytesDone) / rate) : 0;
    const etaText = eta >= 3600 ? `${Math.floor(eta / 3600)}h${String(Math.floor((eta % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(eta / 60)}:${String(eta % 60).padStart(2, '0')}`;
    // An image by URL: what the network delivers too (less than the rate where holes or cached
    // blocks need no transfer, more where metadata does).
    const net = networkBytesReceived() - this.netAtStart;
    const netText = net > 0 ? ` (network ${humanSize(net / secs)}/s)` : '';
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%  ${p.filesDone}/${p.filesTotal} files  ${humanSize(p.bytesDone)}/${humanSize(p.bytesTotal)}  ${humanSize(rate)}/s${netText}  ETA ${etaText}`;
  }

  done(): void {
    if (this.shown) this.stream.write('\r\x1b[K');
  }
}
