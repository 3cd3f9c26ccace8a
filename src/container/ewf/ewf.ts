/**
 * EWF-E01 (EnCase / ewfacquire ".E01", ".E02" … segment files): the media is cut into chunks
 * (sectors_per_chunk × bytes_per_sector, 32 KiB usually), each stored either as is (followed by
 * its Adler-32) or zlib-compressed; "table" sections list where each chunk is, segment by
 * segment. See docs/formats/ewf.md and sections.ts.
 */
import { Lru } from '../../source/lru.js';
import { corrupt, unsupported, cannotOpen } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import type { Container, ContainerFormat, OpenContext } from '../container.js';
import { MappedContainer, type Piece } from '../mapped.js';
import { inflateInto } from '../inflate.js';
import {
  adler32, FILE_HEADER_SIZE, parseFileHeader, parseHeaderSection, parseSectionDescriptor, parseTableSection,
  parseVolumeSection, SECTION_DESCRIPTOR_SIZE, type VolumeSection,
} from './sections.js';
import { openEwf2 } from './ewf2.js';
import { EVF2_SIGNATURE } from './ewf2-sections.js';
import { LEF2_SIGNATURE, LVF_SIGNATURE, probeEwf } from '../magic.js';

/** Sections per segment file, at most (a real one has a dozen or a few hundred tables). */
const MAX_SECTIONS = 1 << 16;
/** .E01 … .E99, .EAA … .ZZZ: 14 971 names. */
export const MAX_SEGMENTS = 14_971;
/** 2^28 chunks of 32 KiB: 8 TiB. The chunk index costs 15 bytes a chunk. */
export const MAX_CHUNKS = 1 << 28;
export const MAX_CHUNK_BYTES = 64 << 20;
export const HEADER_TEXT_MAX = 1 << 20;
/** Decoded compressed chunks kept (by count): 64 × 32 KiB. */
const CACHE_CHUNKS = 64;

/** The name of segment `n` (1-based) next to `first`: E01…E99, then EAA…EZZ, FAA…ZZZ (case as in `first`). */
export function segmentName(first: string, n: number): string {
  const dot = first.lastIndexOf('.');
  const ext = first.slice(dot + 1);
  const lower = ext === ext.toLowerCase();
  let suffix: string;
  if (n < 100) suffix = `${ext[0]}${String(n).padStart(2, '0')}`;
  else {
    let k = n - 100;
    const c3 = k % 26;
    k = Math.floor(k / 26);
    const c2 = k % 26;
    k = Math.floor(k / 26);
    const c1 = ext[0]!.toUpperCase().charCodeAt(0) + k;
    suffix = String.fromCharCode(c1) + String.fromCharCode(65 + c2) + String.fromCharCode(65 + c3);
  }
  return first.slice(0, dot + 1) + (lower ? suffix.toLowerCase() : suffix.toUpperCase());
}

export interface Segment {
  src: ByteSource;
  /** [start, end) of each "sectors" section's data: where chunks lie. */
  dataAreas: Array<[number, number]>;
}

/** What both EWF forms give the container: the media geometry and where every chunk is. */
export interface ChunkIndex {
  segment: number[];
  offset: number[];
  stored: number[];
  compressed: boolean[];
  /** EWF2 pattern fill: chunk index → the 8 bytes the chunk repeats (no stored data). */
  patterns?: Map<number, Buffer>;
}

export interface MediaGeometry {
  number_of_sectors: number;
  bytes_per_sector: number;
  sectors_per_chunk: number;
}

export class EwfContainer extends MappedContainer {
  readonly format = 'ewf';
  readonly variant: string;
  readonly chunkSize: number;
  /** Per chunk: segment index, offset in that segment, stored size, compressed. */
  private readonly chunkSegment: Uint16Array;
  private readonly chunkOffset: Float64Array;
  private readonly chunkStored: Uint32Array;
  private readonly chunkCompressed: Uint8Array;
  private readonly cache = new Lru<number, Buffer>(CACHE_CHUNKS);
  private readonly patterns: Map<number, Buffer>;
  /** One filled chunk per distinct pattern (in practice: zeros). */
  private readonly filled = new Lru<string, Buffer>(16);
  /** Acquiry facts (header section) for info. */
  readonly details: Record<string, string>;
  /** Digests the image stores (hash/digest sections), lower-case hex. */
  readonly storedDigests: { md5?: string; sha1?: string };

  constructor(
    private readonly segments: Segment[],
    volume: MediaGeometry,
    chunks: ChunkIndex,
    acquiry: Record<string, string>,
    digests: { md5?: string; sha1?: string },
    variant: string,
  ) {
    super(segments[0]!.src, volume.number_of_sectors * volume.bytes_per_sector, null, segments.slice(1).map((s) => s.src));
    this.sectorSize = volume.bytes_per_sector;
    this.chunkSize = volume.sectors_per_chunk * volume.bytes_per_sector;
    this.variant = variant;
    const n = chunks.offset.length;
    this.chunkSegment = Uint16Array.from(chunks.segment);
    this.chunkOffset = Float64Array.from(chunks.offset);
    this.chunkStored = Uint32Array.from(chunks.stored);
    this.chunkCompressed = Uint8Array.from(chunks.compressed.map((c) => (c ? 1 : 0)));
    this.patterns = chunks.patterns ?? new Map();
    this.details = { ...acquiry, 'chunk size': String(this.chunkSize), chunks: String(n) };
    if (digests.md5) this.details['stored MD5'] = digests.md5;
    if (digests.sha1) this.details['stored SHA1'] = digests.sha1;
    this.storedDigests = digests;
  }

  /** Bytes chunk `ci` holds (the last one may be short). */
  private chunkLength(ci: number): number {
    return Math.min(this.chunkSize, this.size - ci * this.chunkSize);
  }

  protected async map(offset: number, length: number): Promise<Piece[]> {
    const ci = Math.floor(offset / this.chunkSize);
    const inChunk = offset - ci * this.chunkSize;
    const len = this.chunkLength(ci);
    const take = Math.min(len - inChunk, length);
    if (ci >= this.chunkOffset.length) throw corrupt(this.name, `EWF: chunk ${ci} is not in any table (the image lists ${this.chunkOffset.length})`);
    const seg = this.segments[this.chunkSegment[ci]!]!;
    const pattern = this.patterns.size ? this.patterns.get(ci) : undefined;
    if (pattern) return [{ kind: 'buffer', length: take, data: this.patternChunk(pattern).subarray(inChunk) }];
    if (!this.chunkCompressed[ci]) {
      if (this.chunkStored[ci]! < len) throw corrupt(seg.src.name, `EWF: chunk ${ci} is stored in ${this.chunkStored[ci]} bytes, needs ${len}`);
      return [{ kind: 'host', length: take, offset: this.chunkOffset[ci]! + inChunk, src: seg.src }];
    }
    const data = await this.decoded(ci, len, seg);
    return [{ kind: 'buffer', length: take, data: inChunk ? data.subarray(inChunk) : data }];
  }

  private patternChunk(pattern: Buffer): Buffer {
    const key = pattern.toString('hex');
    let b = this.filled.get(key);
    if (!b) {
      b = Buffer.alloc(this.chunkSize);
      for (let i = 0; i < b.length; i += 8) pattern.copy(b, i);
      this.filled.set(key, b);
    }
    return b;
  }

  private async decoded(ci: number, len: number, seg: Segment): Promise<Buffer> {
    const hit = this.cache.get(ci);
    if (hit) return hit;
    const raw = await readExact(seg.src, this.chunkOffset[ci]!, this.chunkStored[ci]!, `EWF chunk ${ci}`);
    const out = Buffer.allocUnsafe(len);
    let r;
    try {
      r = inflateInto('zlib', raw, out, 0, len, false);
    } catch (err) {
      throw corrupt(seg.src.name, `EWF: chunk ${ci} does not decompress (${(err as Error).message})`);
    }
    if (r.written !== len) throw corrupt(seg.src.name, `EWF: chunk ${ci} decompresses to ${r.written} bytes, expected ${len}`);
    this.cache.set(ci, out);
    return out;
  }
}

export function decodeDigest(b: Buffer, at: number, n: number): string | undefined {
  const d = b.subarray(at, at + n);
  return d.length === n && d.some((x) => x !== 0) ? d.toString('hex') : undefined;
}

async function openEwf(first: ByteSource, ctx: OpenContext): Promise<Container> {
  const head = await readExact(first, 0, FILE_HEADER_SIZE, 'EWF file header');
  const fh = parseFileHeader(head);
  if (!fh) throw corrupt(first.name, 'EWF: bad file header');
  if (fh.segment_number !== 1) throw cannotOpen(first.name, `EWF: this is segment ${fh.segment_number}; open the first segment file (.E01)`);
  const segments: Segment[] = [];
  let volume: VolumeSection | null = null;
  const chunks = { segment: [] as number[], offset: [] as number[], stored: [] as number[], compressed: [] as boolean[] };
  let acquiry: Record<string, string> = {};
  const digests: { md5?: string; sha1?: string } = {};
  let src = first;
  for (let segNo = 1; ; segNo++) {
    if (segNo > 1) {
      const h = parseFileHeader(await readExact(src, 0, FILE_HEADER_SIZE, 'EWF file header'));
      if (!h) throw corrupt(src.name, 'EWF: bad file header');
      if (h.segment_number !== segNo) throw corrupt(src.name, `EWF: segment file says it is segment ${h.segment_number}, expected ${segNo}`);
    }
    const seg: Segment = { src, dataAreas: [] };
    segments.push(seg);
    const segIndex = segments.length - 1;
    let at = FILE_HEADER_SIZE;
    let next = false;
    let done = false;
    let lastTableOk = true;
    for (let i = 0; ; i++) {
      if (i >= MAX_SECTIONS) throw corrupt(src.name, `EWF: more than ${MAX_SECTIONS} sections in one segment`);
      const d = parseSectionDescriptor(await readExact(src, at, SECTION_DESCRIPTOR_SIZE, 'EWF section descriptor'), at);
      if (!d.checksumOk) throw corrupt(src.name, `EWF: section descriptor at offset ${at} has a bad checksum`);
      const dataStart = at + SECTION_DESCRIPTOR_SIZE;
      const dataLen = Math.max(0, d.section_size - SECTION_DESCRIPTOR_SIZE);
      const data = () => readExact(src, dataStart, Math.min(dataLen, 64 << 20), `EWF ${d.type} section`);
      switch (d.type) {
        case 'header2':
        case 'header':
          if (Object.keys(acquiry).length === 0 || d.type === 'header2') {
            try {
              acquiry = parseHeaderSection(await data(), d.type === 'header2', HEADER_TEXT_MAX);
            } catch {
              ctx.warn(`EWF: the ${d.type} section does not decompress; acquiry facts not shown`, src.name);
            }
          }
          break;
        case 'volume':
        case 'disk':
        case 'data':
          if (!volume) volume = parseVolumeSection(await readExact(src, dataStart, Math.min(dataLen, 1052), `EWF ${d.type} section`));
          break;
        case 'sectors':
          seg.dataAreas.push([dataStart, at + d.section_size]);
          break;
        case 'table':
        case 'table2': {
          // table2 mirrors table: used only when table was damaged.
          if (d.type === 'table2' && lastTableOk) break;
          if (!volume) throw corrupt(src.name, 'EWF: a table section before the volume section');
          const t = parseTableSection(await data(), MAX_CHUNKS);
          if (typeof t === 'string') throw corrupt(src.name, `EWF: ${d.type} at offset ${at}: ${t}`);
          if (d.type === 'table' && (!t.headerOk || !t.entriesOk)) {
            lastTableOk = false;
            ctx.warn(`EWF: table at offset ${at} has a bad checksum; its mirror (table2) is used`, src.name);
            break;
          }
          lastTableOk = true;
          if (chunks.offset.length + t.entries.length > MAX_CHUNKS) throw corrupt(src.name, `EWF: more than ${MAX_CHUNKS} chunks`);
          const offs: number[] = [];
          for (const e of t.entries) offs.push(t.base_offset + (e & 0x7fffffff));
          for (let k = 0; k < offs.length; k++) {
            const off = offs[k]!;
            const compressed = (t.entries[k]! & 0x80000000) !== 0;
            let end: number;
            if (k + 1 < offs.length && offs[k + 1]! > off) end = offs[k + 1]!;
            else {
              const area = seg.dataAreas.find(([s, e]) => off >= s && off < e);
              end = area ? area[1] : Math.min(src.size, off + volume.sectors_per_chunk * volume.bytes_per_sector + 4);
            }
            if (k + 1 < offs.length && offs[k + 1]! < off) {
              throw unsupported(src.name, 'EWF: chunk offsets past 2 GiB without a base offset (segment files of old EnCase versions) are not supported');
            }
            if (end - off > MAX_CHUNK_BYTES) throw corrupt(src.name, `EWF: chunk ${chunks.offset.length} claims ${end - off} bytes`);
            chunks.segment.push(segIndex);
            chunks.offset.push(off);
            chunks.stored.push(end - off);
            chunks.compressed.push(compressed);
          }
          break;
        }
        case 'hash': {
          const b = await data();
          digests.md5 ??= decodeDigest(b, 0, 16);
          break;
        }
        case 'digest': {
          const b = await data();
          digests.md5 = decodeDigest(b, 0, 16) ?? digests.md5;
          digests.sha1 = decodeDigest(b, 16, 20) ?? digests.sha1;
          break;
        }
        case 'next':
          next = true;
          break;
        case 'done':
          done = true;
          break;
        default:
          break;
      }
      if (next || done) break;
      if (d.next_offset <= at) throw corrupt(src.name, `EWF: section at offset ${at} points back to offset ${d.next_offset} (a loop)`);
      at = d.next_offset;
    }
    if (done) break;
    if (segNo >= MAX_SEGMENTS) throw corrupt(first.name, `EWF: more than ${MAX_SEGMENTS} segment files`);
    src = await ctx.openReferenced(segmentName(first.name, segNo + 1), first.name, 'EWF segment file');
  }
  if (!volume) throw corrupt(first.name, 'EWF: no volume section');
  const v = volume;
  if (![512, 1024, 2048, 4096].includes(v.bytes_per_sector)) throw corrupt(first.name, `EWF: ${v.bytes_per_sector} bytes per sector`);
  const cs = v.sectors_per_chunk * v.bytes_per_sector;
  if (v.sectors_per_chunk === 0 || (v.sectors_per_chunk & (v.sectors_per_chunk - 1)) !== 0 || cs > MAX_CHUNK_BYTES) {
    throw corrupt(first.name, `EWF: ${v.sectors_per_chunk} sectors per chunk`);
  }
  const size = v.number_of_sectors * v.bytes_per_sector;
  if (!Number.isSafeInteger(size)) throw corrupt(first.name, 'EWF: media size out of range');
  const needed = Math.ceil(size / cs);
  if (chunks.offset.length < needed) throw corrupt(first.name, `EWF: the tables list ${chunks.offset.length} chunks, the media needs ${needed} (a segment file missing?)`);
  const c = new EwfContainer(segments, v, chunks, acquiry, digests, segments.length > 1 ? `E01, ${segments.length} segments` : 'E01');
  return c;
}

export const ewfFormat: ContainerFormat = {
  name: 'ewf',
  probe: probeEwf,
  open: async (src, ctx) => {
    const sig = await readExact(src, 0, 8, 'EWF signature');
    if (sig.equals(EVF2_SIGNATURE)) return openEwf2(src, ctx);
    if (sig.equals(LEF2_SIGNATURE) || sig.equals(LVF_SIGNATURE)) throw unsupported(src.name, 'EWF logical evidence files (.L01/.Lx01) hold files, not a disk: not supported');
    return openEwf(src, ctx);
  },
};

export { adler32 };
