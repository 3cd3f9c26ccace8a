/**
 * `find` over the image: filters on name, type, size and mtime, walked depth-first one folder
 * listing at a time, so memory stays bounded by the depth times the widest folder, never the
 * whole tree. Matches are yielded as they are found (the CLI streams them out).
 */
import picomatch from 'picomatch';
import { DiskpickError } from '../errors.js';
import type { FileType, Stat } from '../fs/types.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';

export interface FindFilters {
  /** Glob on the entry's name, case-sensitive (as GNU find -name). */
  name?: string;
  /** Glob on the entry's name, ignoring case (as GNU find -iname). */
  iname?: string;
  /** Entry types to keep. */
  types?: FileType[];
  /** Size bounds in bytes: size > min, size < max, or exactly equal. */
  size?: SizeFilter;
  /** Keep entries whose mtime is after this (seconds since the epoch). */
  newer?: number;
  /** Keep entries whose mtime is before this. */
  older?: number;
  /** Depth limit below the start (0: the start only). */
  maxDepth?: number;
  /** Shallowest depth printed (1: not the start itself). */
  minDepth?: number;
}

export interface SizeFilter {
  op: '+' | '-' | '=';
  bytes: number;
}

const TYPE_LETTERS: Record<string, FileType> = { f: 'file', d: 'dir', l: 'symlink', c: 'chardev', b: 'blockdev', p: 'fifo', s: 'socket' };

/** `f`, `d`, `l` (and c, b, p, s), comma-separated: `f,l`. */
export function parseTypes(v: string): FileType[] {
  const out: FileType[] = [];
  for (const letter of v.split(',')) {
    const t = TYPE_LETTERS[letter.trim()];
    if (!t) throw new DiskpickError('usage', `--type takes f, d, l, c, b, p or s (comma-separated), not "${v}"`);
    out.push(t);
  }
  return out;
}

const SIZE_UNITS: Record<string, number> = { '': 1, c: 1, k: 1024, K: 1024, m: 1024 ** 2, M: 1024 ** 2, g: 1024 ** 3, G: 1024 ** 3, t: 1024 ** 4, T: 1024 ** 4 };

/**
 * `+N` larger than N bytes, `-N` smaller than N bytes, `N` exactly N bytes; N may carry k, M,
 * G or T (powers of 1024). Unlike GNU find, sizes are not rounded up to the unit first.
 */
export function parseSize(v: string): SizeFilter {
  const m = /^([+-]?)(\d+(?:\.\d+)?)([ckKmMgGtT]?)$/.exec(v.trim());
  if (!m) throw new DiskpickError('usage', `--size takes +N, -N or N with an optional k, M, G or T suffix, not "${v}"`);
  const bytes = Math.round(Number(m[2]) * SIZE_UNITS[m[3]!]!);
  return { op: m[1] === '+' ? '+' : m[1] === '-' ? '-' : '=', bytes };
}

const REL_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 7 * 86400 };

/**
 * A date for --newer/--older, as seconds since the epoch: `2024-03-01`, `2024-03-01T14:05`,
 * `2024-03-01 14:05:09.5+02:00` (no zone given: UTC), `@1709301909`, or an age: `90m`, `7d`, `2w`.
 */
export function parseDate(v: string, now = Date.now()): number {
  const s = v.trim();
  let m = /^@(-?\d+(?:\.\d+)?)$/.exec(s);
  if (m) return Number(m[1]);
  m = /^(\d+)([smhdw])$/.exec(s);
  if (m) return now / 1000 - Number(m[1]) * REL_UNITS[m[2]!]!;
  m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?))?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(s);
  if (m) {
    const zone = m[3] ? (m[3].toUpperCase() === 'Z' ? 'Z' : m[3].length === 5 ? `${m[3].slice(0, 3)}:${m[3].slice(3)}` : m[3]) : 'Z';
    const ms = Date.parse(`${m[1]}T${m[2] ?? '00:00'}${zone}`);
    if (!Number.isNaN(ms)) return ms / 1000;
  }
  throw new DiskpickError('usage', `cannot read the date "${v}" (use 2024-03-01, 2024-03-01T14:05:09Z, @EPOCH or an age like 7d)`);
}

/** The filters as one predicate on a node's name and stat. */
export function compileFilters(f: FindFilters): (name: string, st: Stat) => boolean {
  const name = f.name !== undefined ? picomatch(f.name, { dot: true }) : null;
  const iname = f.iname !== undefined ? picomatch(f.iname, { dot: true, nocase: true }) : null;
  const types = f.types?.length ? new Set(f.types) : null;
  return (n, st) => {
    if (types && !types.has(st.type)) return false;
    if (name && !name(n)) return false;
    if (iname && !iname(n)) return false;
    if (f.size) {
      const { op, bytes } = f.size;
      if (op === '+' ? !(st.size > bytes) : op === '-' ? !(st.size < bytes) : st.size !== bytes) return false;
    }
    if (f.newer !== undefined || f.older !== undefined) {
      if (!st.mtime) return false;
      const t = st.mtime.sec + st.mtime.nsec / 1e9;
      if (f.newer !== undefined && !(t > f.newer)) return false;
      if (f.older !== undefined && !(t < f.older)) return false;
    }
    return true;
  };
}

export interface FindWalkOptions {
  system?: boolean;
  /** List folders names-only (see Vfs.readdir): enough when the filters need only names and types. */
  namesOnly?: boolean;
  /** A folder that cannot be listed: reported, and the walk goes on. */
  onError: (path: string, err: unknown) => void;
}

/**
 * Every node at or below `start` that passes the filters, parents before their children, in
 * each folder's listing order. Symbolic links are reported, never followed.
 */
export async function* findNodes(vfs: Vfs, start: VfsNode, filters: FindFilters, opts: FindWalkOptions): AsyncGenerator<VfsNode> {
  const keep = compileFilters(filters);
  const maxDepth = filters.maxDepth ?? Infinity;
  const minDepth = filters.minDepth ?? 0;
  // An explicit stack of folder listings, not recursion: a `yield*` per level overflowed the
  // call stack at ~3 000 levels and cost O(depth) per match (issue 26). Each entry is one
  // folder's children and the index of the next one to visit.
  const stack: { kids: VfsNode[]; next: number; depth: number }[] = [];
  let node: VfsNode | undefined = start;
  let depth = 0;
  for (;;) {
    if (node) {
      if (depth >= minDepth && keep(node.name, node.stat)) yield node;
      // A volume shown in its own folder too (an LVM PV's LVs under /VG) is walked there.
      if (node.stat.type === 'dir' && depth < maxDepth && !(depth > 0 && vfs.shownElsewhere(node))) {
        try {
          const kids = await vfs.readdir(node, { system: opts.system, namesOnly: opts.namesOnly });
          if (kids.length) stack.push({ kids, next: 0, depth: depth + 1 });
        } catch (err) {
          opts.onError(node.path, err);
        }
      }
    }
    const top = stack[stack.length - 1];
    if (!top) return;
    node = top.kids[top.next++];
    depth = top.depth;
    if (top.next >= top.kids.length) stack.pop();
  }
}
