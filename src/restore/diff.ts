/**
 * `diff`: what changed between two points below one folder — entries added, removed, and
 * changed in type, content, size, mode, owner, modification time, extended attributes or named
 * streams. Both trees are walked side by side with an explicit stack (depth costs memory, not
 * stack) and changes are yielded as they are found. Content is compared only where the metadata
 * does not settle it: different sizes differ; the same size, mtime, ctime and inode number is
 * taken as unchanged unless `content` asks for every byte; anything else is compared by reading.
 */
import type { Stat } from '../fs/types.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { joinPath } from '../vfs/vfs.js';
import { readInto } from '../source/source.js';

export type ChangeKind = 'added' | 'removed' | 'changed';
export type ChangedAspect = 'type' | 'content' | 'size' | 'mode' | 'owner' | 'mtime' | 'xattrs' | 'streams' | 'target';

export interface Change {
  path: string;
  change: ChangeKind;
  /** The entry's type (B's for added and changed, A's for removed). */
  type: Stat['type'];
  /** For `changed`: what differs. */
  what: ChangedAspect[];
  a: Stat | null;
  b: Stat | null;
}

export interface DiffOptions {
  /** Compare the bytes of every file of equal size, even where the metadata matches. */
  content?: boolean;
  /** Also compare extended attributes and named streams (reads them for every entry). */
  xattrs?: boolean;
  /** A folder that cannot be listed on one side: reported, the walk goes on. */
  onError?: (path: string, err: unknown) => void;
}

function sameTime(a: Stat['mtime'], b: Stat['mtime']): boolean {
  return (a?.sec ?? null) === (b?.sec ?? null) && (a?.nsec ?? null) === (b?.nsec ?? null);
}

async function sameBytes(va: Vfs, a: VfsNode, vb: Vfs, b: VfsNode): Promise<boolean> {
  const sa = await va.openFile(a);
  const sb = await vb.openFile(b);
  try {
    const CHUNK = 1 << 20;
    const ba = Buffer.allocUnsafe(CHUNK);
    const bb = Buffer.allocUnsafe(CHUNK);
    for (let off = 0; off < sa.size; off += CHUNK) {
      const n = Math.min(CHUNK, sa.size - off);
      const [ga, gb] = await Promise.all([readInto(sa, ba, 0, off, n), readInto(sb, bb, 0, off, n)]);
      if (ga !== gb || ba.compare(bb, 0, gb, 0, ga) !== 0) return false;
    }
    return true;
  } finally {
    await sa.close();
    await sb.close();
  }
}

async function xattrsEqual(va: Vfs, a: VfsNode, vb: Vfs, b: VfsNode): Promise<boolean> {
  const [xa, xb] = await Promise.all([va.xattrs(a), vb.xattrs(b)]);
  if (xa.size !== xb.size) return false;
  for (const [k, v] of xa) if (!xb.get(k)?.equals(v)) return false;
  return true;
}

async function streamsEqual(va: Vfs, a: VfsNode, vb: Vfs, b: VfsNode): Promise<boolean> {
  const [sa, sb] = await Promise.all([va.streams(a), vb.streams(b)]);
  const key = (s: { name: string; size: number }[]) => s.map((x) => `${x.name}:${x.size}`).sort().join('\0');
  return key(sa) === key(sb);
}

/** What differs between two entries of one name (empty: nothing). */
export async function changedAspects(va: Vfs, a: VfsNode, vb: Vfs, b: VfsNode, opts: DiffOptions): Promise<ChangedAspect[]> {
  const x = a.stat;
  const y = b.stat;
  if (x.type !== y.type) return ['type'];
  const what: ChangedAspect[] = [];
  if (x.type === 'file') {
    if (x.size !== y.size) what.push('size', 'content');
    else {
      const settled = !opts.content && sameTime(x.mtime, y.mtime) && sameTime(x.ctime, y.ctime) && x.ino === y.ino;
      if (!settled && !(await sameBytes(va, a, vb, b))) what.push('content');
    }
  }
  if (x.type === 'symlink' && x.symlinkTarget !== y.symlinkTarget) what.push('target');
  if ((x.mode & 0o7777) !== (y.mode & 0o7777)) what.push('mode');
  if (x.uid !== y.uid || x.gid !== y.gid) what.push('owner');
  if (x.type !== 'dir' && !sameTime(x.mtime, y.mtime)) what.push('mtime');
  if (opts.xattrs) {
    if (!(await xattrsEqual(va, a, vb, b))) what.push('xattrs');
    if (!(await streamsEqual(va, a, vb, b))) what.push('streams');
  }
  return what;
}

/** Changes from A to B below `path` (the same path in both), in sorted-name order per folder. */
export async function* diffTrees(va: Vfs, rootA: VfsNode, vb: Vfs, rootB: VfsNode, opts: DiffOptions = {}): AsyncGenerator<Change> {
  const stack: Array<{ a: VfsNode; b: VfsNode; path: string }> = [{ a: rootA, b: rootB, path: rootA.path }];
  while (stack.length) {
    const { a, b, path } = stack.pop()!;
    let ka: VfsNode[];
    let kb: VfsNode[];
    try {
      [ka, kb] = await Promise.all([va.readdir(a), vb.readdir(b)]);
    } catch (err) {
      opts.onError?.(path, err);
      continue;
    }
    const ma = new Map(ka.map((k) => [k.name, k]));
    const mb = new Map(kb.map((k) => [k.name, k]));
    const names = [...new Set([...ma.keys(), ...mb.keys()])].sort();
    const folders: Array<{ a: VfsNode; b: VfsNode; path: string }> = [];
    for (const name of names) {
      const x = ma.get(name);
      const y = mb.get(name);
      const p = joinPath(path, name);
      if (x && !y) yield { path: p, change: 'removed', type: x.stat.type, what: [], a: x.stat, b: null };
      else if (!x && y) yield { path: p, change: 'added', type: y.stat.type, what: [], a: null, b: y.stat };
      else if (x && y) {
        let what: ChangedAspect[];
        try {
          what = await changedAspects(va, x, vb, y, opts);
        } catch (err) {
          opts.onError?.(p, err);
          continue;
        }
        if (what.length) yield { path: p, change: 'changed', type: y.stat.type, what, a: x.stat, b: y.stat };
        if (x.stat.type === 'dir' && y.stat.type === 'dir') folders.push({ a: x, b: y, path: p });
      }
    }
    // Pushed in reverse so folders are visited in name order.
    for (let i = folders.length - 1; i >= 0; i--) stack.push(folders[i]!);
  }
}
