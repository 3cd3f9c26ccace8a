/**
 * ISO 9660 directory records (ECMA-119 §9.1) and the two date formats (§8.4.26.1 and
 * §9.1.5). A directory is a sequence of records that never cross a logical sector; a zero
 * length byte means "nothing more in this sector".
 */
import type { Timespec } from '../types.js';

/** file_flags bits (ECMA-119 §9.1.6). */
export const FLAG_EXISTENCE = 0x01; // "hidden"
export const FLAG_DIRECTORY = 0x02;
export const FLAG_ASSOCIATED_FILE = 0x04;
export const FLAG_RECORD = 0x08;
export const FLAG_PROTECTION = 0x10;
/** Not the final directory record of the file: the file continues in the next record's extent. */
export const FLAG_MULTI_EXTENT = 0x80;

export interface DirectoryRecord {
  length_of_directory_record: number;
  extended_attribute_record_length: number;
  location_of_extent: number;
  data_length: number;
  recording_date_and_time: Timespec | undefined;
  file_flags: number;
  file_unit_size: number;
  interleave_gap_size: number;
  volume_sequence_number: number;
  /** The identifier bytes as stored (0x00 = ".", 0x01 = ".."). */
  file_identifier: Buffer;
  /** The System Use field (Rock Ridge lives here), after the padding byte. */
  system_use: Buffer;
}

/**
 * The record at `at` in `b`, or null when it does not fit or is inconsistent (length below
 * 34, identifier running past the record). Field values are not checked against the volume.
 */
export function parseDirectoryRecord(b: Buffer, at: number): DirectoryRecord | null {
  if (at + 34 > b.length) return null;
  const len = b[at]!;
  if (len < 34 || at + len > b.length) return null;
  const idLen = b[at + 32]!;
  if (33 + idLen > len) return null;
  const suStart = 33 + idLen + ((idLen & 1) === 0 ? 1 : 0);
  return {
    length_of_directory_record: len,
    extended_attribute_record_length: b[at + 1]!,
    location_of_extent: b.readUInt32LE(at + 2),
    data_length: b.readUInt32LE(at + 10),
    recording_date_and_time: parseDirDateTime(b, at + 18),
    file_flags: b[at + 25]!,
    file_unit_size: b[at + 26]!,
    interleave_gap_size: b[at + 27]!,
    volume_sequence_number: b.readUInt16LE(at + 28),
    file_identifier: b.subarray(at + 33, at + 33 + idLen),
    system_use: suStart < len ? b.subarray(at + suStart, at + len) : Buffer.alloc(0),
  };
}

/** Seconds since the epoch of a civil date and time, minus a zone offset in 15-minute units. */
function civil(y: number, mo: number, d: number, h: number, mi: number, s: number, offset15: number): number | undefined {
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  if (!Number.isFinite(ms)) return undefined;
  // The offset is signed, -48 (west) … +52 (east). Out of range it is junk and ignored, as the
  // Linux kernel does (within ±52): genisoimage writes -96 (-24 h) for dates past 2038.
  const off = offset15 >= -52 && offset15 <= 52 ? offset15 : 0;
  return ms / 1000 - off * 15 * 60;
}

/** The 7-byte "Recording Date and Time" (ECMA-119 §9.1.5); all zeros: not recorded. */
export function parseDirDateTime(b: Buffer, at: number): Timespec | undefined {
  if (at + 7 > b.length) return undefined;
  if (b[at + 1] === 0 && b[at + 2] === 0) return undefined;
  const sec = civil(1900 + b[at]!, b[at + 1]!, b[at + 2]!, b[at + 3]!, b[at + 4]!, b[at + 5]!, b.readInt8(at + 6));
  return sec === undefined ? undefined : { sec, nsec: 0 };
}

/** The 17-byte digits-and-offset date (ECMA-119 §8.4.26.1); all "0" digits: not specified. */
export function parseDecDateTime(b: Buffer, at: number): Timespec | undefined {
  if (at + 17 > b.length) return undefined;
  const s = b.toString('latin1', at, at + 16);
  if (!/^\d{16}$/.test(s) || /^0+$/.test(s)) return undefined;
  const n = (i: number, w: number) => Number(s.slice(i, i + w));
  const sec = civil(n(0, 4), n(4, 2), n(6, 2), n(8, 2), n(10, 2), n(12, 2), b.readInt8(at + 16));
  return sec === undefined ? undefined : { sec, nsec: n(14, 2) * 10_000_000 };
}
