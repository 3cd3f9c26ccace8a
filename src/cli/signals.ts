/**
 * The signals that end a copy from outside: Ctrl-C (SIGINT), a kill or a systemd timeout
 * (SIGTERM), a closed SSH session or terminal (SIGHUP), a closed pipe (SIGPIPE). Each stops the
 * copy the same way, so that what it was writing is removed, never left cut short under its
 * name (issue 20: a SIGTERM or SIGHUP left 1 045 430 272 of 1 258 291 200 bytes under the real
 * name). Exit codes follow the shell's 128 + signal number.
 */
import { constants } from 'node:os';

export const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE'];

let keepPipeIgnored = false;

export function signalExitCode(sig: NodeJS.Signals): number {
  return 128 + (constants.signals[sig] ?? 2);
}

/**
 * Calls `stop` on the first stop signal (later ones are swallowed while the cleanup runs, so a
 * second Ctrl-C cannot kill the process half-way through it). `signal` names the first.
 */
export function onStopSignals(stop: () => void): { readonly signal: NodeJS.Signals | null; off: () => void } {
  let first: NodeJS.Signals | null = null;
  const handlers = STOP_SIGNALS.map((sig) => {
    const h = () => {
      if (first) return;
      first = sig;
      stop();
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  // With the terminal gone (SIGHUP) writes to it fail: the cleanup and the exit must still
  // happen (kept for the rest of the process: the summary is written after off()).
  if (!process.stderr.listenerCount('error')) process.stderr.on('error', () => undefined);
  // Node ignores SIGPIPE; removing the last listener would give it back its default action
  // (death on the next write to a closed pipe), so one listener that does nothing stays.
  if (!keepPipeIgnored) {
    keepPipeIgnored = true;
    process.on('SIGPIPE', () => undefined);
  }
  return {
    get signal() {
      return first;
    },
    off: () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
  };
}
