/**
 * ECMA-167 basics shared by every UDF structure: the 16-byte descriptor tag (3/7.2) with its
 * checksum and CRC, the OSTA compressed Unicode of dstrings and d-characters (UDF 2.1.1),
 * timestamps (1/7.3), regids (1/7.4) and the allocation descriptors lb_addr/long_ad/short_ad
 * (4/14.14).
 */
import type { Timespec } from '../types.js';

/** Tag identifiers (ECMA-167 3/7.2.1 and 4/7.2.1). */
export const TAG = {
  PrimaryVolume: 1,
  AnchorVolumeDescriptorPointer: 2,
  VolumeDescriptorPointer: 3,
  ImplementationUseVolume: 4,
  Partition: 5,
  LogicalVolume: 6,
  UnallocatedSpace: 7,
  Terminating: 8,
  LogicalVolumeIntegrity: 9,
  FileSet: 256,
  FileIdentifier: 257,
  AllocationExtent: 258,
  IndirectEntry: 259,
  TerminalEntry: 260,
  FileEntry: 261,
  ExtendedAttributeHeader: 262,
  UnallocatedSpaceEntry: 263,
  SpaceBitmap: 264,
  PartitionIntegrity: 265,
  ExtendedFileEntry: 266,
} as const;

export interface DescriptorTag {
  TagIdentifier: number;
  DescriptorVersion: number;
  TagChecksum: number;
  TagSerialNumber: number;
  DescriptorCRC: number;
  DescriptorCRCLength: number;
  TagLocation: number;
}

/**
 * CRC-ITU-T (x^16 + x^12 + x^5 + 1, initial 0) as ECMA-167 7.2.6 specifies. The table is made
 * at the first tag checked, not whenever the module loads (every start probes for UDF).
 */
let CRC_TABLE: Uint16Array | undefined;
function makeCrcTable(): Uint16Array {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let k = 0; k < 8; k++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
}

export function crcItu(b: Buffer, start: number, end: number): number {
  const t = (CRC_TABLE ??= makeCrcTable());
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ t[((crc >> 8) ^ b[i]!) & 0xff]!;
  return crc;
}

/**
 * The tag at `at`, or a reason it is not a valid one: checksum, CRC over the bytes that follow
 * it (as far as `b` holds them), and, when given, the block it says it was recorded at.
 */
export function readTag(b: Buffer, at = 0, location?: number): DescriptorTag | string {
  if (at + 16 > b.length) return 'too short for a descriptor tag';
  let sum = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + b[at + i]!) & 0xff;
  const tag: DescriptorTag = {
    TagIdentifier: b.readUInt16LE(at),
    DescriptorVersion: b.readUInt16LE(at + 2),
    TagChecksum: b[at + 4]!,
    TagSerialNumber: b.readUInt16LE(at + 6),
    DescriptorCRC: b.readUInt16LE(at + 8),
    DescriptorCRCLength: b.readUInt16LE(at + 10),
    TagLocation: b.readUInt32LE(at + 12),
  };
  if (sum !== tag.TagChecksum) return `descriptor tag checksum mismatch (tag ${tag.TagIdentifier})`;
  if (tag.DescriptorVersion !== 2 && tag.DescriptorVersion !== 3) return `descriptor version ${tag.DescriptorVersion} (tag ${tag.TagIdentifier})`;
  const crcEnd = at + 16 + tag.DescriptorCRCLength;
  if (crcEnd <= b.length && crcItu(b, at + 16, crcEnd) !== tag.DescriptorCRC) return `descriptor CRC mismatch (tag ${tag.TagIdentifier})`;
  if (location !== undefined && tag.TagLocation !== location) return `descriptor tag ${tag.TagIdentifier} says block ${tag.TagLocation}, found at ${location}`;
  return tag;
}

/** OSTA Compressed Unicode (UDF 2.1.1): compression ID 8 (bytes) or 16 (UTF-16BE); 254/255 are the same for UDF 2.50+. */
export function decodeCompressedUnicode(b: Buffer): string {
  if (b.length === 0) return '';
  const id = b[0]!;
  const body = b.subarray(1);
  if (id === 8 || id === 254) return body.toString('latin1');
  if (id === 16 || id === 255) {
    const n = body.length & ~1;
    const sw = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i += 2) {
      sw[i] = body[i + 1]!;
      sw[i + 1] = body[i]!;
    }
    return sw.toString('utf16le');
  }
  return '';
}

/** A dstring (1/7.2.12): compressed Unicode whose used length is the field's last byte. */
export function dstring(b: Buffer, at: number, size: number): string {
  const used = b[at + size - 1]!;
  if (used === 0 || used > size - 1) return '';
  return decodeCompressedUnicode(b.subarray(at, at + used));
}

/** A regid's Identifier (1/7.4), NULs trimmed. */
export function regid(b: Buffer, at: number): string {
  return b.toString('latin1', at + 1, at + 24).replace(/\0+$/, '');
}

/** timestamp (1/7.3): local time and its offset from UTC in minutes (-2047: none given). */
export function timestamp(b: Buffer, at: number): Timespec | undefined {
  const tz = b.readUInt16LE(at);
  const year = b.readInt16LE(at + 2);
  const month = b[at + 4]!;
  const day = b[at + 5]!;
  if (year === 0 && month === 0 && day === 0) return undefined;
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  const ms = Date.UTC(year, month - 1, day, b[at + 6]!, b[at + 7]!, b[at + 8]!);
  if (!Number.isFinite(ms)) return undefined;
  let offset = tz & 0x0fff;
  if (offset & 0x800) offset -= 0x1000;
  // Type 1 = local time with the offset; -2047 = no offset recorded (taken as UTC).
  const type = tz >> 12;
  const off = type === 1 && offset !== -2047 && offset >= -1440 && offset <= 1440 ? offset : 0;
  const cs = Math.min(b[at + 9]!, 99);
  const hundredsUs = Math.min(b[at + 10]!, 99);
  const us = Math.min(b[at + 11]!, 99);
  return { sec: ms / 1000 - off * 60, nsec: cs * 10_000_000 + hundredsUs * 100_000 + us * 1000 };
}

/** lb_addr (4/7.1): a block in a partition (by its partition reference number). */
export interface LbAddr {
  logicalBlockNumber: number;
  partitionReferenceNumber: number;
}

/** Extent types: the top two bits of ExtentLength (4/14.14.1.1). */
export const EXT_RECORDED = 0;
export const EXT_ALLOCATED_NOT_RECORDED = 1;
export const EXT_NOT_ALLOCATED = 2;
export const EXT_NEXT_AD = 3;

/** An allocation descriptor of any of the three forms, normalized. */
export interface AllocationDescriptor {
  type: number;
  length: number;
  location: LbAddr;
}

export function longAd(b: Buffer, at: number): AllocationDescriptor {
  const len = b.readUInt32LE(at);
  return { type: len >>> 30, length: len & 0x3fffffff, location: { logicalBlockNumber: b.readUInt32LE(at + 4), partitionReferenceNumber: b.readUInt16LE(at + 8) } };
}

export function shortAd(b: Buffer, at: number, partition: number): AllocationDescriptor {
  const len = b.readUInt32LE(at);
  return { type: len >>> 30, length: len & 0x3fffffff, location: { logicalBlockNumber: b.readUInt32LE(at + 4), partitionReferenceNumber: partition } };
}

/** ext_ad (4/14.14.3): ExtentLength, RecordedLength, InformationLength, ExtentLocation. */
export function extAd(b: Buffer, at: number): AllocationDescriptor {
  const len = b.readUInt32LE(at);
  return { type: len >>> 30, length: len & 0x3fffffff, location: { logicalBlockNumber: b.readUInt32LE(at + 12), partitionReferenceNumber: b.readUInt16LE(at + 16) } };
}
