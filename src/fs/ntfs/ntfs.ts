/**
 * The NTFS FileSystem: the $MFT (bootstrapped from its own record 0, with $MFTMirr as the
 * fallback), files assembled from their base and extension records, folders from their
 * $I30 indexes, and the stat model built from $STANDARD_INFORMATION, $DATA and reparse
 * points. See docs/formats/ntfs.md.
 */
import { DiskpickError, corrupt, unsupported } from '../../errors.js';
import { BufferSource, CachedSource, type ByteSource } from '../../source/index.js';
import { readInto } from '../../source/source.js';
import { willNeed } from '../../source/hostio.js';
import { scratch } from '../../source/scratch.js';
import { Lru } from '../../source/lru.js';
import { ExtentSource } from '../../source/extents.js';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, JoinedNameList, partialStat, type FileSystem, type FileType, type FsFormat, type FsInfo, type FsNode, type NameList, type ReaddirOptions, type Stat, type StreamInfo } from '../types.js';
import { NtfsCompressedStream } from './attribute.js';
import { parseBootSector, probeNtfsBoot, type NtfsBootSector } from './boot.js';
import { IndexColumns, indexEntryFlags, indexEntryLength, openIndexBlockAt, parseIndexBlock, parseIndexRoot, walkIndexInOrder, type IndexBlocks, type IndexEntry, type IndexKeyRun, type IndexRoot } from './indx.js';
import {
  applyFixups, AT, ATTR_COMPRESSION_MASK, ATTR_IS_ENCRYPTED, ATTR_IS_SPARSE, FILE_NAME_DOS, MFT_RECORD_IN_USE, MFT_RECORD_IS_DIRECTORY,
  filetimeAt, parseAttributeList, parseFileName, parseMftRecord, readRefRecord, readU64, parseStandardInformation, type AttrRecord, type FileNameAttr, type MftRecord, type StandardInformation,
} from './mft.js';
import { decodeRunList, findRun, runExtents, type Run } from './runlist.js';
import { interixSymlinkTarget, IO_REPARSE_TAG_WOF, parseReparsePoint, reparseLinkTarget, reparseTagName } from './reparse.js';
import { UpCase } from './upcase.js';
import { openWofFile } from './wof.js';

/** Fixed MFT record numbers (the system files). */
const MFT_RECORD_VOLUME = 3;
const MFT_RECORD_ROOT = 5;
const MFT_RECORD_UPCASE = 10;
const MFT_RECORD_EXTEND = 11;
/**
 * Records 0–15 are the NTFS metadata files ($MFT … $UpCase, $Extend, and reserved ones); the
 * rest of the metadata lives under $Extend ($ObjId, $Quota, $Reparse, $UsnJrnl, $RmMetadata…,
 * records 24 and up). Names starting with "$" elsewhere are not metadata: Windows' own
 * $RECYCLE.BIN (what users come to restore from) or a user's "$work" folder.
 */
const METADATA_RECORDS = 16;

/** FILE_ATTRIBUTE_* flags as users know them, in the order they are listed. */
const FILE_ATTRIBUTE_WORDS: [number, string][] = [
  [0x0001, 'readonly'],
  [0x0002, 'hidden'],
  [0x0004, 'system'],
  [0x0020, 'archive'],
  [0x0100, 'temporary'],
  [0x0200, 'sparse'],
  [0x0400, 'reparse'],
  [0x0800, 'compressed'],
  [0x1000, 'offline'],
  [0x2000, 'not-indexed'],
  [0x4000, 'encrypted'],
];
const FILE_ATTRIBUTE_SYSTEM = 0x0004;
const FILE_ATTRIBUTE_REPARSE_POINT = 0x0400;
const FILE_ATTRIBUTE_ENCRYPTED = 0x4000;
const FILE_ATTRIBUTE_DIRECTORY = 0x10000000;
/** Index entries a names-only listing cannot take at their word: folders, links, possible Interix links. */
const NOT_PLAIN = FILE_ATTRIBUTE_DIRECTORY | FILE_ATTRIBUTE_REPARSE_POINT | FILE_ATTRIBUTE_SYSTEM;

/**
 * Per-directory case sensitivity (Windows 10 1803+, `fsutil file setCaseSensitiveInfo`):
 * bit 0 of the $STANDARD_INFORMATION field at 0x24 (documented as maximum_versions, unused
 * by NTFS 3.x otherwise).
 */
const SI_CASE_SENSITIVE_DIR = 0x1;

/** $VOLUME_INFORMATION flags. */
const VOLUME_IS_DIRTY = 0x0001;

/** Bounds that keep hostile images from exhausting memory or time. */
const MAX_EXTENSION_RECORDS = 4096;
const MAX_ATTRIBUTE_LIST = 4 * 1024 * 1024;
const MAX_INDEX_DEPTH = 10_000;
const MAX_DIR_ENTRIES = 20_000_000;
const INTERIX_MAX = 8 + 2 * 4096;
/** Windows compresses in units of 16 clusters of at most 4 KiB; allow some room, no more. */
const MAX_COMPRESSION_UNIT = 4 * 1024 * 1024;
/** Index blocks per folder (64 Ki blocks of 4 KiB hold millions of names). */
const MAX_INDEX_BLOCKS = 1 << 24;
/** Groups of MFT records read at once (each group is at most 4 MiB). */
const RECORD_READS_IN_FLIGHT = 4;
/**
 * Largest read of a folder's INDX blocks: FileSource reads up to 128 KiB synchronously (a
 * larger read waits for the thread pool), which suits one folder listed after another (`ls
 * -R`: the thread pool's round trip cost more than a read from the page cache; wall medians
 * ~10% longer with INDEX_READ_OVERLAPPED, same CPU).
 */
const INDEX_READ = 128 * 1024;
/**
 * Largest read of a folder's INDX blocks while other folders are being listed too (the mount
 * lists a few ahead of a walker): the folder's in-use span in one go, which past FileSource's
 * synchronous limit goes to the thread pool, so that the main thread decodes the other folders
 * while the disk reads this one. Read synchronously in 128 KiB pieces, each cold read held
 * every listing in flight: a first `find` of the NTFS bench image (100 folders of 1000 names,
 * 208 KiB of INDX each) spent 40 of the mount's 139 ms of main-thread time in INDX reads.
 * Measured (same build, 9 alternated cold first walks each, machine load 4-5 on 2 cores):
 * mount main thread 64 ms against 73 synchronously, the thread pool's CPU +10 ms, wall 210
 * against 217 ms (within the noise): the walk is bound by CPU on this machine, not the disk.
 */
const INDEX_READ_OVERLAPPED = 4 * 1024 * 1024;
/** Folder indexes up to this size are read into one reused buffer (the scratch pool's largest). */
const INDEX_SCRATCH = 16 * 1024 * 1024;

/** One attribute of a file, its extents (from extension records) merged. */
interface NtfsAttr {
  type: number;
  name: string;
  flags: number;
  nonResident: boolean;
  value?: Buffer;
  extents: AttrRecord[];
  dataSize: number;
  initializedSize: number;
  allocatedSize: number;
  compressedSize: number;
  compressionUnit: number;
  runs?: Run[];
}

/** A file assembled from its base record and extension records. */
interface NtfsFile {
  rec: MftRecord;
  attrs: NtfsAttr[];
}

export interface NtfsNode extends FsNode {
  /** MFT record number (also stat.ino). */
  rec: number;
  /** Path inside the volume, for error messages. */
  path: string;
  /** Why this entry's MFT record could not be read (reported when it is opened). */
  error?: DiskpickError;
  /** A partial node's index key, from which complete() reads (or falls back to) the file. */
  fn?: FileNameAttr;
}

function singleExtent(a: AttrRecord): NtfsAttr {
  if (!a.nonResident) {
    return { type: a.type, name: a.name, flags: a.flags, nonResident: false, value: a.value, extents: [a], dataSize: a.dataSize,
      initializedSize: a.dataSize, allocatedSize: 0, compressedSize: 0, compressionUnit: 0 };
  }
  return {
    type: a.type, name: a.name, flags: a.flags, nonResident: true, extents: [a],
    dataSize: a.dataSize, initializedSize: Math.min(a.initializedSize, a.dataSize), allocatedSize: a.allocatedSize,
    compressedSize: a.compressedSize, compressionUnit: a.flags & ATTR_COMPRESSION_MASK ? a.compressionUnit : 0,
  };
}

function mergeAttrs(records: AttrRecord[], fromOneRecord = false): NtfsAttr[] {
  const out: NtfsAttr[] = [];
  if (fromOneRecord) {
    // One record holds one extent per non-resident attribute: nothing to join.
    for (const a of records) if (a.type !== AT.ATTRIBUTE_LIST) out.push(singleExtent(a));
    return out;
  }
  const nonRes = new Map<string, AttrRecord[]>();
  for (const a of records) {
    if (a.type === AT.ATTRIBUTE_LIST) continue;
    if (!a.nonResident) {
      out.push(singleExtent(a));
      continue;
    }
    const key = `${a.type}:${a.name}`;
    const list = nonRes.get(key);
    if (list) list.push(a);
    else nonRes.set(key, [a]);
  }
  for (const list of nonRes.values()) {
    list.sort((x, y) => x.lowestVcn - y.lowestVcn);
    const extents = list.filter((e, i) => i === 0 || e.lowestVcn !== list[i - 1]!.lowestVcn);
    const first = extents[0]!;
    out.push({
      type: first.type, name: first.name, flags: first.flags, nonResident: true, extents,
      dataSize: first.dataSize, initializedSize: Math.min(first.initializedSize, first.dataSize), allocatedSize: first.allocatedSize,
      compressedSize: first.compressedSize, compressionUnit: first.flags & ATTR_COMPRESSION_MASK ? first.compressionUnit : 0,
    });
  }
  return out;
}

/**
 * The stat of a plain file or folder straight from its fixed-up record bytes, without
 * building attribute objects (listing 100 000 files spends its time here). Returns null
 * for anything that needs the full reader: extension records, attribute lists, reparse
 * points, possible Interix links, or any size or offset out of place.
 */
function quickStat(b: Buffer, n: number): NtfsNode | null {
  if (b.readUInt32LE(0) !== 0x454c4946 /* "FILE" */) return null;
  const flags = b.readUInt16LE(22);
  if (!(flags & MFT_RECORD_IN_USE) || b.readUIntLE(32, 6) !== 0) return null;
  const used = b.readUInt32LE(24);
  if (used > b.length) return null;
  let at = b.readUInt16LE(20);
  if (at < 24) return null;
  const isDir = (flags & MFT_RECORD_IS_DIRECTORY) !== 0;
  let si = -1;
  let nlink = 0;
  let size = 0;
  let allocated = 0;
  let sawData = false;
  let dataFlags = 0;
  for (let count = 0; at + 8 <= used && count < 256; count++) {
    const type = b.readUInt32LE(at);
    if (type === AT.END) break;
    const len = b.readUInt32LE(at + 4);
    if (len < 24 || len & 7 || at + len > used) return null;
    const nonRes = b[at + 8] !== 0;
    const named = b[at + 9] !== 0;
    if (type === AT.ATTRIBUTE_LIST || type === AT.REPARSE_POINT) return null;
    if (!nonRes) {
      const vlen = b.readUInt32LE(at + 16);
      const voff = b.readUInt16LE(at + 20);
      if (voff + vlen > len) return null;
      const v = at + voff;
      if (type === AT.STANDARD_INFORMATION) {
        if (vlen < 48) return null;
        si = v;
      } else if (type === AT.FILE_NAME) {
        if (vlen < 66) return null;
        if (b[v + 65] !== FILE_NAME_DOS) nlink++;
      } else if (type === AT.DATA && !named) {
        if (sawData) return null;
        sawData = true;
        size = vlen;
        dataFlags = b.readUInt16LE(at + 12);
      }
    } else if (type === AT.DATA && !named) {
      if (len < 64 || sawData || readU64(b, at + 16) !== 0) return null;
      sawData = true;
      dataFlags = b.readUInt16LE(at + 12);
      size = readU64(b, at + 48);
      const mp = b.readUInt16LE(at + 32);
      const sparseOrCompressed = dataFlags & (ATTR_COMPRESSION_MASK | ATTR_IS_SPARSE);
      allocated = sparseOrCompressed && len >= 72 && mp >= 72 ? readU64(b, at + 64) : readU64(b, at + 40);
      if (!Number.isSafeInteger(size) || !Number.isSafeInteger(allocated)) return null;
    }
    at += len;
  }
  if (si < 0) return null;
  const fileAttributes = b.readUInt32LE(si + 32);
  // A small system file may be an ntfs-3g Interix symlink: the full path reads its content.
  if (!isDir && fileAttributes & FILE_ATTRIBUTE_SYSTEM && size >= 10 && size <= INTERIX_MAX) return null;
  const stat: Stat = {
    type: isDir ? 'dir' : 'file',
    size: isDir ? 0 : size,
    allocated: isDir ? 0 : allocated,
    mode: isDir ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE,
    uid: 0,
    gid: 0,
    nlink: Math.max(1, nlink),
    ino: n,
    hasOwnership: false,
    attributes: FILE_ATTRIBUTE_WORDS.filter(([bit]) => fileAttributes & bit).map(([, w]) => w),
    birthtime: filetimeAt(b, si),
    mtime: filetimeAt(b, si + 8),
    ctime: filetimeAt(b, si + 16),
    atime: filetimeAt(b, si + 24),
  };
  return { name: '', stat, rec: n, path: '' };
}

/** Whether index block `i` is in use by the $BITMAP:$I30 `bits` (no bitmap: every block). */
function indexBlockInUse(bits: Buffer | null, i: number): boolean {
  return !bits || (i >> 3 < bits.length && (bits[i >> 3]! & (1 << (i & 7))) !== 0);
}

/**
 * Opens the in-use blocks b0..b1 read into `chunk` (at `into`) where they lie (see
 * openIndexBlockAt), into `blocks` by block number. Stored by index in increasing order: dense
 * arrays for a real folder, ones V8 keeps sparse where a hostile bitmap skips far ahead.
 * Apart from the async walkIndex: a loop in an async function is slower to get optimized.
 */
function openIndexBlocks(chunk: Buffer, into: number, got: number, b0: number, b1: number, bits: Buffer | null, blocks: IndexBlocks, path: string): void {
  const bs = blocks.size;
  for (let i = b0; i < b1; i++) {
    // indexBlockInUse, written out: as a call it was optimized on its own too (3.8 ms of the
    // compiler's time in a first walk) before this loop inlined it.
    if (bits && !(i >> 3 < bits.length && (bits[i >> 3]! & (1 << (i & 7))) !== 0)) continue;
    const at = into + (i - b0) * bs;
    if (at + bs > into + got) break;
    openIndexBlockAt(chunk, at, bs, i * blocks.vcnsPerBlock, path);
    blocks.buf[i] = chunk;
    blocks.at[i] = at;
  }
}

export class NtfsFileSystem implements FileSystem {
  readonly caseSensitive = false;
  info!: FsInfo;
  private readonly meta: CachedSource;
  private readonly records = new Lru<number, MftRecord | DiskpickError>(32768);
  private readonly files = new Lru<number, NtfsFile>(8192);
  private mft!: ByteSource;
  /** The $MFT read around the block cache (bulk record reads into buffers of their own). */
  private mftDirect!: ByteSource;
  private mftRecords = 0;
  private upcase: UpCase | null = null;
  /**
   * NTFS 3.x marks folders in every $FILE_NAME (FILE_ATTR_DUP_FILE_NAME_INDEX_PRESENT), so an
   * index entry alone tells a plain file from a folder; older versions need the record.
   */
  private indexTypesTrusted = false;
  /** Folder indexes being read right now (walkIndex): with more than one, reads are made to overlap (INDEX_READ_OVERLAPPED). */
  private walks = 0;
  private readonly warnings: string[] = [];
  private readonly rs: number;
  private readonly cs: number;

  private constructor(
    private readonly vol: ByteSource,
    readonly boot: NtfsBootSector,
  ) {
    this.meta = new CachedSource(vol, 64 * 1024, 32 * 1024 * 1024);
    this.rs = boot.mftRecordSize;
    this.cs = boot.clusterSize;
  }

  static async open(src: ByteSource): Promise<NtfsFileSystem> {
    const head = await src.read(0, 512);
    const boot = parseBootSector(head, src.name);
    const fs = new NtfsFileSystem(src, boot);
    await fs.bootstrapMft();
    await fs.readVolumeInfo();
    return fs;
  }

  // ---- $MFT -----------------------------------------------------------------------------

  private async rawRecordAt(volOffset: number, n: number): Promise<MftRecord> {
    const b = Buffer.from(await this.meta.read(volOffset, this.rs));
    if (b.length < this.rs) throw corrupt(this.vol.name, `MFT record ${n} is past the end of the volume`);
    applyFixups(b, this.vol.name, `MFT record ${n}`);
    return parseMftRecord(b, n, this.vol.name);
  }

  /** Record 0..3 from $MFTMirr, when the $MFT's own copy is damaged. */
  private async mirrorRecord(n: number, why: DiskpickError): Promise<MftRecord> {
    if (n * this.rs >= Math.max(4 * this.rs, this.cs) || this.boot.mftmirr_lcn === 0) throw why;
    try {
      const r = await this.rawRecordAt(this.boot.mftmirr_lcn * this.cs + n * this.rs, n);
      this.warnings.push(`$MFT record ${n} is damaged (${why.message}); read from $MFTMirr`);
      return r;
    } catch {
      throw why;
    }
  }

  private runsOf(a: NtfsAttr, name: string): Run[] {
    if (a.runs) return a.runs;
    const runs: Run[] = [];
    for (const e of a.extents) {
      const last = runs[runs.length - 1];
      const expect = last ? last.vcn + last.length : 0;
      if (e.lowestVcn !== expect) throw corrupt(name, `run list extents do not join (VCN ${e.lowestVcn}, expected ${expect})`);
      const mp = e.mappingPairs!;
      for (const r of decodeRunList(mp, 0, mp.length, e.lowestVcn, this.boot.totalClusters, name)) runs.push(r);
    }
    a.runs = runs;
    return runs;
  }

  private attrSource(a: NtfsAttr, name: string, src: ByteSource = this.vol): ByteSource {
    if (!a.nonResident) return new BufferSource(a.value!, name);
    if (a.compressionUnit && this.cs * 2 ** a.compressionUnit > MAX_COMPRESSION_UNIT) {
      throw corrupt(name, `compression unit of ${2 ** a.compressionUnit} clusters is too large`);
    }
    const runs = this.runsOf(a, name);
    const last = runs[runs.length - 1];
    const covered = last ? (last.vcn + last.length) * this.cs : 0;
    if (a.compressionUnit === 0 && covered < a.initializedSize) {
      throw corrupt(name, `run list covers ${covered} bytes, the data needs ${a.initializedSize}`);
    }
    if (a.compressionUnit) {
      return new NtfsCompressedStream(src, { runs, clusterSize: this.cs, dataSize: a.dataSize, initializedSize: a.initializedSize, compressionUnit: a.compressionUnit }, name);
    }
    // Past the initialized size a stream reads as zeros whatever its clusters hold; a run list
    // has no implicit holes (sparse runs are explicit), so a byte it leaves out is damage.
    return new ExtentSource(src, runExtents(runs, this.cs), a.dataSize, name, { validSize: a.initializedSize, gapsAreErrors: 'run list', readAhead: true });
  }

  private async bootstrapMft(): Promise<void> {
    const name = this.vol.name;
    let rec0: MftRecord;
    try {
      rec0 = await this.rawRecordAt(this.boot.mft_lcn * this.cs, 0);
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      rec0 = await this.mirrorRecord(0, err);
    }
    const mftName = `${name}: $MFT`;
    let attrs = mergeAttrs(rec0.attrs);
    let data = attrs.find((a) => a.type === AT.DATA && a.name === '' && a.nonResident);
    if (!data) throw corrupt(name, '$MFT has no $DATA attribute');
    this.setMft(data, mftName);
    // A large $MFT keeps the rest of its run list in extension records named by its
    // $ATTRIBUTE_LIST; those records lie in the part of the $MFT already mapped.
    const listAttr = rec0.attrs.find((a) => a.type === AT.ATTRIBUTE_LIST);
    if (listAttr) {
      const list = await this.readAttributeList(listAttr, mftName);
      const extra: AttrRecord[] = [...rec0.attrs];
      const seen = new Set<number>([0]);
      for (const e of list) {
        if (seen.has(e.record)) continue;
        seen.add(e.record);
        if (seen.size > MAX_EXTENSION_RECORDS) throw corrupt(mftName, 'attribute list names too many records');
        const r = await this.readRecordUncached(e.record);
        if (r.baseRecord !== 0) throw corrupt(mftName, `attribute list points at MFT record ${e.record}, which belongs to record ${r.baseRecord}`);
        extra.push(...r.attrs);
      }
      attrs = mergeAttrs(extra);
      data = attrs.find((a) => a.type === AT.DATA && a.name === '' && a.nonResident)!;
      this.setMft(data, mftName);
    }
  }

  private setMft(data: NtfsAttr, name: string): void {
    data.runs = undefined;
    this.mft = this.attrSource(data, name, this.meta);
    this.mftDirect = this.attrSource(data, name, this.vol);
    this.mftRecords = Math.floor(data.dataSize / this.rs);
  }

  private async readRecordUncached(n: number): Promise<MftRecord> {
    if (!Number.isSafeInteger(n) || n < 0 || n >= this.mftRecords) {
      throw corrupt(this.vol.name, `MFT record ${n} is outside the $MFT (${this.mftRecords} records)`);
    }
    try {
      const b = Buffer.from(await this.mft.read(n * this.rs, this.rs));
      if (b.length < this.rs) throw corrupt(this.vol.name, `MFT record ${n} is cut short`);
      applyFixups(b, this.vol.name, `MFT record ${n}`);
      return parseMftRecord(b, n, this.vol.name);
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      if (n < 4) return this.mirrorRecord(n, err);
      throw err;
    }
  }

  private async record(n: number): Promise<MftRecord> {
    const hit = this.records.get(n);
    if (hit instanceof DiskpickError) throw hit;
    if (hit) return hit;
    try {
      const r = await this.readRecordUncached(n);
      this.records.set(n, r);
      return r;
    } catch (err) {
      if (err instanceof DiskpickError) this.records.set(n, err);
      throw err;
    }
  }

  /**
   * Reads many records at once: the wanted record numbers are sorted and nearby ones read
   * in one go (up to 4 MiB), so listing a big tree reads the $MFT in large chunks.
   */
  private async prefetch(nums: number[]): Promise<void> {
    await this.rawRecords(nums.filter((n) => !this.records.has(n)), (n, b) => {
      try {
        applyFixups(b, this.vol.name, `MFT record ${n}`);
        this.records.set(n, parseMftRecord(b, n, this.vol.name));
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        if (n >= 4) this.records.set(n, err);
      }
    }, true);
  }

  /**
   * Hands each wanted record's bytes (not yet fixed up) to `each`, reading nearby records in
   * one go (up to 4 MiB). With `keep`, records of a dense group share one copy of the chunk
   * and sparse ones are copied singly, so whatever `each` keeps never pins a big chunk.
   * Records whose chunk cannot be read are skipped (the caller reads them one by one).
   */
  private async rawRecords(nums: number[], each: (n: number, b: Buffer) => void, keep: boolean): Promise<void> {
    const want = [...new Set(nums)].filter((n) => n >= 0 && n < this.mftRecords).sort((a, b) => a - b);
    const maxSpan = Math.max(1, Math.floor((4 * 1024 * 1024) / this.rs));
    const groups: [number, number][] = [];
    for (let i = 0; i < want.length; ) {
      let j = i;
      while (j + 1 < want.length && want[j + 1]! - want[i]! < maxSpan && want[j + 1]! - want[j]! <= 64) j++;
      groups.push([i, j]);
      i = j + 1;
    }
    const readGroup = async (i: number, j: number) => {
      const first = want[i]!;
      const last = want[j]!;
      // A buffer of this read's own (fixups are applied in place), read around the block cache:
      // through it, each scattered record (a big folder's sub-folders lie ~1000 records apart)
      // cost a 64 KiB block in a fresh buffer (issue 27).
      const chunk = Buffer.allocUnsafe((last - first + 1) * this.rs);
      let got: number;
      try {
        got = await readInto(this.mftDirect, chunk, 0, first * this.rs, chunk.length);
      } catch {
        return;
      }
      const dense = (j - i + 1) * 2 >= last - first + 1;
      for (let k = i; k <= j; k++) {
        const n = want[k]!;
        const at = (n - first) * this.rs;
        if (at + this.rs > got) break;
        each(n, dense || !keep ? chunk.subarray(at, at + this.rs) : Buffer.from(chunk.subarray(at, at + this.rs)));
      }
    };
    // Scattered records (the sub-folders of a big folder lie ~1000 records apart) are one small
    // read each: the kernel is asked for all of them at once (they arrive side by side, see
    // hostio.ts), and a few are in flight at once instead of one round trip after another.
    if (groups.length > 1) await willNeed(this.mftDirect, groups.map(([i, j]) => [want[i]! * this.rs, (want[j]! - want[i]! + 1) * this.rs] as const));
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const [i, j] = groups[next++]!;
        await readGroup(i, j);
      }
    };
    await Promise.all(Array.from({ length: Math.min(RECORD_READS_IN_FLIGHT, groups.length) }, worker));
  }

  private async readAttributeList(a: AttrRecord, name: string): Promise<ReturnType<typeof parseAttributeList>> {
    let bytes: Buffer;
    if (!a.nonResident) bytes = a.value!;
    else {
      if (a.dataSize > MAX_ATTRIBUTE_LIST) throw corrupt(name, `attribute list of ${a.dataSize} bytes`);
      const src = this.attrSource(singleExtent(a), name);
      bytes = await src.read(0, a.dataSize);
    }
    return parseAttributeList(bytes, name);
  }

  /** A file's base record and the attributes from all its extension records. */
  private async file(n: number, name: string): Promise<NtfsFile> {
    const hit = this.files.get(n);
    if (hit) return hit;
    const rec = await this.record(n);
    if (!(rec.flags & MFT_RECORD_IN_USE)) throw corrupt(name, `MFT record ${n} is not in use (deleted file)`);
    if (rec.baseRecord !== 0) throw corrupt(name, `MFT record ${n} is an extension of record ${rec.baseRecord}, not a file`);
    let all = rec.attrs;
    let oneRecord = true;
    const listAttr = rec.attrs.find((a) => a.type === AT.ATTRIBUTE_LIST);
    if (listAttr) {
      const list = await this.readAttributeList(listAttr, name);
      const seen = new Set<number>([n]);
      const more: number[] = [];
      for (const e of list) {
        if (seen.has(e.record)) continue;
        seen.add(e.record);
        if (seen.size > MAX_EXTENSION_RECORDS) throw corrupt(name, 'attribute list names too many records');
        more.push(e.record);
      }
      await this.prefetch(more);
      oneRecord = false;
      all = [...rec.attrs];
      for (const m of more) {
        const r = await this.record(m);
        if (r.baseRecord !== n) throw corrupt(name, `attribute list points at MFT record ${m}, which is not an extension of record ${n}`);
        all.push(...r.attrs);
      }
    }
    const f: NtfsFile = { rec, attrs: mergeAttrs(all, oneRecord) };
    this.files.set(n, f);
    return f;
  }

  private async readVolumeInfo(): Promise<void> {
    const b = this.boot;
    let label: string | null = null;
    let version = '';
    try {
      const vf = await this.file(MFT_RECORD_VOLUME, '$Volume');
      const vn = vf.attrs.find((a) => a.type === AT.VOLUME_NAME);
      if (vn?.value) label = vn.value.toString('utf16le');
      const vi = vf.attrs.find((a) => a.type === AT.VOLUME_INFORMATION);
      if (vi?.value && vi.value.length >= 12) {
        version = `${vi.value[8]}.${vi.value[9]}`;
        this.indexTypesTrusted = vi.value[8]! >= 3;
        if (vi.value.readUInt16LE(10) & VOLUME_IS_DIRTY) {
          this.warnings.push('the volume is marked dirty (not cleanly unmounted, e.g. a crash-consistent backup): read as it is');
        }
      }
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      this.warnings.push(`$Volume unreadable: ${err.message}`);
    }
    // The root folder must be readable for anything to work: fail the volume now if not.
    await this.file(MFT_RECORD_ROOT, '/');
    const serial = b.volume_serial_number.toString(16).toUpperCase().padStart(16, '0');
    this.info = {
      type: 'NTFS',
      label,
      uuid: serial,
      size: b.number_of_sectors * b.bytes_per_sector,
      blockSize: b.clusterSize,
      warnings: this.warnings,
      details: {
        version,
        sectorSize: b.bytes_per_sector,
        clusterSize: b.clusterSize,
        mftRecordSize: b.mftRecordSize,
        indexBlockSize: b.indexBlockSize,
        mftCluster: b.mft_lcn,
        mftMirrCluster: b.mftmirr_lcn,
        mftRecords: this.mftRecords,
      },
    };
  }

  private async upcaseTable(): Promise<UpCase> {
    if (this.upcase) return this.upcase;
    try {
      const f = await this.file(MFT_RECORD_UPCASE, '$UpCase');
      const d = f.attrs.find((a) => a.type === AT.DATA && a.name === '');
      const t = d ? UpCase.fromBytes(await this.attrSource(d, '$UpCase').read(0, 131072)) : null;
      if (!t) throw corrupt('$UpCase', 'not 128 KiB');
      this.upcase = t;
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      this.warnings.push(`$UpCase unreadable (${err.message}): names compared with Unicode upper case`);
      this.upcase = UpCase.builtin();
    }
    return this.upcase;
  }

  // ---- nodes ----------------------------------------------------------------------------

  /** Folders of the $Extend tree: everything in them is metadata. */
  private readonly extendTree = new Set<number>([MFT_RECORD_EXTEND]);

  /**
   * Whether record `rec`, listed in folder `parent`, is NTFS metadata (hidden unless asked
   * for): records 0–15 and the $Extend tree. A folder inside the tree is remembered so its
   * own children are metadata too (one can only reach them through it).
   */
  private isMetadata(rec: number, parent: number, isDir: boolean): boolean {
    if (rec === MFT_RECORD_ROOT) return false;
    const inExtend = rec === MFT_RECORD_EXTEND || this.extendTree.has(parent);
    if (inExtend && isDir) this.extendTree.add(rec);
    return inExtend || rec < METADATA_RECORDS;
  }

  private async makeNode(n: number, f: NtfsFile, name: string, parent: number, path: string): Promise<NtfsNode> {
    const si = f.attrs.find((a) => a.type === AT.STANDARD_INFORMATION);
    let std: StandardInformation | null = null;
    if (si?.value) std = parseStandardInformation(si.value, path);
    const isDir = (f.rec.flags & MFT_RECORD_IS_DIRECTORY) !== 0;
    const data = f.attrs.find((a) => a.type === AT.DATA && a.name === '');
    const fileAttributes = std?.fileAttributes ?? 0;
    const attributes = FILE_ATTRIBUTE_WORDS.filter(([bit]) => fileAttributes & bit).map(([, w]) => w);
    const allocOf = (a: NtfsAttr | undefined) => (a && a.nonResident ? (a.flags & (ATTR_COMPRESSION_MASK | ATTR_IS_SPARSE) ? a.compressedSize : a.allocatedSize) : 0);
    let nlink = 0;
    for (const a of f.attrs) if (a.type === AT.FILE_NAME && a.value && a.value.length > 65 && a.value[65] !== FILE_NAME_DOS) nlink++;
    const stat: Stat = {
      type: isDir ? 'dir' : 'file',
      size: isDir || !data ? 0 : data.dataSize,
      allocated: isDir ? 0 : allocOf(data),
      mode: isDir ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE,
      uid: 0,
      gid: 0,
      nlink: Math.max(1, nlink),
      ino: n,
      hasOwnership: false,
      attributes,
    };
    if (std) {
      stat.birthtime = filetimeAt(std.raw, 0);
      stat.mtime = filetimeAt(std.raw, 8);
      stat.ctime = filetimeAt(std.raw, 16);
      stat.atime = filetimeAt(std.raw, 24);
    }
    const rpAttr = f.attrs.find((a) => a.type === AT.REPARSE_POINT);
    if (rpAttr) {
      const v = rpAttr.nonResident ? await this.attrSource(rpAttr, path).read(0, Math.min(rpAttr.dataSize, 65536)) : rpAttr.value!;
      const rp = parseReparsePoint(v);
      if (rp) {
        const target = reparseLinkTarget(rp);
        if (target !== null) {
          stat.type = 'symlink';
          stat.symlinkTarget = target;
          stat.size = Buffer.byteLength(target);
        } else {
          if (!attributes.includes('reparse')) attributes.push('reparse');
          attributes.push(reparseTagName(rp.tag));
          if (rp.tag === IO_REPARSE_TAG_WOF) {
            const wof = f.attrs.find((a) => a.type === AT.DATA && a.name === 'WofCompressedData');
            if (wof) stat.allocated = allocOf(wof) || wof.dataSize;
          }
        }
      }
    } else if (!isDir && data && fileAttributes & FILE_ATTRIBUTE_SYSTEM && data.dataSize >= 10 && data.dataSize <= INTERIX_MAX && !(fileAttributes & FILE_ATTRIBUTE_ENCRYPTED)) {
      // ntfs-3g's default symlink form: a system file with an Interix header.
      const content = await this.attrSource(data, path).read(0, data.dataSize);
      const target = interixSymlinkTarget(content);
      if (target !== null) {
        stat.type = 'symlink';
        stat.symlinkTarget = target;
        stat.size = Buffer.byteLength(target);
      }
    }
    const node: NtfsNode = { name, stat, rec: n, path };
    if (this.isMetadata(n, parent, isDir)) node.system = true;
    return node;
  }

  /** A listing entry whose MFT record is unreadable: shown from the index's copy of its $FILE_NAME. */
  private fallbackNode(n: number, fn: FileNameAttr, parent: number, path: string, error: DiskpickError): NtfsNode {
    const isDir = (fn.fileAttributes & FILE_ATTRIBUTE_DIRECTORY) !== 0;
    const node: NtfsNode = {
      name: fn.name,
      rec: n,
      path,
      error,
      stat: {
        type: isDir ? 'dir' : 'file', size: isDir ? 0 : fn.dataSize, allocated: 0, mode: isDir ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE,
        uid: 0, gid: 0, nlink: 1, ino: n, hasOwnership: false,
        mtime: filetimeAt(fn.raw, 16), ctime: filetimeAt(fn.raw, 24), atime: filetimeAt(fn.raw, 32), birthtime: filetimeAt(fn.raw, 8),
        attributes: FILE_ATTRIBUTE_WORDS.filter(([bit]) => fn.fileAttributes & bit).map(([, w]) => w),
      },
    };
    if (this.isMetadata(n, parent, isDir)) node.system = true;
    return node;
  }

  private async nodeFor(e: IndexEntry, parent: number, dirPath: string): Promise<NtfsNode> {
    const fn = e.fileName!;
    const path = dirPath === '/' ? `/${fn.name}` : `${dirPath}/${fn.name}`;
    try {
      const f = await this.file(e.record, path);
      return await this.makeNode(e.record, f, fn.name, parent, path);
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      return this.fallbackNode(e.record, fn, parent, path, err);
    }
  }

  async root(): Promise<FsNode> {
    const f = await this.file(MFT_RECORD_ROOT, '/');
    const node = await this.makeNode(MFT_RECORD_ROOT, f, '', MFT_RECORD_ROOT, '/');
    node.system = false;
    return node;
  }

  // ---- folders --------------------------------------------------------------------------

  private async dirFile(dir: FsNode): Promise<{ node: NtfsNode; f: NtfsFile }> {
    const node = dir as NtfsNode;
    if (node.error) throw node.error;
    const f = await this.file(node.rec, node.path);
    if (!(f.rec.flags & MFT_RECORD_IS_DIRECTORY)) throw new DiskpickError('wrongType', 'is not a folder', node.path);
    return { node, f };
  }

  private indexParts(f: NtfsFile, path: string): { root: IndexRoot; rootValue: Buffer; alloc: ByteSource | null; allocAttr: NtfsAttr | undefined; bitmap: NtfsAttr | undefined; vcnSize: number } {
    const rootAttr = f.attrs.find((a) => a.type === AT.INDEX_ROOT && a.name === '$I30');
    if (!rootAttr?.value) throw corrupt(path, 'folder has no $I30 index root');
    const root = parseIndexRoot(rootAttr.value, path);
    const allocAttr = f.attrs.find((a) => a.type === AT.INDEX_ALLOCATION && a.name === '$I30');
    const alloc = allocAttr ? this.attrSource(allocAttr, path) : null;
    if (root.large && !alloc) throw corrupt(path, 'folder index has child nodes but no $INDEX_ALLOCATION');
    const bitmap = f.attrs.find((a) => a.type === AT.BITMAP && a.name === '$I30');
    // Index block VCNs count clusters, or 512-byte units when blocks are smaller than a cluster.
    const vcnSize = this.cs <= root.indexBlockSize ? this.cs : 512;
    return { root, rootValue: rootAttr.value, alloc, allocAttr, bitmap, vcnSize };
  }

  /**
   * Reads bytes [offset, offset + length) of a folder's $INDEX_ALLOCATION into `into` at `intoAt`, straight
   * from the volume, run by run, when allocated, initialized, uncompressed runs hold them;
   * false (nothing promised about `into`) when not, and the stream reader answers.
   */
  private async indexPieceInto(a: NtfsAttr, into: Buffer, intoAt: number, offset: number, length: number, path: string): Promise<boolean> {
    if (!a.nonResident || a.compressionUnit || offset + length > a.initializedSize) return false;
    const runs = this.runsOf(a, path);
    const cs = this.cs;
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const r = runs[findRun(runs, Math.floor(at / cs))];
      if (!r || r.lcn === null) return false;
      const end = (r.vcn + r.length) * cs;
      if (end <= at) return false;
      const n = Math.min(length - done, end - at);
      const got = await readInto(this.vol, into, intoAt + done, r.lcn * cs + (at - r.vcn * cs), n);
      if (got < n) return false;
      done += n;
    }
    return true;
  }

  /**
   * Walks a folder index in index order (see walkIndexInOrder), `take` taking its keys a run
   * at a time, the block `b` lent for the call only (copy what is kept).
   *
   * The in-use INDX blocks are read first, straight from the volume, INDEX_READ bytes at most
   * per read, into one reused buffer when they fit in one (a folder of 1000 names has 208 KiB
   * of them). They were read as 256 KiB into a fresh buffer per MiB: a page fault per 4 KiB
   * of each buffer (issue 27).
   */
  private async walkIndex(f: NtfsFile, path: string, take: IndexKeyRun): Promise<void> {
    const { root, rootValue, alloc, allocAttr, bitmap, vcnSize } = this.indexParts(f, path);
    // Index block sizes and VCN units are powers of two (indexParts).
    const blocksRead: IndexBlocks = { buf: [], at: [], size: root.indexBlockSize, vcnsPerBlock: root.indexBlockSize / vcnSize };
    let buf: Buffer | null = null;
    this.walks++;
    try {
      if (alloc) {
        const bs = root.indexBlockSize;
        const blocks = Math.floor(alloc.size / bs);
        if (blocks > MAX_INDEX_BLOCKS) throw corrupt(path, `folder index of ${blocks} blocks is too large`);
        let bits: Buffer | null = null;
        if (bitmap) {
          const len = Math.min(bitmap.dataSize, Math.ceil(blocks / 8));
          bits = await this.attrSource(bitmap, path).read(0, len);
        }
        const inUse = (i: number) => indexBlockInUse(bits, i);
        let first = 0;
        while (first < blocks && !inUse(first)) first++;
        let last = blocks - 1;
        while (last >= first && !inUse(last)) last--;
        const span = (last - first + 1) * bs;
        // One scratch buffer when the span fits one; else a buffer per read (kept to the end).
        if (span > 0 && span <= INDEX_SCRATCH) buf = scratch.take(span);
        for (let b0 = first; b0 <= last; ) {
          // Decided per read: the other listings in flight reach their own walks at this one's awaits.
          const chunkBlocks = Math.max(1, Math.floor((this.walks > 1 ? INDEX_READ_OVERLAPPED : INDEX_READ) / bs));
          // The next chunkBlocks from an in-use block, cut after the last in-use one.
          while (b0 <= last && !inUse(b0)) b0++;
          if (b0 > last) break;
          let b1 = Math.min(last + 1, b0 + chunkBlocks);
          while (!inUse(b1 - 1)) b1--;
          const len = (b1 - b0) * bs;
          const chunk = buf ?? Buffer.allocUnsafe(len);
          const into = buf ? (b0 - first) * bs : 0;
          let got = len;
          if (!(await this.indexPieceInto(allocAttr!, chunk, into, b0 * bs, len, path))) {
            // The stream reader's bytes may be a cache's: copied, as fixups change them.
            const r = await alloc.read(b0 * bs, len);
            got = r.copy(chunk, into, 0, Math.min(r.length, len));
          }
          openIndexBlocks(chunk, into, got, b0, b1, bits, blocksRead, path);
          b0 = b1;
        }
      }
      walkIndexInOrder(rootValue, blocksRead, path, take);
    } finally {
      this.walks--;
      if (buf) scratch.give(buf);
    }
  }

  /** Every entry of a folder index, in index order. */
  private async indexEntries(f: NtfsFile, path: string): Promise<IndexEntry[]> {
    const out: IndexEntry[] = [];
    await this.walkIndex(f, path, (b, at, end, childDone, vcn, base) => {
      let first = childDone;
      while (at + 16 <= end) {
        const length = indexEntryLength(b, at, end, path, vcn, base);
        const flags = indexEntryFlags(b, at);
        if (flags.end || (flags.node && !first)) return at;
        first = false;
        const keyLength = b.readUInt16LE(at + 10);
        // A key of its own: the block is lent.
        const key = Buffer.from(b.subarray(at + 16, at + 16 + keyLength));
        out.push({ record: readRefRecord(b, at), fileName: parseFileName(key, 0, keyLength, path), subnode: flags.node ? readU64(b, at + length - 8) : null });
        if (out.length > MAX_DIR_ENTRIES) throw corrupt(path, 'folder index has too many entries');
        at += length;
      }
      return at;
    });
    return out;
  }

  /** Listing entries as users see them: DOS 8.3 aliases of a listed file and self references dropped. */
  private async listing(dir: FsNode): Promise<{ node: NtfsNode; entries: IndexEntry[] }> {
    const { node, f } = await this.dirFile(dir);
    const all = await this.indexEntries(f, node.path);
    const longNamed = new Set<number>();
    for (const e of all) if (e.fileName!.namespace !== FILE_NAME_DOS) longNamed.add(e.record);
    const entries = all.filter((e) => {
      const fn = e.fileName!;
      if (e.record === node.rec || fn.parentRecord !== node.rec) return false;
      return !(fn.namespace === FILE_NAME_DOS && longNamed.has(e.record));
    });
    return { node, entries };
  }

  async readdir(dir: FsNode, opts?: ReaddirOptions): Promise<FsNode[]> {
    const { node, entries } = await this.listing(dir);
    // Names only: a plain file's index entry is all a listing needs (ntfsls reads no more).
    // Folders, reparse points (links, junctions) and system files (possible Interix links)
    // still have their record read, so their type is as exact as in a full listing.
    const namesOnly = opts?.namesOnly === true && this.indexTypesTrusted;
    const plain = (e: IndexEntry) => namesOnly && !(e.fileName!.fileAttributes & NOT_PLAIN);
    const full = await this.completeNodes(node, entries.filter((e) => !plain(e)));
    const out: FsNode[] = [];
    let k = 0;
    for (const e of entries) {
      if (!plain(e)) {
        out.push(full[k++]!);
        continue;
      }
      const fn = e.fileName!;
      const path = node.path === '/' ? `/${fn.name}` : `${node.path}/${fn.name}`;
      const n: NtfsNode = { name: fn.name, stat: partialStat('file', e.record, false), rec: e.record, path, partial: true, fn };
      if (this.isMetadata(e.record, node.rec, false)) n.system = true;
      out.push(n);
    }
    return out;
  }

  /**
   * Complete nodes for the entries of folder `node`, in order. Plain files and folders get
   * their stat straight from the record bytes, read in bulk; anything more (attribute lists,
   * reparse points, possible Interix links, damage) takes the full path through the record cache.
   */
  private async completeNodes(node: NtfsNode, entries: IndexEntry[]): Promise<NtfsNode[]> {
    const quick = new Map<number, NtfsNode | null>();
    const want = entries.filter((e) => !this.files.has(e.record)).map((e) => e.record);
    await this.rawRecords(want, (n, b) => {
      quick.set(n, null);
      try {
        applyFixups(b, this.vol.name, `MFT record ${n}`);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        return;
      }
      const q = quickStat(b, n);
      quick.set(n, q);
      // A folder is listed next (ls -R, the mount's walk): its record is kept parsed, so that
      // listing it reads nothing more from the $MFT.
      if (q?.stat.type === 'dir' && !this.records.has(n)) {
        try {
          this.records.set(n, parseMftRecord(Buffer.from(b), n, this.vol.name));
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
        }
      }
    }, false);
    const out: NtfsNode[] = [];
    for (const e of entries) {
      const q = quick.get(e.record);
      if (q) {
        const fn = e.fileName!;
        const path = node.path === '/' ? `/${fn.name}` : `${node.path}/${fn.name}`;
        const n: NtfsNode = { name: fn.name, stat: { ...q.stat }, rec: e.record, path };
        if (this.isMetadata(e.record, node.rec, q.stat.type === 'dir')) n.system = true;
        out.push(n);
      } else {
        out.push(await this.nodeFor(e, node.rec, node.path));
      }
    }
    return out;
  }

  /**
   * A folder by column (see NameList): names straight from the INDX bytes, no node for a plain
   * file; folders, links and system files get their complete node as readdir makes it. Same
   * entries and order as readdir. Before NTFS 3.0 the index's attributes cannot tell a folder
   * from a file, so every entry gets its node there.
   */
  async readdirNames(dir: FsNode): Promise<NameList> {
    if (!this.indexTypesTrusted) {
      const kids = await this.readdir(dir);
      return { names: kids.map((k) => k.name), types: kids.map((k) => k.stat.type), inos: kids.map((k) => k.stat.ino), nodes: kids };
    }
    const { node, f } = await this.dirFile(dir);
    // The keys the loop below completes nodes from (isMetadata's test, without its side effect).
    const inExtend = node.rec === MFT_RECORD_EXTEND || this.extendTree.has(node.rec);
    // A key takes 82 bytes or more; blocks are rarely full.
    const allocated = f.attrs.find((a) => a.type === AT.INDEX_ALLOCATION && a.name === '$I30')?.dataSize ?? 0;
    // (MFT_RECORD_EXTEND is below METADATA_RECORDS.)
    const cols = new IndexColumns(node.path, inExtend, NOT_PLAIN, METADATA_RECORDS, Math.ceil(allocated / 160) + 16, node.rec);
    await this.walkIndex(f, node.path, (b, at, end, childDone, vcn, base) => cols.take(b, at, end, childDone, vcn, base, MAX_DIR_ENTRIES));
    const shown = cols.listed(node.rec);
    // Every entry shown in order (most folders): the names stay one string (JoinedNameList).
    const joined = shown ? null : cols.joinedNames();
    const all = joined ? [] : cols.names();
    const needAt: number[] = [];
    const need: IndexEntry[] = [];
    // Whether entry i (shown at j) needs its complete node: isMetadata asked only where it can
    // say yes (it also remembers the $Extend tree's folders).
    const check = (i: number, j: number) => {
      const rec = cols.records[i]!;
      const attrs = cols.attributes[i]!;
      if (attrs & NOT_PLAIN || ((rec < METADATA_RECORDS || inExtend) && this.isMetadata(rec, node.rec, (attrs & FILE_ATTRIBUTE_DIRECTORY) !== 0))) {
        needAt.push(j);
        need.push({ record: rec, fileName: cols.key(i), subnode: null });
      }
    };
    let names: string[];
    let types: FileType[];
    let inos: number[];
    if (!shown) {
      // Every entry shown in order (most folders): the columns are the answer as they are, and
      // only the entries whose key was kept can need a node.
      names = all;
      types = cols.fileTypes();
      inos = cols.records;
      inos.length = cols.count;
      for (const i of cols.keptEntries()) check(i, i);
    } else {
      const count = shown.length;
      names = new Array<string>(count);
      types = new Array<FileType>(count);
      inos = new Array<number>(count);
      for (let j = 0; j < count; j++) {
        const i = shown[j]!;
        names[j] = all[i]!;
        inos[j] = cols.records[i]!;
        types[j] = cols.attributes[i]! & FILE_ATTRIBUTE_DIRECTORY ? 'dir' : 'file';
        check(i, j);
      }
    }
    const count = types.length;
    if (need.length === 0) return joined ? new JoinedNameList(joined.text, joined.lengths, types, inos, []) : { names, types, inos, nodes: [] };
    const full = await this.completeNodes(node, need);
    const nodes = new Array<FsNode | undefined>(count);
    for (let k = 0; k < need.length; k++) {
      nodes[needAt[k]!] = full[k]!;
      types[needAt[k]!] = full[k]!.stat.type;
    }
    return joined ? new JoinedNameList(joined.text, joined.lengths, types, inos, nodes) : { names, types, inos, nodes };
  }

  async complete(n: FsNode): Promise<FsNode> {
    const node = n as NtfsNode;
    if (!node.partial || !node.fn) return node;
    const fn = node.fn;
    const dirPath = node.path.slice(0, node.path.length - fn.name.length - 1) || '/';
    return this.nodeFor({ record: node.rec, fileName: fn, subnode: null }, fn.parentRecord, dirPath);
  }

  private async caseSensitiveDir(f: NtfsFile, path: string): Promise<boolean> {
    const si = f.attrs.find((a) => a.type === AT.STANDARD_INFORMATION);
    if (!si?.value || si.value.length < 48) return false;
    return (parseStandardInformation(si.value, path).flagsField & SI_CASE_SENSITIVE_DIR) !== 0;
  }

  async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
    const { node, f } = await this.dirFile(dir);
    if (await this.caseSensitiveDir(f, node.path)) {
      const { entries } = await this.listing(dir);
      const e = entries.find((x) => x.fileName!.name === name);
      return e ? this.nodeFor(e, node.rec, node.path) : null;
    }
    const up = await this.upcaseTable();
    const folded = up.fold(name);
    const { root, alloc, vcnSize } = this.indexParts(f, node.path);
    let entries = root.entries;
    const visited = new Set<number>();
    for (;;) {
      let next: number | null = null;
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (!e.fileName) {
          next = e.subnode;
          break;
        }
        const c = up.compare(folded, e.fileName.name);
        if (c === 0) {
          // Names equal but for case can sit side by side (POSIX names): prefer the exact one.
          let best = e;
          for (let j = i; j < entries.length && entries[j]!.fileName && up.compare(folded, entries[j]!.fileName!.name) === 0; j++) {
            if (entries[j]!.fileName!.name === name) best = entries[j]!;
          }
          return this.foundEntry(best, node);
        }
        if (c < 0) {
          next = e.subnode;
          break;
        }
      }
      if (next === null) return null;
      if (!alloc) throw corrupt(node.path, 'folder index points at a child node but has no $INDEX_ALLOCATION');
      if (visited.has(next) || visited.size > MAX_INDEX_DEPTH) throw corrupt(node.path, `folder index loops (node at VCN ${next} is reached twice)`);
      visited.add(next);
      const bs = root.indexBlockSize;
      const block = Buffer.from(await alloc.read(next * vcnSize, bs));
      if (block.length < bs) throw corrupt(node.path, `folder index node at VCN ${next} is outside the index`);
      entries = parseIndexBlock(block, next, node.path);
    }
  }

  /** A found index entry as a node; a DOS 8.3 alias resolves to the file's long name. */
  private async foundEntry(e: IndexEntry, dir: NtfsNode): Promise<FsNode> {
    if (e.record === dir.rec) return dir;
    const fn = e.fileName!;
    if (fn.namespace === FILE_NAME_DOS) {
      try {
        const f = await this.file(e.record, dir.path);
        for (const a of f.attrs) {
          if (a.type !== AT.FILE_NAME || !a.value) continue;
          const long = parseFileName(a.value, 0, a.value.length, dir.path);
          if (long.namespace !== FILE_NAME_DOS && long.parentRecord === dir.rec) return this.nodeFor({ ...e, fileName: long }, dir.rec, dir.path);
        }
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
      }
    }
    return this.nodeFor(e, dir.rec, dir.path);
  }

  // ---- file content ---------------------------------------------------------------------

  async openFile(n: FsNode, stream?: string): Promise<ByteSource> {
    const node = n as NtfsNode;
    if (node.error) throw node.error;
    const f = await this.file(node.rec, node.path);
    const si = f.attrs.find((a) => a.type === AT.STANDARD_INFORMATION);
    const encrypted = (si?.value && si.value.length >= 36 && si.value.readUInt32LE(32) & FILE_ATTRIBUTE_ENCRYPTED) ||
      f.attrs.some((a) => a.type === AT.DATA && a.flags & ATTR_IS_ENCRYPTED);
    if (encrypted) throw unsupported(node.path, 'encrypted (EFS), not supported');
    const label = stream ? `${node.path}:${stream}` : node.path;
    if (stream !== undefined && stream !== '') {
      const a = f.attrs.find((x) => x.type === AT.DATA && x.name === stream);
      if (!a) throw new DiskpickError('notFound', `no stream named "${stream}"`, node.path);
      return this.attrSource(a, label);
    }
    if (f.rec.flags & MFT_RECORD_IS_DIRECTORY) throw new DiskpickError('wrongType', 'is a folder, not a file', node.path);
    const data = f.attrs.find((a) => a.type === AT.DATA && a.name === '');
    if (!data) throw corrupt(node.path, 'file has no $DATA attribute');
    const rpAttr = f.attrs.find((a) => a.type === AT.REPARSE_POINT);
    if (rpAttr) {
      const v = rpAttr.nonResident ? await this.attrSource(rpAttr, label).read(0, Math.min(rpAttr.dataSize, 65536)) : rpAttr.value!;
      const rp = parseReparsePoint(v);
      if (rp?.tag === IO_REPARSE_TAG_WOF) {
        const wof = f.attrs.find((a) => a.type === AT.DATA && a.name === 'WofCompressedData');
        if (wof) {
          return openWofFile(v, this.attrSource(wof, `${label}:WofCompressedData`), data.dataSize, label);
        }
      }
    }
    return this.attrSource(data, label);
  }

  // ---- orphans ----------------------------------------------------------------------------

  /**
   * Every record a walk of the folder indexes from `starts` reaches (the starts included).
   * Iterative; a folder whose index cannot be read is left out, as a listing would show it.
   */
  private async reachable(starts: number[], reached: Set<number>): Promise<void> {
    const stack = starts.filter((n) => !reached.has(n));
    for (const n of stack) reached.add(n);
    while (stack.length) {
      const n = stack.pop()!;
      let entries: IndexEntry[];
      try {
        const f = await this.file(n, `MFT record ${n}`);
        if (!(f.rec.flags & MFT_RECORD_IS_DIRECTORY)) continue;
        entries = await this.indexEntries(f, `MFT record ${n}`);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        continue;
      }
      for (const e of entries) {
        if (reached.has(e.record)) continue;
        reached.add(e.record);
        if (e.fileName!.fileAttributes & FILE_ATTRIBUTE_DIRECTORY) stack.push(e.record);
      }
    }
  }

  /**
   * Files in use that no folder lists (see src/fs/orphans.ts): every in-use base record from
   * 16 on with a $FILE_NAME that a walk from the root does not reach, minus those a lost folder
   * among them still lists. Named by their $FILE_NAME (the long one).
   */
  async orphans(): Promise<FsNode[]> {
    const reached = new Set<number>();
    await this.reachable([MFT_RECORD_ROOT], reached);
    const lost: { n: number; fn: FileNameAttr | null }[] = [];
    const CHUNK = 16384;
    for (let first = METADATA_RECORDS; first < this.mftRecords; first += CHUNK) {
      const nums: number[] = [];
      for (let n = first; n < Math.min(first + CHUNK, this.mftRecords); n++) if (!reached.has(n)) nums.push(n);
      await this.rawRecords(nums, (n, b) => {
        // The flags lie before any fixup position: records not in use are skipped unparsed.
        if (b.toString('latin1', 0, 4) !== 'FILE' || !(b.readUInt16LE(22) & MFT_RECORD_IN_USE)) return;
        try {
          applyFixups(b, this.vol.name, `MFT record ${n}`);
          const rec = parseMftRecord(b, n, this.vol.name);
          if (rec.baseRecord !== 0) return;
          const names = rec.attrs.filter((a) => a.type === AT.FILE_NAME && a.value).map((a) => parseFileName(a.value!, 0, a.value!.length, `MFT record ${n}`));
          const fn = names.find((x) => x.namespace !== FILE_NAME_DOS) ?? names[0] ?? null;
          // No name in the base record: one may sit in an extension record (attribute list).
          if (fn || rec.attrs.some((a) => a.type === AT.ATTRIBUTE_LIST)) lost.push({ n, fn });
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
        }
      }, false);
    }
    const out: FsNode[] = [];
    const named: { n: number; fn: FileNameAttr }[] = [];
    for (const l of lost) {
      let fn = l.fn;
      if (!fn) {
        try {
          const f = await this.file(l.n, `MFT record ${l.n}`);
          const a = f.attrs.filter((x) => x.type === AT.FILE_NAME && x.value).map((x) => parseFileName(x.value!, 0, x.value!.length, `MFT record ${l.n}`));
          fn = a.find((x) => x.namespace !== FILE_NAME_DOS) ?? a[0] ?? null;
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
        }
      }
      // Metadata ($Extend's children) is not lost, only hidden.
      if (fn && !this.extendTree.has(fn.parentRecord) && fn.parentRecord !== MFT_RECORD_EXTEND) named.push({ n: l.n, fn });
    }
    // A lost folder keeps its children: they are shown inside it, not again at the top.
    const inLostFolders = new Set<number>();
    await this.listedBy(named.map((x) => x.n), inLostFolders);
    for (const { n, fn } of named) {
      if (inLostFolders.has(n)) continue;
      const path = `/$Orphans/${fn.name}`;
      try {
        out.push(await this.makeNode(n, await this.file(n, path), fn.name, fn.parentRecord, path));
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        out.push(this.fallbackNode(n, fn, fn.parentRecord, path, err));
      }
    }
    return out;
  }

  /** The records the folders among `dirs` list (a folder listing itself aside). */
  private async listedBy(dirs: number[], into: Set<number>): Promise<void> {
    for (const d of dirs) {
      try {
        const f = await this.file(d, `MFT record ${d}`);
        if (!(f.rec.flags & MFT_RECORD_IS_DIRECTORY)) continue;
        for (const e of await this.indexEntries(f, `MFT record ${d}`)) if (e.record !== d) into.add(e.record);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
      }
    }
  }

  async streams(n: FsNode): Promise<StreamInfo[]> {
    const node = n as NtfsNode;
    if (node.error) throw node.error;
    const f = await this.file(node.rec, node.path);
    const isWof = f.attrs.some((a) => a.type === AT.REPARSE_POINT && a.value && a.value.length >= 4 && a.value.readUInt32LE(0) === IO_REPARSE_TAG_WOF);
    return f.attrs
      .filter((a) => a.type === AT.DATA && a.name !== '' && !(isWof && a.name === 'WofCompressedData'))
      .map((a) => ({ name: a.name, size: a.dataSize }));
  }

  /** The volume source belongs to the caller (Vfs); only the caches go. */
  async close(): Promise<void> {}
}

export const ntfsFormat: FsFormat = {
  name: 'NTFS',
  probe: (head) => probeNtfsBoot(head),
  open: (src) => NtfsFileSystem.open(src),
};
