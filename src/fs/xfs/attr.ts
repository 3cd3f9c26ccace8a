/**
 * Extended attributes ("XFS Algorithms & Data Structures", "Extended Attributes"): the attribute
 * fork holds them in short form (in the inode), in one leaf block, or in a dabtree of node
 * blocks over leaf blocks; values too big for a leaf sit in "remote" blocks of the fork.
 * Namespaces are flags, not name prefixes; POSIX ACLs are root-namespace attributes
 * SGI_ACL_FILE/SGI_ACL_DEFAULT in XFS's own big-endian form.
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { xfsCrcOk } from './crc.js';
import { DA_MAX_DEPTH, daBlockInfo } from './dir.js';

/** Attribute entry flags (XFS_ATTR_*). */
export const ATTR = { LOCAL: 0x1, ROOT: 0x2, SECURE: 0x4, PARENT: 0x8, INCOMPLETE: 0x80 } as const;
export const XFS_ATTR_LEAF_MAGIC = 0xfbee;
export const XFS_ATTR3_LEAF_MAGIC = 0x3bee;
export const XFS_ATTR3_RMT_MAGIC = 0x5841524d; // "XARM"
/** struct xfs_attr3_rmt_hdr: magic, offset, bytes, crc, uuid, owner, blkno, lsn. */
export const ATTR3_RMT_HDR = 56;

const XFS_DA_NODE_MAGIC = 0xfebe;
const XFS_DA3_NODE_MAGIC = 0x3ebe;
/** Largest xattr value (the kernel's XATTR_SIZE_MAX). */
const XATTR_VALUE_MAX = 65536;
/** Blocks of an attribute dabtree visited per file at most (loops and hostile fan-out). */
const ATTR_BLOCKS_MAX = 1 << 16;

/** An attribute fork in blocks: its mapping as a source, and what checking it needs. */
export interface AttrBlocks {
  fork: ByteSource;
  blockSize: number;
  hasCrc: boolean;
  ino: number;
  warnChecksum(what: string): void;
}

/** One attribute: its namespace flags, name bytes, and value (inline) or where the value lies. */
export interface AttrEntry {
  flags: number;
  name: Buffer;
  value: Buffer | null;
  /** Remote values: first block in the attribute fork, and the length. */
  valueblk: number;
  valuelen: number;
}

/** struct xfs_attr_sf_hdr (totsize, count, pad) + entries (namelen, valuelen, flags, name, value). */
export function parseAttrShortform(fork: Buffer, file: string): AttrEntry[] {
  if (fork.length < 4) throw corrupt(file, 'short-form attributes are truncated');
  const totsize = fork.readUInt16BE(0);
  const count = fork[2]!;
  const end = Math.min(totsize, fork.length);
  const out: AttrEntry[] = [];
  let o = 4;
  for (let i = 0; i < count; i++) {
    if (o + 3 > end) throw corrupt(file, `short-form attribute ${i} runs past the inode`);
    const namelen = fork[o]!;
    const valuelen = fork[o + 1]!;
    const flags = fork[o + 2]!;
    if (o + 3 + namelen + valuelen > end) throw corrupt(file, `short-form attribute ${i} runs past the inode`);
    const name = Buffer.from(fork.subarray(o + 3, o + 3 + namelen));
    const value = Buffer.from(fork.subarray(o + 3 + namelen, o + 3 + namelen + valuelen));
    out.push({ flags, name, value, valueblk: 0, valuelen });
    o += 3 + namelen + valuelen;
  }
  return out;
}

/** Header size of an attribute leaf block (xfs_attr_leaf_hdr / xfs_attr3_leaf_hdr). */
function leafHeaderSize(hasCrc: boolean): number {
  return hasCrc ? 80 : 32;
}

/** The entries of one leaf block (magic already checked). */
export function parseAttrLeaf(b: Buffer, hasCrc: boolean, file: string, out: AttrEntry[]): void {
  const count = b.readUInt16BE(hasCrc ? 56 : 12);
  const base = leafHeaderSize(hasCrc);
  if (base + count * 8 > b.length) throw corrupt(file, `attribute leaf block has too many entries (${count})`);
  for (let i = 0; i < count; i++) {
    // struct xfs_attr_leaf_entry: hashval, nameidx, flags, pad.
    const e = base + i * 8;
    const nameidx = b.readUInt16BE(e + 4);
    const flags = b[e + 6]!;
    if (flags & ATTR.INCOMPLETE) continue;
    if (flags & ATTR.LOCAL) {
      // struct xfs_attr_leaf_name_local: valuelen, namelen, nameval.
      if (nameidx + 3 > b.length) throw corrupt(file, `attribute leaf entry ${i} points past the block`);
      const valuelen = b.readUInt16BE(nameidx);
      const namelen = b[nameidx + 2]!;
      const at = nameidx + 3;
      if (at + namelen + valuelen > b.length) throw corrupt(file, `attribute leaf entry ${i} runs past the block`);
      out.push({ flags, name: Buffer.from(b.subarray(at, at + namelen)), value: Buffer.from(b.subarray(at + namelen, at + namelen + valuelen)), valueblk: 0, valuelen });
    } else {
      // struct xfs_attr_leaf_name_remote: valueblk, valuelen, namelen, name.
      if (nameidx + 9 > b.length) throw corrupt(file, `attribute leaf entry ${i} points past the block`);
      const valueblk = b.readUInt32BE(nameidx);
      const valuelen = b.readUInt32BE(nameidx + 4);
      const namelen = b[nameidx + 8]!;
      if (nameidx + 9 + namelen > b.length) throw corrupt(file, `attribute leaf entry ${i} runs past the block`);
      out.push({ flags, name: Buffer.from(b.subarray(nameidx + 9, nameidx + 9 + namelen)), value: null, valueblk, valuelen });
    }
  }
}

/** The name users see: namespace prefix + name; null for names the kernel does not list (parent pointers). */
export function attrFullName(e: AttrEntry): string | null {
  if (e.flags & (ATTR.PARENT | ATTR.INCOMPLETE)) return null;
  const prefix = e.flags & ATTR.ROOT ? 'trusted.' : e.flags & ATTR.SECURE ? 'security.' : 'user.';
  return prefix + e.name.toString('utf8');
}

/** The POSIX ACL xattr name a root-namespace SGI ACL is also listed under, else null. */
export function aclXattrName(e: AttrEntry): string | null {
  if (!(e.flags & ATTR.ROOT)) return null;
  const n = e.name.toString('latin1');
  if (n === 'SGI_ACL_FILE') return 'system.posix_acl_access';
  if (n === 'SGI_ACL_DEFAULT') return 'system.posix_acl_default';
  return null;
}

/**
 * struct xfs_acl (acl_cnt, then 12-byte entries ae_tag, ae_id, ae_perm, pad; big-endian) to the
 * xattr form getfattr/setfattr speak (version 2, 8-byte little-endian entries, id -1 where none).
 */
export function xfsAclToXattr(v: Buffer, file: string): Buffer {
  if (v.length < 4) throw corrupt(file, 'POSIX ACL is truncated');
  const cnt = v.readUInt32BE(0);
  if (4 + cnt * 12 > v.length || cnt > 8192) throw corrupt(file, `POSIX ACL claims ${cnt} entries`);
  const out = Buffer.alloc(4 + cnt * 8);
  out.writeUInt32LE(2, 0);
  for (let i = 0; i < cnt; i++) {
    const tag = v.readUInt32BE(4 + i * 12);
    const id = v.readUInt32BE(8 + i * 12);
    const perm = v.readUInt16BE(12 + i * 12);
    out.writeUInt16LE(tag & 0xffff, 4 + i * 8);
    out.writeUInt16LE(perm, 6 + i * 8);
    // ACL_USER (2) and ACL_GROUP (8) carry an id.
    out.writeUInt32LE(tag === 2 || tag === 8 ? id : 0xffffffff, 8 + i * 8);
  }
  return out;
}

/** Every entry of a leaf- or node-form attribute fork: down the leftmost path, then along the leaves' forward links. */
export async function readAttrTree(a: AttrBlocks, file: string): Promise<AttrEntry[]> {
  const { blockSize: bs, hasCrc: crc } = a;
  const read = async (dablk: number): Promise<Buffer> => {
    const b = await a.fork.read(dablk * bs, bs);
    if (b.length < bs) throw corrupt(file, `attribute block ${dablk} is missing`);
    return b;
  };
  const leafMagic = crc ? XFS_ATTR3_LEAF_MAGIC : XFS_ATTR_LEAF_MAGIC;
  const nodeMagic = crc ? XFS_DA3_NODE_MAGIC : XFS_DA_NODE_MAGIC;
  const seen = new Set<number>();
  let blk = 0;
  let b = await read(0);
  for (let depth = 0; ; depth++) {
    seen.add(blk);
    const info = daBlockInfo(b, crc);
    if (info.magic === leafMagic) break;
    if (info.magic !== nodeMagic || depth > DA_MAX_DEPTH) throw corrupt(file, `attribute block ${blk} has a bad magic number`);
    if (crc && !xfsCrcOk(b, 12)) a.warnChecksum(`attribute node block ${blk} of inode ${a.ino}`);
    if (info.count === 0 || info.entries + 8 > b.length) throw corrupt(file, `attribute node block ${blk} is empty`);
    blk = b.readUInt32BE(info.entries + 4);
    if (seen.has(blk)) throw corrupt(file, 'attribute tree loops');
    b = await read(blk);
  }
  const entries: AttrEntry[] = [];
  for (;;) {
    if (crc && !xfsCrcOk(b, 12)) a.warnChecksum(`attribute leaf block ${blk} of inode ${a.ino}`);
    parseAttrLeaf(b, crc, file, entries);
    const forw = b.readUInt32BE(0);
    if (forw === 0) break;
    if (seen.has(forw) || seen.size > ATTR_BLOCKS_MAX) throw corrupt(file, 'attribute leaf blocks loop');
    seen.add(forw);
    blk = forw;
    b = await read(blk);
    if (daBlockInfo(b, crc).magic !== leafMagic) throw corrupt(file, `attribute leaf block ${blk} has a bad magic number`);
  }
  return entries;
}

/** A remote value: whole blocks of the attribute fork, each with a header on v5. */
export async function remoteAttrValue(a: AttrBlocks, e: AttrEntry, file: string): Promise<Buffer> {
  if (e.valuelen > XATTR_VALUE_MAX) throw corrupt(file, `attribute value is ${e.valuelen} bytes long`);
  const bs = a.blockSize;
  if (!a.hasCrc) {
    const v = await a.fork.read(e.valueblk * bs, e.valuelen);
    if (v.length < e.valuelen) throw corrupt(file, 'attribute value runs past its fork');
    return Buffer.from(v);
  }
  const per = bs - ATTR3_RMT_HDR;
  const out = Buffer.alloc(e.valuelen);
  for (let got = 0, blk = e.valueblk; got < e.valuelen; blk++) {
    const b = await a.fork.read(blk * bs, bs);
    if (b.length < bs || b.readUInt32BE(0) !== XFS_ATTR3_RMT_MAGIC) throw corrupt(file, `remote attribute block ${blk} has a bad magic number`);
    if (!xfsCrcOk(b, 12)) a.warnChecksum(`remote attribute block ${blk} of inode ${a.ino}`);
    const n = Math.min(b.readUInt32BE(8), per, e.valuelen - got);
    if (n <= 0) throw corrupt(file, `remote attribute block ${blk} holds no bytes`);
    b.copy(out, got, ATTR3_RMT_HDR, ATTR3_RMT_HDR + n);
    got += n;
  }
  return out;
}
