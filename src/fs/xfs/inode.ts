/**
 * The on-disk inode (struct xfs_dinode, xfs_format.h; "XFS Algorithms & Data Structures",
 * "On-disk Inode"): a core of fixed fields, then the literal area split at di_forkoff into the
 * data fork and the attribute fork. Version 2 inodes have a 100-byte core, version 3 (v5
 * filesystems) a 176-byte one with a CRC, the inode's own number and a creation time.
 */
import { corrupt } from '../../errors.js';
import type { FileType, Timespec } from '../types.js';
import { xfsCrcOk } from './crc.js';
import type { Superblock } from './superblock.js';

const XFS_DINODE_MAGIC = 0x494e; // "IN"

/** di_format / di_aformat. */
export const FORMAT = { DEV: 0, LOCAL: 1, EXTENTS: 2, BTREE: 3, UUID: 4 } as const;
/** di_flags. */
export const DIFLAG = { REALTIME: 0x1, PREALLOC: 0x2, NEWRTBM: 0x4, IMMUTABLE: 0x8, APPEND: 0x10, SYNC: 0x20, NOATIME: 0x40, NODUMP: 0x80 } as const;
/** di_flags2. */
export const DIFLAG2 = { DAX: 0x1, REFLINK: 0x2, COWEXTSIZE: 0x4, BIGTIME: 0x8, NREXT64: 0x10 } as const;

/** Seconds between the bigtime epoch (the smallest 32-bit time) and 1970 (XFS_BIGTIME_EPOCH_OFFSET). */
const BIGTIME_EPOCH_OFFSET = 2 ** 31;

export interface Inode {
  ino: number;
  di_mode: number;
  di_version: number;
  di_format: number;
  di_uid: number;
  di_gid: number;
  di_nlink: number;
  atime: Timespec;
  mtime: Timespec;
  ctime: Timespec;
  crtime?: Timespec;
  di_size: number;
  di_nblocks: number;
  /** Data fork extent count (di_nextents or di_big_nextents). */
  nextents: number;
  /** Attribute fork extent count (di_anextents or di_big_anextents). */
  anextents: number;
  di_forkoff: number;
  di_aformat: number;
  di_flags: number;
  di_gen: number;
  di_flags2: number;
  /** The data fork's bytes (a view of `raw`). */
  dataFork: Buffer;
  /** The attribute fork's bytes, or null when the inode has none (di_forkoff 0). */
  attrFork: Buffer | null;
  checksumOk: boolean;
  raw: Buffer;
}

/** Mode type bits → file type. */
export function fileTypeOfMode(mode: number): FileType {
  switch (mode & 0xf000) {
    case 0x8000: return 'file';
    case 0x4000: return 'dir';
    case 0xa000: return 'symlink';
    case 0x2000: return 'chardev';
    case 0x6000: return 'blockdev';
    case 0x1000: return 'fifo';
    case 0xc000: return 'socket';
    default: return 'other';
  }
}

function legacyTime(b: Buffer, at: number): Timespec {
  return { sec: b.readInt32BE(at), nsec: Math.min(b.readUInt32BE(at + 4), 999_999_999) };
}

/** bigtime: nanoseconds since the bigtime epoch in one u64. */
function bigTime(b: Buffer, at: number): Timespec {
  const ns = b.readBigUInt64BE(at);
  const sec = ns / 1_000_000_000n;
  return { sec: Number(sec) - BIGTIME_EPOCH_OFFSET, nsec: Number(ns - sec * 1_000_000_000n) };
}

/** Size of the inode core before the literal area. */
export function coreSize(version: number): number {
  return version >= 3 ? 176 : 100;
}

/**
 * Parses one inode record (its own copy, never a view of a shared cache block: the inode keeps
 * it). Throws on a record that is not an inode (bad magic, inconsistent forks).
 */
export function parseInode(sb: Superblock, ino: number, raw: Buffer, file: string): Inode {
  if (raw.readUInt16BE(0) !== XFS_DINODE_MAGIC) throw corrupt(file, `inode ${ino} has a bad magic number`);
  const version = raw[4]!;
  if (version < 1 || version > 3 || (sb.hasCrc && version !== 3)) throw corrupt(file, `inode ${ino} has version ${version}`);
  const flags2 = version === 3 ? Number(raw.readBigUInt64BE(120) & 0xffffffffn) : 0;
  const big = (flags2 & DIFLAG2.BIGTIME) !== 0;
  const time = big ? bigTime : legacyTime;
  const nrext64 = (flags2 & DIFLAG2.NREXT64) !== 0;
  const core = coreSize(version);
  const forkoff = raw[82]! * 8;
  const inode: Inode = {
    ino,
    di_mode: raw.readUInt16BE(2),
    di_version: version,
    di_format: raw[5]!,
    di_uid: raw.readUInt32BE(8),
    di_gid: raw.readUInt32BE(12),
    di_nlink: version === 1 ? raw.readUInt16BE(6) : raw.readUInt32BE(16),
    atime: time(raw, 32),
    mtime: time(raw, 40),
    ctime: time(raw, 48),
    di_size: Number(raw.readBigUInt64BE(56)),
    di_nblocks: Number(raw.readBigUInt64BE(64)),
    nextents: nrext64 ? Number(raw.readBigUInt64BE(24)) : raw.readUInt32BE(76),
    anextents: nrext64 ? raw.readUInt32BE(76) : raw.readUInt16BE(80),
    di_forkoff: raw[82]!,
    di_aformat: raw[83]!,
    di_flags: raw.readUInt16BE(90),
    di_gen: raw.readUInt32BE(92),
    di_flags2: flags2,
    dataFork: raw.subarray(core, forkoff ? core + forkoff : raw.length),
    attrFork: forkoff ? raw.subarray(core + forkoff) : null,
    checksumOk: version === 3 ? xfsCrcOk(raw, 100) : true,
    raw,
  };
  if (version === 3) inode.crtime = time(raw, 144);
  if (!Number.isSafeInteger(inode.di_size) || inode.di_size < 0 || inode.di_size > 2 ** 53) throw corrupt(file, `inode ${ino} has a bad size`);
  if (core + forkoff >= raw.length) throw corrupt(file, `inode ${ino} has a bad attribute fork offset (${forkoff})`);
  if (version === 3 && raw.readBigUInt64BE(152) !== BigInt(ino)) throw corrupt(file, `inode ${ino} records a different inode number (${raw.readBigUInt64BE(152)})`);
  return inode;
}

/** A device inode's number: the data fork holds a u32 in SysV form (major << 18 | minor). */
export function inodeRdev(inode: Inode): number {
  const v = inode.dataFork.length >= 4 ? inode.dataFork.readUInt32BE(0) : 0;
  const major = (v >>> 18) & 0x3fff;
  const minor = v & 0x3ffff;
  // Linux's new-style encoding (the one ext's rdev uses): minor's low byte, major, minor's rest.
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}
