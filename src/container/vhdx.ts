/**
 * VHDX (Hyper-V virtual hard disk v2), read-only: fixed, dynamic and differencing disks,
 * 512 or 4096-byte logical sectors, and a log that still holds updates (replayed in memory,
 * the file is never written). Structures from [MS-VHDX] (see docs/formats/vhdx.md). All
 * fields are little-endian; checksums are CRC-32C.
 */
import { probeVhdx } from './magic.js';
import { checkFileEnd, tableEnd } from './damage.js';
import { corrupt, unsupported } from '../errors.js';
import { crc32c, formatGuid, guidBytes, u64leSafe } from '../source/bytes.js';
import { readExact, readInto, readIntoNew, type ByteSource, readSpan, readIntoSpan } from '../source/source.js';

export { crc32c } from '../source/bytes.js';
import type { Container, ContainerFormat, OpenContext } from './container.js';
import { byteLru } from '../source/lru.js';
import { MappedContainer, PagedTable, windowsToHostPath, type Piece } from './mapped.js';

const KiB = 1024;
const MiB = 1024 * 1024;

/** A GUID in lower case, as VHDX writes them in parent_linkage and as the messages quote them. */
export function guidString(b: Buffer): string {
  return formatGuid(b).toLowerCase();
}

const BAT_GUID = guidBytes('2DC27766-F623-4200-9D64-115E9BFD4A08');
const METADATA_GUID = guidBytes('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const FILE_PARAMETERS = guidBytes('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
const VIRTUAL_DISK_SIZE = guidBytes('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
const VIRTUAL_DISK_ID = guidBytes('BECA12AB-B2E6-4523-93EF-C309E000C746');
const LOGICAL_SECTOR_SIZE = guidBytes('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
const PHYSICAL_SECTOR_SIZE = guidBytes('CDA348C7-445D-4471-9CC9-E9885251C556');
const PARENT_LOCATOR = guidBytes('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');
const VHDX_LOCATOR_TYPE = guidBytes('B04AEFB7-D19E-4A81-B789-25B8E9445913');

/** Header ([MS-VHDX] 2.2.2), 4 KiB at 64 KiB and 128 KiB. */
interface VhdxHeader {
  SequenceNumber: bigint;
  FileWriteGuid: Buffer;
  DataWriteGuid: Buffer;
  LogGuid: Buffer;
  LogVersion: number;
  Version: number;
  LogLength: number;
  LogOffset: number;
}

function parseHeader(b: Buffer): VhdxHeader | null {
  if (b.toString('latin1', 0, 4) !== 'head') return null;
  if (crc32c(b.subarray(0, 4096), 4) !== b.readUInt32LE(4)) return null;
  return {
    SequenceNumber: b.readBigUInt64LE(8),
    FileWriteGuid: Buffer.from(b.subarray(16, 32)),
    DataWriteGuid: Buffer.from(b.subarray(32, 48)),
    LogGuid: Buffer.from(b.subarray(48, 64)),
    LogVersion: b.readUInt16LE(64),
    Version: b.readUInt16LE(66),
    LogLength: b.readUInt32LE(68),
    LogOffset: u64leSafe(b, 72),
  };
}

/** Region Table Entry ([MS-VHDX] 2.2.3.2). */
interface Region {
  Guid: Buffer;
  FileOffset: number;
  Length: number;
  Required: number;
}

function parseRegionTable(b: Buffer): Region[] | null {
  if (b.toString('latin1', 0, 4) !== 'regi') return null;
  if (crc32c(b.subarray(0, 64 * KiB), 4) !== b.readUInt32LE(4)) return null;
  const EntryCount = b.readUInt32LE(8);
  if (EntryCount > 2047) return null;
  const out: Region[] = [];
  for (let i = 0; i < EntryCount; i++) {
    const at = 16 + i * 32;
    out.push({ Guid: Buffer.from(b.subarray(at, at + 16)), FileOffset: u64leSafe(b, at + 16), Length: b.readUInt32LE(at + 24), Required: b.readUInt32LE(at + 28) });
  }
  return out;
}

// ---- The log, replayed in memory ([MS-VHDX] 2.3) ----

/**
 * The file as it would be after log replay: 4 KiB pages written by data descriptors and
 * ranges zeroed by zero descriptors, over the unchanged file. Nothing is written to disk.
 */
class ReplayedSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private lo = Infinity;
  private hi = -Infinity;
  constructor(
    private readonly base: ByteSource,
    private readonly pages: Map<number, Buffer>,
    private readonly zeros: Array<[number, number]>,
    size: number,
  ) {
    this.name = base.name;
    this.size = Math.max(size, base.size);
    for (const p of pages.keys()) {
      this.lo = Math.min(this.lo, p * 4096);
      this.hi = Math.max(this.hi, p * 4096 + 4096);
    }
    for (const [a, z] of zeros) {
      this.lo = Math.min(this.lo, a);
      this.hi = Math.max(this.hi, z);
    }
  }
  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    if ((offset + n <= this.lo || offset >= this.hi) && offset + n <= this.base.size) return this.base.read(offset, n);
    return readIntoNew(this, offset, n);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    const end = offset + n;
    // Past the end of the base file (the log grew the file) reads as zeros, as it would after replay.
    const fromBase = offset < this.base.size ? await readInto(this.base, target, at, offset, Math.min(n, this.base.size - offset)) : 0;
    if (fromBase < n) target.fill(0, at + fromBase, at + n);
    if (end <= this.lo || offset >= this.hi) return n;
    for (const [a, z] of this.zeros) {
      const s = Math.max(a, offset);
      const e = Math.min(z, end);
      if (s < e) target.fill(0, at + s - offset, at + e - offset);
    }
    for (let p = Math.floor(offset / 4096); p * 4096 < end; p++) {
      const page = this.pages.get(p);
      if (!page) continue;
      const s = Math.max(p * 4096, offset);
      const e = Math.min(p * 4096 + 4096, end);
      page.copy(target, at + s - offset, s - p * 4096, e - p * 4096);
    }
    return n;
  }

  async close(): Promise<void> {
    await this.base.close();
  }
}

interface LogEntry {
  at: number;
  EntryLength: number;
  Tail: number;
  SequenceNumber: bigint;
  FlushedFileOffset: number;
  LastFileOffset: number;
  descriptors: Array<{ kind: 'data'; FileOffset: number; sector: Buffer } | { kind: 'zero'; FileOffset: number; ZeroLength: number }>;
}

/** Reads `length` bytes of the circular log starting at `at` (wrapping at its end). */
async function readLog(src: ByteSource, logOffset: number, logLength: number, at: number, length: number): Promise<Buffer> {
  if (at + length <= logLength) return readExact(src, logOffset + at, length, 'log');
  const first = logLength - at;
  const a = await readExact(src, logOffset + at, first, 'log');
  const b = await readExact(src, logOffset, length - first, 'log');
  return Buffer.concat([a, b]);
}

/** The entry at `at`, or null when it is not a valid entry for this LogGuid (2.3.1). */
async function readEntry(src: ByteSource, logOffset: number, logLength: number, at: number, logGuid: Buffer): Promise<LogEntry | null> {
  const h = await readLog(src, logOffset, logLength, at, 4096);
  if (h.toString('latin1', 0, 4) !== 'loge') return null;
  const EntryLength = h.readUInt32LE(8);
  const Tail = h.readUInt32LE(12);
  const SequenceNumber = h.readBigUInt64LE(16);
  const DescriptorCount = h.readUInt32LE(24);
  if (EntryLength < 4096 || EntryLength % 4096 || EntryLength > logLength) return null;
  if (Tail % 4096 || Tail >= logLength || SequenceNumber === 0n) return null;
  if (!h.subarray(32, 48).equals(logGuid)) return null;
  const descSectors = Math.ceil((64 + DescriptorCount * 32) / 4096);
  if (descSectors * 4096 > EntryLength) return null;
  const e = await readLog(src, logOffset, logLength, at, EntryLength);
  if (crc32c(e, 4) !== e.readUInt32LE(4)) return null;
  const entry: LogEntry = {
    at,
    EntryLength,
    Tail,
    SequenceNumber,
    FlushedFileOffset: u64leSafe(e, 48),
    LastFileOffset: u64leSafe(e, 56),
    descriptors: [],
  };
  let dataIndex = 0;
  for (let i = 0; i < DescriptorCount; i++) {
    const d = 64 + i * 32;
    const sig = e.toString('latin1', d, d + 4);
    if (e.readBigUInt64LE(d + 24) !== SequenceNumber) return null;
    const FileOffset = u64leSafe(e, d + 16);
    if (FileOffset % 4096) return null;
    if (sig === 'zero') {
      const ZeroLength = u64leSafe(e, d + 8);
      if (ZeroLength % 4096) return null;
      entry.descriptors.push({ kind: 'zero', FileOffset, ZeroLength });
    } else if (sig === 'desc') {
      const s = (descSectors + dataIndex++) * 4096;
      if (s + 4096 > EntryLength) return null;
      const ds = e.subarray(s, s + 4096);
      // Data Sector (2.3.1.4): "data", SequenceHigh, 4084 bytes, SequenceLow.
      if (ds.toString('latin1', 0, 4) !== 'data') return null;
      if (ds.readUInt32LE(4) !== Number(SequenceNumber >> 32n) || ds.readUInt32LE(4092) !== Number(SequenceNumber & 0xffffffffn)) return null;
      const sector = Buffer.alloc(4096);
      e.copy(sector, 0, d + 8, d + 16); // LeadingBytes
      ds.copy(sector, 8, 8, 4092);
      e.copy(sector, 4092, d + 4, d + 8); // TrailingBytes
      entry.descriptors.push({ kind: 'data', FileOffset, sector });
    } else {
      return null;
    }
  }
  return entry;
}

/** Finds the active sequence (2.3.3) and returns the file as it reads after replay. */
async function replayLog(src: ByteSource, hdr: VhdxHeader, ctx: OpenContext): Promise<ByteSource> {
  const name = src.name;
  if (hdr.LogVersion !== 0) throw unsupported(name, `VHDX log version ${hdr.LogVersion} is not supported`);
  const { LogOffset, LogLength } = hdr;
  if (LogLength === 0 || LogLength % MiB || LogOffset % MiB || LogOffset < MiB) throw corrupt(name, `VHDX log at ${LogOffset} (${LogLength} bytes) is misplaced`);
  if (LogOffset + LogLength > src.size) throw corrupt(name, `truncated: the VHDX log (${LogLength} bytes at ${LogOffset}) is past the end of the file`);
  let best: LogEntry[] = [];
  let bestSeq = 0n;
  let tail = 0;
  let oldTail = 0;
  // Each 4 KiB position is normally evaluated once or twice; a hostile log of long chains
  // that never validate would make the scan quadratic, so the work is bounded.
  let budget = 4 * (LogLength / 4096) + 64;
  for (let guard = 0; guard <= LogLength / 4096 + 1; guard++) {
    const seq: LogEntry[] = [];
    let head = tail;
    for (let steps = 0; steps < LogLength / 4096; steps++) {
      if (--budget < 0) throw corrupt(name, 'VHDX log scan gave up: its entries chain in too many overlapping sequences');
      const e = await readEntry(src, LogOffset, LogLength, head, hdr.LogGuid);
      if (!e) break;
      if (seq.length && e.SequenceNumber !== seq[seq.length - 1]!.SequenceNumber + 1n) break;
      seq.push(e);
      head = (head + e.EntryLength) % LogLength;
      if (head === tail) break;
    }
    let valid = false;
    if (seq.length) {
      // The head entry's tail must be one of the entries of this sequence.
      const h = seq[seq.length - 1]!;
      const i = seq.findIndex((e) => e.at === h.Tail);
      if (i >= 0) {
        valid = true;
        if (h.SequenceNumber > bestSeq) {
          best = seq.slice(i);
          bestSeq = h.SequenceNumber;
        }
      }
    }
    // Move on: past an invalid position by one sector, past a valid sequence to its head.
    const next = !seq.length || !valid ? tail + 4096 : seq[0]!.at + seq.reduce((n, e) => n + e.EntryLength, 0);
    if (next >= LogLength || next <= oldTail) break; // wrapped: the whole log was scanned
    tail = next;
    oldTail = tail;
  }
  if (!best.length) throw corrupt(name, 'VHDX log has entries for this file but no valid sequence to replay');
  const head = best[best.length - 1]!;
  if (src.size < head.FlushedFileOffset) {
    throw corrupt(name, `truncated: the VHDX log says the file was at least ${head.FlushedFileOffset} bytes, it has ${src.size}`);
  }
  const pages = new Map<number, Buffer>();
  const zeros: Array<[number, number]> = [];
  let count = 0;
  for (const e of best) {
    for (const d of e.descriptors) {
      count++;
      if (d.kind === 'data') {
        pages.set(d.FileOffset / 4096, d.sector);
      } else {
        const end = d.FileOffset + d.ZeroLength;
        for (const p of [...pages.keys()]) if (p * 4096 >= d.FileOffset && p * 4096 < end) pages.delete(p);
        zeros.push([d.FileOffset, end]);
      }
    }
  }
  ctx.warn(`VHDX log held ${best.length} entr${best.length === 1 ? 'y' : 'ies'} (${count} updates) not yet applied; replayed in memory, the file was not changed`, name);
  return new ReplayedSource(src, pages, zeros, head.LastFileOffset);
}

// ---- Metadata ([MS-VHDX] 2.6) ----

interface Metadata {
  BlockSize: number;
  LeaveBlockAllocated: boolean;
  HasParent: boolean;
  VirtualDiskSize: number;
  VirtualDiskId: Buffer | null;
  LogicalSectorSize: number;
  PhysicalSectorSize: number;
  parentLocator: Map<string, string> | null;
}

async function readMetadata(src: ByteSource, region: Region, name: string): Promise<Metadata> {
  if (region.Length < 64 * KiB) throw corrupt(name, `VHDX metadata region of ${region.Length} bytes is too small`);
  const table = await readExact(src, region.FileOffset, 64 * KiB, 'metadata table');
  if (table.toString('latin1', 0, 8) !== 'metadata') throw corrupt(name, 'VHDX metadata table has no "metadata" signature');
  const EntryCount = table.readUInt16LE(10);
  if (EntryCount > 2047) throw corrupt(name, `VHDX metadata table has ${EntryCount} entries (at most 2047)`);
  const items = new Map<string, Buffer>();
  for (let i = 0; i < EntryCount; i++) {
    const at = 32 + i * 32;
    const ItemId = table.subarray(at, at + 16);
    const Offset = table.readUInt32LE(at + 16);
    const Length = table.readUInt32LE(at + 20);
    const flags = table.readUInt32LE(at + 24);
    const IsUser = (flags & 1) !== 0;
    const IsRequired = (flags & 4) !== 0;
    if (Length > MiB || (Length && (Offset < 64 * KiB || Offset + Length > region.Length))) {
      throw corrupt(name, `VHDX metadata item ${guidString(ItemId)} lies outside the metadata region`);
    }
    const known = [FILE_PARAMETERS, VIRTUAL_DISK_SIZE, VIRTUAL_DISK_ID, LOGICAL_SECTOR_SIZE, PHYSICAL_SECTOR_SIZE, PARENT_LOCATOR].some((g) => g.equals(ItemId));
    if (IsUser) continue;
    if (!known) {
      if (IsRequired) throw unsupported(name, `VHDX required metadata item ${guidString(ItemId)} is not supported`);
      continue;
    }
    items.set(ItemId.toString('hex'), Length ? await readExact(src, region.FileOffset + Offset, Length, 'metadata item') : Buffer.alloc(0));
  }
  const need = (g: Buffer, what: string, min: number): Buffer => {
    const b = items.get(g.toString('hex'));
    if (!b) throw corrupt(name, `VHDX metadata has no ${what}`);
    if (b.length < min) throw corrupt(name, `VHDX ${what} item is cut short`);
    return b;
  };
  const fp = need(FILE_PARAMETERS, 'File Parameters', 8);
  const flags = fp.readUInt32LE(4);
  const md: Metadata = {
    BlockSize: fp.readUInt32LE(0),
    LeaveBlockAllocated: (flags & 1) !== 0,
    HasParent: (flags & 2) !== 0,
    VirtualDiskSize: u64leSafe(need(VIRTUAL_DISK_SIZE, 'Virtual Disk Size', 8), 0),
    VirtualDiskId: items.get(VIRTUAL_DISK_ID.toString('hex')) ?? null,
    LogicalSectorSize: need(LOGICAL_SECTOR_SIZE, 'Logical Sector Size', 4).readUInt32LE(0),
    PhysicalSectorSize: items.get(PHYSICAL_SECTOR_SIZE.toString('hex'))?.readUInt32LE(0) ?? 512,
    parentLocator: null,
  };
  if (md.HasParent) md.parentLocator = parseParentLocator(need(PARENT_LOCATOR, 'Parent Locator', 20), name);
  return md;
}

/** Parent Locator (2.6.2.6): a type GUID and UTF-16LE key/value pairs. */
function parseParentLocator(b: Buffer, name: string): Map<string, string> {
  if (!b.subarray(0, 16).equals(VHDX_LOCATOR_TYPE)) throw unsupported(name, `VHDX parent locator type ${guidString(b.subarray(0, 16))} is not supported`);
  const KeyValueCount = b.readUInt16LE(18);
  if (20 + KeyValueCount * 12 > b.length) throw corrupt(name, 'VHDX parent locator entries run past the item');
  const out = new Map<string, string>();
  for (let i = 0; i < KeyValueCount; i++) {
    const at = 20 + i * 12;
    const KeyOffset = b.readUInt32LE(at);
    const ValueOffset = b.readUInt32LE(at + 4);
    const KeyLength = b.readUInt16LE(at + 8);
    const ValueLength = b.readUInt16LE(at + 10);
    if (KeyOffset + KeyLength > b.length || ValueOffset + ValueLength > b.length) throw corrupt(name, 'VHDX parent locator key or value runs past the item');
    out.set(b.toString('utf16le', KeyOffset, KeyOffset + KeyLength), b.toString('utf16le', ValueOffset, ValueOffset + ValueLength));
  }
  return out;
}

// ---- BAT ([MS-VHDX] 2.5) ----

const PAYLOAD_BLOCK_NOT_PRESENT = 0;
const PAYLOAD_BLOCK_UNDEFINED = 1;
const PAYLOAD_BLOCK_ZERO = 2;
const PAYLOAD_BLOCK_UNMAPPED = 3;
const PAYLOAD_BLOCK_FULLY_PRESENT = 6;
const PAYLOAD_BLOCK_PARTIALLY_PRESENT = 7;
const SB_BLOCK_PRESENT = 6;

class VhdxContainer extends MappedContainer {
  readonly format = 'vhdx';
  readonly variant: string;
  private readonly chunkRatio: number;
  private readonly bitmaps = byteLru<number, Buffer>(16 * MiB);

  constructor(
    file: ByteSource,
    private readonly md: Metadata,
    private readonly bat: PagedTable,
    parent: Container | null,
    readonly dataWriteGuid: Buffer,
  ) {
    super(file, md.VirtualDiskSize, parent);
    this.sectorSize = md.LogicalSectorSize;
    this.variant = md.HasParent ? 'differencing' : md.LeaveBlockAllocated ? 'fixed' : 'dynamic';
    this.chunkRatio = (2 ** 23 * md.LogicalSectorSize) / md.BlockSize;
  }

  private async batEntry(i: number): Promise<[number, number]> {
    const [page, at] = await this.bat.entry(i);
    const lo = page.readUInt32LE(at);
    const hi = page.readUInt32LE(at + 4);
    const state = lo & 7;
    // FileOffsetMB is bits 20..63.
    const mb = (lo >>> 20) + hi * 4096;
    return [state, mb * MiB];
  }

  protected async map(offset: number, length: number): Promise<Piece[]> {
    const bs = this.md.BlockSize;
    const block = Math.floor(offset / bs);
    const within = offset - block * bs;
    const len = Math.min(length, bs - within);
    const [state, fileOffset] = await this.batEntry(block + Math.floor(block / this.chunkRatio));
    switch (state) {
      case PAYLOAD_BLOCK_FULLY_PRESENT:
        this.checkBlock(fileOffset, block, within);
        return [{ kind: 'host', offset: fileOffset + within, length: len }];
      case PAYLOAD_BLOCK_NOT_PRESENT:
        return [{ kind: this.parent ? 'parent' : 'zero', length: len }];
      case PAYLOAD_BLOCK_UNDEFINED:
      case PAYLOAD_BLOCK_ZERO:
      case PAYLOAD_BLOCK_UNMAPPED:
        return [{ kind: 'zero', length: len }];
      case PAYLOAD_BLOCK_PARTIALLY_PRESENT: {
        if (!this.parent) throw corrupt(this.name, `BAT entry of block ${block} is PARTIALLY_PRESENT in a VHDX without a parent`);
        this.checkBlock(fileOffset, block, within);
        return this.mapPartial(block, fileOffset, within, len);
      }
      default:
        throw corrupt(this.name, `BAT entry of block ${block} has the reserved state ${state}`);
    }
  }

  private checkBlock(fileOffset: number, block: number, within: number): void {
    if (fileOffset < MiB) throw corrupt(this.name, `BAT entry of block ${block} points into the header section (${fileOffset})`);
    if (fileOffset + within >= this.file.size) {
      throw corrupt(this.name, `BAT entry of block ${block} points at ${fileOffset}, past the end of the file (${this.file.size} bytes)`);
    }
  }

  /** The sector bitmap (2.4) says, per logical sector, whether this file or the parent has it. */
  private async mapPartial(block: number, fileOffset: number, within: number, len: number): Promise<Piece[]> {
    const lss = this.md.LogicalSectorSize;
    const bs = this.md.BlockSize;
    let bits = this.bitmaps.get(block);
    if (!bits) {
      const chunk = Math.floor(block / this.chunkRatio);
      const [sbState, sbOffset] = await this.batEntry(chunk * (this.chunkRatio + 1) + this.chunkRatio);
      if (sbState !== SB_BLOCK_PRESENT) throw corrupt(this.name, `block ${block} is PARTIALLY_PRESENT but its sector bitmap block is not present`);
      if (sbOffset < MiB || sbOffset + MiB > this.file.size) throw corrupt(this.name, `sector bitmap block of chunk ${chunk} at ${sbOffset} is outside the file`);
      const bytesPerBlock = bs / lss / 8;
      bits = await readExact(this.file, sbOffset + (block % this.chunkRatio) * bytesPerBlock, bytesPerBlock, 'sector bitmap');
      this.bitmaps.set(block, bits);
    }
    const out: Piece[] = [];
    let pos = within;
    const end = within + len;
    while (pos < end) {
      const s = Math.floor(pos / lss);
      const present = (bits[s >> 3]! >> (s & 7)) & 1;
      const send = Math.min(end, (s + 1) * lss);
      const p: Piece = present ? { kind: 'host', offset: fileOffset + pos, length: send - pos } : { kind: 'parent', length: send - pos };
      const last = out[out.length - 1];
      if (last && last.kind === p.kind && (p.kind !== 'host' || (last.kind === 'host' && last.offset + last.length === p.offset))) last.length += p.length;
      else out.push(p);
      pos = send;
    }
    return out;
  }
}

async function openVhdx(file: ByteSource, ctx: OpenContext): Promise<Container> {
  const name = file.name;
  if (file.size < MiB) throw corrupt(name, `truncated: a VHDX needs at least its 1 MiB header section, the file has ${file.size} bytes`);
  const h1 = parseHeader(await readExact(file, 64 * KiB, 4096, 'header 1'));
  const h2 = parseHeader(await readExact(file, 128 * KiB, 4096, 'header 2'));
  if (!h1 && !h2) throw corrupt(name, 'neither VHDX header is valid (signature or CRC-32C checksum wrong)');
  if (!h1 || !h2) ctx.warn(`one VHDX header is damaged; using the other`, name);
  const hdr = !h2 || (h1 && h1.SequenceNumber >= h2.SequenceNumber) ? h1! : h2;
  if (hdr.Version !== 1) throw unsupported(name, `VHDX version ${hdr.Version} is not supported`);

  // Everything past the headers is read as it is after log replay.
  const src = hdr.LogGuid.every((x) => x === 0) ? file : await replayLog(file, hdr, ctx);

  let regions = parseRegionTable(await readExact(src, 192 * KiB, 64 * KiB, 'region table'));
  if (!regions) {
    regions = parseRegionTable(await readExact(src, 256 * KiB, 64 * KiB, 'region table copy'));
    if (!regions) throw corrupt(name, 'neither VHDX region table is valid (signature or CRC-32C checksum wrong)');
    ctx.warn(`first VHDX region table is damaged; using the copy`, name);
  }
  let batRegion: Region | undefined;
  let mdRegion: Region | undefined;
  for (const r of regions) {
    if (r.Guid.equals(BAT_GUID)) batRegion = r;
    else if (r.Guid.equals(METADATA_GUID)) mdRegion = r;
    else if (r.Required & 1) throw unsupported(name, `VHDX required region ${guidString(r.Guid)} is not supported`);
  }
  if (!batRegion || !mdRegion) throw corrupt(name, `VHDX region table lacks the ${batRegion ? 'metadata region' : 'BAT'}`);
  for (const r of [batRegion, mdRegion]) {
    if (r.FileOffset < MiB || r.FileOffset + r.Length > src.size) throw corrupt(name, `truncated: VHDX region at ${r.FileOffset} (${r.Length} bytes) is outside the file (${src.size} bytes)`);
  }
  const md = await readMetadata(src, mdRegion, name);
  const bs = md.BlockSize;
  if (bs < MiB || bs > 256 * MiB || (bs & (bs - 1)) !== 0) throw corrupt(name, `VHDX block size ${bs} is invalid`);
  if (md.LogicalSectorSize !== 512 && md.LogicalSectorSize !== 4096) throw corrupt(name, `VHDX logical sector size ${md.LogicalSectorSize} is invalid`);
  const size = md.VirtualDiskSize;
  if (size <= 0 || size > 64 * 2 ** 40 || size % md.LogicalSectorSize) throw corrupt(name, `VHDX virtual disk size ${size} is invalid`);
  const chunkRatio = (2 ** 23 * md.LogicalSectorSize) / bs;
  const dataBlocks = Math.ceil(size / bs);
  const bitmapBlocks = Math.ceil(dataBlocks / chunkRatio);
  const entries = md.HasParent ? bitmapBlocks * (chunkRatio + 1) : dataBlocks + Math.floor((dataBlocks - 1) / chunkRatio);
  if (entries * 8 > batRegion.Length) throw corrupt(name, `VHDX BAT region of ${batRegion.Length} bytes is too small for ${entries} entries`);
  const bat = new PagedTable(src, batRegion.FileOffset, entries, 8, 'BAT');
  // FileOffsetMB is bits 20-63; payload blocks (FULLY/PARTIALLY_PRESENT) hold BlockSize bytes,
  // sector bitmap blocks (every chunkRatio+1-th entry, PRESENT = 6) 1 MiB.
  checkFileEnd(ctx, src, await tableEnd(ctx, src, batRegion.FileOffset, entries, 8, (i, v) => {
    const state = v % 8;
    if (state !== PAYLOAD_BLOCK_FULLY_PRESENT && state !== PAYLOAD_BLOCK_PARTIALLY_PRESENT) return 0;
    const off = Math.floor(v / MiB) * MiB;
    return off + ((i + 1) % (chunkRatio + 1) === 0 ? MiB : bs);
  }), 'BAT entries');

  let parent: Container | null = null;
  if (md.HasParent) {
    const loc = md.parentLocator!;
    const hints = ['relative_path', 'absolute_win32_path'].map((k) => loc.get(k)).filter((v): v is string => !!v).map(windowsToHostPath);
    const linkage = [loc.get('parent_linkage'), loc.get('parent_linkage2')].filter((v): v is string => !!v).map((s) => s.replace(/[{}]/g, '').toLowerCase());
    if (!linkage.length) throw corrupt(name, 'VHDX parent locator has no parent_linkage');
    parent = await ctx.openParent({
      paths: hints,
      check: (p) => {
        if (!(p instanceof VhdxContainer)) return null;
        const dwg = guidString(p.dataWriteGuid);
        return linkage.includes(dwg) ? null : `its DataWriteGuid is {${dwg}}, this differencing disk needs {${linkage[0]}} (the parent changed after the child was made)`;
      },
    }, name);
    if (parent.sectorSize !== md.LogicalSectorSize) {
      ctx.warn(`parent ${parent.name} has ${parent.sectorSize}-byte sectors, this disk ${md.LogicalSectorSize}`, name);
    }
  }
  return new VhdxContainer(src, md, bat, parent, hdr.DataWriteGuid);
}

export const vhdxFormat: ContainerFormat = {
  name: 'vhdx',
  probe: probeVhdx,
  open: openVhdx,
};
