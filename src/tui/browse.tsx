/**
 * Runs the TUI on a real terminal: the alternate screen (the shell's screen comes back on
 * quit), Ink on stdin/stdout, and the terminal restored however the app ends.
 */
import { appendFileSync } from 'node:fs';
import { render } from 'ink';
import type { Vfs } from '../vfs/vfs.js';
import { App } from './App.js';

export interface BrowseOptions {
  cwd: string;
  /** False when NO_COLOR is set (https://no-color.org): no colours, only bold/inverse. */
  color: boolean;
  start?: string;
}

export function colorWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return !(env.NO_COLOR !== undefined && env.NO_COLOR !== '');
}

/**
 * With DISKPICK_FIRST_SCREEN_FILE set (bench/tui.ts), the time from the process's start to the
 * first folder on screen and the CPU spent until then are appended to that file as JSON.
 */
function firstScreenReport(): void {
  const file = process.env.DISKPICK_FIRST_SCREEN_FILE;
  if (!file) return;
  const cpu = process.cpuUsage();
  appendFileSync(file, `${JSON.stringify({ wallMs: performance.now(), cpuMs: (cpu.user + cpu.system) / 1000 })}\n`);
}

/** Runs until `q` (resolves "quit") or Ctrl-C (resolves "interrupt"). */
export async function runBrowse(vfs: Vfs, opts: BrowseOptions): Promise<'quit' | 'interrupt'> {
  const out = process.stdout;
  out.write('\x1b[?1049h\x1b[H');
  const leave = () => out.write('\x1b[?1049l');
  process.once('exit', leave);
  try {
    let how: 'quit' | 'interrupt' = 'quit';
    // Ctrl-C is the app's own key: it stops a running restore before leaving.
    const app = render(<App vfs={vfs} cwd={opts.cwd} color={opts.color} start={opts.start} onQuit={(h) => { how = h; }} onFirstScreen={firstScreenReport} />, { exitOnCtrlC: false, patchConsole: true });
    await app.waitUntilExit();
    return how;
  } finally {
    process.off('exit', leave);
    leave();
  }
}
