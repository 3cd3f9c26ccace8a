import { useEffect, useRef, useState, type MutableRefObject } from 'react';
import { restore, type RestoreProgress } from '../restore/restore.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { summaryHeadline, summaryLines } from './panels.js';
import { progressView } from './progress.js';
import { findConflicts, resolveTarget } from './restore-plan.js';
import type { Action, BrowseState, PagerContent, Status } from './state.js';

/** Shortest time the restore progress panel stays on screen. */
const MIN_PROGRESS_MS = 800;

/**
 * Restoring from the browser: the target prompt, the check for files already there, the copy
 * through the restore engine with its progress panel (redrawn 10 times a second), the summary.
 */
export function useRestore(opts: {
  vfs: Vfs;
  cwd: string;
  width: number;
  state: MutableRefObject<BrowseState>;
  modeKind: BrowseState['mode']['kind'];
  dispatch: (a: Action) => void;
  openPager: (title: string, content: PagerContent) => number;
  messageOf: (err: unknown) => string;
}) {
  const { vfs, cwd, width, state, modeKind, dispatch, openPager, messageOf } = opts;
  const [progress, setProgress] = useState<RestoreProgress | null>(null);
  const [now, setNow] = useState(() => Date.now());
  const abort = useRef<AbortController | null>(null);
  /** The running restore (planning or copying), settled when its partial file is removed. */
  const running = useRef<Promise<unknown> | null>(null);
  const progressRef = useRef<RestoreProgress | null>(null);
  const setStatus = (status: Status) => dispatch({ type: 'status', status });

  // While a restore runs, the panel is redrawn 10 times a second from the last progress report.
  useEffect(() => {
    if (modeKind !== 'restoring') return;
    const t = setInterval(() => {
      setProgress(progressRef.current ? { ...progressRef.current } : null);
      setNow(Date.now());
    }, 100);
    return () => clearInterval(t);
  }, [modeKind]);

  /** `e`: the selection, or the entry under the cursor, to a target to be typed. */
  const begin = (current: VfsNode | undefined) => {
    const sel = state.current.selected;
    const nodes = sel.size ? [...sel.values()] : current ? [current] : [];
    if (!nodes.length) return setStatus({ text: 'nothing to restore here', error: false });
    dispatch({ type: 'mode', mode: { kind: 'target', input: cwd, nodes } });
  };

  const run = (nodes: VfsNode[], outDir: string, how: { force?: boolean; skipExisting?: boolean }) => {
    const p = runRestore(nodes, outDir, how);
    running.current = p;
    return p.finally(() => {
      if (running.current === p) running.current = null;
    });
  };

  const runRestore = async (nodes: VfsNode[], outDir: string, how: { force?: boolean; skipExisting?: boolean }) => {
    const mine = new AbortController();
    abort.current = mine;
    progressRef.current = null;
    setProgress(null);
    const started = Date.now();
    setNow(started);
    dispatch({ type: 'mode', mode: { kind: 'restoring', outDir, started, cancelling: false } });
    try {
      const summary = await restore(vfs, nodes.map((node) => ({ node })), {
        outDir, ...how, signal: mine.signal,
        onProgress: (p) => {
          progressRef.current = p;
        },
      });
      // A fast restore keeps its progress panel up for a moment, so it is seen, not flashed;
      // its rate and the summary's are those of the copy alone.
      const shown = Date.now() - started;
      dispatch({ type: 'restoreFinished', at: started + shown });
      if (shown < MIN_PROGRESS_MS && !summary.cancelled) await new Promise((r) => setTimeout(r, MIN_PROGRESS_MS - shown));
      if (!summary.cancelled && summary.failed.length === 0) dispatch({ type: 'selectNone' });
      setStatus({ text: summaryHeadline(summary, outDir), error: summary.failed.length > 0 });
      // The final state of the progress bar stays on top of the summary: a fast restore is over
      // before its progress panel has been seen.
      const last = progressRef.current;
      const bar = last ? progressView(last, shown, width - 2) : null;
      const lines = bar ? [bar.bar, bar.counts, '', ...summaryLines(summary, outDir)] : summaryLines(summary, outDir);
      openPager(summary.cancelled ? 'Restore cancelled' : 'Restore finished', { type: 'lines', lines });
    } catch (err) {
      dispatch({ type: 'mode', mode: { kind: 'browse' } });
      setStatus({ text: `restore failed: ${messageOf(err)}`, error: true });
    } finally {
      abort.current = null;
    }
  };

  /** Enter in the target prompt: asks before overwriting, else copies. */
  const check = async (nodes: VfsNode[], input: string) => {
    const outDir = resolveTarget(input, cwd);
    const mine = new AbortController();
    abort.current = mine;
    dispatch({ type: 'mode', mode: { kind: 'checking', outDir } });
    try {
      const c = await findConflicts(vfs, nodes, outDir, mine.signal);
      if (mine.signal.aborted) {
        dispatch({ type: 'mode', mode: { kind: 'browse' } });
        setStatus({ text: 'restore cancelled; nothing written', error: false });
      } else if (c.existing.length) dispatch({ type: 'mode', mode: { kind: 'confirm', nodes, outDir, existing: c.existing } });
      else await run(nodes, outDir, {});
    } catch (err) {
      dispatch({ type: 'mode', mode: { kind: 'browse' } });
      setStatus({ text: `restore failed: ${messageOf(err)}`, error: true });
    } finally {
      if (abort.current === mine) abort.current = null;
    }
  };

  /** Esc while checking or copying: the engine stops, removing the file it was writing. */
  const cancel = () => {
    abort.current?.abort();
    dispatch({ type: 'restoreCancelling' });
  };

  /**
   * Ctrl-C (or SIGTERM/SIGHUP): stop at once, as Esc does, and resolve once the file being
   * written has been removed, so the app may exit then (issue 20: Ctrl-C left a partial file).
   */
  const stop = async (): Promise<void> => {
    abort.current?.abort();
    await running.current?.catch(() => undefined);
  };

  // A kill or a closed terminal while copying cleans up as Ctrl-C does, then exits.
  useEffect(() => {
    if (modeKind !== 'restoring' && modeKind !== 'checking') return;
    const sigs: NodeJS.Signals[] = ['SIGTERM', 'SIGHUP'];
    const h = (sig: NodeJS.Signals) => {
      void stop().then(() => process.exit(128 + (sig === 'SIGHUP' ? 1 : 15)));
    };
    for (const s of sigs) process.on(s, h);
    return () => {
      for (const s of sigs) process.off(s, h);
    };
  }, [modeKind]);

  return { progress, now, begin, run, check, cancel, stop };
}
