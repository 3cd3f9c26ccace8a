/**
 * The ext2/3/4 superblock and block group descriptors (kernel Documentation/filesystems/ext4/
 * super.rst and group_descr.rst). Little-endian throughout.
 */
import { corrupt, unsupported } from '../../errors.js';
import { crc32cLe32, crc32cUpdate } from './crc32c.js';

export const SUPERBLOCK_OFFSET = 1024;
export const SUPERBLOCK_SIZE = 1024;
export const EXT_MAGIC = 0xef53;

export const COMPAT = {
  dir_prealloc: 0x1, imagic_inodes: 0x2, has_journal: 0x4, ext_attr: 0x8, resize_inode: 0x10,
  dir_index: 0x20, lazy_bg: 0x40, exclude_bitmap: 0x100, sparse_super2: 0x200, fast_commit: 0x400,
  stable_inodes: 0x800, orphan_file: 0x1000,
} as const;
export const INCOMPAT = {
  compression: 0x1, filetype: 0x2, recover: 0x4, journal_dev: 0x8, meta_bg: 0x10, extents: 0x40,
  '64bit': 0x80, mmp: 0x100, flex_bg: 0x200, ea_inode: 0x400, dirdata: 0x1000, csum_seed: 0x2000,
  large_dir: 0x4000, inline_data: 0x8000, encrypt: 0x10000, casefold: 0x20000,
} as const;
export const RO_COMPAT = {
  sparse_super: 0x1, large_file: 0x2, btree_dir: 0x4, huge_file: 0x8, gdt_csum: 0x10, dir_nlink: 0x20,
  extra_isize: 0x40, has_snapshot: 0x80, quota: 0x100, bigalloc: 0x200, metadata_csum: 0x400,
  replica: 0x800, read_only: 0x1000, project: 0x2000, shared_blocks: 0x4000, verity: 0x8000,
  orphan_present: 0x10000,
} as const;

/** Incompat features that change where data lives in ways this reader does not follow. */
const INCOMPAT_UNREADABLE = INCOMPAT.compression | INCOMPAT.journal_dev | INCOMPAT.dirdata;

/** The superblock fields diskpick uses (super.rst "struct ext4_super_block"). */
export interface Superblock {
  s_inodes_count: number;
  s_blocks_count: number;
  s_free_blocks_count: number;
  s_free_inodes_count: number;
  s_first_data_block: number;
  s_log_block_size: number;
  s_log_cluster_size: number;
  s_blocks_per_group: number;
  s_inodes_per_group: number;
  s_mtime: number;
  s_wtime: number;
  s_state: number;
  s_rev_level: number;
  s_first_ino: number;
  s_inode_size: number;
  s_feature_compat: number;
  s_feature_incompat: number;
  s_feature_ro_compat: number;
  s_uuid: Buffer;
  s_volume_name: string;
  s_last_mounted: string;
  s_journal_inum: number;
  s_journal_dev: number;
  s_hash_seed: Buffer;
  s_def_hash_version: number;
  s_desc_size: number;
  s_first_meta_bg: number;
  s_mkfs_time: number;
  s_checksum_type: number;
  s_checksum_seed: number;
  s_checksum: number;
  /** Derived: bytes per block. */
  blockSize: number;
  /** Derived: number of block groups. */
  groupCount: number;
  /** Derived: bytes per group descriptor (32 without 64bit). */
  descSize: number;
  /** Derived: seed for every metadata_csum checksum (crc32c of the uuid, or s_checksum_seed). */
  csumSeed: number;
  /** Derived: the superblock's own checksum matches (true when metadata_csum is off). */
  checksumOk: boolean;
}

function cstr(buf: Buffer, off: number, len: number): string {
  const b = buf.subarray(off, off + len);
  const z = b.indexOf(0);
  return (z < 0 ? b : b.subarray(0, z)).toString('utf8');
}

export function hasIncompat(sb: Superblock, f: number): boolean {
  return (sb.s_feature_incompat & f) !== 0;
}
export function hasRoCompat(sb: Superblock, f: number): boolean {
  return (sb.s_feature_ro_compat & f) !== 0;
}
export function hasCompat(sb: Superblock, f: number): boolean {
  return (sb.s_feature_compat & f) !== 0;
}

/** Parses and validates the 1024-byte superblock; `file` names the volume in errors. */
export function parseSuperblock(b: Buffer, file: string, deviceSize: number): Superblock {
  if (b.length < SUPERBLOCK_SIZE) throw corrupt(file, 'ext superblock is truncated');
  if (b.readUInt16LE(0x38) !== EXT_MAGIC) throw corrupt(file, 'not an ext2/3/4 filesystem (bad superblock magic)');
  const incompat = b.readUInt32LE(0x60);
  const roCompat = b.readUInt32LE(0x64);
  const is64 = (incompat & INCOMPAT['64bit']) !== 0;
  const sb: Superblock = {
    s_inodes_count: b.readUInt32LE(0x0),
    s_blocks_count: b.readUInt32LE(0x4) + (is64 ? b.readUInt32LE(0x150) * 2 ** 32 : 0),
    s_free_blocks_count: b.readUInt32LE(0xc) + (is64 ? b.readUInt32LE(0x158) * 2 ** 32 : 0),
    s_free_inodes_count: b.readUInt32LE(0x10),
    s_first_data_block: b.readUInt32LE(0x14),
    s_log_block_size: b.readUInt32LE(0x18),
    s_log_cluster_size: b.readUInt32LE(0x1c),
    s_blocks_per_group: b.readUInt32LE(0x20),
    s_inodes_per_group: b.readUInt32LE(0x28),
    s_mtime: b.readUInt32LE(0x2c),
    s_wtime: b.readUInt32LE(0x30),
    s_state: b.readUInt16LE(0x3a),
    s_rev_level: b.readUInt32LE(0x4c),
    s_first_ino: b.readUInt32LE(0x54),
    s_inode_size: b.readUInt16LE(0x58),
    s_feature_compat: b.readUInt32LE(0x5c),
    s_feature_incompat: incompat,
    s_feature_ro_compat: roCompat,
    s_uuid: Buffer.from(b.subarray(0x68, 0x78)),
    s_volume_name: cstr(b, 0x78, 16),
    s_last_mounted: cstr(b, 0x88, 64),
    s_journal_inum: b.readUInt32LE(0xe0),
    s_journal_dev: b.readUInt32LE(0xe4),
    s_hash_seed: Buffer.from(b.subarray(0xec, 0xfc)),
    s_def_hash_version: b[0xfc]!,
    s_desc_size: b.readUInt16LE(0xfe),
    s_first_meta_bg: b.readUInt32LE(0x104),
    s_mkfs_time: b.readUInt32LE(0x108),
    s_checksum_type: b[0x175]!,
    s_checksum_seed: b.readUInt32LE(0x270),
    s_checksum: b.readUInt32LE(0x3fc),
    blockSize: 0,
    groupCount: 0,
    descSize: 32,
    csumSeed: 0,
    checksumOk: true,
  };
  // Revision 0 filesystems have fixed 128-byte inodes and first inode 11.
  if (sb.s_rev_level === 0) {
    sb.s_inode_size = 128;
    sb.s_first_ino = 11;
  }
  // Block sizes 1 KiB … 64 KiB (log 0 … 6).
  if (sb.s_log_block_size > 6) throw corrupt(file, `ext superblock: invalid block size (log ${sb.s_log_block_size})`);
  sb.blockSize = 1024 << sb.s_log_block_size;
  if (sb.s_inode_size < 128 || sb.s_inode_size > sb.blockSize || (sb.s_inode_size & (sb.s_inode_size - 1)) !== 0) {
    throw corrupt(file, `ext superblock: invalid inode size ${sb.s_inode_size}`);
  }
  // bigalloc counts groups in clusters, so only then may a group span more than one bitmap block of blocks.
  if (sb.s_blocks_per_group === 0 || (sb.s_blocks_per_group > sb.blockSize * 8 && !hasRoCompat(sb, RO_COMPAT.bigalloc))) {
    throw corrupt(file, `ext superblock: invalid blocks per group ${sb.s_blocks_per_group}`);
  }
  if (sb.s_inodes_per_group === 0 || sb.s_inodes_per_group > sb.blockSize * 8) {
    throw corrupt(file, `ext superblock: invalid inodes per group ${sb.s_inodes_per_group}`);
  }
  if (sb.s_first_data_block >= sb.s_blocks_count || sb.s_blocks_count === 0) {
    throw corrupt(file, 'ext superblock: invalid block count');
  }
  sb.groupCount = Math.ceil((sb.s_blocks_count - sb.s_first_data_block) / sb.s_blocks_per_group);
  if (sb.s_inodes_count > sb.groupCount * sb.s_inodes_per_group) {
    throw corrupt(file, 'ext superblock: more inodes than the groups can hold');
  }
  if (is64) {
    sb.descSize = sb.s_desc_size;
    if (sb.descSize < 32 || sb.descSize > 1024 || (sb.descSize & (sb.descSize - 1)) !== 0) {
      throw corrupt(file, `ext superblock: invalid group descriptor size ${sb.descSize}`);
    }
  }
  // The descriptor table must fit on the device: a forged 64-bit block count would otherwise
  // mean billions of groups, and looping over their descriptor blocks hangs (fuzz case ext-65be8eb382bb).
  if (Math.ceil(sb.groupCount / (sb.blockSize / sb.descSize)) * sb.blockSize > deviceSize) {
    throw corrupt(file, `ext superblock: ${sb.groupCount} block groups cannot fit on a ${deviceSize}-byte volume`);
  }
  if (incompat & INCOMPAT_UNREADABLE) {
    const names = Object.entries(INCOMPAT).filter(([, v]) => v & incompat & INCOMPAT_UNREADABLE).map(([k]) => k);
    throw unsupported(file, `ext filesystem uses features diskpick does not read: ${names.join(', ')}`);
  }
  if (hasRoCompat(sb, RO_COMPAT.metadata_csum)) {
    sb.csumSeed = hasIncompat(sb, INCOMPAT.csum_seed) ? sb.s_checksum_seed : crc32cUpdate(0xffffffff, sb.s_uuid);
    sb.checksumOk = crc32cUpdate(0xffffffff, b.subarray(0, 0x3fc)) === sb.s_checksum;
  }
  void deviceSize;
  return sb;
}

/** True when block group `g` holds a superblock backup (sparse_super: 0, 1 and powers of 3, 5, 7). */
export function groupHasSuper(sb: Superblock, g: number): boolean {
  if (g === 0) return true;
  if (!hasRoCompat(sb, RO_COMPAT.sparse_super)) return true;
  if (g === 1) return true;
  for (const p of [3, 5, 7]) {
    let x = p;
    while (x < g) x *= p;
    if (x === g) return true;
  }
  return false;
}

/** The block group descriptor fields used (group_descr.rst "struct ext4_group_desc"). */
export interface GroupDesc {
  bg_block_bitmap: number;
  bg_inode_bitmap: number;
  bg_inode_table: number;
  bg_flags: number;
  bg_itable_unused: number;
  bg_checksum: number;
}

export function parseGroupDesc(sb: Superblock, b: Buffer, off: number): GroupDesc {
  const big = sb.descSize >= 64;
  const hi = (o: number) => (big ? b.readUInt32LE(off + o) * 2 ** 32 : 0);
  return {
    bg_block_bitmap: b.readUInt32LE(off + 0x0) + hi(0x20),
    bg_inode_bitmap: b.readUInt32LE(off + 0x4) + hi(0x24),
    bg_inode_table: b.readUInt32LE(off + 0x8) + hi(0x28),
    bg_flags: b.readUInt16LE(off + 0x12),
    bg_itable_unused: b.readUInt16LE(off + 0x1c) + (big ? b.readUInt16LE(off + 0x32) * 65536 : 0),
    bg_checksum: b.readUInt16LE(off + 0x1e),
  };
}

/**
 * Block numbers of the descriptor table blocks, in order. Without meta_bg the table follows
 * the superblock contiguously; with meta_bg each meta group (one descriptor block's worth of
 * groups) keeps its descriptor block in its own first group (after a superblock backup).
 */
export function descriptorBlocks(sb: Superblock): number[] {
  const perBlock = sb.blockSize / sb.descSize;
  const count = Math.ceil(sb.groupCount / perBlock);
  const out: number[] = [];
  const gdtStart = sb.s_first_data_block + 1;
  const metaBg = hasIncompat(sb, INCOMPAT.meta_bg);
  for (let i = 0; i < count; i++) {
    if (!metaBg || i < sb.s_first_meta_bg) {
      out.push(gdtStart + i);
    } else {
      const g = i * perBlock;
      out.push(sb.s_first_data_block + g * sb.s_blocks_per_group + (groupHasSuper(sb, g) ? 1 : 0));
    }
  }
  return out;
}

/** metadata_csum: crc32c(seed, group number, descriptor with bg_checksum zeroed) & 0xFFFF. */
export function groupDescChecksumOk(sb: Superblock, g: number, b: Buffer, off: number): boolean {
  if (!hasRoCompat(sb, RO_COMPAT.metadata_csum)) return true;
  let c = crc32cLe32(sb.csumSeed, g);
  c = crc32cUpdate(c, b.subarray(off, off + 0x1e));
  c = crc32cUpdate(c, Buffer.alloc(2));
  if (sb.descSize > 0x20) c = crc32cUpdate(c, b.subarray(off + 0x20, off + sb.descSize));
  return (c & 0xffff) === b.readUInt16LE(off + 0x1e);
}

export function featureNames(sb: Superblock): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(COMPAT)) if (sb.s_feature_compat & v) out.push(k);
  for (const [k, v] of Object.entries(INCOMPAT)) if (sb.s_feature_incompat & v) out.push(k);
  for (const [k, v] of Object.entries(RO_COMPAT)) if (sb.s_feature_ro_compat & v) out.push(k);
  return out;
}

/** ext2, ext3 or ext4 as blkid decides: ext4 once any feature beyond ext3's set is on. */
export function fsTypeName(sb: Superblock): 'ext2' | 'ext3' | 'ext4' {
  const ext3Incompat = INCOMPAT.filetype | INCOMPAT.recover | INCOMPAT.meta_bg;
  const ext3Ro = RO_COMPAT.sparse_super | RO_COMPAT.large_file | RO_COMPAT.btree_dir;
  if ((sb.s_feature_incompat & ~ext3Incompat) !== 0 || (sb.s_feature_ro_compat & ~ext3Ro) !== 0) return 'ext4';
  return hasCompat(sb, COMPAT.has_journal) ? 'ext3' : 'ext2';
}

/** UUID as blkid prints it: lower-case 8-4-4-4-12. */
export function formatUuid(u: Buffer): string {
  const h = u.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The registry's probe (src/fs/formats.ts): the superblock magic at 1024 + 0x38. */
export function probeExt(head: Buffer): boolean {
  return head.length >= SUPERBLOCK_OFFSET + 0x3a && head.readUInt16LE(SUPERBLOCK_OFFSET + 0x38) === EXT_MAGIC;
}
