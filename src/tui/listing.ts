/**
 * What one folder shows: entries sorted folders first, the filter, and the text of each
 * row (name, size, modified) fitted to the terminal width by display width.
 */
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { displayName, humanSize } from '../present/names.js';
import type { Timespec } from '../fs/types.js';
import { fit } from './width.js';

export interface Entry {
  node: VfsNode;
  /** The name as shown (control characters escaped; a symlink with " -> target"). */
  label: string;
  /** Lower-cased name, for the filter. */
  key: string;
  isDir: boolean;
  /** Size column text. */
  size: string;
  /** Modified column text. */
  modified: string;
  /** A folder's total size, once asked for (`z`): the sum of the file sizes under it. */
  bytes?: number;
}

/** The orders a folder can be listed in (`s` goes round them); folders always come first. */
export type SortKey = 'name' | 'size' | 'time';
export const SORT_KEYS: readonly SortKey[] = ['name', 'size', 'time'];

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });

/** `2024-03-01 14:05` (UTC, like `ls -l` in the CLI). */
export function shortDate(t: Timespec | undefined): string {
  if (!t) return '';
  const d = new Date(t.sec * 1000);
  return Number.isNaN(d.getTime()) ? '?' : d.toISOString().slice(0, 16).replace('T', ' ');
}

/** Volume rows at the top level say what is on them: label, filesystem (or why none), size. */
function volumeLabel(node: VfsNode): string {
  if (node.place.kind !== 'volume') return displayName(node.name);
  const v = node.place.vol;
  const parts: string[] = [];
  if (v.fs) {
    if (v.fs.info.label) parts.push(displayName(v.fs.info.label));
    parts.push(v.fs.info.type);
  } else if (v.node.system) {
    parts.push(v.node.system.describe);
  } else if (v.node.content) {
    parts.push(`${v.node.content.type} (not read)`);
  } else if (v.kids) {
    parts.push(v.node.what);
  } else {
    parts.push(`no filesystem: ${v.fsError?.message ?? 'unknown'}`);
  }
  if (v.volume.name) parts.push(`"${displayName(v.volume.name)}"`);
  return `${node.name}  ${parts.join('  ')}`;
}

export function toEntry(node: VfsNode): Entry {
  const st = node.stat;
  const isDir = st.type === 'dir';
  let label = node.place.kind === 'volume' ? volumeLabel(node) : displayName(node.name);
  if (st.type === 'symlink') label += ` -> ${displayName(st.symlinkTarget ?? '?')}`;
  else if (isDir && node.place.kind !== 'volume') label += '/';
  let size: string;
  if (node.place.kind === 'volume') size = humanSize(node.place.vol.volume.size);
  else if (isDir) size = '';
  else if (st.type === 'file') size = humanSize(st.size);
  else size = `<${st.type}>`;
  return {
    node,
    label,
    key: node.name.toLowerCase(),
    isDir,
    size,
    modified: node.place.kind === 'volume' ? '' : shortDate(st.mtime),
  };
}

const sizeOf = (e: Entry) => e.bytes ?? (e.node.place.kind === 'volume' ? e.node.place.vol.volume.size : e.node.stat.type === 'file' ? e.node.stat.size : -1);
const timeOf = (e: Entry) => (e.node.stat.mtime ? e.node.stat.mtime.sec + e.node.stat.mtime.nsec / 1e9 : -Infinity);

/**
 * Folders first, then by name (numbers in names in numeric order), by size (largest first,
 * as ls -S; folders by their total once known) or by time (newest first, as ls -t); ties by name.
 */
export function sortEntries(entries: Entry[], by: SortKey = 'name'): Entry[] {
  const byName = (a: Entry, b: Entry) => collator.compare(a.node.name, b.node.name);
  const key = by === 'size' ? (a: Entry, b: Entry) => sizeOf(b) - sizeOf(a) || byName(a, b)
    : by === 'time' ? (a: Entry, b: Entry) => timeOf(b) - timeOf(a) || byName(a, b)
    : byName;
  return entries.sort((a, b) => (a.isDir !== b.isDir ? (a.isDir ? -1 : 1) : key(a, b)));
}

export function filterEntries(entries: Entry[], filter: string): Entry[] {
  if (!filter) return entries;
  const f = filter.toLowerCase();
  return entries.filter((e) => e.key.includes(f));
}

/** The sum of the sizes of the files under `dir` (iteratively: deep trees cannot overflow the stack). */
export async function folderBytes(vfs: Vfs, dir: VfsNode, signal?: AbortSignal): Promise<number> {
  let total = 0;
  const todo = [dir];
  while (todo.length) {
    if (signal?.aborted) return total;
    for (const n of await vfs.readdir(todo.pop()!)) {
      if (n.stat.type === 'file') total += n.stat.size;
      else if (n.stat.type === 'dir') todo.push(n);
    }
  }
  return total;
}

export async function loadFolder(vfs: Vfs, dir: VfsNode): Promise<Entry[]> {
  const nodes = await vfs.readdir(dir);
  const entries = nodes.map(toEntry);
  if (dir.place.kind === 'root') {
    // Drive letters as the Windows on the disk gives them (src/vfs/drives.ts): "p2 (C:)".
    const drives = await vfs.driveLetters().catch(() => new Map<string, unknown>());
    for (const e of entries) {
      const pl = e.node.place;
      const letter = pl.kind === 'volume' ? [...drives].find(([, v]) => v === pl.vol)?.[0] : undefined;
      if (letter) e.label = `${e.label} (${letter}:)`;
    }
  }
  return sortEntries(entries);
}

export interface Columns {
  name: number;
  size: number;
  modified: number;
}

/** Column widths for a terminal `width` cells wide; the name takes what is left. */
export function columnsFor(width: number): Columns {
  const modified = width >= 60 ? 16 : 0;
  const size = 10;
  // 2 cells of mark, one space between columns.
  const name = Math.max(8, width - 2 - size - 1 - (modified ? modified + 1 : 0));
  return { name, size, modified };
}

/** One row, exactly `width` cells: mark, name, size, modified. */
export function rowText(e: Entry, cols: Columns, selected: boolean): string {
  const mark = selected ? '* ' : '  ';
  let s = mark + fit(e.label, cols.name) + ' ' + fit(e.size, cols.size, true);
  if (cols.modified) s += ' ' + fit(e.modified, cols.modified);
  return s;
}

export function headerText(cols: Columns): string {
  let s = '  ' + fit('Name', cols.name) + ' ' + fit('Size', cols.size, true);
  if (cols.modified) s += ' ' + fit('Modified', cols.modified);
  return s;
}

/** The first row to show so that `cursor` stays inside a window of `height` rows. */
export function scrollTop(top: number, cursor: number, height: number, count: number): number {
  if (height <= 0 || count <= height) return 0;
  let t = top;
  if (cursor < t) t = cursor;
  if (cursor >= t + height) t = cursor - height + 1;
  return Math.max(0, Math.min(t, count - height));
}

