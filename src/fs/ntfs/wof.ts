/**
 * WOF ("Windows Overlay Filter") system-compressed files, as `compact /exe:…` and CompactOS
 * write them. Such a file has:
 *   - a reparse point with tag IO_REPARSE_TAG_WOF (0x80000017) whose data is
 *       WOF_EXTERNAL_INFO                  { Version u32 = 1, Provider u32 (2 = file provider) }
 *       FILE_PROVIDER_EXTERNAL_INFO_V1     { Version u32 = 1, Algorithm u32 }
 *     Algorithm 0 XPRESS4K, 1 LZX (32 KiB chunks), 2 XPRESS8K, 3 XPRESS16K
 *     (Windows SDK wofapi.h / ntifs.h; libfsntfs documentation "Windows Overlay Filter");
 *   - an unnamed $DATA, sparse, whose data size is the file's logical size;
 *   - a $DATA named "WofCompressedData": a table of (chunks - 1) little-endian chunk offsets,
 *     4 bytes each (8 when the logical size is 4 GiB or more), relative to the end of the
 *     table (the first chunk's offset, 0, is implicit), then the chunks back to back.
 * Every chunk but the last stands for chunk-size bytes; a chunk whose stored size equals its
 * uncompressed size is stored raw, any other is one independent XPRESS Huffman / LZX stream.
 */
import { corrupt, unsupported } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { InFlight, Lru } from '../../source/lru.js';
import { readExact, readSpan } from '../../source/source.js';
import { decompressLzx } from './lzx.js';
import { decompressXpressHuffman } from './xpress.js';

export const IO_REPARSE_TAG_WOF = 0x80000017;
/** WOF_EXTERNAL_INFO.Provider values. */
export const WOF_PROVIDER_WIM = 1;
export const WOF_PROVIDER_FILE = 2;
/** The named $DATA that holds the compressed chunks. */
export const WOF_STREAM_NAME = 'WofCompressedData';

export interface WofAlgorithm {
  id: number;
  name: 'XPRESS4K' | 'LZX' | 'XPRESS8K' | 'XPRESS16K';
  chunkSize: number;
}

/** FILE_PROVIDER_COMPRESSION_* values. */
const ALGORITHMS: readonly WofAlgorithm[] = [
  { id: 0, name: 'XPRESS4K', chunkSize: 4096 },
  { id: 1, name: 'LZX', chunkSize: 32768 },
  { id: 2, name: 'XPRESS8K', chunkSize: 8192 },
  { id: 3, name: 'XPRESS16K', chunkSize: 16384 },
];

/** REPARSE_DATA_BUFFER header: ReparseTag u32, ReparseDataLength u16, Reserved u16. */
const REPARSE_HEADER_SIZE = 8;
/** WOF_EXTERNAL_INFO + FILE_PROVIDER_EXTERNAL_INFO_V1. */
const WOF_REPARSE_DATA_SIZE = 16;

/**
 * Parses WOF reparse data: either the whole reparse point (starting with the tag) or only the
 * data after its 8-byte header. Tells which algorithm compressed the file.
 */
export function parseWofReparseData(reparseData: Buffer, name: string): WofAlgorithm {
  let data = reparseData;
  // The data proper starts with WOF_EXTERNAL_INFO.Version (1), never with the tag.
  if (data.length >= REPARSE_HEADER_SIZE && data.readUInt32LE(0) === IO_REPARSE_TAG_WOF) {
    const len = data.readUInt16LE(4);
    data = data.subarray(REPARSE_HEADER_SIZE, REPARSE_HEADER_SIZE + len);
  }
  if (data.length < WOF_REPARSE_DATA_SIZE) throw corrupt(name, `WOF reparse data is ${data.length} bytes, needs ${WOF_REPARSE_DATA_SIZE}`);
  const wofVersion = data.readUInt32LE(0);
  const provider = data.readUInt32LE(4);
  if (wofVersion !== 1) throw unsupported(name, `WOF version ${wofVersion} is not supported`);
  if (provider === WOF_PROVIDER_WIM) throw unsupported(name, 'WIM-backed WOF file (WIMBoot): its data is in an external WIM, not supported');
  if (provider !== WOF_PROVIDER_FILE) throw unsupported(name, `WOF provider ${provider} is not supported`);
  const fileVersion = data.readUInt32LE(8);
  const algorithm = data.readUInt32LE(12);
  if (fileVersion !== 1) throw unsupported(name, `WOF file provider version ${fileVersion} is not supported`);
  const alg = ALGORITHMS[algorithm];
  if (!alg) throw unsupported(name, `WOF compression algorithm ${algorithm} is not supported`);
  return alg;
}

/**
 * The logical contents of a WOF-compressed file. `size` is the file's logical size (the
 * unnamed $DATA's data size), `wofStream` its WofCompressedData stream.
 */
export function openWofFile(reparseData: Buffer, wofStream: ByteSource, size: number, name: string): ByteSource {
  const alg = parseWofReparseData(reparseData, name);
  return new WofSource(alg, wofStream, size, name);
}

/** Decoded chunks kept: a few, so reads that straddle chunk borders never decode twice. */
const CACHE_CHUNKS = 8;
/** Chunk offsets are read in pages of this many entries. */
const TABLE_PAGE = 1024;
/** Compressed bytes fetched in one read when a read spans many chunks. */
const MAX_BATCH = 1 << 20;
/** Chunks decoded from one read. */
const MAX_BATCH_CHUNKS = 256;
/** Decoded chunks are cut from slabs of this size (see alloc()). */
const SLAB_SIZE = 256 * 1024;

export class WofSource implements ByteSource {
  readonly size: number;
  readonly chunkSize: number;
  private readonly chunkCount: number;
  private readonly entrySize: number;
  private readonly tableSize: number;
  /** Bytes of chunk data after the table. */
  private readonly dataSize: number;
  private readonly pages = new Lru<number, Float64Array>(16);
  private readonly chunks = new Lru<number, Buffer>(CACHE_CHUNKS);
  private readonly pending = new InFlight<number, Buffer>();
  private slab = Buffer.alloc(0);
  private slabUsed = 0;

  constructor(
    readonly algorithm: WofAlgorithm,
    private readonly stream: ByteSource,
    size: number,
    readonly name: string,
  ) {
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(name, `WOF file with an invalid size ${size}`);
    this.size = size;
    this.chunkSize = algorithm.chunkSize;
    this.chunkCount = Math.ceil(size / this.chunkSize);
    this.entrySize = size >= 2 ** 32 ? 8 : 4;
    this.tableSize = Math.max(0, this.chunkCount - 1) * this.entrySize;
    // Every chunk takes at least one byte: a stream too small for its table (or for one byte
    // per chunk) is cut short; checking here also bounds everything later by the stream size.
    if (stream.size < this.tableSize + this.chunkCount) {
      throw corrupt(name, `WofCompressedData is ${stream.size} bytes, too small for ${this.chunkCount} ${algorithm.name} chunks of a ${size}-byte file`);
    }
    this.dataSize = stream.size - this.tableSize;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const cs = this.chunkSize;
    const first = Math.floor(offset / cs);
    const last = Math.floor((offset + n - 1) / cs);
    if (first === last) {
      const c = await this.chunk(first);
      const at = offset - first * cs;
      return c.subarray(at, at + n);
    }
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    let i = first;
    while (i <= last) {
      // Chunks already decoded come from the cache; runs of missing ones are fetched with
      // one read of their compressed bytes and decoded in turn.
      const hit = this.chunks.get(i);
      if (hit) {
        done += this.copyChunk(hit, i, offset, out, done);
        i++;
        continue;
      }
      const batch = await this.decodeRun(i, last);
      for (const c of batch) {
        done += this.copyChunk(c, i, offset, out, done);
        i++;
      }
    }
    return out;
  }

  private copyChunk(c: Buffer, index: number, offset: number, out: Buffer, done: number): number {
    const start = Math.max(0, offset - index * this.chunkSize);
    return c.copy(out, done, start, Math.min(c.length, start + out.length - done));
  }

  async close(): Promise<void> {
    this.chunks.clear();
    this.pages.clear();
  }

  /** Uncompressed size of chunk `i` (the last one holds what remains). */
  private chunkLength(i: number): number {
    return Math.min(this.chunkSize, this.size - i * this.chunkSize);
  }

  private async chunk(i: number): Promise<Buffer> {
    const hit = this.chunks.get(i);
    if (hit) return hit;
    return this.pending.run(i, async () => (await this.decodeRun(i, i))[0]!);
  }

  /**
   * Decodes chunks first..wanted (stopping early at MAX_BATCH compressed bytes or
   * MAX_BATCH_CHUNKS chunks) from one read of the stream; returns at least chunk `first`.
   */
  private async decodeRun(first: number, wanted: number): Promise<Buffer[]> {
    // At most MAX_BATCH_CHUNKS, so their table entries span at most two pages; those are
    // loaded up front so the rest is synchronous.
    const last = Math.min(wanted, first + MAX_BATCH_CHUNKS - 1);
    await this.loadEntries(first, last + 1);
    const start = this.offsetOf(first);
    let stop = first + 1;
    let end = this.offsetOf(stop);
    while (stop <= last && this.offsetOf(stop + 1) - start <= MAX_BATCH) end = this.offsetOf(++stop);
    const data = await readExact(this.stream, this.tableSize + start, end - start, 'WOF chunk data');
    const out: Buffer[] = [];
    for (let i = first; i < stop; i++) {
      const from = this.offsetOf(i) - start;
      const c = this.decodeChunk(i, data.subarray(from, this.offsetOf(i + 1) - start));
      this.chunks.set(i, c);
      out.push(c);
    }
    return out;
  }

  private decodeChunk(i: number, stored: Buffer): Buffer {
    const len = this.chunkLength(i);
    if (stored.length === len) return stored;
    if (stored.length > len) throw corrupt(this.name, `WOF chunk ${i} is ${stored.length} bytes stored for ${len} bytes of data`);
    const where = `${this.name} (${this.algorithm.name} chunk ${i})`;
    const into = this.alloc(len);
    if (this.algorithm.name === 'LZX') return decompressLzx(stored, len, 32768, where, into);
    return decompressXpressHuffman(stored, len, where, into);
  }

  /**
   * Output space for one decoded chunk, cut from a shared slab: Node allocates buffers of
   * 4 KiB and more one by one, which costs more than decoding a 4 KiB chunk.
   */
  private alloc(n: number): Buffer {
    if (this.slab.length - this.slabUsed < n) {
      this.slab = Buffer.allocUnsafeSlow(Math.max(SLAB_SIZE, n));
      this.slabUsed = 0;
    }
    const b = this.slab.subarray(this.slabUsed, this.slabUsed + n);
    this.slabUsed += n;
    return b;
  }

  /** Loads the table pages that hold the offsets of chunks first..last. */
  private async loadEntries(first: number, last: number): Promise<void> {
    const lo = Math.max(1, first);
    const hi = Math.min(last, this.chunkCount - 1);
    for (let page = Math.floor((lo - 1) / TABLE_PAGE); lo <= hi && page <= Math.floor((hi - 1) / TABLE_PAGE); page++) {
      if (this.pages.has(page)) continue;
      const entries = await this.loadPage(page);
      this.pages.set(page, entries);
    }
  }

  /**
   * Where chunk `i` starts, relative to the end of the table; offsetOf(chunkCount) is the end
   * of the data. Its table page must be loaded (loadEntries). Offsets were checked to rise and
   * stay inside the stream when the page was loaded.
   */
  private offsetOf(i: number): number {
    if (i <= 0) return 0;
    if (i >= this.chunkCount) return this.dataSize;
    const page = this.pages.get(Math.floor((i - 1) / TABLE_PAGE));
    if (!page) throw new Error(`WofSource: table page of chunk ${i} not loaded`);
    return page[(i - 1) % TABLE_PAGE]!;
  }

  private async loadPage(page: number): Promise<Float64Array> {
    const firstEntry = page * TABLE_PAGE;
    const count = Math.min(TABLE_PAGE, this.chunkCount - 1 - firstEntry);
    const raw = await readExact(this.stream, firstEntry * this.entrySize, count * this.entrySize, 'WOF chunk table');
    const entries = new Float64Array(count);
    // The entry before this page bounds the first one from below.
    let prev = firstEntry === 0 ? 0 : await this.entryBefore(firstEntry);
    for (let k = 0; k < count; k++) {
      const v = this.entrySize === 4 ? raw.readUInt32LE(k * 4) : Number(raw.readBigUInt64LE(k * 8));
      const index = firstEntry + k + 1;
      // Each chunk holds at least one byte and at most its uncompressed size.
      if (v <= prev || v - prev > this.chunkSize || v > this.dataSize - (this.chunkCount - index)) {
        throw corrupt(this.name, `WOF chunk table: chunk ${index} starts at ${v}, after chunk ${index - 1} at ${prev} (of ${this.dataSize} bytes)`);
      }
      entries[k] = v;
      prev = v;
    }
    const lastLen = this.chunkLength(this.chunkCount - 1);
    if (firstEntry + count === this.chunkCount - 1 && this.dataSize - prev > lastLen) {
      throw corrupt(this.name, `WOF chunk table: the last chunk is ${this.dataSize - prev} bytes stored for ${lastLen} bytes of data`);
    }
    return entries;
  }

  /** Table entry `entry - 1` (the offset of chunk `entry`), read on its own. */
  private async entryBefore(entry: number): Promise<number> {
    const raw = await readExact(this.stream, (entry - 1) * this.entrySize, this.entrySize, 'WOF chunk table');
    return this.entrySize === 4 ? raw.readUInt32LE(0) : Number(raw.readBigUInt64LE(0));
  }
}
