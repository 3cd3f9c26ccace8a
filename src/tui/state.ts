/**
 * The browser's state and every change to it, as a pure reducer: the folder shown and its
 * entries, the filter, the cursor and scroll, the selection, the mode (list, pager, restore
 * prompts, progress) and the status line. App.tsx dispatches; keys.ts says what a key means.
 */
import type { VfsNode } from '../vfs/vfs.js';
import { humanSize } from '../present/names.js';
import { filterEntries, sortEntries, SORT_KEYS, type Entry, type SortKey } from './listing.js';

export type PagerContent =
  | { type: 'lines'; lines: string[] }
  | { type: 'preview'; data: Buffer; done: boolean; size: number };

export type Mode =
  | { kind: 'browse' }
  | { kind: 'pager'; title: string; content: PagerContent; top: number; id: number }
  | { kind: 'target'; input: string; nodes: VfsNode[] }
  | { kind: 'checking'; outDir: string }
  | { kind: 'confirm'; nodes: VfsNode[]; outDir: string; existing: string[] }
  | { kind: 'restoring'; outDir: string; started: number; finished?: number; cancelling: boolean };

export interface Status {
  text: string;
  error: boolean;
}

export interface BrowseState {
  dir: VfsNode;
  entries: Entry[];
  loading: boolean;
  filter: string;
  filtering: boolean;
  cursor: number;
  top: number;
  /** Selected entries by path. */
  selected: Map<string, VfsNode>;
  mode: Mode;
  status: Status | null;
  /** The order of the list; kept from folder to folder. */
  sort: SortKey;
}

export type Action =
  | { type: 'loading'; on: boolean }
  /** A folder was read: show it, unfiltered, the cursor on `cursor`. */
  | { type: 'opened'; dir: VfsNode; entries: Entry[]; cursor: number; top: number }
  | { type: 'status'; status: Status | null }
  /** Cursor moves; `last` is the last index of the list as shown (filtered). */
  | { type: 'moveBy'; by: number; last: number }
  | { type: 'moveTo'; index: number; last: number }
  /**
   * The cursor or scroll as rendered where rendering had to correct them (kept inside the list
   * and on screen); only what was corrected, so keys that came meanwhile are not undone.
   */
  | { type: 'shown'; cursor?: number; top?: number }
  | { type: 'filterStart'; text: string }
  | { type: 'filterType'; text: string }
  | { type: 'filterBackspace' }
  | { type: 'filterDone' }
  | { type: 'filterCancel' }
  /** Esc in the list: the filter and the status line go. */
  | { type: 'clear' }
  /** Selects `nodes`, or unselects them when all are selected (or as `on` says). */
  | { type: 'toggle'; nodes: VfsNode[]; on?: boolean }
  | { type: 'selectNone' }
  | { type: 'mode'; mode: Mode }
  | { type: 'pagerScroll'; top: number }
  /** Preview bytes for pager `id` (ignored when that pager has been closed). */
  | { type: 'previewData'; id: number; content: PagerContent }
  /** Pager `id` goes back to the list, if it is still open. */
  | { type: 'pagerFailed'; id: number }
  | { type: 'targetEdit'; edit: (input: string) => string }
  /** `s`: the next order (name, size, time); the cursor stays on its entry. */
  | { type: 'sortNext' }
  /** A folder's total size was worked out (`z`); ignored once another folder is shown. */
  | { type: 'folderSize'; path: string; bytes: number }
  | { type: 'restoreFinished'; at: number }
  | { type: 'restoreCancelling' };

export function initialState(dir: VfsNode): BrowseState {
  return { dir, entries: [], loading: true, filter: '', filtering: false, cursor: 0, top: 0, selected: new Map(), mode: { kind: 'browse' }, status: null, sort: 'name' };
}

const clamp = (n: number, last: number) => Math.max(0, Math.min(last, n));

export function reduce(s: BrowseState, a: Action): BrowseState {
  switch (a.type) {
    case 'loading':
      return s.loading === a.on ? s : { ...s, loading: a.on };
    case 'opened': {
      if (s.sort === 'name') return { ...s, dir: a.dir, entries: a.entries, filter: '', filtering: false, cursor: a.cursor, top: a.top, status: null };
      // The folder comes in name order; shown in the chosen one, the cursor on the same entry.
      const focus = a.entries[a.cursor];
      const entries = sortEntries([...a.entries], s.sort);
      const cursor = focus ? Math.max(0, entries.indexOf(focus)) : 0;
      return { ...s, dir: a.dir, entries, filter: '', filtering: false, cursor, top: Math.max(0, a.top + cursor - a.cursor), status: null };
    }
    case 'sortNext': {
      const sort = SORT_KEYS[(SORT_KEYS.indexOf(s.sort) + 1) % SORT_KEYS.length]!;
      return resorted({ ...s, sort });
    }
    case 'folderSize': {
      const i = s.entries.findIndex((e) => e.node.path === a.path);
      if (i < 0) return s;
      const entries = [...s.entries];
      entries[i] = { ...entries[i]!, bytes: a.bytes, size: humanSize(a.bytes) };
      return s.sort === 'size' ? resorted({ ...s, entries }) : { ...s, entries };
    }
    case 'status':
      return { ...s, status: a.status };
    case 'moveBy':
      return { ...s, cursor: clamp(s.cursor + a.by, a.last) };
    case 'moveTo':
      return { ...s, cursor: clamp(a.index, a.last) };
    case 'shown': {
      const cursor = a.cursor ?? s.cursor;
      const top = a.top ?? s.top;
      return s.cursor === cursor && s.top === top ? s : { ...s, cursor, top };
    }
    case 'filterStart':
      // "/" opens the prompt over the current filter; "/abc" typed in one burst replaces it.
      return a.text ? { ...s, filtering: true, filter: a.text, cursor: 0 } : { ...s, filtering: true };
    case 'filterType':
      return { ...s, filter: s.filter + a.text, cursor: 0 };
    case 'filterBackspace':
      return s.filter ? { ...s, filter: s.filter.slice(0, -1) } : { ...s, filtering: false };
    case 'filterDone':
      return { ...s, filtering: false };
    case 'filterCancel':
      return { ...s, filter: '', filtering: false };
    case 'clear':
      return { ...s, filter: '', status: null };
    case 'toggle': {
      const next = new Map(s.selected);
      const on = a.on ?? !a.nodes.every((n) => next.has(n.path));
      for (const n of a.nodes) {
        if (on) next.set(n.path, n);
        else next.delete(n.path);
      }
      return { ...s, selected: next };
    }
    case 'selectNone':
      return { ...s, selected: new Map() };
    case 'mode':
      return { ...s, mode: a.mode };
    case 'pagerScroll':
      return s.mode.kind === 'pager' ? { ...s, mode: { ...s.mode, top: a.top } } : s;
    case 'previewData':
      return s.mode.kind === 'pager' && s.mode.id === a.id ? { ...s, mode: { ...s.mode, content: a.content } } : s;
    case 'pagerFailed':
      return s.mode.kind === 'pager' && s.mode.id === a.id ? { ...s, mode: { kind: 'browse' } } : s;
    case 'targetEdit':
      return s.mode.kind === 'target' ? { ...s, mode: { ...s.mode, input: a.edit(s.mode.input) } } : s;
    case 'restoreFinished':
      return s.mode.kind === 'restoring' ? { ...s, mode: { ...s.mode, finished: a.at } } : s;
    case 'restoreCancelling':
      return s.mode.kind === 'restoring' ? { ...s, mode: { ...s.mode, cancelling: true } } : s;
  }
}

/** `s` with its entries in its sort order, the cursor on the entry it was on. */
function resorted(s: BrowseState): BrowseState {
  const view = filterEntries(s.entries, s.filter);
  const current = view[Math.min(s.cursor, view.length - 1)];
  const entries = sortEntries([...s.entries], s.sort);
  const cursor = current ? Math.max(0, filterEntries(entries, s.filter).indexOf(current)) : 0;
  return { ...s, entries, cursor };
}
