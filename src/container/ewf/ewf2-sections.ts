/**
 * EWF2 (EnCase 7 "Expert Witness Compression Format 2", the EWF2-Ex01 form) as described in
 * libyal's "Expert Witness Compression Format 2 (EWF2)" document: a 32-byte file header, then
 * sections whose 64-byte descriptor comes AFTER their data and names the previous section's
 * descriptor, so a segment file is read from its end backwards. Names are that document's.
 */
import { inflateSync } from 'node:zlib';
import { adler32 } from './sections.js';

import { EVF2_SIGNATURE } from '../magic.js';
export { EVF2_SIGNATURE };
export const FILE_HEADER_V2_SIZE = 32;
export const SECTION_DESCRIPTOR_V2_SIZE = 64;

/** Compression methods (file header, case data "cp"). */
export const COMPRESSION_NONE = 0;
export const COMPRESSION_LZ = 1;
export const COMPRESSION_BZIP2 = 2;

export interface FileHeaderV2 {
  major_version: number;
  minor_version: number;
  compression_method: number;
  segment_file_number: number;
  /** Segment file set identifier (a GUID): the same in every segment of one image. */
  set_identifier: string;
}

export function parseFileHeaderV2(b: Buffer): FileHeaderV2 | null {
  if (b.length < FILE_HEADER_V2_SIZE || !b.subarray(0, 8).equals(EVF2_SIGNATURE)) return null;
  return {
    major_version: b[8]!,
    minor_version: b[9]!,
    compression_method: b.readUInt16LE(10),
    segment_file_number: b.readUInt32LE(12),
    set_identifier: b.subarray(16, 32).toString('hex'),
  };
}

/** Section types (descriptor offset 0). */
export const SECTION = {
  device_information: 0x01,
  case_data: 0x02,
  sector_data: 0x03,
  sector_table: 0x04,
  error_table: 0x05,
  session_table: 0x06,
  increment_data: 0x07,
  md5_hash: 0x08,
  sha1_hash: 0x09,
  restart_data: 0x0a,
  encryption_keys: 0x0b,
  memory_extents_table: 0x0c,
  next: 0x0d,
  final_information: 0x0e,
  done: 0x0f,
  analytical_data: 0x10,
} as const;

/** Data flags: MD5HASHED (the integrity hash is set), ENCRYPTED. */
export const DATA_FLAG_MD5HASHED = 0x1;
export const DATA_FLAG_ENCRYPTED = 0x2;

export interface SectionDescriptorV2 {
  type: number;
  data_flags: number;
  /** Offset of the previous section's descriptor in the segment file; 0 for the first section. */
  previous_offset: number;
  data_size: number;
  section_descriptor_size: number;
  padding_size: number;
  /** MD5 of the data including padding (when MD5HASHED). */
  data_integrity_hash: Buffer;
  /** Where this descriptor is. */
  offset: number;
  checksumOk: boolean;
}

export function parseSectionDescriptorV2(b: Buffer, offset: number): SectionDescriptorV2 {
  return {
    type: b.readUInt32LE(0),
    data_flags: b.readUInt32LE(4),
    previous_offset: Number(b.readBigUInt64LE(8)),
    data_size: Number(b.readBigUInt64LE(16)),
    section_descriptor_size: b.readUInt32LE(24),
    padding_size: b.readUInt32LE(28),
    data_integrity_hash: b.subarray(32, 48),
    offset,
    checksumOk: adler32(b, 0, 60) === b.readUInt32LE(60),
  };
}

/** Sector table: a 20-byte header (+12 bytes alignment), 16-byte entries, a 4-byte footer checksum. */
export const SECTOR_TABLE_HEADER_SIZE = 32;
export const SECTOR_TABLE_ENTRY_SIZE = 16;

/** Chunk data flags. */
export const CHUNK_COMPRESSED = 0x1;
export const CHUNK_CHECKSUMED = 0x2;
export const CHUNK_PATTERNFILL = 0x4;

export interface SectorTable {
  first_chunk_number: number;
  number_of_entries: number;
  headerOk: boolean;
  entriesOk: boolean;
  /** Per entry: chunk data offset (or the fill pattern's 8 bytes), chunk data size, chunk data flags. */
  entry(i: number): { chunk_data_offset: number; pattern: Buffer; chunk_data_size: number; chunk_data_flags: number };
}

export function parseSectorTable(b: Buffer, maxEntries: number): SectorTable | string {
  if (b.length < SECTOR_TABLE_HEADER_SIZE) return 'sector table too short';
  const n = b.readUInt32LE(8);
  const end = SECTOR_TABLE_HEADER_SIZE + n * SECTOR_TABLE_ENTRY_SIZE;
  if (n > maxEntries || end > b.length) return `sector table claims ${n} entries, room for ${Math.floor((b.length - SECTOR_TABLE_HEADER_SIZE) / SECTOR_TABLE_ENTRY_SIZE)}`;
  const first = Number(b.readBigUInt64LE(0));
  if (!Number.isSafeInteger(first)) return 'sector table first chunk number out of range';
  return {
    first_chunk_number: first,
    number_of_entries: n,
    headerOk: adler32(b, 0, 16) === b.readUInt32LE(16),
    entriesOk: end + 4 > b.length || adler32(b, SECTOR_TABLE_HEADER_SIZE, end) === b.readUInt32LE(end),
    entry(i) {
      const at = SECTOR_TABLE_HEADER_SIZE + i * SECTOR_TABLE_ENTRY_SIZE;
      return {
        chunk_data_offset: Number(b.readBigUInt64LE(at)),
        pattern: b.subarray(at, at + 8),
        chunk_data_size: b.readUInt32LE(at + 8),
        chunk_data_flags: b.readUInt32LE(at + 12),
      };
    },
  };
}

/** MD5 hash (16 bytes + Adler-32) and SHA1 hash (20 bytes + Adler-32) sections; null when the checksum fails. */
export function parseHashSection(b: Buffer, n: number): string | null {
  if (b.length < n + 4 || adler32(b, 0, n) !== b.readUInt32LE(n)) return null;
  const d = b.subarray(0, n);
  return d.some((x) => x !== 0) ? d.toString('hex') : null;
}

/**
 * A serialized object string (device information, case data): compressed (by the file
 * header's method) UTF-16 text with a byte-order mark; line 1 the number of objects, line 2
 * "main", line 3 the attribute tags, line 4 their values, tab-separated.
 */
export function parseObjectString(b: Buffer, compression: number, maxBytes: number): Record<string, string> {
  const raw = compression === COMPRESSION_NONE ? b : inflateSync(b, { maxOutputLength: maxBytes });
  let text: string;
  if (raw[0] === 0xfe && raw[1] === 0xff) text = Buffer.from(raw.subarray(2)).swap16().toString('utf16le');
  else text = raw.toString('utf16le', raw[0] === 0xff && raw[1] === 0xfe ? 2 : 0);
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const tags = (lines[2] ?? '').split('\t');
  const values = (lines[3] ?? '').split('\t');
  const out: Record<string, string> = {};
  tags.forEach((t, i) => {
    if (t) out[t] = (values[i] ?? '').replace(/\x01/g, '\n').replace(/\x02/g, '\r').replace(/\x03/g, '\t');
  });
  return out;
}

/** Case data tags named for `info` (the same words as EWF-E01's header section). */
export const CASE_DATA_KEYS: Record<string, string> = {
  nm: 'description', cn: 'case number', en: 'evidence number', ex: 'examiner', nt: 'notes',
  av: 'software version', os: 'operating system', tt: 'acquired', at: 'system date',
};
/** Device information tags named for `info`. */
export const DEVICE_INFORMATION_KEYS: Record<string, string> = { sn: 'serial number', md: 'model', lb: 'label' };
