/**
 * EWF (Expert Witness Compression Format, EnCase 1–7 ".E01" segment files, the EWF-E01 form)
 * as described in libyal's "Expert Witness Compression Format (EWF)" document: a file header,
 * then a chain of sections, each a 76-byte descriptor followed by its data. Names are that
 * document's.
 */
import { inflateSync } from 'node:zlib';

import { EVF_SIGNATURE, EWF_FILE_HEADER_SIZE as FILE_HEADER_SIZE } from '../magic.js';
export { EVF_SIGNATURE, FILE_HEADER_SIZE };
export const SECTION_DESCRIPTOR_SIZE = 76;

export function adler32(b: Buffer, start = 0, end = b.length): number {
  let a = 1;
  let s = 0;
  for (let i = start; i < end; ) {
    // 5552: the most bytes before the sums can overflow 2^32 (zlib's NMAX).
    const stop = Math.min(end, i + 5552);
    for (; i < stop; i++) {
      a += b[i]!;
      s += a;
    }
    a %= 65521;
    s %= 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/** File header (13 bytes): signature, fields_start (1), segment_number, fields_end (0). */
export interface FileHeader {
  segment_number: number;
}

export function parseFileHeader(b: Buffer): FileHeader | null {
  if (b.length < FILE_HEADER_SIZE || !b.subarray(0, 8).equals(EVF_SIGNATURE) || b[8] !== 1) return null;
  return { segment_number: b.readUInt16LE(9) };
}

/** Section descriptor: type (16), next_offset, section_size, padding (40), checksum (Adler-32 of the first 72 bytes). */
export interface SectionDescriptor {
  type: string;
  next_offset: number;
  section_size: number;
  /** Where the descriptor is in its segment file. */
  offset: number;
  checksumOk: boolean;
}

export function parseSectionDescriptor(b: Buffer, offset: number): SectionDescriptor {
  return {
    type: b.toString('latin1', 0, 16).replace(/\0[\s\S]*$/, ''),
    next_offset: Number(b.readBigUInt64LE(16)),
    section_size: Number(b.readBigUInt64LE(24)),
    offset,
    checksumOk: adler32(b, 0, 72) === b.readUInt32LE(72),
  };
}

/** The volume (or disk/data) section of EWF-E01 (1052 bytes; the first 24 are the ones needed). */
export interface VolumeSection {
  media_type: number;
  number_of_chunks: number;
  sectors_per_chunk: number;
  bytes_per_sector: number;
  number_of_sectors: number;
  media_flags: number;
  compression_level: number;
  set_identifier: string;
}

export function parseVolumeSection(b: Buffer): VolumeSection {
  return {
    media_type: b[0]!,
    number_of_chunks: b.readUInt32LE(4),
    sectors_per_chunk: b.readUInt32LE(8),
    bytes_per_sector: b.readUInt32LE(12),
    number_of_sectors: Number(b.readBigUInt64LE(16)),
    media_flags: b.length > 36 ? b[36]! : 0,
    compression_level: b.length > 52 ? b[52]! : 0,
    set_identifier: b.length >= 80 ? b.subarray(64, 80).toString('hex') : '',
  };
}

/** Table section header: number_of_entries, padding, base_offset, padding, checksum (Adler-32 of the first 20 bytes). */
export interface TableSection {
  base_offset: number;
  /** Raw entries: bit 31 = compressed chunk, the rest the chunk's offset from base_offset. */
  entries: Uint32Array;
  headerOk: boolean;
  entriesOk: boolean;
}

export function parseTableSection(b: Buffer, maxEntries: number): TableSection | string {
  if (b.length < 24) return 'table section too short';
  const n = b.readUInt32LE(0);
  if (n > maxEntries || 24 + n * 4 > b.length) return `table section claims ${n} entries, room for ${Math.floor((b.length - 24) / 4)}`;
  const entries = new Uint32Array(n);
  for (let i = 0; i < n; i++) entries[i] = b.readUInt32LE(24 + 4 * i);
  const end = 24 + n * 4;
  return {
    base_offset: Number(b.readBigUInt64LE(8)),
    entries,
    headerOk: adler32(b, 0, 20) === b.readUInt32LE(20),
    // EnCase 6+ writes an Adler-32 of the entries after them; older versions may not.
    entriesOk: end + 4 > b.length || adler32(b, 24, end) === b.readUInt32LE(end),
  };
}

/**
 * The header / header2 section: zlib-compressed text, tab-separated keys on one line and
 * values on the next (header2: UTF-16LE with a byte-order mark). Known keys are named.
 */
const HEADER_KEYS: Record<string, string> = {
  c: 'case number', n: 'evidence number', a: 'description', e: 'examiner', t: 'notes',
  av: 'software version', ov: 'operating system', m: 'acquired', u: 'system date', md: 'model', sn: 'serial number',
};

export function parseHeaderSection(b: Buffer, utf16: boolean, maxBytes: number): Record<string, string> {
  const raw = inflateSync(b, { maxOutputLength: maxBytes });
  let text = utf16 ? raw.toString('utf16le') : raw.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split(/\r?\n/);
  const out: Record<string, string> = {};
  // Line 3 holds the keys, line 4 the values (lines 1–2: count and "main").
  const keys = (lines[2] ?? '').split('\t');
  const vals = (lines[3] ?? '').split('\t');
  keys.forEach((k, i) => {
    const name = HEADER_KEYS[k];
    const v = vals[i] ?? '';
    if (name && v) out[name] = k === 'm' || k === 'u' ? headerDate(v) : v;
  });
  return out;
}

/** Header dates: "YYYY MM DD hh mm ss" (header2/EnCase 5+ use a Unix time). */
function headerDate(v: string): string {
  if (/^\d+$/.test(v)) return new Date(Number(v) * 1000).toISOString();
  const m = /^(\d{4}) (\d{1,2}) (\d{1,2}) (\d{1,2}) (\d{1,2}) (\d{1,2})$/.exec(v);
  return m ? `${m[1]}-${m[2]!.padStart(2, '0')}-${m[3]!.padStart(2, '0')} ${m[4]!.padStart(2, '0')}:${m[5]!.padStart(2, '0')}:${m[6]!.padStart(2, '0')}` : v;
}
