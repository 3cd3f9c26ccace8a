/**
 * Fork mappings: where the blocks of a data or attribute fork lie. Small forks keep their
 * extent records (struct xfs_bmbt_rec, 128 bits) in the inode; big ones a B+tree of them
 * (bmbt: a root in the inode, struct xfs_bmdr_block, over long-format btree blocks "BMAP"/"BMA3").
 * The tree is hostile input: every block is visited at most once, levels must step down by
 * one, and a block seen twice (a loop) is an error, never a hang.
 */
import { corrupt } from '../../errors.js';
import { xfsCrcOk } from './crc.js';
import { FORMAT, type Inode } from './inode.js';

const XFS_BMAP_MAGIC = 0x424d4150; // "BMAP"
const XFS_BMAP_CRC_MAGIC = 0x424d4133; // "BMA3"
/** struct xfs_btree_block long form: 24 bytes; with CRCs (bb_blkno, bb_lsn, bb_uuid, bb_owner, bb_crc, pad) 72. */
const LBLOCK_LEN = 24;
const LBLOCK_CRC_LEN = 72;
const LBLOCK_CRC_OFF = 64;
/** The deepest bmbt the kernel builds is 9 levels (XFS_BM_MAXLEVELS for 2^64 extents). */
const MAX_LEVELS = 10;

/** One extent of a fork, in filesystem blocks. */
export interface BmapExtent {
  /** Logical block in the fork. */
  startoff: number;
  /** Filesystem block (AG number and AG block packed, see fsbToDaddr). */
  startblock: number;
  blockcount: number;
  /** Preallocated, never written: reads as zeros. */
  unwritten: boolean;
}

/** What fork mapping needs from the filesystem. */
export interface ForkReader {
  readonly blockSize: number;
  readonly hasCrc: boolean;
  /** One filesystem block by its (packed) number, as bytes of the volume. */
  readFsBlock(fsb: number, what: string): Promise<Buffer>;
  warnChecksum(what: string): void;
}

/** Decodes one 16-byte record (big-endian: flag:1, startoff:54, startblock:52, blockcount:21). */
export function decodeExtent(b: Buffer, at: number): BmapExtent {
  const w0 = b.readUInt32BE(at);
  const w1 = b.readUInt32BE(at + 4);
  const w2 = b.readUInt32BE(at + 8);
  const w3 = b.readUInt32BE(at + 12);
  return {
    unwritten: w0 >>> 31 === 1,
    startoff: (w0 & 0x7fffffff) * 2 ** 23 + (w1 >>> 9),
    startblock: (w1 & 0x1ff) * 2 ** 43 + w2 * 2 ** 11 + (w3 >>> 21),
    blockcount: w3 & 0x1fffff,
  };
}

/** The fork's bytes and extent count. */
function forkOf(inode: Inode, attr: boolean): { fork: Buffer; format: number; count: number } {
  if (attr) return { fork: inode.attrFork ?? Buffer.alloc(0), format: inode.di_aformat, count: inode.anextents };
  return { fork: inode.dataFork, format: inode.di_format, count: inode.nextents };
}

/**
 * Every extent of a data (attr = false) or attribute fork, sorted by startoff, for a fork in
 * extents or btree format. Overlaps and disorder are errors (checked here for the fork's
 * logical space; the caller checks the volume side with checkExtents).
 */
export async function forkExtents(fs: ForkReader, inode: Inode, attr: boolean, file: string): Promise<BmapExtent[]> {
  const { fork, format, count } = forkOf(inode, attr);
  const which = attr ? 'attribute fork' : 'data fork';
  const out: BmapExtent[] = [];
  if (format === FORMAT.EXTENTS) {
    if (count * 16 > fork.length) throw corrupt(file, `inode ${inode.ino}: ${count} extents do not fit in the ${which} (${fork.length} bytes)`);
    for (let i = 0; i < count; i++) out.push(decodeExtent(fork, i * 16));
  } else if (format === FORMAT.BTREE) {
    await walkBmbt(fs, inode, fork, file, which, out);
  } else {
    throw corrupt(file, `inode ${inode.ino}: the ${which} has format ${format}, not extents or btree`);
  }
  let end = 0;
  for (const e of out) {
    if (e.startoff < end) throw corrupt(file, `inode ${inode.ino}: ${which} extents overlap or are out of order at block ${e.startoff}`);
    if (e.blockcount === 0) throw corrupt(file, `inode ${inode.ino}: ${which} has an empty extent at block ${e.startoff}`);
    end = e.startoff + e.blockcount;
  }
  return out;
}

async function walkBmbt(fs: ForkReader, inode: Inode, root: Buffer, file: string, which: string, out: BmapExtent[]): Promise<void> {
  // struct xfs_bmdr_block: bb_level, bb_numrecs; then keys and pointers, each array sized for
  // the most records the fork could hold (xfs_bmdr_maxrecs).
  if (root.length < 4) throw corrupt(file, `inode ${inode.ino}: ${which} btree root is truncated`);
  const level = root.readUInt16BE(0);
  const numrecs = root.readUInt16BE(2);
  const rootMax = Math.floor((root.length - 4) / 16);
  if (level < 1 || level >= MAX_LEVELS || numrecs > rootMax || numrecs === 0) throw corrupt(file, `inode ${inode.ino}: ${which} btree root is damaged (level ${level}, ${numrecs} records)`);
  const seen = new Set<number>();
  const ptrAt = 4 + rootMax * 8;
  for (let i = 0; i < numrecs; i++) {
    await walkBlock(fs, inode, readPtr(root, ptrAt + i * 8, file), level - 1, file, which, out, seen);
  }
}

function readPtr(b: Buffer, at: number, file: string): number {
  const v = b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `btree pointer ${v} is out of range`);
  return Number(v);
}

async function walkBlock(fs: ForkReader, inode: Inode, fsb: number, level: number, file: string, which: string, out: BmapExtent[], seen: Set<number>): Promise<void> {
  if (seen.has(fsb)) throw corrupt(file, `inode ${inode.ino}: ${which} btree block ${fsb} is reached twice (a loop)`);
  seen.add(fsb);
  const b = await fs.readFsBlock(fsb, `${which} btree block of ${file}`);
  const magic = b.readUInt32BE(0);
  if (magic !== (fs.hasCrc ? XFS_BMAP_CRC_MAGIC : XFS_BMAP_MAGIC)) throw corrupt(file, `inode ${inode.ino}: ${which} btree block ${fsb} has a bad magic number`);
  const hdr = fs.hasCrc ? LBLOCK_CRC_LEN : LBLOCK_LEN;
  if (fs.hasCrc) {
    if (!xfsCrcOk(b, LBLOCK_CRC_OFF)) fs.warnChecksum(`${which} btree block ${fsb} of inode ${inode.ino}`);
    if (Number(b.readBigUInt64BE(56)) !== inode.ino) throw corrupt(file, `inode ${inode.ino}: ${which} btree block ${fsb} belongs to inode ${b.readBigUInt64BE(56)}`);
  }
  const bbLevel = b.readUInt16BE(4);
  const numrecs = b.readUInt16BE(6);
  if (bbLevel !== level) throw corrupt(file, `inode ${inode.ino}: ${which} btree block ${fsb} is at level ${bbLevel}, expected ${level}`);
  if (level === 0) {
    if (hdr + numrecs * 16 > b.length) throw corrupt(file, `inode ${inode.ino}: ${which} btree block ${fsb} holds too many records (${numrecs})`);
    for (let i = 0; i < numrecs; i++) out.push(decodeExtent(b, hdr + i * 16));
    return;
  }
  const maxrecs = Math.floor((b.length - hdr) / 16);
  if (numrecs > maxrecs || numrecs === 0) throw corrupt(file, `inode ${inode.ino}: ${which} btree block ${fsb} holds a bad number of records (${numrecs})`);
  // The block is a shared cache view: take the pointers before the next await.
  const ptrs: number[] = [];
  for (let i = 0; i < numrecs; i++) ptrs.push(readPtr(b, hdr + maxrecs * 8 + i * 8, file));
  for (const p of ptrs) await walkBlock(fs, inode, p, level - 1, file, which, out, seen);
}
