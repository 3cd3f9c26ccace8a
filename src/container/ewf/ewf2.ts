/**
 * EWF2-Ex01 (EnCase 7+ ".Ex01", ".Ex02" … segment files): each segment file is read from its
 * last section descriptor backwards (every descriptor names the previous one), then its
 * sections in order: device information (media size), case data (chunk size, acquiry facts),
 * sector data, sector tables (chunk offset, size and flags: compressed / checksummed / pattern
 * fill), MD5 and SHA1 hash sections, then "next" or "done". The chunks themselves are what
 * EWF-E01 stores (zlib streams, or data + Adler-32), so the container is the E01 one
 * (EwfContainer in ewf.ts). See docs/formats/ewf.md and ewf2-sections.ts.
 */
import { corrupt, DiskpickError, unsupported, cannotOpen } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import type { Container, OpenContext } from '../container.js';
import {
  CASE_DATA_KEYS, CHUNK_COMPRESSED, CHUNK_PATTERNFILL, COMPRESSION_BZIP2, COMPRESSION_LZ, COMPRESSION_NONE, DATA_FLAG_ENCRYPTED,
  DEVICE_INFORMATION_KEYS, FILE_HEADER_V2_SIZE, parseFileHeaderV2, parseHashSection, parseObjectString, parseSectionDescriptorV2,
  parseSectorTable, SECTION, SECTION_DESCRIPTOR_V2_SIZE, type FileHeaderV2, type SectionDescriptorV2,
} from './ewf2-sections.js';
import { EwfContainer, HEADER_TEXT_MAX, MAX_CHUNK_BYTES, MAX_CHUNKS, MAX_SEGMENTS, type ChunkIndex, type Segment } from './ewf.js';

/** Sections per segment file, at most (a real one has a few per 64 MiB of sector data). */
const MAX_SECTIONS = 1 << 16;
/** A sector table is read whole: 4 Mi entries at most (EnCase writes a table per 64 MiB or so of data). */
const MAX_TABLE_BYTES = 64 << 20;
/** Serialized object strings are a few hundred bytes; a hostile one stops here. */
const MAX_OBJECT_DATA = 1 << 20;

/**
 * The name of segment `n` (1-based) next to `first` (".Ex01"): Ex01…Ex99, then ExAA…ExZZ,
 * EyAA…EzZZ (libewf's list; case as in `first`).
 */
export function segmentNameV2(first: string, n: number): string {
  const dot = first.lastIndexOf('.');
  const ext = first.slice(dot + 1);
  // The letters follow the case of the first one ("Ex01" → "ExAA", "ex01" → "exaa").
  const lower = ext[0] !== undefined && ext[0] === ext[0].toLowerCase();
  let suffix: string;
  if (n < 100) suffix = ext.slice(0, 2) + String(n).padStart(2, '0');
  else {
    let k = n - 100;
    const c3 = k % 26;
    k = Math.floor(k / 26);
    const c2 = k % 26;
    k = Math.floor(k / 26);
    const x = ext[1] ?? 'x';
    const second = String.fromCharCode(x.charCodeAt(0) + k);
    const letters = String.fromCharCode(65 + c2) + String.fromCharCode(65 + c3);
    suffix = ext[0]! + second + (lower ? letters.toLowerCase() : letters);
  }
  return first.slice(0, dot + 1) + suffix;
}

/** The sections of one segment file, in file order, found by walking the descriptors back from its end. */
async function sectionsOf(src: ByteSource): Promise<SectionDescriptorV2[]> {
  const out: SectionDescriptorV2[] = [];
  let at = src.size - SECTION_DESCRIPTOR_V2_SIZE;
  if (at < FILE_HEADER_V2_SIZE) throw corrupt(src.name, 'EWF2: segment file too short for a section');
  for (;;) {
    if (out.length >= MAX_SECTIONS) throw corrupt(src.name, `EWF2: more than ${MAX_SECTIONS} sections in one segment`);
    const d = parseSectionDescriptorV2(await readExact(src, at, SECTION_DESCRIPTOR_V2_SIZE, 'EWF2 section descriptor'), at);
    if (!d.checksumOk) throw corrupt(src.name, `EWF2: section descriptor at offset ${at} has a bad checksum`);
    out.push(d);
    if (d.previous_offset === 0) break;
    if (d.previous_offset >= at || d.previous_offset < FILE_HEADER_V2_SIZE) {
      throw corrupt(src.name, `EWF2: section at offset ${at} names its previous section at offset ${d.previous_offset} (not before it)`);
    }
    at = d.previous_offset;
  }
  return out.reverse();
}

/** Where a section's data starts: after the previous section's descriptor (or the file header). */
function dataStart(sections: SectionDescriptorV2[], i: number): number {
  return i === 0 ? FILE_HEADER_V2_SIZE : sections[i - 1]!.offset + SECTION_DESCRIPTOR_V2_SIZE;
}

function num(src: ByteSource, v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v)) throw corrupt(src.name, `EWF2: ${what} missing or not a number (${JSON.stringify(v ?? '')})`);
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw corrupt(src.name, `EWF2: ${what} out of range`);
  return n;
}

function timestamp(v: string): string {
  return /^\d+$/.test(v) ? new Date(Number(v) * 1000).toISOString() : v;
}

export async function openEwf2(first: ByteSource, ctx: OpenContext): Promise<Container> {
  const fh = parseFileHeaderV2(await readExact(first, 0, FILE_HEADER_V2_SIZE, 'EWF2 file header'));
  if (!fh) throw corrupt(first.name, 'EWF2: bad file header');
  if (fh.major_version !== 2) throw unsupported(first.name, `EWF2: format version ${fh.major_version}.${fh.minor_version} is not supported (2.x is)`);
  if (fh.segment_file_number !== 1) throw cannotOpen(first.name, `EWF2: this is segment ${fh.segment_file_number}; open the first segment file (.Ex01)`);
  const segments: Segment[] = [];
  const chunks: ChunkIndex = { segment: [], offset: [], stored: [], compressed: [], patterns: new Map() };
  let device: Record<string, string> | null = null;
  let caseData: Record<string, string> | null = null;
  const digests: { md5?: string; sha1?: string } = {};
  let src = first;
  let header: FileHeaderV2 = fh;
  for (let segNo = 1; ; segNo++) {
    if (segNo > 1) {
      const h = parseFileHeaderV2(await readExact(src, 0, FILE_HEADER_V2_SIZE, 'EWF2 file header'));
      if (!h) throw corrupt(src.name, 'EWF2: bad file header');
      if (h.segment_file_number !== segNo) throw corrupt(src.name, `EWF2: segment file says it is segment ${h.segment_file_number}, expected ${segNo}`);
      if (h.set_identifier !== fh.set_identifier) throw corrupt(src.name, 'EWF2: segment file belongs to another image (set identifier differs)');
      header = h;
    }
    if (header.compression_method === COMPRESSION_BZIP2) throw unsupported(src.name, 'EWF2: bzip2-compressed images are not supported (zlib ones are)');
    if (header.compression_method !== COMPRESSION_LZ && header.compression_method !== COMPRESSION_NONE) {
      throw corrupt(src.name, `EWF2: unknown compression method ${header.compression_method}`);
    }
    const seg: Segment = { src, dataAreas: [] };
    segments.push(seg);
    const segIndex = segments.length - 1;
    const sections = await sectionsOf(src);
    const last = sections[sections.length - 1]!;
    for (let i = 0; i < sections.length; i++) {
      const d = sections[i]!;
      const start = dataStart(sections, i);
      if (d.offset < start || d.data_size > d.offset - start) throw corrupt(src.name, `EWF2: section at offset ${d.offset} claims ${d.data_size} bytes of data, the section holds ${d.offset - start}`);
      if (d.data_flags & DATA_FLAG_ENCRYPTED || d.type === SECTION.encryption_keys) {
        throw unsupported(src.name, 'EWF2: encrypted Ex01 images are not supported (EnCase does not publish the encryption)');
      }
      const data = () => readExact(src, start, d.data_size, `EWF2 section ${d.type}`);
      const object = async (what: string) => {
        if (d.data_size > MAX_OBJECT_DATA) throw corrupt(src.name, `EWF2: ${what} section of ${d.data_size} bytes`);
        try {
          return parseObjectString(await data(), header.compression_method, HEADER_TEXT_MAX);
        } catch (err) {
          if (err instanceof DiskpickError) throw err;
          throw corrupt(src.name, `EWF2: the ${what} section does not decompress`);
        }
      };
      switch (d.type) {
        case SECTION.device_information:
          device ??= await object('device information');
          break;
        case SECTION.case_data:
          caseData ??= await object('case data');
          break;
        case SECTION.sector_data:
          seg.dataAreas.push([start, d.offset]);
          break;
        case SECTION.sector_table: {
          if (d.data_size > MAX_TABLE_BYTES) throw corrupt(src.name, `EWF2: sector table at offset ${d.offset} of ${d.data_size} bytes`);
          const t = parseSectorTable(await data(), MAX_CHUNKS);
          if (typeof t === 'string') throw corrupt(src.name, `EWF2: sector table at offset ${d.offset}: ${t}`);
          if (!t.headerOk || !t.entriesOk) throw corrupt(src.name, `EWF2: sector table at offset ${d.offset} has a bad checksum`);
          if (t.first_chunk_number !== chunks.offset.length) {
            throw corrupt(src.name, `EWF2: sector table at offset ${d.offset} starts at chunk ${t.first_chunk_number}, expected ${chunks.offset.length}`);
          }
          if (chunks.offset.length + t.number_of_entries > MAX_CHUNKS) throw corrupt(src.name, `EWF2: more than ${MAX_CHUNKS} chunks`);
          for (let k = 0; k < t.number_of_entries; k++) {
            const e = t.entry(k);
            const ci = chunks.offset.length;
            const compressed = (e.chunk_data_flags & CHUNK_COMPRESSED) !== 0;
            // Pattern fill counts only with COMPRESSED (as libewf reads it).
            if (compressed && e.chunk_data_flags & CHUNK_PATTERNFILL) {
              chunks.patterns!.set(ci, Buffer.from(e.pattern));
              chunks.segment.push(segIndex);
              chunks.offset.push(0);
              chunks.stored.push(0);
              chunks.compressed.push(false);
              continue;
            }
            if (e.chunk_data_size > MAX_CHUNK_BYTES || !Number.isSafeInteger(e.chunk_data_offset) || e.chunk_data_offset + e.chunk_data_size > src.size) {
              throw corrupt(src.name, `EWF2: chunk ${ci} lies at ${e.chunk_data_offset} (+${e.chunk_data_size}), outside the segment file`);
            }
            chunks.segment.push(segIndex);
            chunks.offset.push(e.chunk_data_offset);
            chunks.stored.push(e.chunk_data_size);
            chunks.compressed.push(compressed);
          }
          break;
        }
        case SECTION.md5_hash:
          digests.md5 = parseHashSection(await readExact(src, start, Math.min(d.data_size, 64), 'EWF2 MD5 hash'), 16) ?? digests.md5;
          break;
        case SECTION.sha1_hash:
          digests.sha1 = parseHashSection(await readExact(src, start, Math.min(d.data_size, 64), 'EWF2 SHA1 hash'), 20) ?? digests.sha1;
          break;
        default:
          break;
      }
    }
    if (last.type === SECTION.done) break;
    if (last.type !== SECTION.next) throw corrupt(src.name, `EWF2: the last section is of type ${last.type}, neither "next" nor "done" (a cut-short segment file?)`);
    if (segNo >= MAX_SEGMENTS) throw corrupt(first.name, `EWF2: more than ${MAX_SEGMENTS} segment files`);
    src = await ctx.openReferenced(segmentNameV2(first.name, segNo + 1), first.name, 'EWF2 segment file');
  }
  if (!device) throw corrupt(first.name, 'EWF2: no device information section');
  if (!caseData) throw corrupt(first.name, 'EWF2: no case data section');
  const bytesPerSector = device.bp ? num(first, device.bp, 'bytes per sector (bp)') : 512;
  const geometry = {
    number_of_sectors: num(first, device.ts, 'number of sectors (ts)'),
    bytes_per_sector: bytesPerSector,
    sectors_per_chunk: num(first, caseData.sb, 'sectors per chunk (sb)'),
  };
  if (![512, 1024, 2048, 4096].includes(geometry.bytes_per_sector)) throw corrupt(first.name, `EWF2: ${geometry.bytes_per_sector} bytes per sector`);
  const spc = geometry.sectors_per_chunk;
  const cs = spc * geometry.bytes_per_sector;
  if (spc === 0 || (spc & (spc - 1)) !== 0 || cs > MAX_CHUNK_BYTES) throw corrupt(first.name, `EWF2: ${spc} sectors per chunk`);
  const size = geometry.number_of_sectors * geometry.bytes_per_sector;
  if (!Number.isSafeInteger(size)) throw corrupt(first.name, 'EWF2: media size out of range');
  const needed = Math.ceil(size / cs);
  if (chunks.offset.length < needed) throw corrupt(first.name, `EWF2: the sector tables list ${chunks.offset.length} chunks, the media needs ${needed} (a segment file missing?)`);
  const details: Record<string, string> = {};
  for (const [tag, name] of Object.entries(CASE_DATA_KEYS)) {
    const v = caseData[tag];
    if (v) details[name] = tag === 'tt' || tag === 'at' ? timestamp(v) : v;
  }
  for (const [tag, name] of Object.entries(DEVICE_INFORMATION_KEYS)) if (device[tag]) details[name] = device[tag];
  const variant = segments.length > 1 ? `Ex01, ${segments.length} segments` : 'Ex01';
  return new EwfContainer(segments, geometry, chunks, details, digests, variant);
}
