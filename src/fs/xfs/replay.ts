/**
 * In-memory log recovery (what the kernel does at mount, "XFS Algorithms & Data Structures",
 * "Journaling Log" and "Log Items"): the records from the tail to the head are read, their
 * operations reassembled into transactions, and every committed transaction's buffer and
 * inode items applied, in log order, to an overlay of 512-byte sectors. The image is never
 * written. Log item format structures are in the writer's byte order (little-endian here: the
 * log of an x86/arm64 Linux); the buffer contents they carry are on-disk (big-endian) bytes.
 *
 * Replayed: buffer items (XFS_LI_BUF, with cancel records), inode items (XFS_LI_INODE: core,
 * data and attribute forks, device numbers). Not needed for reading and skipped: intent items
 * (EFI/EFD, RUI/RUD, CUI/CUD, BUI/BUD: space freeing and mapping updates whose results are
 * logged as buffers), icreate (chunk initialisation: every inode in use is logged by itself),
 * dquots, quota-off.
 */
import { corrupt } from '../../errors.js';
import { hostRunsOf, readInto, type ByteSource, type HostRun } from '../../source/source.js';
import { crc32cUpdate, crc32cZeros } from '../ext/crc32c.js';

const XLOG_HEADER_MAGIC_NUM = 0xfeedbabe;
const BB = 512;
const XLOG_HEADER_CYCLE_SIZE = 32768;
/** xlog_op_header.oh_flags. */
const OP = { START: 0x01, COMMIT: 0x02, CONTINUE: 0x04, WAS_CONT: 0x08, END: 0x10, UNMOUNT: 0x20 } as const;
const XFS_TRANSACTION = 0x69;
const XFS_TRANS_HEADER_MAGIC = 0x5452414e; // "TRAN"
const XFS_LI_INODE = 0x123b;
const XFS_LI_BUF = 0x123c;
const XFS_BLF_CANCEL = 0x2;
const XFS_BLF_CHUNK = 128;
/** xfs_inode_log_format.ilf_fields. */
const ILOG = { CORE: 0x1, DDATA: 0x2, DEXT: 0x4, DBROOT: 0x8, DEV: 0x10, ADATA: 0x40, AEXT: 0x80, ABROOT: 0x100 } as const;
/** Names of the log item types diskpick does not replay (xfs_log_format.h XFS_LI_*). */
export const ITEM_NAMES: Record<number, string> = {
  0x1236: 'EFI', 0x1237: 'EFD', 0x123d: 'dquot', 0x123e: 'quotaoff', 0x123f: 'icreate', 0x1240: 'RUI', 0x1241: 'RUD',
  0x1242: 'CUI', 0x1243: 'CUD', 0x1244: 'BUI', 0x1245: 'BUD', 0x1246: 'ATTRI', 0x1247: 'ATTRD',
};
/** A transaction bigger than this is refused (hostile logs must not grow memory unbounded). */
const MAX_TRANSACTION_BYTES = 64 << 20;

export interface ReplayGeometry {
  /** Byte offset of the log in the volume, and its length. */
  logStart: number;
  logBytes: number;
  inodeSize: number;
  hasCrc: boolean;
  /** Byte offset in the volume of inode `ino`. */
  inodeOffset(ino: number): number;
}

export interface ReplayResult {
  /** Sector index → the sector's bytes after recovery. */
  sectors: Map<number, Buffer>;
  transactions: number;
  buffers: number;
  inodes: number;
  cancelled: number;
  /** Item types met and not replayed (by type number), for `info`. */
  skipped: Map<number, number>;
}

interface Transaction {
  regions: Buffer[];
  /** The last region continues in the next operation. */
  open: boolean;
}

/** The data of the records from `tailBlock` to `headBlock`, cycle words restored, as operations. */
async function* operations(src: ByteSource, g: ReplayGeometry, tailBlock: number, headBlock: number, file: string): AsyncGenerator<{ tid: number; flags: number; clientid: number; data: Buffer }> {
  const nbb = Math.floor(g.logBytes / BB);
  const read = async (bb: number, count: number): Promise<Buffer> => {
    // Records may wrap around the end of the log.
    const out = Buffer.alloc(count * BB);
    for (let done = 0; done < count; ) {
      const at = (bb + done) % nbb;
      const n = Math.min(count - done, nbb - at);
      const b = await src.read(g.logStart + at * BB, n * BB);
      if (b.length < n * BB) throw corrupt(file, 'the XFS log lies past the end of the image');
      b.copy(out, done * BB);
      done += n;
    }
    return out;
  };
  let bb = tailBlock;
  let walked = 0;
  while (bb !== headBlock) {
    if (walked > nbb) throw corrupt(file, 'the XFS log records do not lead from the tail to the head');
    const h = await read(bb, 1);
    if (h.readUInt32BE(0) !== XLOG_HEADER_MAGIC_NUM) throw corrupt(file, `the XFS log has no record header at block ${bb}`);
    const len = h.readUInt32BE(12);
    const size = h.readUInt32BE(320);
    const hblks = h.readUInt32BE(8) & 2 && size > XLOG_HEADER_CYCLE_SIZE ? Math.ceil(size / XLOG_HEADER_CYCLE_SIZE) : 1;
    const dblks = Math.ceil(len / BB);
    if (dblks > 4096 || hblks > 16) throw corrupt(file, `XFS log record at block ${bb} is too large`);
    const headers = hblks > 1 ? await read(bb, hblks) : h;
    const data = await read(bb + hblks, dblks);
    // Each data block's first word was replaced by the cycle number; the header keeps them.
    for (let i = 0; i < dblks; i++) {
      const j = Math.floor(i / 64);
      const k = i % 64;
      const word = j === 0 ? headers.readUInt32BE(44 + k * 4) : headers.readUInt32BE(j * BB + 4 + k * 4);
      data.writeUInt32BE(word, i * BB);
    }
    const nops = h.readInt32BE(40);
    let o = 0;
    for (let n = 0; n < nops && o + 12 <= len; n++) {
      const tid = data.readUInt32BE(o);
      const oplen = data.readUInt32BE(o + 4);
      const clientid = data[o + 8]!;
      const flags = data[o + 9]!;
      if (o + 12 + oplen > len) throw corrupt(file, `XFS log operation at block ${bb} runs past its record`);
      yield { tid, flags, clientid, data: data.subarray(o + 12, o + 12 + oplen) };
      o += 12 + oplen;
    }
    walked += hblks + dblks;
    bb = (bb + hblks + dblks) % nbb;
  }
}

/** Reassembles transactions and returns the committed ones in commit order. */
async function committedTransactions(src: ByteSource, g: ReplayGeometry, tail: number, head: number, file: string): Promise<Buffer[][]> {
  const open = new Map<number, Transaction & { bytes: number }>();
  const done: Buffer[][] = [];
  for await (const op of operations(src, g, tail, head, file)) {
    if (op.clientid !== XFS_TRANSACTION) continue;
    const t = open.get(op.tid);
    if (op.flags & OP.START) {
      open.set(op.tid, { regions: [], open: false, bytes: 0 });
      continue;
    }
    if (!t) continue; // began before the tail: already on disk
    if (op.flags & OP.COMMIT) {
      open.delete(op.tid);
      done.push(t.regions);
      continue;
    }
    if (op.flags & OP.UNMOUNT) continue;
    t.bytes += op.data.length;
    if (t.bytes > MAX_TRANSACTION_BYTES) throw corrupt(file, `an XFS log transaction is larger than ${MAX_TRANSACTION_BYTES} bytes`);
    if (op.flags & OP.WAS_CONT && t.open && t.regions.length) {
      t.regions[t.regions.length - 1] = Buffer.concat([t.regions[t.regions.length - 1]!, op.data]);
    } else {
      t.regions.push(Buffer.from(op.data));
    }
    t.open = (op.flags & OP.CONTINUE) !== 0;
  }
  return done;
}

/** Sector overlay with read-modify-write of byte ranges. */
class Overlay {
  readonly sectors = new Map<number, Buffer>();
  constructor(private readonly src: ByteSource, private readonly file: string) {}

  async sector(i: number): Promise<Buffer> {
    let s = this.sectors.get(i);
    if (!s) {
      const b = await this.src.read(i * BB, BB);
      s = Buffer.alloc(BB);
      b.copy(s);
      this.sectors.set(i, s);
    }
    return s;
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > this.src.size) throw corrupt(this.file, `an XFS log item writes outside the volume (byte ${offset})`);
    for (let done = 0; done < data.length; ) {
      const at = offset + done;
      const s = await this.sector(Math.floor(at / BB));
      const n = Math.min(data.length - done, BB - (at % BB));
      data.copy(s, at % BB, done, done + n);
      done += n;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    for (let done = 0; done < length; ) {
      const at = offset + done;
      const s = await this.sector(Math.floor(at / BB));
      const n = Math.min(length - done, BB - (at % BB));
      s.copy(out, done, at % BB, (at % BB) + n);
      done += n;
    }
    return out;
  }
}

/** Replays the committed transactions between tail and head into a sector overlay. */
export async function replayLog(src: ByteSource, g: ReplayGeometry, tailBlock: number, headBlock: number, file: string): Promise<ReplayResult> {
  const txs = await committedTransactions(src, g, tailBlock, headBlock, file);
  const ov = new Overlay(src, file);
  const r: ReplayResult = { sectors: ov.sectors, transactions: txs.length, buffers: 0, inodes: 0, cancelled: 0, skipped: new Map() };
  // Pass 1: cancelled buffers (freed and reused later: their older items must not be replayed).
  const cancels = new Map<number, number>();
  const items = (regions: Buffer[]) => itemsOf(regions, file);
  for (const t of txs) {
    for (const it of items(t)) {
      if (it.type === XFS_LI_BUF && it.regions[0]!.readUInt16LE(4) & XFS_BLF_CANCEL) {
        const blkno = Number(it.regions[0]!.readBigInt64LE(8));
        cancels.set(blkno, (cancels.get(blkno) ?? 0) + 1);
      }
    }
  }
  // Pass 2: apply in log order.
  for (const t of txs) {
    for (const it of items(t)) {
      const f = it.regions[0]!;
      if (it.type === XFS_LI_BUF) {
        const flags = f.readUInt16LE(4);
        const blkno = Number(f.readBigInt64LE(8));
        const pending = cancels.get(blkno);
        if (flags & XFS_BLF_CANCEL) {
          if (pending !== undefined) {
            if (pending <= 1) cancels.delete(blkno);
            else cancels.set(blkno, pending - 1);
          }
          r.cancelled++;
          continue;
        }
        if (pending !== undefined) {
          r.cancelled++;
          continue;
        }
        await applyBuffer(ov, f, it.regions, file);
        r.buffers++;
      } else if (it.type === XFS_LI_INODE) {
        await applyInode(ov, g, f, it.regions, file);
        r.inodes++;
      } else {
        r.skipped.set(it.type, (r.skipped.get(it.type) ?? 0) + 1);
      }
    }
  }
  return r;
}

/** Splits a transaction's regions into items: a format region (type, size = region count) and its data. */
function* itemsOf(regions: Buffer[], file: string): Generator<{ type: number; regions: Buffer[] }> {
  let i = 0;
  if (regions[0] && regions[0].length >= 4 && regions[0].readUInt32LE(0) === XFS_TRANS_HEADER_MAGIC) i = 1;
  while (i < regions.length) {
    const f = regions[i]!;
    if (f.length < 4) throw corrupt(file, 'an XFS log item is truncated');
    const type = f.readUInt16LE(0);
    const size = Math.max(1, f.readUInt16LE(2));
    yield { type, regions: regions.slice(i, i + size) };
    i += size;
  }
}

/** struct xfs_buf_log_format: the set bits of blf_data_map say which 128-byte chunks follow. */
async function applyBuffer(ov: Overlay, f: Buffer, regions: Buffer[], file: string): Promise<void> {
  if (f.length < 20) throw corrupt(file, 'an XFS buffer log item is truncated');
  const len = f.readUInt16LE(6) * BB;
  const blkno = Number(f.readBigInt64LE(8));
  const mapSize = f.readUInt32LE(16);
  if (20 + mapSize * 4 > f.length) throw corrupt(file, 'an XFS buffer log item map is truncated');
  const bit = (n: number) => (f.readUInt32LE(20 + Math.floor(n / 32) * 4) >>> n % 32) & 1;
  const bits = mapSize * 32;
  let reg = 1;
  for (let b = 0; b < bits; ) {
    if (!bit(b)) {
      b++;
      continue;
    }
    let e = b;
    while (e < bits && bit(e)) e++;
    const data = regions[reg++];
    if (!data) throw corrupt(file, 'an XFS buffer log item has fewer regions than its map');
    const at = b * XFS_BLF_CHUNK;
    const n = Math.min(data.length, (e - b) * XFS_BLF_CHUNK, Math.max(0, len - at));
    await ov.write(blkno * BB + at, data.subarray(0, n));
    b = e;
  }
}

/** (offset, width) of the xfs_log_dinode fields copied to the disk inode with byte order swapped. */
const CORE_FIELDS: ReadonlyArray<[number, number]> = [
  [0, 2], [2, 2], [4, 1], [5, 1], [8, 4], [12, 4], [16, 4], [20, 2], [22, 2],
  [56, 8], [64, 8], [72, 4], [76, 4], [80, 2], [82, 1], [83, 1], [84, 4], [88, 2], [90, 2], [92, 4],
];
const V3_FIELDS: ReadonlyArray<[number, number]> = [[104, 8], [112, 8], [120, 8], [128, 4], [152, 8]];

function swap(src: Buffer, dst: Buffer, at: number, width: number): void {
  for (let i = 0; i < width; i++) dst[at + i] = src[at + width - 1 - i]!;
}

/** struct xfs_inode_log_format + xfs_log_dinode (+ forks) onto the inode's place in the volume. */
async function applyInode(ov: Overlay, g: ReplayGeometry, f: Buffer, regions: Buffer[], file: string): Promise<void> {
  // struct xfs_inode_log_format (56 bytes), or the packed 32-bit form (52: no ilf_pad).
  if (f.length < 52) throw corrupt(file, 'an XFS inode log item is truncated');
  const packed = f.length < 56;
  const fields = f.readUInt32LE(4);
  const asize = f.readUInt16LE(8);
  const dsize = f.readUInt16LE(10);
  const ino = Number(f.readBigUInt64LE(packed ? 12 : 16));
  const rdev = f.readUInt32LE(packed ? 20 : 24);
  const isz = g.inodeSize;
  const at = g.inodeOffset(ino);
  const disk = await ov.read(at, isz);
  const log = regions[1];
  if (!log || log.length < 96) throw corrupt(file, `the XFS log's copy of inode ${ino} is truncated`);
  const version = log[4]!;
  const v3 = version >= 3 && log.length >= 176;
  for (const [o, w] of CORE_FIELDS) swap(log, disk, o, w);
  const flags2 = v3 ? log.readBigUInt64LE(120) : 0n;
  const nrext64 = (flags2 & 0x10n) !== 0n;
  if (nrext64) swap(log, disk, 24, 8);
  else if (!v3) swap(log, disk, 30, 2); // di_flushiter
  else disk.fill(0, 24, 32);
  const big = (flags2 & 0x8n) !== 0n;
  const times = v3 ? [32, 40, 48, 144] : [32, 40, 48];
  for (const t of times) {
    if (big) swap(log, disk, t, 8);
    else {
      swap(log, disk, t, 4);
      swap(log, disk, t + 4, 4);
    }
  }
  const core = v3 ? 176 : 100;
  if (v3) {
    for (const [o, w] of V3_FIELDS) swap(log, disk, o, w);
    log.copy(disk, 160, 160, 176); // di_uuid: bytes
  }
  const forkoff = disk[82]! * 8;
  const dataEnd = forkoff ? core + forkoff : isz;
  let reg = 2;
  if (fields & (ILOG.DDATA | ILOG.DEXT | ILOG.DBROOT)) {
    const d = regions[reg++];
    if (!d) throw corrupt(file, `the XFS log's data fork of inode ${ino} is missing`);
    const bytes = d.subarray(0, dsize || d.length);
    if (fields & ILOG.DBROOT) writeBmdr(bytes, disk, core, dataEnd, g.hasCrc, file);
    else {
      if (core + bytes.length > dataEnd) throw corrupt(file, `the XFS log's data fork of inode ${ino} does not fit`);
      bytes.copy(disk, core);
    }
  } else if (fields & ILOG.DEV) {
    disk.writeUInt32BE(rdev, core);
  }
  if (fields & (ILOG.ADATA | ILOG.AEXT | ILOG.ABROOT)) {
    const a = regions[reg++];
    if (!a || !forkoff) throw corrupt(file, `the XFS log's attribute fork of inode ${ino} is missing`);
    const bytes = a.subarray(0, asize || a.length);
    if (fields & ILOG.ABROOT) writeBmdr(bytes, disk, dataEnd, isz, g.hasCrc, file);
    else {
      if (dataEnd + bytes.length > isz) throw corrupt(file, `the XFS log's attribute fork of inode ${ino} does not fit`);
      bytes.copy(disk, dataEnd);
    }
  }
  if (v3) {
    // The recovered inode gets a valid CRC (as the kernel writes it back).
    let c = crc32cUpdate(0xffffffff, disk, 0, 100);
    c = crc32cZeros(c, 4);
    c = crc32cUpdate(c, disk, 104, isz);
    disk.writeUInt32LE(~c >>> 0, 100);
  }
  await ov.write(at, disk);
}

/** An in-core bmbt root (a long-format btree block) written as the fork's xfs_bmdr_block. */
function writeBmdr(block: Buffer, disk: Buffer, from: number, to: number, hasCrc: boolean, file: string): void {
  const hdr = hasCrc ? 72 : 24;
  if (block.length < hdr) throw corrupt(file, 'an XFS logged btree root is truncated');
  const level = block.readUInt16BE(4);
  const numrecs = block.readUInt16BE(6);
  const inMax = Math.floor((block.length - hdr) / 16);
  const outMax = Math.floor((to - from - 4) / 16);
  if (numrecs > inMax || numrecs > outMax) throw corrupt(file, 'an XFS logged btree root holds too many records');
  disk.fill(0, from, to);
  disk.writeUInt16BE(level, from);
  disk.writeUInt16BE(numrecs, from + 2);
  block.copy(disk, from + 4, hdr, hdr + numrecs * 8);
  block.copy(disk, from + 4 + outMax * 8, hdr + inMax * 8, hdr + inMax * 8 + numrecs * 8);
}

/** The volume as recovery leaves it: the device's bytes with the overlay's sectors over them. */
export class OverlaySource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly keys: number[];

  constructor(private readonly base: ByteSource, private readonly sectors: Map<number, Buffer>) {
    this.name = base.name;
    this.size = base.size;
    this.keys = [...sectors.keys()].sort((a, b) => a - b);
  }

  /** Index of the first overlay sector >= the sector of `offset`. */
  private first(offset: number): number {
    const s = Math.floor(offset / BB);
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.keys[mid]! < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private overlaps(offset: number, length: number): boolean {
    const i = this.first(offset);
    return length > 0 && i < this.keys.length && this.keys[i]! * BB < offset + length;
  }

  private patch(target: Buffer, at: number, offset: number, length: number): void {
    for (let i = this.first(offset); i < this.keys.length && this.keys[i]! * BB < offset + length; i++) {
      const s = this.keys[i]!;
      const data = this.sectors.get(s)!;
      const from = Math.max(offset, s * BB);
      const to = Math.min(offset + length, s * BB + BB);
      data.copy(target, at + from - offset, from - s * BB, to - s * BB);
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const b = await this.base.read(offset, length);
    if (!this.overlaps(offset, b.length)) return b;
    const own = Buffer.from(b);
    this.patch(own, 0, offset, own.length);
    return own;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const got = await readInto(this.base, target, at, offset, length);
    if (this.overlaps(offset, got)) this.patch(target, at, offset, got);
    return got;
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    if (this.overlaps(offset, length)) return null;
    return hostRunsOf(this.base, offset, length);
  }

  async close(): Promise<void> {}
}
