/**
 * MFT records (FILE_RECORD_SEGMENT_HEADER) and the attribute headers inside them, plus the
 * update-sequence fixups shared with index blocks. See docs/formats/ntfs.md "MFT record",
 * "Fixups", "Attribute header".
 */
import { u64le } from '../../source/bytes.js';
import { corrupt } from '../../errors.js';
import { timespecFromFiletime, type Timespec } from '../types.js';

/** Attribute type codes ($AttrDef). */
export const AT = {
  STANDARD_INFORMATION: 0x10,
  ATTRIBUTE_LIST: 0x20,
  FILE_NAME: 0x30,
  VOLUME_NAME: 0x60,
  VOLUME_INFORMATION: 0x70,
  DATA: 0x80,
  INDEX_ROOT: 0x90,
  INDEX_ALLOCATION: 0xa0,
  BITMAP: 0xb0,
  REPARSE_POINT: 0xc0,
  END: 0xffffffff,
} as const;

/** ATTR_RECORD flags. */
export const ATTR_IS_COMPRESSED = 0x0001;
export const ATTR_COMPRESSION_MASK = 0x00ff;
export const ATTR_IS_ENCRYPTED = 0x4000;
export const ATTR_IS_SPARSE = 0x8000;

/** MFT_RECORD flags. */
export const MFT_RECORD_IN_USE = 0x0001;
export const MFT_RECORD_IS_DIRECTORY = 0x0002;

/** The low 48 bits of a file reference are the MFT record number, the high 16 its sequence number. */
export function refRecord(ref: bigint): number {
  return Number(ref & 0xffffffffffffn);
}

/** The record number of the file reference at b[at] (read without BigInt: listings read many). */
export function readRefRecord(b: Buffer, at: number): number {
  return b.readUIntLE(at, 6);
}

/** A u64 as a Number (exact below 2^53; larger values are rejected by the callers' range checks). */
export const readU64 = u64le;

/**
 * Applies the update-sequence fixups of a multi-sector structure (MFT record, INDX block) in
 * place: the last two bytes of every 512-byte stride must equal the update sequence number
 * (proving the write was complete), and are replaced by the saved original bytes. The
 * structure is the `size` bytes at `base` (a folder's INDX blocks are fixed up where they were
 * read, many to a buffer). Returns what is wrong (null: nothing, the fixups are applied), so
 * that a caller opening thousands of blocks makes the error's wording only for a bad one.
 */
export function fixupsApplied(buf: Buffer, base: number, size: number): string | null {
  // Byte arithmetic, not readUInt16LE (see indx.ts u32At): a listing opens every INDX block here.
  if (size < 8 || base + size > buf.length) return 'bad update sequence array (cut short)';
  const usaOfs = buf[base + 4]! | (buf[base + 5]! << 8);
  const usaCount = buf[base + 6]! | (buf[base + 7]! << 8);
  if (usaCount === 0 || usaCount - 1 > size / 512 || usaOfs < 8 || usaOfs + usaCount * 2 > size || usaOfs & 1) {
    return `bad update sequence array (offset ${usaOfs}, count ${usaCount})`;
  }
  const usa = base + usaOfs;
  const usn = buf[usa]! | (buf[usa + 1]! << 8);
  for (let i = 1; i < usaCount; i++) {
    const end = base + i * 512 - 2;
    if ((buf[end]! | (buf[end + 1]! << 8)) !== usn) return `fixup mismatch in sector ${i - 1} (torn or damaged write)`;
    buf[end] = buf[usa + 2 * i]!;
    buf[end + 1] = buf[usa + 2 * i + 1]!;
  }
  return null;
}

/** fixupsApplied on the whole of `buf` (an MFT record), throwing for `what` when they are wrong. */
export function applyFixups(buf: Buffer, name: string, what: string): void {
  const problem = fixupsApplied(buf, 0, buf.length);
  if (problem !== null) throw corrupt(name, `${what}: ${problem}`);
}

/** One attribute as stored in one record (an extent, for non-resident attributes split over records). */
export interface AttrRecord {
  type: number;
  name: string;
  flags: number;
  instance: number;
  nonResident: boolean;
  /** Resident value. */
  value?: Buffer;
  lowestVcn: number;
  highestVcn: number;
  /** Mapping pairs bytes (non-resident), decoded on demand. */
  mappingPairs?: Buffer;
  /** log2 of clusters per compression unit (0 = not compressed). */
  compressionUnit: number;
  allocatedSize: number;
  dataSize: number;
  initializedSize: number;
  /** Allocated clusters in bytes (present for compressed/sparse attributes), else allocatedSize. */
  compressedSize: number;
}

export interface MftRecord {
  number: number;
  sequenceNumber: number;
  linkCount: number;
  flags: number;
  /** Record number of the base record (0 when this is a base record). */
  baseRecord: number;
  attrs: AttrRecord[];
}

/**
 * Parses one MFT record (fixups already applied). Every offset and length read from the
 * record is checked against the record before it is used.
 */
export function parseMftRecord(buf: Buffer, number: number, name: string): MftRecord {
  const what = `MFT record ${number}`;
  const magic = buf.toString('latin1', 0, 4);
  if (magic !== 'FILE') throw corrupt(name, `${what}: bad signature "${magic.replace(/[^\x20-\x7e]/g, '?')}"`);
  const sequenceNumber = buf.readUInt16LE(16);
  const linkCount = buf.readUInt16LE(18);
  const attrsOffset = buf.readUInt16LE(20);
  const flags = buf.readUInt16LE(22);
  const bytesInUse = buf.readUInt32LE(24);
  const baseRecord = readRefRecord(buf, 32);
  if (bytesInUse > buf.length || attrsOffset < 24 || attrsOffset >= bytesInUse) {
    throw corrupt(name, `${what}: bad header (attributes at ${attrsOffset}, ${bytesInUse} bytes in use)`);
  }
  const attrs: AttrRecord[] = [];
  let at = attrsOffset;
  while (at + 4 <= bytesInUse) {
    const type = buf.readUInt32LE(at);
    if (type === AT.END) break;
    if (at + 16 > bytesInUse) throw corrupt(name, `${what}: attribute header at ${at} cut short`);
    const length = buf.readUInt32LE(at + 4);
    if (length < 16 || length & 7 || at + length > bytesInUse) throw corrupt(name, `${what}: attribute at ${at} has bad length ${length}`);
    const nonResident = buf[at + 8] !== 0;
    const nameLength = buf[at + 9]!;
    const nameOffset = buf.readUInt16LE(at + 10);
    if (nameLength && nameOffset + nameLength * 2 > length) throw corrupt(name, `${what}: attribute name outside the attribute`);
    const attrName = nameLength ? buf.toString('utf16le', at + nameOffset, at + nameOffset + nameLength * 2) : '';
    const aflags = buf.readUInt16LE(at + 12);
    const instance = buf.readUInt16LE(at + 14);
    if (!nonResident) {
      if (length < 24) throw corrupt(name, `${what}: resident attribute at ${at} too short`);
      const valueLength = buf.readUInt32LE(at + 16);
      const valueOffset = buf.readUInt16LE(at + 20);
      if (valueOffset + valueLength > length) throw corrupt(name, `${what}: attribute value outside the attribute`);
      attrs.push({
        type, name: attrName, flags: aflags, instance, nonResident, value: buf.subarray(at + valueOffset, at + valueOffset + valueLength),
        lowestVcn: 0, highestVcn: 0, compressionUnit: 0, allocatedSize: valueLength, dataSize: valueLength, initializedSize: valueLength, compressedSize: 0,
      });
    } else {
      if (length < 64) throw corrupt(name, `${what}: non-resident attribute at ${at} too short`);
      const lowestVcn = readU64(buf, at + 16);
      const highestVcn = readU64(buf, at + 24);
      const mpOffset = buf.readUInt16LE(at + 32);
      const compressionUnit = buf[at + 34]!;
      const allocatedSize = readU64(buf, at + 40);
      const dataSize = readU64(buf, at + 48);
      const initializedSize = readU64(buf, at + 56);
      const hasCompressedSize = length >= 72 && mpOffset >= 72 && (compressionUnit !== 0 || aflags & (ATTR_COMPRESSION_MASK | ATTR_IS_SPARSE));
      const compressedSize = hasCompressedSize ? readU64(buf, at + 64) : allocatedSize;
      if (mpOffset > length || !Number.isSafeInteger(lowestVcn) || !Number.isSafeInteger(dataSize) || !Number.isSafeInteger(allocatedSize) ||
        !Number.isSafeInteger(initializedSize) || !Number.isSafeInteger(compressedSize) || compressionUnit > 16) {
        throw corrupt(name, `${what}: non-resident attribute at ${at} has bad sizes`);
      }
      attrs.push({
        type, name: attrName, flags: aflags, instance, nonResident, lowestVcn, highestVcn,
        mappingPairs: buf.subarray(at + mpOffset, at + length), compressionUnit, allocatedSize, dataSize, initializedSize, compressedSize,
      });
    }
    at += length;
    if (attrs.length > 4096) throw corrupt(name, `${what}: too many attributes`);
  }
  return { number, sequenceNumber, linkCount, flags, baseRecord, attrs };
}

/** $ATTRIBUTE_LIST entries: where each attribute (extent) of a file lives. */
export interface AttrListEntry {
  type: number;
  lowestVcn: number;
  record: number;
  name: string;
}

export function parseAttributeList(b: Buffer, name: string): AttrListEntry[] {
  const out: AttrListEntry[] = [];
  let at = 0;
  while (at + 26 <= b.length) {
    const type = b.readUInt32LE(at);
    const length = b.readUInt16LE(at + 4);
    if (type === AT.END || length === 0) break;
    if (length < 26 || at + length > b.length) throw corrupt(name, `attribute list entry at ${at} has bad length ${length}`);
    const nameLength = b[at + 6]!;
    const nameOffset = b[at + 7]!;
    if (nameLength && nameOffset + nameLength * 2 > length) throw corrupt(name, 'attribute list entry name outside the entry');
    out.push({
      type,
      lowestVcn: readU64(b, at + 8),
      record: readRefRecord(b, at + 16),
      name: nameLength ? b.toString('utf16le', at + nameOffset, at + nameOffset + nameLength * 2) : '',
    });
    at += length;
  }
  return out;
}

/** $STANDARD_INFORMATION: the times and file attribute flags shown to users. */
export interface StandardInformation {
  /** FILETIMEs, kept as their offsets in `raw` (converted only when shown). */
  raw: Buffer;
  fileAttributes: number;
  /** Bytes 0x24…0x28 (maximum_versions; Windows 10 keeps per-directory flags here). */
  flagsField: number;
}

export function parseStandardInformation(v: Buffer, name: string): StandardInformation {
  if (v.length < 48) throw corrupt(name, '$STANDARD_INFORMATION too short');
  return {
    raw: v,
    fileAttributes: v.readUInt32LE(32),
    flagsField: v.readUInt32LE(36),
  };
}

/** $FILE_NAME namespaces. */
export const FILE_NAME_POSIX = 0;
export const FILE_NAME_WIN32 = 1;
export const FILE_NAME_DOS = 2;
export const FILE_NAME_WIN32_AND_DOS = 3;

/**
 * A $FILE_NAME (in an MFT record or as an index key). Listings read thousands of index keys
 * and use only the name, parent and flags: the rest is read from the bytes when asked for.
 */
export class FileNameAttr {
  constructor(
    private readonly b: Buffer,
    private readonly at: number,
    private readonly len: number,
    readonly parentRecord: number,
    readonly fileAttributes: number,
    readonly namespace: number,
    readonly name: string,
  ) {}

  /** The attribute's bytes: its FILETIMEs sit at 8 (creation), 16 (data change), 24 (MFT change), 32 (access). */
  get raw(): Buffer {
    return this.b.subarray(this.at, this.at + this.len);
  }
  get allocatedSize(): number {
    return readU64(this.b, this.at + 40);
  }
  get dataSize(): number {
    return readU64(this.b, this.at + 48);
  }
  /** For reparse points: the reparse tag. */
  get reparseTag(): number {
    return this.b.readUInt32LE(this.at + 60);
  }
}

export function parseFileName(b: Buffer, at: number, len: number, name: string): FileNameAttr {
  if (len < 66 || at + len > b.length) throw corrupt(name, '$FILE_NAME too short');
  const nameLength = b[at + 64]!;
  if (66 + nameLength * 2 > len) throw corrupt(name, '$FILE_NAME name runs past its attribute');
  return new FileNameAttr(b, at, len, readRefRecord(b, at), b.readUInt32LE(at + 56), b[at + 65]!, b.toString('utf16le', at + 66, at + 66 + nameLength * 2));
}

/**
 * The FILETIME (100 ns since 1601) at b[at] as a Timespec, computed with Numbers: a listing
 * converts four per file, and BigInt arithmetic dominated listing time. Exact while the high
 * word is below 2^30 (until about year 16 000); past that the BigInt helper is used.
 */
export function filetimeAt(b: Buffer, at: number): Timespec {
  const lo = b.readUInt32LE(at);
  const hi = b.readUInt32LE(at + 4);
  if (hi >= 2 ** 30) return timespecFromFiletime(b.readBigUInt64LE(at));
  // ft = hi * 2^32 + lo = hi * 429 * 10^7 + (hi * 4967296 + lo)
  const r = hi * 4967296 + lo;
  const q = Math.floor(r / 1e7);
  const sec = hi * 429 + q - 11644473600;
  return { sec, nsec: (r - q * 1e7) * 100 };
}
