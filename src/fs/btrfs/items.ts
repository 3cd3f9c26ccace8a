/**
 * The Btrfs item types diskpick reads from the root and fs trees (kernel
 * include/uapi/linux/btrfs_tree.h, the btrfs wiki "On-disk Format"), each parsed from an item's
 * data with the spec's field names. Item data comes from a verified leaf, but its size was set
 * by whoever wrote it: every parser checks that its fields fit.
 */
import { corrupt } from '../../errors.js';
import type { Timespec } from '../types.js';

/** Item key types (BTRFS_*_KEY). */
export const KEY = {
  INODE_ITEM: 1,
  INODE_REF: 12,
  INODE_EXTREF: 13,
  XATTR_ITEM: 24,
  DIR_ITEM: 84,
  DIR_INDEX: 96,
  EXTENT_DATA: 108,
  EXTENT_CSUM: 128,
  ROOT_ITEM: 132,
  ROOT_BACKREF: 144,
  ROOT_REF: 156,
  DEV_ITEM: 216,
  CHUNK_ITEM: 228,
} as const;

/** Well-known tree objectids. */
export const OBJ = {
  ROOT_TREE: 1n,
  EXTENT_TREE: 2n,
  CHUNK_TREE: 3n,
  DEV_TREE: 4n,
  FS_TREE: 5n,
  ROOT_TREE_DIR: 6n,
  CSUM_TREE: 7n,
  FIRST_FREE: 256n,
  /** -256 as u64: the last subvolume id. */
  LAST_FREE: (1n << 64n) - 256n,
  /** -10 as u64: the objectid of csum items. */
  EXTENT_CSUM: (1n << 64n) - 10n,
  FIRST_CHUNK_TREE: 256n,
  DEV_ITEMS: 1n,
} as const;

export const FIRST_INO = 256;

function need(d: Buffer, n: number, file: string, what: string): void {
  if (d.length < n) throw corrupt(file, `Btrfs ${what} item is ${d.length} bytes, needs ${n}`);
}

function safe(v: bigint, file: string, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `Btrfs ${what} ${v} is out of range`);
  return Number(v);
}

function timespec(d: Buffer, o: number): Timespec {
  // struct btrfs_timespec: __le64 sec (signed in practice: dates before 1970), __le32 nsec.
  const nsec = d.readUInt32LE(o + 8);
  return { sec: Number(d.readBigInt64LE(o)), nsec: nsec < 1e9 ? nsec : 0 };
}

/** struct btrfs_inode_item (160 bytes). */
export interface InodeItem {
  generation: bigint;
  size: number;
  nbytes: number;
  nlink: number;
  uid: number;
  gid: number;
  mode: number;
  rdev: bigint;
  flags: bigint;
  atime: Timespec;
  ctime: Timespec;
  mtime: Timespec;
  otime: Timespec;
}

export const INODE_ITEM_SIZE = 160;
/** btrfs_inode_item.flags (BTRFS_INODE_*). */
export const INODE_FLAG = {
  NODATASUM: 1n << 0n,
  NODATACOW: 1n << 1n,
  READONLY: 1n << 2n,
  NOCOMPRESS: 1n << 3n,
  PREALLOC: 1n << 4n,
  IMMUTABLE: 1n << 6n,
  APPEND: 1n << 7n,
  COMPRESS: 1n << 11n,
} as const;

export function parseInodeItem(d: Buffer, o: number, file: string): InodeItem {
  need(d, o + INODE_ITEM_SIZE, file, 'inode');
  return {
    generation: d.readBigUInt64LE(o),
    size: safe(d.readBigUInt64LE(o + 16), file, 'inode size'),
    nbytes: safe(d.readBigUInt64LE(o + 24), file, 'inode nbytes'),
    nlink: d.readUInt32LE(o + 40),
    uid: d.readUInt32LE(o + 44),
    gid: d.readUInt32LE(o + 48),
    mode: d.readUInt32LE(o + 52),
    rdev: d.readBigUInt64LE(o + 56),
    flags: d.readBigUInt64LE(o + 64),
    atime: timespec(d, o + 112),
    ctime: timespec(d, o + 124),
    mtime: timespec(d, o + 136),
    otime: timespec(d, o + 148),
  };
}

/** struct btrfs_dir_item (DIR_ITEM, DIR_INDEX, XATTR_ITEM): location key, name, data. */
export interface DirItem {
  location: { objectid: bigint; type: number; offset: bigint };
  type: number;
  name: Buffer;
  data: Buffer;
}

const DIR_ITEM_SIZE = 30;

/** Every struct btrfs_dir_item packed in one item (DIR_ITEM and XATTR_ITEM hold several on hash collisions). */
export function parseDirItems(d: Buffer, file: string): DirItem[] {
  const out: DirItem[] = [];
  let o = 0;
  while (o < d.length) {
    need(d, o + DIR_ITEM_SIZE, file, 'dir');
    const data_len = d.readUInt16LE(o + 25);
    const name_len = d.readUInt16LE(o + 27);
    const end = o + DIR_ITEM_SIZE + name_len + data_len;
    if (end > d.length) throw corrupt(file, 'Btrfs dir item name runs past its item');
    out.push({
      location: { objectid: d.readBigUInt64LE(o), type: d[o + 8]!, offset: d.readBigUInt64LE(o + 9) },
      type: d[o + 29]!,
      name: d.subarray(o + DIR_ITEM_SIZE, o + DIR_ITEM_SIZE + name_len),
      data: d.subarray(o + DIR_ITEM_SIZE + name_len, end),
    });
    o = end;
  }
  return out;
}

/** btrfs_dir_item.type (BTRFS_FT_*) → the fs layer's types. */
export const DIR_FT = [null, 'file', 'dir', 'chardev', 'blockdev', 'fifo', 'socket', 'symlink'] as const;

/** One name of an inode: INODE_REF (parent in the key) or INODE_EXTREF (parent in the item). */
export interface InodeRef {
  parent: bigint;
  index: bigint;
  name: Buffer;
}

export function parseInodeRefs(d: Buffer, parent: bigint, file: string): InodeRef[] {
  const out: InodeRef[] = [];
  let o = 0;
  while (o < d.length) {
    need(d, o + 10, file, 'inode ref');
    const len = d.readUInt16LE(o + 8);
    if (o + 10 + len > d.length) throw corrupt(file, 'Btrfs inode ref name runs past its item');
    out.push({ parent, index: d.readBigUInt64LE(o), name: d.subarray(o + 10, o + 10 + len) });
    o += 10 + len;
  }
  return out;
}

export function parseInodeExtrefs(d: Buffer, file: string): InodeRef[] {
  const out: InodeRef[] = [];
  let o = 0;
  while (o < d.length) {
    need(d, o + 18, file, 'inode extref');
    const len = d.readUInt16LE(o + 16);
    if (o + 18 + len > d.length) throw corrupt(file, 'Btrfs inode extref name runs past its item');
    out.push({ parent: d.readBigUInt64LE(o), index: d.readBigUInt64LE(o + 8), name: d.subarray(o + 18, o + 18 + len) });
    o += 18 + len;
  }
  return out;
}

/** struct btrfs_root_item: where a tree (subvolume) starts and what it is. */
export interface RootItem {
  generation: number;
  root_dirid: bigint;
  bytenr: number;
  flags: bigint;
  level: number;
  uuid: Buffer | null;
  parent_uuid: Buffer | null;
  otime: Timespec | null;
}

export const ROOT_SUBVOL_RDONLY = 1n << 0n;

export function parseRootItem(d: Buffer, file: string): RootItem {
  need(d, 239, file, 'root');
  const ext = d.length >= 439;
  return {
    generation: safe(d.readBigUInt64LE(160), file, 'root generation'),
    root_dirid: d.readBigUInt64LE(168),
    bytenr: safe(d.readBigUInt64LE(176), file, 'root bytenr'),
    flags: d.readBigUInt64LE(208),
    level: d[238]!,
    uuid: ext ? Buffer.from(d.subarray(247, 263)) : null,
    parent_uuid: ext ? Buffer.from(d.subarray(263, 279)) : null,
    otime: ext ? timespec(d, 339) : null,
  };
}

/** struct btrfs_root_ref (ROOT_REF and ROOT_BACKREF): the folder and name of a subvolume in its parent. */
export interface RootRef {
  dirid: bigint;
  sequence: bigint;
  name: Buffer;
}

export function parseRootRef(d: Buffer, file: string): RootRef {
  need(d, 18, file, 'root ref');
  const len = d.readUInt16LE(16);
  if (18 + len > d.length) throw corrupt(file, 'Btrfs root ref name runs past its item');
  return { dirid: d.readBigUInt64LE(0), sequence: d.readBigUInt64LE(8), name: d.subarray(18, 18 + len) };
}

/** struct btrfs_file_extent_item. */
export interface FileExtentItem {
  ram_bytes: number;
  compression: number;
  encryption: number;
  other_encoding: number;
  /** 0 inline, 1 regular, 2 prealloc. */
  type: number;
  /** Inline: the (possibly compressed) bytes. */
  inline: Buffer | null;
  disk_bytenr: number;
  disk_num_bytes: number;
  offset: number;
  num_bytes: number;
}

export const FILE_EXTENT = { INLINE: 0, REG: 1, PREALLOC: 2 } as const;
export const COMPRESS = { NONE: 0, ZLIB: 1, LZO: 2, ZSTD: 3 } as const;

export function parseFileExtent(d: Buffer, file: string): FileExtentItem {
  need(d, 21, file, 'file extent');
  const type = d[20]!;
  const base = {
    ram_bytes: safe(d.readBigUInt64LE(8), file, 'extent ram_bytes'),
    compression: d[16]!,
    encryption: d[17]!,
    other_encoding: d.readUInt16LE(18),
    type,
  };
  if (type === FILE_EXTENT.INLINE) return { ...base, inline: d.subarray(21), disk_bytenr: 0, disk_num_bytes: 0, offset: 0, num_bytes: d.length - 21 };
  if (type !== FILE_EXTENT.REG && type !== FILE_EXTENT.PREALLOC) throw corrupt(file, `Btrfs file extent type ${type} is unknown`);
  need(d, 53, file, 'file extent');
  return {
    ...base,
    inline: null,
    disk_bytenr: safe(d.readBigUInt64LE(21), file, 'extent disk_bytenr'),
    disk_num_bytes: safe(d.readBigUInt64LE(29), file, 'extent disk_num_bytes'),
    offset: safe(d.readBigUInt64LE(37), file, 'extent offset'),
    num_bytes: safe(d.readBigUInt64LE(45), file, 'extent num_bytes'),
  };
}
