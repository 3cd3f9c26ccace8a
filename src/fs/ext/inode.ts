/**
 * The ext2/3/4 inode (kernel Documentation/filesystems/ext4/inodes.rst "struct ext4_inode").
 */
import type { FileType, Timespec } from '../types.js';
import { crc32cLe32, crc32cUpdate, crc32cZeros } from './crc32c.js';
import { RO_COMPAT, hasRoCompat, type Superblock } from './superblock.js';

/** i_flags bits diskpick acts on. */
export const INODE_FLAGS = {
  EXT4_COMPR_FL: 0x4,
  EXT4_ENCRYPT_FL: 0x800,
  EXT4_INDEX_FL: 0x1000,
  EXT4_HUGE_FILE_FL: 0x40000,
  EXT4_EXTENTS_FL: 0x80000,
  EXT4_VERITY_FL: 0x100000,
  EXT4_EA_INODE_FL: 0x200000,
  EXT4_INLINE_DATA_FL: 0x10000000,
  EXT4_CASEFOLD_FL: 0x40000000,
} as const;

/** Offset of i_extra_isize; fields past it exist only in large inodes. */
const EXTRA_BASE = 0x80;

/** A parsed inode record; fields keep the spec's names where they are raw values. */
export class Inode {
  i_mode = 0;
  uid = 0;
  gid = 0;
  size = 0;
  i_links_count = 0;
  /** Bytes allocated (from i_blocks, in 512-byte units or blocks under huge_file). */
  allocated = 0;
  i_flags = 0;
  i_generation = 0;
  i_file_acl = 0;
  i_extra_isize = 0;
  atime: Timespec = ZERO_TIME;
  mtime: Timespec = ZERO_TIME;
  ctime: Timespec = ZERO_TIME;
  crtime: Timespec | undefined = undefined;
  checksumOk = true;

  constructor(
    readonly ino: number,
    /** The whole on-disk record (in-inode xattrs live past 128 + i_extra_isize). */
    readonly raw: Buffer,
  ) {}

  /** The 60 bytes of i_block: block map, extent tree root, inline data or a fast symlink. */
  get i_block(): Buffer {
    return this.raw.subarray(0x28, 0x28 + 60);
  }
}

const ZERO_TIME: Timespec = { sec: 0, nsec: 0 };

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

/**
 * A timestamp: a signed 32-bit seconds field, extended by the `_extra` word whose low two bits
 * are epoch bits (added as multiples of 2^32 seconds, so dates past 2038 work) and whose upper
 * 30 bits are nanoseconds (inodes.rst "Inode Timestamps").
 */
function timeOf(raw: Buffer, off: number, extraOff: number): Timespec {
  const sec = raw.readInt32LE(off);
  if (extraOff < 0) return { sec, nsec: 0 };
  const extra = raw.readUInt32LE(extraOff);
  const nsec = extra >>> 2;
  return { sec: sec + (extra & 3) * 2 ** 32, nsec: nsec > 999_999_999 ? 0 : nsec };
}

/** Parses one inode record; `raw` is exactly s_inode_size bytes. */
export function parseInode(sb: Superblock, ino: number, raw: Buffer): Inode {
  const extra = sb.s_inode_size > 128 ? raw.readUInt16LE(EXTRA_BASE) : 0;
  // i_extra_isize past the record would point fields outside it: treat as no extra fields.
  const extraIsize = EXTRA_BASE + extra <= sb.s_inode_size && extra % 4 === 0 ? extra : 0;
  const extraEnd = EXTRA_BASE + extraIsize;
  const flags = raw.readUInt32LE(0x20);
  const huge = hasRoCompat(sb, RO_COMPAT.huge_file);
  const blocks = raw.readUInt32LE(0x1c) + (huge ? raw.readUInt16LE(0x74) * 2 ** 32 : 0);
  const inode = new Inode(ino, raw);
  inode.i_mode = raw.readUInt16LE(0x0);
  inode.uid = (raw.readUInt16LE(0x2) | (raw.readUInt16LE(0x78) << 16)) >>> 0;
  inode.gid = (raw.readUInt16LE(0x18) | (raw.readUInt16LE(0x7a) << 16)) >>> 0;
  inode.size = raw.readUInt32LE(0x4) + raw.readUInt32LE(0x6c) * 2 ** 32;
  inode.i_links_count = raw.readUInt16LE(0x1a);
  inode.allocated = huge && flags & INODE_FLAGS.EXT4_HUGE_FILE_FL ? blocks * sb.blockSize : blocks * 512;
  inode.i_flags = flags;
  inode.i_generation = raw.readUInt32LE(0x64);
  inode.i_file_acl = raw.readUInt32LE(0x68) + raw.readUInt16LE(0x76) * 2 ** 32;
  inode.i_extra_isize = extraIsize;
  // Each _extra word exists only when i_extra_isize reaches past it.
  inode.ctime = timeOf(raw, 0xc, extraEnd >= 0x88 ? 0x84 : -1);
  inode.mtime = timeOf(raw, 0x10, extraEnd >= 0x8c ? 0x88 : -1);
  inode.atime = timeOf(raw, 0x8, extraEnd >= 0x90 ? 0x8c : -1);
  if (extraEnd >= 0x98) inode.crtime = timeOf(raw, 0x90, 0x94);
  if (hasRoCompat(sb, RO_COMPAT.metadata_csum)) inode.checksumOk = inodeChecksumOk(sb, inode);
  return inode;
}

/** Seed for per-inode checksums (extent blocks, directory blocks): seed → inode number → generation. */
export function inodeCsumSeed(sb: Superblock, ino: number, generation: number): number {
  return crc32cLe32(crc32cLe32(sb.csumSeed, ino), generation);
}

/**
 * crc32c over the whole record with l_i_checksum_lo (and i_checksum_hi when the extra fields
 * reach it) zeroed; only the low 16 bits are stored in small inodes.
 */
function inodeChecksumOk(sb: Superblock, inode: Inode): boolean {
  const raw = inode.raw;
  const withHi = inode.i_extra_isize >= 4;
  // The checksum fields count as zero: feed the record around them instead of copying it.
  let c = inodeCsumSeed(sb, inode.ino, inode.i_generation);
  c = crc32cUpdate(c, raw, 0, 0x7c);
  c = crc32cZeros(c, 2);
  if (withHi) {
    c = crc32cUpdate(c, raw, 0x7e, 0x82);
    c = crc32cZeros(c, 2);
    c = crc32cUpdate(c, raw, 0x84);
  } else {
    c = crc32cUpdate(c, raw, 0x7e);
  }
  const stored = raw.readUInt16LE(0x7c) + (withHi ? raw.readUInt16LE(0x82) * 65536 : 0);
  return withHi ? c >>> 0 === stored : (c & 0xffff) === stored;
}


/** Linux device number from i_block: old 16-bit encoding in word 0, else new encoding in word 1. */
export function inodeRdev(inode: Inode): number {
  const old = inode.i_block.readUInt32LE(0);
  if (old !== 0) {
    const major = (old >>> 8) & 0xff;
    const minor = old & 0xff;
    return (minor & 0xff) | (major << 8);
  }
  return inode.i_block.readUInt32LE(4);
}
