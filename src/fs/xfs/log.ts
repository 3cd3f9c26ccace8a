/**
 * The metadata log ("XFS Algorithms & Data Structures", "Journaling Log"): a circular region
 * of 512-byte basic blocks holding log records (struct xlog_rec_header + operations). Every
 * basic block carries its write cycle in its first word, so the head (the next write) is where
 * the cycle drops; the last record before it is an unmount record when the volume was
 * unmounted cleanly. diskpick finds the head and says whether, and how much, metadata the log
 * still holds; it does not replay it (the volume is shown as on disk, as `xfs_db -r` and a
 * `ro,norecovery` mount show it).
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';

const XLOG_HEADER_MAGIC_NUM = 0xfeedbabe;
const BBSIZE = 512;
/** xlog_op_header.oh_flags: the operation ends an unmount. */
const XLOG_UNMOUNT_TRANS = 0x20;
/** Record headers span one basic block per 32 KiB of record (v2 logs, XLOG_HEADER_CYCLE_SIZE). */
const XLOG_HEADER_CYCLE_SIZE = 32768;
const XLOG_VERSION_2 = 2;
/** A record is at most 256 KiB of data plus its header blocks: look that far back for the last one. */
const MAX_RECORD_BBS = (256 * 1024) / BBSIZE + 8;

export interface LogState {
  clean: boolean;
  /** Basic block of the head (next write) and the last record's tail. */
  headBlock: number;
  tailBlock: number;
  /** Dirty logs: records, operations and basic blocks between tail and head (not replayed). */
  records: number;
  operations: number;
  blocks: number;
  /** The cycle:block LSNs of the first and last unreplayed record. */
  firstLsn: string;
  lastLsn: string;
}

/** Reads basic blocks of the log region. */
class LogReader {
  constructor(
    private readonly src: ByteSource,
    private readonly start: number,
    readonly nbb: number,
    private readonly file: string,
  ) {}

  async block(bb: number, count = 1): Promise<Buffer> {
    const b = await this.src.read(this.start + bb * BBSIZE, count * BBSIZE);
    if (b.length < count * BBSIZE) throw corrupt(this.file, 'the XFS log lies past the end of the image');
    return b;
  }

  /** The cycle a basic block was written in (a record header keeps it in h_cycle). */
  async cycle(bb: number): Promise<number> {
    const b = await this.block(bb);
    return b.readUInt32BE(0) === XLOG_HEADER_MAGIC_NUM ? b.readUInt32BE(4) : b.readUInt32BE(0);
  }
}

function lsnText(lsn: bigint): string {
  return `${lsn >> 32n}:${lsn & 0xffffffffn}`;
}

/** Basic blocks a record's header takes. */
function headerBlocks(h: Buffer): number {
  const version = h.readUInt32BE(8);
  const size = h.readUInt32BE(320);
  if (version & XLOG_VERSION_2 && size > XLOG_HEADER_CYCLE_SIZE) return Math.ceil(size / XLOG_HEADER_CYCLE_SIZE);
  return 1;
}

/** Finds the head and the last record, and whether the log is clean. */
export async function logState(src: ByteSource, start: number, length: number, file: string): Promise<LogState> {
  const nbb = Math.floor(length / BBSIZE);
  if (nbb < 2) throw corrupt(file, 'the XFS log is too small');
  const log = new LogReader(src, start, nbb, file);
  const first = await log.cycle(0);
  const last = await log.cycle(nbb - 1);
  let head = 0;
  if (first !== last) {
    // Blocks [0, head) carry `first`, [head, nbb) the older `last`: binary search the change.
    let lo = 0;
    let hi = nbb - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((await log.cycle(mid)) === first) lo = mid + 1;
      else hi = mid;
    }
    head = lo;
  }
  // The last record header before the head (wrapping around the end).
  let recBlock = -1;
  let rec: Buffer | null = null;
  for (let k = 1; k <= Math.min(MAX_RECORD_BBS, nbb); k++) {
    const bb = (head - k + nbb) % nbb;
    const b = await log.block(bb);
    if (b.readUInt32BE(0) === XLOG_HEADER_MAGIC_NUM) {
      recBlock = bb;
      rec = Buffer.from(b);
      break;
    }
  }
  if (!rec) throw corrupt(file, 'no XFS log record found before the log head');
  const hblks = headerBlocks(rec);
  const ops = await log.block((recBlock + hblks) % nbb);
  const unmount = rec.readInt32BE(40) === 1 && (ops[9]! & XLOG_UNMOUNT_TRANS) !== 0;
  const tailLsn = rec.readBigUInt64BE(24);
  const tailBlock = Number(tailLsn & 0xffffffffn);
  const state: LogState = { clean: unmount, headBlock: head, tailBlock, records: 0, operations: 0, blocks: 0, firstLsn: '', lastLsn: lsnText(rec.readBigUInt64BE(16)) };
  if (unmount) return state;
  if (tailBlock >= nbb) throw corrupt(file, `the XFS log tail (block ${tailBlock}) lies outside the log`);
  // Walk the records from the tail to the head: what a recovery would replay.
  let bb = tailBlock;
  let walked = 0;
  while (bb !== head && walked < nbb) {
    const h = await log.block(bb);
    if (h.readUInt32BE(0) !== XLOG_HEADER_MAGIC_NUM) throw corrupt(file, `the XFS log has no record header at block ${bb} (between tail and head)`);
    if (state.records === 0) state.firstLsn = lsnText(h.readBigUInt64BE(16));
    const len = Math.ceil(h.readUInt32BE(12) / BBSIZE) + headerBlocks(h);
    state.records++;
    state.operations += Math.max(0, h.readInt32BE(40));
    walked += len;
    bb = (bb + len) % nbb;
  }
  state.blocks = walked;
  return state;
}
