/**
 * Directories, version 2/3 ("XFS Algorithms & Data Structures", "Directories"): short form in
 * the inode; otherwise directory blocks in the data fork's first 32 GiB (a single "block"
 * directory with its hash index inside, or "data" blocks), hash-ordered leaf blocks from
 * 32 GiB, and for big folders a dabtree of node blocks above the leaves. Listing reads the
 * data blocks only (every name is in exactly one); a lookup of one name walks the hash index.
 */
import { corrupt } from '../../errors.js';
import type { FileType } from '../types.js';
import type { DirEntriesBuilder } from '../ext/dir.js';
import { scratch } from '../../source/scratch.js';

export const XFS_DIR2_BLOCK_MAGIC = 0x58443242; // "XD2B"
export const XFS_DIR3_BLOCK_MAGIC = 0x58444233; // "XDB3"
export const XFS_DIR2_DATA_MAGIC = 0x58443244; // "XD2D"
export const XFS_DIR3_DATA_MAGIC = 0x58444433; // "XDD3"
export const XFS_DIR2_LEAF1_MAGIC = 0xd2f1;
export const XFS_DIR3_LEAF1_MAGIC = 0x3df1;
export const XFS_DIR2_LEAFN_MAGIC = 0xd2ff;
export const XFS_DIR3_LEAFN_MAGIC = 0x3dff;
export const XFS_DA_NODE_MAGIC = 0xfebe;
export const XFS_DA3_NODE_MAGIC = 0x3ebe;

/** Byte offset in the data fork where leaf blocks start (XFS_DIR2_LEAF_OFFSET). */
export const XFS_DIR2_LEAF_OFFSET = 2 ** 35;
/** The deepest dabtree that fits the 32-bit hash space with the smallest blocks. */
export const DA_MAX_DEPTH = 8;

/** ftype values (XFS_DIR3_FT_*). */
const FTYPE: ReadonlyArray<FileType | null> = [null, 'file', 'dir', 'chardev', 'blockdev', 'fifo', 'socket', 'symlink'];

/** The directory name hash (xfs_da_hashname): 7-bit rotations over 4-byte groups. */
export function daHashName(name: Uint8Array): number {
  let hash = 0;
  let i = 0;
  let n = name.length;
  const rol = (v: number, s: number) => ((v << s) | (v >>> (32 - s))) >>> 0;
  for (; n >= 4; n -= 4, i += 4) {
    hash = ((name[i]! << 21) ^ (name[i + 1]! << 14) ^ (name[i + 2]! << 7) ^ name[i + 3]! ^ rol(hash, 28)) >>> 0;
  }
  switch (n) {
    case 3: return ((name[i]! << 14) ^ (name[i + 1]! << 7) ^ name[i + 2]! ^ rol(hash, 21)) >>> 0;
    case 2: return ((name[i]! << 7) ^ name[i + 1]! ^ rol(hash, 14)) >>> 0;
    case 1: return (name[i]! ^ rol(hash, 7)) >>> 0;
    default: return hash;
  }
}

/** Size of a data block's header: magic + bestfree (v4), or the CRC'd xfs_dir3_data_hdr (v5). */
export function dataHeaderSize(hasCrc: boolean): number {
  return hasCrc ? 64 : 16;
}

/** Size of a data entry: inumber, namelen, name, ftype, tag, 8-byte aligned. */
function entrySize(nameLen: number, ftype: boolean): number {
  return (8 + 1 + nameLen + (ftype ? 1 : 0) + 2 + 7) & ~7;
}

function u64(b: Buffer, at: number): number {
  return b.readUInt32BE(at) * 2 ** 32 + b.readUInt32BE(at + 4);
}

/** Appends one name (bytes b[start … start+len)) unless it is "." or ".." or holds "/" or NUL. */
function addEntry(out: DirEntriesBuilder, b: Buffer, start: number, len: number, ino: number, type: FileType | null): void {
  if (len === 0) return;
  if (b[start] === 0x2e && (len === 1 || (len === 2 && b[start + 1] === 0x2e))) return;
  if (out.used + len + 1 > out.nameBytes.length) {
    const grown = scratch.take(2 * (out.used + len + 1));
    out.nameBytes.copy(grown, 0, 0, out.used);
    scratch.give(out.nameBytes);
    out.nameBytes = grown;
  }
  const nb = out.nameBytes;
  let u = out.used;
  for (let j = start; j < start + len; j++) {
    const c = b[j]!;
    // A path component cannot hold "/" or NUL: such an entry is damage, not a file.
    if (c === 0x2f || c === 0) return;
    nb[u++] = c;
  }
  nb[u++] = 0x2f;
  out.used = u;
  const k = out.count++;
  out.inodes[k] = ino;
  out.types[k] = type;
}

/**
 * Short form (struct xfs_dir2_sf_hdr + entries) in the inode's data fork. Returns the parent's
 * inode number (the header's, as ".." has no entry here).
 */
export function parseShortform(fork: Buffer, ftype: boolean, file: string, out: DirEntriesBuilder): number {
  if (fork.length < 6) throw corrupt(file, 'short-form folder header is truncated');
  const count = fork[0]!;
  const i8count = fork[1]!;
  const inoSize = i8count ? 8 : 4;
  const readIno = (at: number) => (inoSize === 8 ? u64(fork, at) : fork.readUInt32BE(at));
  if (2 + inoSize > fork.length) throw corrupt(file, 'short-form folder header is truncated');
  const parent = readIno(2);
  let o = 2 + inoSize;
  for (let i = 0; i < count; i++) {
    if (o + 3 > fork.length) throw corrupt(file, `short-form folder entry ${i} runs past the inode`);
    const nameLen = fork[o]!;
    const nameAt = o + 3;
    const typeAt = nameAt + nameLen;
    const inoAt = typeAt + (ftype ? 1 : 0);
    if (nameLen === 0 || inoAt + inoSize > fork.length) throw corrupt(file, `short-form folder entry ${i} runs past the inode`);
    addEntry(out, fork, nameAt, nameLen, readIno(inoAt), ftype ? (FTYPE[fork[typeAt]!] ?? null) : null);
    o = inoAt + inoSize;
  }
  return parent;
}

/**
 * The entries of one directory block (a "block" directory's only block, or a data block).
 * Returns false when the block is not a directory data block (a hole read as zeros).
 */
export function parseDataBlock(b: Buffer, hasCrc: boolean, ftype: boolean, file: string, out: DirEntriesBuilder): boolean {
  const magic = b.readUInt32BE(0);
  let end = b.length;
  if (magic === (hasCrc ? XFS_DIR3_BLOCK_MAGIC : XFS_DIR2_BLOCK_MAGIC)) {
    // struct xfs_dir2_block_tail (count, stale) ends the block, after count leaf entries.
    const count = b.readUInt32BE(b.length - 8);
    end = b.length - 8 - count * 8;
  } else if (magic !== (hasCrc ? XFS_DIR3_DATA_MAGIC : XFS_DIR2_DATA_MAGIC)) {
    return false;
  }
  let o = dataHeaderSize(hasCrc);
  if (end < o) throw corrupt(file, 'folder block has too many hash entries for its size');
  while (o < end) {
    if (o + 8 > end) throw corrupt(file, `folder block entry at byte ${o} runs past the block`);
    if (b[o] === 0xff && b[o + 1] === 0xff) {
      // struct xfs_dir2_data_unused: freetag, length.
      const len = b.readUInt16BE(o + 2);
      if (len < 8 || len % 8 !== 0 || o + len > end) throw corrupt(file, `free space at byte ${o} of a folder block has a bad length (${len})`);
      o += len;
      continue;
    }
    const nameLen = b[o + 8]!;
    const size = entrySize(nameLen, ftype);
    if (nameLen === 0 || o + size > end) throw corrupt(file, `folder block entry at byte ${o} runs past the block`);
    const ino = u64(b, o);
    addEntry(out, b, o + 9, nameLen, ino, ftype ? (FTYPE[b[o + 9 + nameLen]!] ?? null) : null);
    o += size;
  }
  return true;
}

/** The entry at byte `at` of a data block, if its name equals `name`: its inode and type. */
export function entryAt(b: Buffer, at: number, name: Buffer, ftype: boolean, file: string): { ino: number; type: FileType | null } | null {
  if (at + 11 > b.length) throw corrupt(file, `folder hash index points past a block (byte ${at})`);
  const nameLen = b[at + 8]!;
  if (at + entrySize(nameLen, ftype) > b.length) throw corrupt(file, `folder hash index points at a bad entry (byte ${at})`);
  if (nameLen !== name.length || b.compare(name, 0, nameLen, at + 9, at + 9 + nameLen) !== 0) return null;
  return { ino: u64(b, at), type: ftype ? (FTYPE[b[at + 9 + nameLen]!] ?? null) : null };
}

/** The hash index entries (hashval, address) of a block directory whose hash is `hash`. */
export function blockLeafAddresses(b: Buffer, hash: number): number[] {
  const count = b.readUInt32BE(b.length - 8);
  const base = b.length - 8 - count * 8;
  if (base < 0) return [];
  // Entries are sorted by hashval: binary search for the first equal one.
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (b.readUInt32BE(base + mid * 8) < hash) lo = mid + 1;
    else hi = mid;
  }
  const out: number[] = [];
  for (let i = lo; i < count && b.readUInt32BE(base + i * 8) === hash; i++) {
    const addr = b.readUInt32BE(base + i * 8 + 4);
    if (addr !== 0) out.push(addr); // XFS_DIR2_NULL_DATAPTR is 0: a stale entry
  }
  return out;
}

/** The dabtree block header (struct xfs_da_blkinfo / xfs_da3_blkinfo) fields a walk needs. */
export interface DaBlockInfo {
  forw: number;
  magic: number;
  count: number;
  /** Node blocks: level; leaf blocks: stale. */
  level: number;
  /** Where entries start. */
  entries: number;
}

export function daBlockInfo(b: Buffer, hasCrc: boolean): DaBlockInfo {
  const hdr = hasCrc ? 56 : 12;
  return { forw: b.readUInt32BE(0), magic: b.readUInt16BE(8), count: b.readUInt16BE(hdr), level: b.readUInt16BE(hdr + 2), entries: hasCrc ? 64 : 16 };
}

/** A node block's child for `hash`: the first entry whose hashval is >= it (else the last). */
export function nodeChild(b: Buffer, info: DaBlockInfo, hash: number, file: string): number {
  if (info.count === 0 || info.entries + info.count * 8 > b.length) throw corrupt(file, `folder index node has a bad entry count (${info.count})`);
  let lo = 0;
  let hi = info.count - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (b.readUInt32BE(info.entries + mid * 8) < hash) lo = mid + 1;
    else hi = mid;
  }
  return b.readUInt32BE(info.entries + lo * 8 + 4);
}

/**
 * The addresses in a leaf block (LEAF1 or LEAFN) whose hash is `hash`; `more` when the last
 * entry still has that hash (equal hashes may continue in the next leaf).
 */
export function leafAddresses(b: Buffer, info: DaBlockInfo, hash: number, file: string): { addrs: number[]; more: boolean } {
  if (info.entries + info.count * 8 > b.length) throw corrupt(file, `folder leaf block has a bad entry count (${info.count})`);
  let lo = 0;
  let hi = info.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (b.readUInt32BE(info.entries + mid * 8) < hash) lo = mid + 1;
    else hi = mid;
  }
  const addrs: number[] = [];
  let i = lo;
  for (; i < info.count && b.readUInt32BE(info.entries + i * 8) === hash; i++) {
    const addr = b.readUInt32BE(info.entries + i * 8 + 4);
    if (addr !== 0) addrs.push(addr);
  }
  return { addrs, more: i === info.count && info.count > 0 };
}

/**
 * The data addresses for `hash` from the dabtree whose root is the first block at the leaf
 * offset: down the node blocks to the leaf, then along `forw` while equal hashes continue.
 * Blocks are visited once and the depth is capped: a loop is an error. `check` verifies a
 * block's CRC (v5).
 */
export async function indexAddresses(
  block: (forkOffset: number) => Promise<Buffer>, blockSize: number, crc: boolean, hash: number, file: string, check: (b: Buffer, what: string) => void,
): Promise<number[]> {
  let at = XFS_DIR2_LEAF_OFFSET;
  const seen = new Set<number>();
  for (let depth = 0; ; depth++) {
    if (depth > DA_MAX_DEPTH || seen.has(at)) throw corrupt(file, 'folder hash index loops or is too deep');
    seen.add(at);
    const b = await block(at);
    const info = daBlockInfo(b, crc);
    if (info.magic === (crc ? XFS_DA3_NODE_MAGIC : XFS_DA_NODE_MAGIC)) {
      check(b, 'index node');
      const child = nodeChild(b, info, hash, file);
      at = child * blockSize;
      if (at < XFS_DIR2_LEAF_OFFSET) throw corrupt(file, `folder index node points outside the index (${child})`);
      continue;
    }
    const leaf1 = crc ? XFS_DIR3_LEAF1_MAGIC : XFS_DIR2_LEAF1_MAGIC;
    const leafn = crc ? XFS_DIR3_LEAFN_MAGIC : XFS_DIR2_LEAFN_MAGIC;
    if (info.magic !== leaf1 && info.magic !== leafn) throw corrupt(file, `folder index block at fork offset ${at} has a bad magic number`);
    const out: number[] = [];
    let b2 = b;
    let inf = info;
    for (;;) {
      check(b2, 'leaf block');
      const r = leafAddresses(b2, inf, hash, file);
      out.push(...r.addrs);
      if (!r.more || inf.forw === 0 || inf.magic === leaf1) break;
      const next = inf.forw * blockSize;
      if (seen.has(next) || next < XFS_DIR2_LEAF_OFFSET || seen.size > 1 << 16) throw corrupt(file, 'folder leaf blocks loop');
      seen.add(next);
      b2 = await block(next);
      inf = daBlockInfo(b2, crc);
      if (inf.magic !== leafn) throw corrupt(file, `folder leaf block at fork offset ${next} has a bad magic number`);
    }
    return out;
  }
}
