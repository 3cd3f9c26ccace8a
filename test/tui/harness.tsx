/**
 * Drives the real App over a real image with ink-testing-library: keys in, frames out.
 * waitFor polls the last frame, so tests never sleep for a fixed time.
 */
import { render } from 'ink-testing-library';
import { Vfs } from '../../src/vfs/vfs.js';
import { App } from '../../src/tui/App.js';

export const KEY = {
  up: '\u001B[A', down: '\u001B[B', right: '\u001B[C', left: '\u001B[D',
  pageUp: '\u001B[5~', pageDown: '\u001B[6~', home: '\u001B[H', end: '\u001B[F',
  enter: '\r', esc: '\u001B', tab: '\t', backspace: '\u007F', ctrlU: '\u0015',
} as const;

// eslint-disable-next-line no-control-regex
export const stripAnsi = (s: string) => s.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');

export interface Harness {
  vfs: Vfs;
  frame(): string;
  raw(): string;
  lines(): string[];
  press(...keys: string[]): Promise<void>;
  /** Writes all keys at once, each as its own read, without waiting for frames. */
  burst(...keys: string[]): void;
  waitFor(pred: (frame: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  rerender(props: Partial<Parameters<typeof App>[0]>): void;
  close(): Promise<void>;
}

export async function openApp(image: string, props: { cwd?: string; color?: boolean; size?: { columns: number; rows: number } } = {}): Promise<Harness> {
  const vfs = await Vfs.open(image);
  const base = { vfs, cwd: props.cwd ?? process.cwd(), color: props.color ?? false, size: props.size ?? { columns: 100, rows: 30 } };
  const inst = render(<App {...base} />);
  const raw = () => inst.lastFrame() ?? '';
  const frame = () => stripAnsi(raw());
  const h: Harness = {
    vfs,
    frame,
    raw,
    lines: () => frame().split('\n'),
    async press(...keys) {
      for (const k of keys) {
        const n = inst.frames.length;
        inst.stdin.write(k);
        // One key at a time, like a person: the next key once this one has been drawn (every
        // key here changes the screen), or after 300 ms on a busy machine.
        const t0 = Date.now();
        while (inst.frames.length === n && Date.now() - t0 < 300) await new Promise((r) => setTimeout(r, 2));
      }
    },
    async waitFor(pred, what, timeoutMs = 10_000) {
      const t0 = Date.now();
      for (;;) {
        const f = frame();
        if (pred(f)) return f;
        if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; screen was:\n${f}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
    burst(...keys) {
      for (const k of keys) inst.stdin.write(k);
    },
    rerender(p) {
      inst.rerender(<App {...base} {...p} />);
    },
    async close() {
      inst.unmount();
      inst.cleanup();
      await vfs.close();
    },
  };
  await h.waitFor((f) => !f.includes('reading…'), 'the top level');
  // Ink drops a key written before its stdin reader is set up; give it a moment.
  await new Promise((r) => setTimeout(r, 200));
  return h;
}
