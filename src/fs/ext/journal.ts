/**
 * jbd2 journal replay in memory (kernel Documentation/filesystems/ext4/journal.rst). The
 * journal is a ring of blocks inside inode 8; all of its fields are BIG-endian. Recovery finds
 * the committed transactions after s_start, drops blocks revoked by a same-or-later committed
 * transaction, and maps each remaining filesystem block to the journal block holding its newest
 * copy. The result is an overlay the filesystem consults before the device: nothing is written.
 */
import { corrupt } from '../../errors.js';
import { crc32cUpdate } from './crc32c.js';

export const JBD2_MAGIC_NUMBER = 0xc03b3998;
const JBD2_DESCRIPTOR_BLOCK = 1;
const JBD2_COMMIT_BLOCK = 2;
const JBD2_SUPERBLOCK_V1 = 3;
const JBD2_SUPERBLOCK_V2 = 4;
const JBD2_REVOKE_BLOCK = 5;

const JBD2_FEATURE_INCOMPAT_64BIT = 0x2;
const JBD2_FEATURE_INCOMPAT_CSUM_V2 = 0x8;
const JBD2_FEATURE_INCOMPAT_CSUM_V3 = 0x10;
const JBD2_FEATURE_INCOMPAT_FAST_COMMIT = 0x20;

const JBD2_FLAG_ESCAPE = 1;
const JBD2_FLAG_SAME_UUID = 2;
const JBD2_FLAG_LAST_TAG = 8;

/** The journal superblock fields recovery needs (journal.rst "Super Block"). */
export interface JournalSuperblock {
  blocktype: number;
  s_blocksize: number;
  s_maxlen: number;
  s_first: number;
  s_sequence: number;
  s_start: number;
  s_feature_incompat: number;
  s_uuid: Buffer;
}

export function parseJournalSuperblock(b: Buffer, file: string): JournalSuperblock {
  if (b.length < 0x40 || b.readUInt32BE(0) !== JBD2_MAGIC_NUMBER) throw corrupt(file, 'journal superblock has a bad magic number');
  const blocktype = b.readUInt32BE(4);
  if (blocktype !== JBD2_SUPERBLOCK_V1 && blocktype !== JBD2_SUPERBLOCK_V2) throw corrupt(file, 'journal superblock has an unknown type');
  return {
    blocktype,
    s_blocksize: b.readUInt32BE(0xc),
    s_maxlen: b.readUInt32BE(0x10),
    s_first: b.readUInt32BE(0x14),
    s_sequence: b.readUInt32BE(0x18),
    s_start: b.readUInt32BE(0x1c),
    s_feature_incompat: blocktype === JBD2_SUPERBLOCK_V2 ? b.readUInt32BE(0x28) : 0,
    s_uuid: Buffer.from(b.subarray(0x30, 0x40)),
  };
}

/** Where the newest committed copy of a filesystem block is in the journal. */
export interface OverlayEntry {
  /** Logical block within the journal inode. */
  journalBlock: number;
  /** The copy had its first four bytes escaped (they equalled the jbd2 magic). */
  escaped: boolean;
}

export interface ReplayResult {
  overlay: Map<number, OverlayEntry>;
  transactions: number;
  /** Sequence numbers of the first and last replayed transaction. */
  firstSequence: number;
  lastSequence: number;
  revoked: number;
  /** Copies skipped because their tag checksum (csum v2/v3) does not match, as the kernel does. */
  badChecksums: number;
  notes: string[];
}

interface PendingTag {
  fsBlock: number;
  journalBlock: number;
  escaped: boolean;
  /** t_checksum: 32 bits with csum v3, the low 16 with csum v2. */
  checksum: number;
}

/**
 * Scans the log from s_start. `readJournalBlock` reads one journal-relative block. The walk is
 * bounded by s_maxlen steps, so a corrupt ring cannot loop.
 */
export async function replayJournal(
  jsb: JournalSuperblock,
  readJournalBlock: (n: number) => Promise<Buffer>,
  fsBlocksCount: number,
  file: string,
): Promise<ReplayResult> {
  const result: ReplayResult = { overlay: new Map(), transactions: 0, firstSequence: jsb.s_sequence, lastSequence: jsb.s_sequence, revoked: 0, badChecksums: 0, notes: [] };
  if (jsb.s_start === 0) return result;
  const bs = jsb.s_blocksize;
  if (jsb.s_first === 0 || jsb.s_first >= jsb.s_maxlen || jsb.s_start < jsb.s_first || jsb.s_start >= jsb.s_maxlen) {
    throw corrupt(file, 'journal superblock has an invalid log start or length');
  }
  const incompat = jsb.s_feature_incompat;
  const is64 = (incompat & JBD2_FEATURE_INCOMPAT_64BIT) !== 0;
  const csumV3 = (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V3) !== 0;
  const csumV2 = (incompat & JBD2_FEATURE_INCOMPAT_CSUM_V2) !== 0;
  // journal_tag_bytes(): 16 with csum v3; else 12 (64-bit) or 8, plus 2 with csum v2.
  const tagBytes = csumV3 ? 16 : (is64 ? 12 : 8) + (csumV2 ? 2 : 0);
  // Descriptor and revoke blocks end in a 4-byte checksum tail with csum v2/v3.
  const tailBytes = csumV2 || csumV3 ? 4 : 0;
  if (incompat & JBD2_FEATURE_INCOMPAT_FAST_COMMIT) result.notes.push('journal fast-commit blocks are not replayed');

  const next = (p: number) => (p + 1 >= jsb.s_maxlen ? jsb.s_first : p + 1);
  // Every committed transaction's tags, in commit order, and revoke records (block → newest sequence).
  const committed: { seq: number; tags: PendingTag[] }[] = [];
  const revoke = new Map<number, number>();
  let pos = jsb.s_start;
  let seq = jsb.s_sequence;
  let tags: PendingTag[] = [];
  let pendingRevokes: number[] = [];
  const maxSteps = jsb.s_maxlen;
  let steps = 0;
  scan: while (steps++ < maxSteps) {
    const b = await readJournalBlock(pos);
    if (b.length < bs || b.readUInt32BE(0) !== JBD2_MAGIC_NUMBER || b.readUInt32BE(8) !== seq >>> 0) break;
    const type = b.readUInt32BE(4);
    switch (type) {
      case JBD2_DESCRIPTOR_BLOCK: {
        let o = 12;
        const end = bs - tailBytes;
        for (;;) {
          if (o + tagBytes > end) break;
          const lo = b.readUInt32BE(o);
          const flags = csumV3 ? b.readUInt32BE(o + 4) : b.readUInt16BE(o + 6);
          const hi = is64 ? b.readUInt32BE(o + 8) : 0;
          const checksum = csumV3 ? b.readUInt32BE(o + 12) : csumV2 ? b.readUInt16BE(o + 4) : 0;
          o += tagBytes;
          if (!(flags & JBD2_FLAG_SAME_UUID)) o += 16;
          pos = next(pos);
          if (steps++ >= maxSteps) break scan;
          const fsBlock = lo + hi * 2 ** 32;
          if (fsBlock < fsBlocksCount) tags.push({ fsBlock, journalBlock: pos, escaped: (flags & JBD2_FLAG_ESCAPE) !== 0, checksum });
          else result.notes.push(`journal names block ${fsBlock} outside the volume; ignored`);
          if (flags & JBD2_FLAG_LAST_TAG) break;
        }
        break;
      }
      case JBD2_COMMIT_BLOCK: {
        committed.push({ seq, tags });
        for (const blk of pendingRevokes) {
          const prev = revoke.get(blk);
          if (prev === undefined || seq > prev) revoke.set(blk, seq);
        }
        tags = [];
        pendingRevokes = [];
        seq = (seq + 1) >>> 0;
        break;
      }
      case JBD2_REVOKE_BLOCK: {
        const rCount = b.readUInt32BE(12);
        const limit = Math.min(rCount, bs - tailBytes);
        const rec = is64 ? 8 : 4;
        for (let o = 16; o + rec <= limit; o += rec) {
          pendingRevokes.push(is64 ? b.readUInt32BE(o) * 2 ** 32 + b.readUInt32BE(o + 4) : b.readUInt32BE(o));
        }
        break;
      }
      default:
        break scan;
    }
    pos = next(pos);
  }
  // Replay: transactions in order, later copies win; a block revoked at a sequence at or after
  // the transaction is skipped (the kernel's jbd2_journal_test_revoke rule).
  // With csum v2/v3 each copy is checked like the kernel does (crc32c seeded with the journal
  // uuid, then the big-endian sequence, then the block as logged); a torn copy is skipped.
  const jSeed = csumV2 || csumV3 ? crc32cUpdate(0xffffffff, jsb.s_uuid) : 0;
  const seqBuf = Buffer.alloc(4);
  for (const t of committed) {
    seqBuf.writeUInt32BE(t.seq >>> 0, 0);
    const seqCrc = crc32cUpdate(jSeed, seqBuf);
    for (const tag of t.tags) {
      const r = revoke.get(tag.fsBlock);
      if (r !== undefined && r >= t.seq) {
        result.revoked++;
        continue;
      }
      if (csumV2 || csumV3) {
        const c = crc32cUpdate(seqCrc, await readJournalBlock(tag.journalBlock));
        if ((csumV3 ? c >>> 0 : c & 0xffff) !== tag.checksum) {
          result.badChecksums++;
          continue;
        }
      }
      result.overlay.set(tag.fsBlock, { journalBlock: tag.journalBlock, escaped: tag.escaped });
    }
  }
  if (result.badChecksums) result.notes.push(`${result.badChecksums} journal block copies had bad checksums and were not replayed`);
  result.transactions = committed.length;
  if (committed.length) {
    result.firstSequence = committed[0]!.seq;
    result.lastSequence = committed[committed.length - 1]!.seq;
  }
  return result;
}

/** Restores an escaped copy: its first four bytes were zeroed because they equalled the magic. */
export function unescapeBlock(b: Buffer): Buffer {
  const c = Buffer.from(b);
  c.writeUInt32BE(JBD2_MAGIC_NUMBER, 0);
  return c;
}
