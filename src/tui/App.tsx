/**
 * `diskpick browse`: one full-screen app with a few modes — the folder list, a pager
 * (preview, image info, help, restore summary), the restore prompts and the progress panel.
 * Everything it reads goes through the Vfs; every copy goes through the restore engine.
 */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactElement } from 'react';
import { basename } from 'node:path';
import { Box, Text, useApp, useInput, type Key } from 'ink';
import { DiskpickError } from '../errors.js';
import { displayName, humanSize } from '../present/names.js';
import { restore, type RestoreProgress } from '../restore/restore.js';
import { splitPath, type Vfs, type VfsNode } from '../vfs/vfs.js';
import { columnsFor, filterEntries, headerText, loadFolder, scrollTop, type Entry } from './listing.js';
import { hexLines, isBinary, PREVIEW_LIMIT, streamPreview, textLines } from './preview.js';
import { keyAction } from './keys.js';
import { helpLines, infoLines, summaryHeadline, summaryLines } from './panels.js';
import { findConflicts, resolveTarget } from './restore-plan.js';
import { useTerminalSize, type TermSize } from './use-terminal-size.js';
import { useLiveReducer } from './use-live-state.js';
import { initialState, reduce, type Mode, type PagerContent, type Status } from './state.js';
import { FileList } from './components/FileList.js';
import { Pager, pagerTop } from './components/Pager.js';
import { RestorePanel } from './components/RestorePanel.js';
import { fit, truncate } from './width.js';
import { progressView } from './progress.js';

export interface AppProps {
  vfs: Vfs;
  /** Default restore target. */
  cwd: string;
  color: boolean;
  /** Fixed size (tests); otherwise the terminal's, following resizes. */
  size?: TermSize;
  /** Folder to start in (default: the top level). */
  start?: string;
  /** Told how the app ends: `q`, or Ctrl-C (which also stops a running restore). */
  onQuit?: (how: 'quit' | 'interrupt') => void;
}

function messageOf(err: unknown): string {
  if (err instanceof DiskpickError) return err.toLine();
  return (err as Error)?.message ?? String(err);
}

/** Shortest time the restore progress panel stays on screen. */
const MIN_PROGRESS_MS = 800;

export function App({ vfs, cwd, color, size, start, onQuit }: AppProps) {
  const { exit } = useApp();
  const term = useTerminalSize(size);
  const width = Math.max(20, term.columns);
  // One row less than the terminal: Ink redraws the whole screen when output fills it.
  const height = Math.max(8, term.rows - 1);
  const bodyHeight = height - 4;
  const cols = useMemo(() => columnsFor(width), [width]);

  // The state keys act on is "live" (see useLiveReducer): a burst of keys acts in order.
  const [state, stateNow, dispatch] = useLiveReducer(reduce, () => initialState(vfs.root()));
  const { dir, entries, loading, filter, filtering, cursor, top, selected, mode, status } = state;
  const setMode = (m: Mode) => dispatch({ type: 'mode', mode: m });
  const setStatus = (st: Status | null) => dispatch({ type: 'status', status: st });
  const [progress, setProgress] = useState<RestoreProgress | null>(null);
  const [now, setNow] = useState(() => Date.now());

  const loadSeq = useRef(0);
  const pagerSeq = useRef(0);
  const previewAbort = useRef<AbortController | null>(null);
  const restoreAbort = useRef<AbortController | null>(null);
  const progressRef = useRef<RestoreProgress | null>(null);

  const view = useMemo(() => filterEntries(entries, filter), [entries, filter]);
  const renderedView = view;
  const renderedFilter = filter;
  const current: Entry | undefined = view[Math.min(cursor, view.length - 1)];

  const showError = (err: unknown) => setStatus({ text: messageOf(err), error: true });
  const showInfo = (text: string) => setStatus({ text, error: false });

  /** Opens folder `node`; the cursor lands on `focus` (the folder we came up from). */
  const openFolder = useCallback(async (node: VfsNode, focus?: string) => {
    const seq = ++loadSeq.current;
    dispatch({ type: 'loading', on: true });
    try {
      const list = await loadFolder(vfs, node);
      if (seq !== loadSeq.current) return;
      const at = focus ? Math.max(0, list.findIndex((e) => e.node.name === focus)) : 0;
      dispatch({ type: 'opened', dir: node, entries: list, cursor: at, top: Math.max(0, at - Math.floor(bodyHeight / 2)) });
    } catch (err) {
      if (seq === loadSeq.current) showError(err);
    } finally {
      if (seq === loadSeq.current) dispatch({ type: 'loading', on: false });
    }
  }, [vfs, bodyHeight]);

  useEffect(() => {
    void (async () => {
      if (!start) return openFolder(vfs.root());
      try {
        await openFolder(await vfs.lookup(start));
      } catch (err) {
        await openFolder(vfs.root());
        showError(err);
      }
    })();
  }, [vfs]);

  // The cursor stays inside the list and on screen (filtering and resizing move both). Worked
  // out while rendering, so a move and its scroll show in the same frame; then remembered.
  const shownCursor = Math.min(cursor, Math.max(0, view.length - 1));
  const shownTop = scrollTop(top, shownCursor, bodyHeight, view.length);
  useEffect(() => {
    if (shownCursor !== cursor || shownTop !== top) {
      dispatch({ type: 'shown', ...(shownCursor !== cursor ? { cursor: shownCursor } : {}), ...(shownTop !== top ? { top: shownTop } : {}) });
    }
  }, [shownCursor, shownTop]);

  // While a restore runs, the panel is redrawn 10 times a second from the last progress report.
  useEffect(() => {
    if (mode.kind !== 'restoring') return;
    const t = setInterval(() => {
      setProgress(progressRef.current ? { ...progressRef.current } : null);
      setNow(Date.now());
    }, 100);
    return () => clearInterval(t);
  }, [mode.kind]);

  const goUp = (dir: VfsNode) => {
    if (dir.path === '/') return;
    const parts = splitPath(dir.path);
    const name = parts.pop()!;
    void (async () => {
      try {
        await openFolder(await vfs.lookup(`/${parts.join('/')}`), name);
      } catch (err) {
        showError(err);
      }
    })();
  };

  const openPager = (title: string, content: PagerContent): number => {
    const id = ++pagerSeq.current;
    setMode({ kind: 'pager', title, content, top: 0, id });
    return id;
  };

  const preview = (e: Entry | undefined) => {
    if (!e) return;
    const st = e.node.stat;
    if (st.type === 'dir') return void openFolder(e.node);
    if (st.type === 'symlink') return showInfo(`${displayName(e.node.path)} is a symbolic link to ${displayName(st.symlinkTarget ?? '?')}`);
    if (st.type !== 'file') return showInfo(`${displayName(e.node.path)} is a ${st.type}; nothing to preview`);
    previewAbort.current?.abort();
    const abort = new AbortController();
    previewAbort.current = abort;
    const id = openPager(e.node.path, { type: 'preview', data: Buffer.alloc(0), done: false, size: st.size });
    streamPreview(vfs, e.node, (data, done) => {
      dispatch({ type: 'previewData', id, content: { type: 'preview', data, done, size: st.size } });
    }, abort.signal).catch((err) => {
      if (abort.signal.aborted) return;
      dispatch({ type: 'pagerFailed', id });
      showError(err);
    });
  };

  const closePager = () => {
    previewAbort.current?.abort();
    setMode({ kind: 'browse' });
  };

  const toggle = (nodes: VfsNode[]) => dispatch({ type: 'toggle', nodes });

  const beginRestore = (current: Entry | undefined) => {
    const sel = stateNow.current.selected;
    const nodes = sel.size ? [...sel.values()] : current ? [current.node] : [];
    if (!nodes.length) return showInfo('nothing to restore here');
    setMode({ kind: 'target', input: cwd, nodes });
  };

  const runRestore = async (nodes: VfsNode[], outDir: string, how: { force?: boolean; skipExisting?: boolean }) => {
    const abort = new AbortController();
    restoreAbort.current = abort;
    progressRef.current = null;
    setProgress(null);
    const started = Date.now();
    setNow(started);
    setMode({ kind: 'restoring', outDir, started, cancelling: false });
    try {
      const summary = await restore(vfs, nodes.map((node) => ({ node })), {
        outDir, ...how, signal: abort.signal,
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
      setMode({ kind: 'browse' });
      setStatus({ text: `restore failed: ${messageOf(err)}`, error: true });
    } finally {
      restoreAbort.current = null;
    }
  };

  const checkTarget = async (nodes: VfsNode[], input: string) => {
    const outDir = resolveTarget(input, cwd);
    setMode({ kind: 'checking', outDir });
    try {
      const c = await findConflicts(vfs, nodes, outDir);
      if (c.existing.length) setMode({ kind: 'confirm', nodes, outDir, existing: c.existing });
      else await runRestore(nodes, outDir, {});
    } catch (err) {
      setMode({ kind: 'browse' });
      setStatus({ text: `restore failed: ${messageOf(err)}`, error: true });
    }
  };

  const editTarget = (edit: (t: string) => string) => dispatch({ type: 'targetEdit', edit });

  const pagerLines = (m: Extract<Mode, { kind: 'pager' }>): string[] => {
    const c = m.content;
    if (c.type === 'lines') return c.lines;
    if (!c.data.length) return [c.done ? '(empty file)' : 'reading…'];
    const truncated = c.size > c.data.length;
    return isBinary(c.data, truncated) ? hexLines(c.data, width) : textLines(c.data, width);
  };
  const pagerView = mode.kind === 'pager' ? pagerLines(mode) : null;

  const onKey = (input: string, key: Key) => {
    const live = stateNow.current;
    const { mode, filter, dir } = live;
    const action = keyAction(mode.kind === 'browse' && live.filtering ? 'filtering' : mode.kind, input, key);
    if (!action) return;
    const view = live.entries === entries && filter === renderedFilter ? renderedView : filterEntries(live.entries, filter);
    const cursor = Math.min(live.cursor, Math.max(0, view.length - 1));
    const current: Entry | undefined = view[cursor];
    const page = Math.max(1, bodyHeight - 1);
    const last = view.length - 1;
    // Relative moves build on the latest cursor: keys may come faster than frames.
    const moveBy = (d: number) => dispatch({ type: 'moveBy', by: d, last });
    const cancelled = () => {
      setMode({ kind: 'browse' });
      showInfo('restore cancelled; nothing written');
    };
    switch (action.type) {
      case 'interrupt':
        restoreAbort.current?.abort();
        previewAbort.current?.abort();
        onQuit?.('interrupt');
        return exit();
      case 'quit':
        onQuit?.('quit');
        return exit();
      case 'pagerClose':
        return closePager();
      case 'scroll': {
        if (mode.kind !== 'pager') return;
        const n = pagerLines(mode).length;
        const d = action.unit === 'line' ? action.by : action.unit === 'page' ? action.by * page : action.by * n;
        return dispatch({ type: 'pagerScroll', top: pagerTop(mode.top, d, n, bodyHeight) });
      }
      case 'restoreCancel':
        return cancelled();
      case 'targetSubmit':
        if (mode.kind === 'target') void checkTarget(mode.nodes, mode.input);
        return;
      case 'targetBackspace':
        return editTarget((t) => t.slice(0, -1));
      case 'targetClear':
        return editTarget(() => '');
      case 'targetType':
        return editTarget((t) => t + action.text);
      case 'overwrite':
        if (mode.kind === 'confirm') void runRestore(mode.nodes, mode.outDir, { force: true });
        return;
      case 'skipExisting':
        if (mode.kind === 'confirm') void runRestore(mode.nodes, mode.outDir, { skipExisting: true });
        return;
      case 'restoreStop':
        if (mode.kind === 'restoring' && !mode.cancelling) {
          restoreAbort.current?.abort();
          dispatch({ type: 'restoreCancelling' });
        }
        return;
      case 'move':
        return moveBy(action.unit === 'page' ? action.by * page : action.by);
      case 'moveTo':
        return dispatch({ type: 'moveTo', index: action.to === 'first' ? 0 : last, last });
      case 'filterCancel':
      case 'filterDone':
      case 'filterBackspace':
      case 'clear':
        return dispatch({ type: action.type });
      case 'filterType':
      case 'filterStart':
        return dispatch(action);
      case 'toggle':
        if (!current) return;
        toggle(view.slice(cursor, cursor + action.count).map((e) => e.node));
        return moveBy(action.count);
      case 'toggleAll':
        return toggle(view.map((e) => e.node));
      case 'open':
        return preview(current);
      case 'up':
        return goUp(dir);
      case 'preview':
        if (current?.node.stat.type === 'dir') return showInfo(`${displayName(current.node.path)} is a folder: Enter opens it`);
        return preview(current);
      case 'info':
        return void openPager('Image', { type: 'lines', lines: infoLines(vfs.info()) });
      case 'help':
        return void openPager('Help', { type: 'lines', lines: helpLines() });
      case 'restore':
        return beginRestore(current);
    }
  };
  // The latest handler, set while rendering: a key that arrives before React's effects have
  // run still sees the state on screen, not the one before it.
  const keyHandler = useRef(onKey);
  keyHandler.current = onKey;
  useInput(useCallback((input: string, key: Key) => keyHandler.current(input, key), []));

  // Title line: where we are.
  const crumbs = [basename(vfs.imagePath), ...splitPath(dir.path).map(displayName)].join(' › ');
  let title: string;
  if (mode.kind === 'pager') title = `${basename(vfs.imagePath)} — ${displayName(mode.title)}`;
  else title = dir.path === '/' ? `${crumbs} › (volumes)` : crumbs;

  let body;
  let footer: string;
  if (mode.kind === 'pager') {
    const lines = pagerView!;
    body = <Pager lines={lines} top={mode.top} height={bodyHeight + 1} width={width} />;
    const c = mode.content;
    const note = c.type === 'preview'
      ? `${c.done ? '' : 'reading… '}${humanSize(c.data.length)} of ${humanSize(c.size)}${c.size > PREVIEW_LIMIT ? ' (first 64 KiB)' : ''}${c.data.length && isBinary(c.data, c.size > c.data.length) ? '  hex' : ''}`
      : '';
    footer = `lines ${Math.min(lines.length, mode.top + 1)}-${Math.min(lines.length, mode.top + bodyHeight + 1)} of ${lines.length}  ${note}`;
  } else if (mode.kind === 'restoring') {
    body = <RestorePanel outDir={mode.outDir} progress={progress} elapsedMs={(mode.finished ?? now) - mode.started} width={width} height={bodyHeight + 1} cancelling={mode.cancelling} color={color} />;
    footer = 'restoring…';
  } else {
    body = (
      <Box flexDirection="column">
        <Text bold wrap="truncate">{headerText(cols)}</Text>
        <FileList entries={view} cursor={shownCursor} top={shownTop} height={bodyHeight} cols={cols} selected={selected} color={color}
          empty={loading ? 'reading…' : filter ? `nothing matches "${filter}"` : '(empty folder)'} />
      </Box>
    );
    let selBytes = 0;
    let selDirs = 0;
    for (const n of selected.values()) {
      if (n.stat.type === 'dir') selDirs++;
      else if (n.stat.type === 'file') selBytes += n.stat.size;
    }
    const parts = [`${view.length ? shownCursor + 1 : 0}/${view.length}${filter || filtering ? ` of ${entries.length}` : ''}`];
    if (filtering || filter) parts.push(`filter: ${filter}${filtering ? '_' : ''}`);
    if (selected.size) parts.push(`selected: ${selected.size} (${humanSize(selBytes)}${selDirs ? ` + ${selDirs} folder${selDirs === 1 ? '' : 's'}` : ''})`);
    footer = parts.join('   ');
  }

  // The last line: a prompt, an error or message, or the keys.
  let bottom: ReactElement;
  if (mode.kind === 'target') {
    const what = mode.nodes.length === 1 ? displayName(mode.nodes[0]!.path) : `${mode.nodes.length} entries`;
    bottom = <Text wrap="truncate">{truncate(`Restore ${what} to: ${mode.input}_   (Enter starts, Esc cancels)`, width)}</Text>;
  } else if (mode.kind === 'checking') {
    bottom = <Text wrap="truncate">{truncate(`Checking ${mode.outDir}…`, width)}</Text>;
  } else if (mode.kind === 'confirm') {
    const first = mode.existing[0]!;
    const more = mode.existing.length > 1 ? ` and ${mode.existing.length - 1} more` : '';
    bottom = (
      <Text color={color ? 'yellow' : undefined} bold wrap="truncate">
        {truncate(`${first}${more} already exist${mode.existing.length === 1 ? 's' : ''}. Overwrite? y = overwrite, s = skip existing, n = cancel`, width)}
      </Text>
    );
  } else if (status) {
    bottom = <Text color={color && status.error ? 'red' : undefined} bold={status.error} wrap="truncate">{truncate(`${status.error ? 'error: ' : ''}${status.text}`, width)}</Text>;
  } else {
    const keys = mode.kind === 'pager'
      ? '↑↓ scroll  PgUp/PgDn  Home/End  Esc/q close'
      : mode.kind === 'restoring' ? 'Esc cancel' : '↑↓ move  Enter open  ← up  / filter  Space select  a all  p preview  i image  e restore  ? help  q quit';
    bottom = <Text dimColor={color} wrap="truncate">{truncate(keys, width)}</Text>;
  }

  return (
    <Box flexDirection="column" width={width} height={height}>
      <Text inverse={!color} bold color={color ? 'cyan' : undefined} wrap="truncate">{fit(` ${title}`, width)}</Text>
      {body}
      <Text inverse wrap="truncate">{fit(` ${footer}`, width)}</Text>
      {bottom}
    </Box>
  );
}
