/**
 * The stat model as the kernel gets it: a Vfs node's Stat turned into modes, owners and
 * times, held as the 18 words fuse-native's getStatArray lays out (and the binding's
 * populate_stat reads in C), so a stat is made once per entry and answered without allocating.
 */
import type Fuse from 'fuse-native';
import type { Stat } from '../fs/types.js';
import type { VfsNode } from '../vfs/vfs.js';

/** How ownership and permissions look for filesystems that store none (FAT, exFAT, NTFS). */
export interface OwnerOptions {
  uid: number;
  gid: number;
  /** null: 0755 folders, 0644 files; else 0777/0666 minus this mask. */
  umask: number | null;
}

/** st_mode type bits (sys/stat.h). */
export const S_IFMT: Record<Stat['type'], number> = {
  file: 0o100000, dir: 0o040000, symlink: 0o120000, chardev: 0o020000,
  blockdev: 0o060000, fifo: 0o010000, socket: 0o140000, other: 0o100000,
};

/** Words of one stat in fuse-native's layout (its getStatArray; read by populate_stat in C). */
export const STAT_WORDS = 18;

/** What an error answer to getattr carries (the binding reads a stat array whatever the result). */
export const NO_STAT = new Uint32Array(STAT_WORDS);

/** Readers size their read() calls by st_blksize; 128 KiB is the largest FUSE read. */
const BLKSIZE = 131072;

export function msOf(t: { sec: number; nsec: number } | undefined, fallback: number): number {
  if (!t) return fallback;
  // fuse-native carries unsigned milliseconds: dates before 1970 show as the epoch.
  const ms = t.sec * 1000 + Math.floor(t.nsec / 1e6);
  return ms > 0 ? ms : 0;
}

function setU64(a: Uint32Array, i: number, n: number): void {
  const lo = n % 4294967296;
  a[i] = lo;
  a[i + 1] = (n - lo) / 4294967296;
}

/** Writes `st` into `a` as fuse-native's getStatArray would (mode, uid, gid, size, dev, nlink, ino, rdev, blksize, blocks, a/m/ctime ms). */
export function fillStatArray(a: Uint32Array, st: Fuse.StatLike): Uint32Array {
  a[0] = st.mode;
  a[1] = st.uid;
  a[2] = st.gid;
  setU64(a, 3, st.size);
  a[5] = st.dev ?? 0;
  a[6] = st.nlink || 1;
  a[7] = st.ino;
  a[8] = st.rdev ?? 0;
  a[9] = st.blksize ?? 0;
  setU64(a, 10, st.blocks ?? 0);
  setU64(a, 12, st.atime);
  setU64(a, 14, st.mtime);
  setU64(a, 16, st.ctime);
  return a;
}

/** The stat in `a` (fillStatArray's layout) as an object. */
export function statLikeOf(a: Uint32Array): Fuse.StatLike {
  const u64 = (i: number) => a[i]! + a[i + 1]! * 4294967296;
  return {
    mode: a[0]!, uid: a[1]!, gid: a[2]!, size: u64(3), dev: a[5]!, nlink: a[6]!, ino: a[7]!, rdev: a[8]!,
    blksize: a[9]!, blocks: u64(10), atime: u64(12), mtime: u64(14), ctime: u64(16),
  };
}

/** Entry i's whole stat words in a block of them: a view made when asked (a lookup). */
export function wordsAt(words: Uint32Array, i: number): Uint32Array {
  return words.subarray(i * STAT_WORDS, (i + 1) * STAT_WORDS);
}

/** A node's stat as the kernel sees it: permissions and owners from `owner` where the filesystem stores none. */
export function nodeStat(node: VfsNode, ino: number, owner: OwnerOptions): Fuse.StatLike {
  const st = node.stat;
  const own = st.hasOwnership;
  let perm: number;
  if (own) perm = st.mode & 0o7777;
  else if (st.type === 'symlink') perm = 0o777;
  else if (st.type === 'dir') perm = owner.umask === null ? 0o755 : 0o777 & ~owner.umask;
  else perm = owner.umask === null ? 0o644 : 0o666 & ~owner.umask;
  const mtime = msOf(st.mtime, 0);
  return {
    mode: S_IFMT[st.type] | perm,
    uid: own ? st.uid : owner.uid,
    gid: own ? st.gid : owner.gid,
    size: st.size,
    nlink: Math.max(1, st.nlink),
    ino,
    rdev: st.rdev ?? 0,
    blksize: BLKSIZE,
    blocks: Math.ceil(st.allocated / 512),
    atime: msOf(st.atime, mtime),
    mtime,
    ctime: msOf(st.ctime, mtime),
  };
}

/** A read-only folder the mount makes up (`.raw/` and the folders in it), dated as the root. */
export function syntheticDirStat(ino: number, mtimeMs: number, owner: OwnerOptions): Fuse.StatLike {
  return {
    mode: S_IFMT.dir | 0o555, uid: owner.uid, gid: owner.gid, size: 0, nlink: 2, ino,
    blksize: BLKSIZE, blocks: 0, atime: mtimeMs, mtime: mtimeMs, ctime: mtimeMs,
  };
}

/** A read-only file the mount makes up (the images in `.raw/`), dated as the root. */
export function syntheticFileStat(ino: number, size: number, mtimeMs: number, owner: OwnerOptions): Fuse.StatLike {
  return {
    mode: S_IFMT.file | 0o444, uid: owner.uid, gid: owner.gid, size, nlink: 1, ino,
    blksize: BLKSIZE, blocks: Math.ceil(size / 512), atime: mtimeMs, mtime: mtimeMs, ctime: mtimeMs,
  };
}
