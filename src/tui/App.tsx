/**
 * `diskpick browse`: one full-screen app with a few modes — the folder list, a pager
 * (preview, image info, help, restore summary), the restore prompts and the progress panel.
 * Everything it reads goes through the Vfs; every copy goes through the restore engine.
 */
import { useCallback, useEffect, useMemo, useRef } from 'react';
import { Box, Text, useApp, type Key } from 'ink';
import { DiskpickError } from '../errors.js';
import { displayName, humanSize } from '../present/names.js';
import { splitPath, type Vfs, type VfsNode } from '../vfs/vfs.js';
import { columnsFor, filterEntries, folderBytes, headerText, loadFolder, scrollTop, type Entry } from './listing.js';
import { hexLines, isBinary, PREVIEW_LIMIT, textLines } from './preview.js';
import { keyAction } from './keys.js';
import { helpLines, infoLines } from './panels.js';
import { initialState, reduce, type Action, type BrowseState, type Mode, type Status } from './state.js';
import { useTerminalSize, type TermSize } from './use-terminal-size.js';
import { useLiveReducer } from './use-live-state.js';
import { useKeyQueue } from './use-key-queue.js';
import { usePreview } from './use-preview.js';
import { useRestore } from './use-restore.js';
import { useUnlock } from './use-unlock.js';
import { FileList } from './components/FileList.js';
import { Pager, pagerTop } from './components/Pager.js';
import { RestorePanel } from './components/RestorePanel.js';
import { StatusLine } from './components/StatusLine.js';
import { TitleLine } from './components/TitleLine.js';
import { VersionsPanel } from './components/VersionsPanel.js';
import { useVersions } from './use-versions.js';
import { UnlockPrompt } from './components/UnlockPrompt.js';
import { fit, wrapWords } from './width.js';

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
  /** Called once, when the first folder is on screen (start-up measurements). */
  onFirstScreen?: () => void;
}

function messageOf(err: unknown): string {
  if (err instanceof DiskpickError) return err.toLine();
  return (err as Error)?.message ?? String(err);
}

export function App({ vfs, cwd, color, size, start, onQuit, onFirstScreen }: AppProps) {
  const { exit } = useApp();
  const term = useTerminalSize(size);
  const width = Math.max(20, term.columns);
  // One row less than the terminal: Ink redraws the whole screen when output fills it.
  const height = Math.max(8, term.rows - 1);
  const bodyHeight = height - 4;
  const cols = useMemo(() => columnsFor(width), [width]);

  // The state keys act on is "live" (see useLiveReducer): a burst of keys acts in order.
  const [state, stateNow, dispatchNow] = useLiveReducer(reduce, () => initialState(vfs.root()));
  // Keys that waited for a folder read or a check go on after the change that ends the wait.
  const resumeKeys = useRef<() => void>(() => {});
  const dispatch = useCallback((a: Action) => {
    dispatchNow(a);
    resumeKeys.current();
  }, []);
  const { dir, entries, loading, filter, filtering, cursor, top, selected, mode, status } = state;
  const setMode = (m: Mode) => dispatch({ type: 'mode', mode: m });
  const setStatus = (st: Status | null) => dispatch({ type: 'status', status: st });

  const loadSeq = useRef(0);
  const firstShown = useRef(false);
  useEffect(() => {
    if (loading || firstShown.current) return;
    firstShown.current = true;
    onFirstScreen?.();
  }, [loading]);

  const view = useMemo(() => filterEntries(entries, filter), [entries, filter]);
  const renderedView = view;
  const renderedFilter = filter;

  const showError = (err: unknown) => setStatus({ text: messageOf(err), error: true });
  const showInfo = (text: string) => setStatus({ text, error: false });
  const pager = usePreview(vfs, dispatch, showError);
  const versions = useVersions({ vfs, cwd, showInfo, showError });
  const restoring = useRestore({ vfs, cwd, width, state: stateNow, modeKind: mode.kind, dispatch, openPager: pager.openPager, messageOf });

  // A locked encrypted volume asks for its key when opened (use-unlock.ts).
  // Once opened, the folder it is in is read again (an LVM2 PV inside adds its VG's folder at
  // the top), then the volume itself is opened.
  const unlock = useUnlock(vfs, (node) => void (async () => {
    await openFolderRef.current(stateNow.current.dir, node.name);
    await openFolderRef.current(node);
  })());
  const unlockRef = useRef(unlock);
  unlockRef.current = unlock;

  /** Opens folder `node`; the cursor lands on `focus` (the folder we came up from). */
  const openFolder = useCallback(async (node: VfsNode, focus?: string) => {
    if (unlockRef.current.ask(node)) return;
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
  const openFolderRef = useRef(openFolder);
  openFolderRef.current = openFolder;

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

  const goUp = (dir: VfsNode) => {
    if (dir.path === '/') return;
    const parts = splitPath(dir.path);
    const name = parts.pop()!;
    // Loading from now on, so keys typed after this one wait for the parent folder.
    dispatch({ type: 'loading', on: true });
    void (async () => {
      try {
        await openFolder(await vfs.lookup(`/${parts.join('/')}`), name);
      } catch (err) {
        dispatch({ type: 'loading', on: false });
        showError(err);
      }
    })();
  };

  const preview = (e: Entry | undefined) => {
    if (!e) return;
    const st = e.node.stat;
    if (st.type === 'dir') return void openFolder(e.node);
    if (st.type === 'symlink') return showInfo(`${displayName(e.node.path)} is a symbolic link to ${displayName(st.symlinkTarget ?? '?')}`);
    if (st.type !== 'file') return showInfo(`${displayName(e.node.path)} is a ${st.type}; nothing to preview`);
    pager.previewFile(e.node);
  };

  // `z`: each folder in view is walked (every file under it, one folder at a time), its total
  // shown as soon as it is known; leaving the folder stops the walk.
  const sizing = useRef<AbortController | null>(null);
  useEffect(() => () => sizing.current?.abort(), [dir]);
  const sizeFolders = (folder: VfsNode, list: Entry[]) => {
    const dirs = list.filter((e) => e.isDir && e.node.place.kind !== 'volume' && e.bytes === undefined);
    if (!dirs.length) return showInfo(list.some((e) => e.isDir) ? 'folder sizes already shown' : 'no folders here');
    sizing.current?.abort();
    const mine = new AbortController();
    sizing.current = mine;
    showInfo(`adding up ${dirs.length} folder${dirs.length === 1 ? '' : 's'}…`);
    void (async () => {
      try {
        for (const e of dirs) {
          const bytes = await folderBytes(vfs, e.node, mine.signal);
          if (mine.signal.aborted || stateNow.current.dir !== folder) return;
          dispatch({ type: 'folderSize', path: e.node.path, bytes });
        }
        showInfo(`sizes of ${dirs.length} folder${dirs.length === 1 ? '' : 's'} added up (file sizes, as du --apparent-size)`);
      } catch (err) {
        if (!mine.signal.aborted) showError(err);
      }
    })();
  };

  const toggle = (nodes: VfsNode[]) => dispatch({ type: 'toggle', nodes });

  const editTarget = (edit: (t: string) => string) => dispatch({ type: 'targetEdit', edit });

  const pagerLines = (m: Extract<Mode, { kind: 'pager' }>): string[] => {
    const c = m.content;
    // Panels of text (help, image, summary) wrap at words, so a narrow terminal shows them whole.
    if (c.type === 'lines') return c.lines.flatMap((l) => wrapWords(l, width));
    if (!c.data.length) return [c.done ? '(empty file)' : 'reading…'];
    const truncated = c.size > c.data.length;
    return isBinary(c.data, truncated) ? hexLines(c.data, width) : textLines(c.data, width);
  };
  const pagerView = mode.kind === 'pager' ? pagerLines(mode) : null;

  const onKey = (input: string, key: Key) => {
    // The versions panel, while it is up, takes the keys (Ctrl-C excepted).
    if (versions.onKey(input, key)) return;
    if (unlock.onKey(input, key)) return;
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
        // The app ends once a running restore has removed its partial file (as Esc does).
        pager.stop();
        onQuit?.('interrupt');
        void restoring.stop().then(() => exit());
        return;
      case 'quit':
        onQuit?.('quit');
        return exit();
      case 'pagerClose':
        return pager.closePager();
      case 'scroll': {
        if (mode.kind !== 'pager') return;
        const n = pagerLines(mode).length;
        const d = action.unit === 'line' ? action.by : action.unit === 'page' ? action.by * page : action.by * n;
        return dispatch({ type: 'pagerScroll', top: pagerTop(mode.top, d, n, bodyHeight + 1) });
      }
      case 'restoreCancel':
        return cancelled();
      case 'targetSubmit':
        if (mode.kind === 'target') void restoring.check(mode.nodes, mode.input);
        return;
      case 'targetBackspace':
        return editTarget((t) => t.slice(0, -1));
      case 'targetClear':
        return editTarget(() => '');
      case 'targetType':
        return editTarget((t) => t + action.text);
      case 'overwrite':
        if (mode.kind === 'confirm') void restoring.run(mode.nodes, mode.outDir, { force: true });
        return;
      case 'skipExisting':
        if (mode.kind === 'confirm') void restoring.run(mode.nodes, mode.outDir, { skipExisting: true });
        return;
      case 'restoreStop':
        if ((mode.kind === 'restoring' && !mode.cancelling) || mode.kind === 'checking') restoring.cancel();
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
        return void pager.openPager('Image', { type: 'lines', lines: infoLines(vfs.info()) });
      case 'help':
        return void pager.openPager('Help', { type: 'lines', lines: helpLines() });
      case 'restore':
        return restoring.begin(current?.node);
      case 'sort':
        return dispatch({ type: 'sortNext' });
      case 'folderSizes':
        return sizeFolders(live.dir, live.entries);
      case 'versions':
        return versions.show(current?.node);
    }
  };
  // Every key, in order: keys wait while a folder is read or a restore target checked.
  const busy = (s: BrowseState) => s.loading || s.mode.kind === 'checking';
  resumeKeys.current = useKeyQueue(onKey, () => busy(stateNow.current), (input, key) => {
    const live = stateNow.current;
    if (!busy(live)) return true;
    // While busy, only a key that means something there acts at once (`q` in the list).
    const act = keyAction(live.mode.kind === 'browse' && live.filtering ? 'filtering' : live.mode.kind, input, key);
    return live.mode.kind === 'checking' ? act !== null : act?.type === 'quit';
  });

  let body;
  let footer: string;
  if (versions.view && mode.kind === 'browse') {
    body = <VersionsPanel view={versions.view} width={width} height={bodyHeight + 1} imagePath={vfs.imagePath} />;
    footer = `${versions.view.rows ? versions.view.rows.length : '…'} points in time`;
  } else if (mode.kind === 'pager') {
    const lines = pagerView!;
    body = <Pager lines={lines} top={mode.top} height={bodyHeight + 1} width={width} />;
    const c = mode.content;
    const note = c.type === 'preview'
      ? `${c.done ? '' : 'reading… '}${humanSize(c.data.length)} of ${humanSize(c.size)}${c.size > PREVIEW_LIMIT ? ' (first 64 KiB)' : ''}${c.data.length && isBinary(c.data, c.size > c.data.length) ? '  hex' : ''}`
      : '';
    footer = `lines ${Math.min(lines.length, mode.top + 1)}-${Math.min(lines.length, mode.top + bodyHeight + 1)} of ${lines.length}  ${note}`;
  } else if (mode.kind === 'restoring') {
    body = <RestorePanel outDir={mode.outDir} progress={restoring.progress} elapsedMs={(mode.finished ?? restoring.now) - mode.started} width={width} height={bodyHeight + 1} cancelling={mode.cancelling} color={color} />;
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
    if (state.sort !== 'name') parts.push(`by ${state.sort}`);
    if (selected.size) parts.push(`selected: ${selected.size} (${humanSize(selBytes)}${selDirs ? ` + ${selDirs} folder${selDirs === 1 ? '' : 's'}` : ''})`);
    footer = parts.join('   ');
  }

  return (
    <Box flexDirection="column" width={width} height={height}>
      <TitleLine imagePath={vfs.imagePath} dir={dir} mode={mode} width={width} color={color} />
      {body}
      <Text inverse wrap="truncate">{fit(` ${footer}`, width)}</Text>
      {unlock.asking ? <UnlockPrompt state={unlock.asking} width={width} color={color} /> : <StatusLine mode={mode} status={status} width={width} color={color} />}
    </Box>
  );
}
