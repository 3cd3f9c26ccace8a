/** The restore progress bar: files, bytes, rate and ETA, fitted to the terminal width. */
import { humanSize } from '../present/names.js';
import type { RestoreProgress } from '../restore/restore.js';

export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.ceil(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

export interface ProgressView {
  bar: string;
  counts: string;
}

export function progressView(p: RestoreProgress, elapsedMs: number, width: number): ProgressView {
  const frac = p.bytesTotal > 0 ? Math.min(1, p.bytesDone / p.bytesTotal) : p.filesTotal > 0 ? p.filesDone / p.filesTotal : 0;
  const pct = `${(frac * 100).toFixed(0).padStart(3)}%`;
  const barWidth = Math.max(10, width - pct.length - 3);
  const filled = Math.round(frac * barWidth);
  const secs = elapsedMs / 1000;
  const rate = secs > 0 ? p.bytesDone / secs : 0;
  const eta = rate > 0 ? (p.bytesTotal - p.bytesDone) / rate : Number.NaN;
  return {
    bar: `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${pct}`,
    // Nothing copied (all skipped): no rate to show (issue 20).
    counts: `${p.filesDone}/${p.filesTotal} files  ${humanSize(p.bytesDone)} of ${humanSize(p.bytesTotal)}${p.bytesDone > 0 ? `  ${humanSize(Math.round(rate))}/s  ETA ${formatEta(eta)}` : ''}`,
  };
}
