/**
 * LVM2 on-disk binary structures (lib/format_text/layout.h, lib/label/label.h in lvm2's
 * sources; libvslvm's documentation): the label header in one of the first four sectors, the
 * PV header after it with its data- and metadata-area lists, and each metadata area's header
 * with the raw locations of the text metadata in its ring buffer.
 */
import { crc32 } from 'node:zlib';
import { corrupt } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';

export const LABEL_ID = 'LABELONE';
export const LVM2_LABEL_TYPE = 'LVM2 001';
export const FMTT_MAGIC = ' LVM2 x[5A%r0N*>';
const LABEL_SCAN_SECTORS = 4;
const SECTOR = 512;
/** The metadata area header is one 512-byte sector; the ring buffer follows it. */
export const MDA_HEADER_SIZE = 512;
/** Bounds: area lists and raw locations in one header (lvm2 writes 1–2 of each). */
const MAX_AREAS = 8;
/** Text metadata larger than this is refused (lvm2's own default metadata areas are ~1 MiB). */
export const MAX_METADATA_TEXT = 4 * 1024 * 1024;

/** lvm2's calc_crc: CRC-32 (IEEE, reflected) from 0xf597a6cf without the final inversion. */
export function lvmCrc(buf: Buffer, initial = 0xf597a6cf): number {
  return ~crc32(buf, ~initial >>> 0) >>> 0;
}

/** label_header. */
export interface LabelHeader {
  /** Sector (of the four scanned) holding it. */
  sector_xl: number;
  crc_xl: number;
  offset_xl: number;
  type: string;
}

/** disk_locn: one data or metadata area of a PV, in bytes from the device start. */
export interface DiskLocn {
  offset: number;
  size: number;
}

/** pv_header. */
export interface PvHeader {
  /** 32 characters, shown by lvm2 in 6-4-4-4-4-4-6 groups. */
  pv_uuid: string;
  device_size_xl: number;
  dataAreas: DiskLocn[];
  metadataAreas: DiskLocn[];
}

/** raw_locn: where one copy of the text metadata lies in the ring, relative to the area start. */
export interface RawLocn {
  offset: number;
  size: number;
  checksum: number;
  flags: number;
}

/** mda_header. */
export interface MdaHeader {
  checksum_xl: number;
  version: number;
  start: number;
  size: number;
  rawLocns: RawLocn[];
}

export function formatLvmUuid(u: string): string {
  return u.length === 32 ? [u.slice(0, 6), u.slice(6, 10), u.slice(10, 14), u.slice(14, 18), u.slice(18, 22), u.slice(22, 26), u.slice(26)].join('-') : u;
}

/** The sector of the LVM2 label among the first four in `head`, or -1. */
export function findLabel(head: Buffer): number {
  for (let s = 0; s < LABEL_SCAN_SECTORS; s++) {
    const o = s * SECTOR;
    if (head.length >= o + SECTOR && head.toString('latin1', o, o + 8) === LABEL_ID && head.toString('latin1', o + 24, o + 32) === LVM2_LABEL_TYPE) return s;
  }
  return -1;
}

function u64(b: Buffer, at: number, what: string, file: string): number {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `LVM2 ${what} ${v} is out of range`);
  return Number(v);
}

/** Reads the label and PV header of a PV, checking the label's CRC. */
export function parseLabel(head: Buffer, file: string): { label: LabelHeader; pv: PvHeader } {
  const s = findLabel(head);
  if (s < 0) throw corrupt(file, 'no LVM2 label in the first four sectors');
  const sec = head.subarray(s * SECTOR, (s + 1) * SECTOR);
  const label: LabelHeader = {
    sector_xl: u64(sec, 8, 'label sector', file),
    crc_xl: sec.readUInt32LE(16),
    offset_xl: sec.readUInt32LE(20),
    type: sec.toString('latin1', 24, 32),
  };
  if (label.sector_xl !== s) throw corrupt(file, `LVM2 label in sector ${s} says it is in sector ${label.sector_xl}`);
  if (lvmCrc(sec.subarray(20)) !== label.crc_xl) throw corrupt(file, `LVM2 label CRC mismatch (sector ${s})`);
  if (label.offset_xl < 32 || label.offset_xl > SECTOR - 40) throw corrupt(file, `LVM2 PV header offset ${label.offset_xl} is invalid`);
  let o = label.offset_xl;
  const pv_uuid = sec.toString('latin1', o, o + 32);
  if (!/^[A-Za-z0-9!#]{32}$/.test(pv_uuid)) throw corrupt(file, 'LVM2 PV UUID is not 32 valid characters');
  const device_size_xl = u64(sec, o + 32, 'device size', file);
  o += 40;
  const list = (what: string): DiskLocn[] => {
    const out: DiskLocn[] = [];
    for (;;) {
      if (o + 16 > SECTOR) throw corrupt(file, `LVM2 ${what} list runs past the label sector`);
      const offset = u64(sec, o, `${what} offset`, file);
      const size = u64(sec, o + 8, `${what} size`, file);
      o += 16;
      if (offset === 0) return out;
      if (out.length >= MAX_AREAS) throw corrupt(file, `LVM2 PV header lists more than ${MAX_AREAS} ${what}s`);
      out.push({ offset, size });
    }
  };
  const dataAreas = list('data area');
  const metadataAreas = list('metadata area');
  return { label, pv: { pv_uuid, device_size_xl, dataAreas, metadataAreas } };
}

/** Reads a metadata area's header (checksum, magic, version). */
export async function readMdaHeader(src: ByteSource, area: DiskLocn): Promise<MdaHeader> {
  const b = await readExact(src, area.offset, MDA_HEADER_SIZE, 'LVM2 metadata area header');
  const h: MdaHeader = {
    checksum_xl: b.readUInt32LE(0),
    version: b.readUInt32LE(20),
    start: u64(b, 24, 'metadata area start', src.name),
    size: u64(b, 32, 'metadata area size', src.name),
    rawLocns: [],
  };
  if (b.toString('latin1', 4, 20) !== FMTT_MAGIC) throw corrupt(src.name, `LVM2 metadata area at ${area.offset}: wrong magic`);
  if (lvmCrc(b.subarray(4)) !== h.checksum_xl) throw corrupt(src.name, `LVM2 metadata area at ${area.offset}: header checksum mismatch`);
  if (h.version !== 1) throw corrupt(src.name, `LVM2 metadata area at ${area.offset}: version ${h.version} is not 1`);
  if (h.start !== area.offset) throw corrupt(src.name, `LVM2 metadata area at ${area.offset} says it starts at ${h.start}`);
  if (h.size <= MDA_HEADER_SIZE || h.size > area.size) throw corrupt(src.name, `LVM2 metadata area at ${area.offset}: size ${h.size} is invalid`);
  for (let o = 40; o + 24 <= MDA_HEADER_SIZE && h.rawLocns.length < MAX_AREAS; o += 24) {
    const offset = u64(b, o, 'metadata offset', src.name);
    if (offset === 0) break;
    h.rawLocns.push({ offset, size: u64(b, o + 8, 'metadata size', src.name), checksum: b.readUInt32LE(o + 16), flags: b.readUInt32LE(o + 20) });
  }
  return h;
}

/** RAW_LOCN_IGNORED: this copy is to be skipped (metadata area marked ignored). */
const RAW_LOCN_IGNORED = 1;

/**
 * The text of one metadata copy: `size` bytes at `offset` in the ring; past the area's end the
 * text continues right after the header (the ring wraps). Checked against its checksum.
 */
export async function readMetadataText(src: ByteSource, h: MdaHeader, loc: RawLocn): Promise<string> {
  if (loc.flags & RAW_LOCN_IGNORED) throw corrupt(src.name, 'LVM2 metadata copy is marked ignored');
  const ring = h.size - MDA_HEADER_SIZE;
  if (loc.size === 0 || loc.size > MAX_METADATA_TEXT || loc.size > ring) throw corrupt(src.name, `LVM2 metadata text of ${loc.size} bytes is invalid`);
  if (loc.offset < MDA_HEADER_SIZE || loc.offset >= h.size) throw corrupt(src.name, `LVM2 metadata offset ${loc.offset} lies outside its area`);
  const first = Math.min(loc.size, h.size - loc.offset);
  const parts = [await readExact(src, h.start + loc.offset, first, 'LVM2 metadata text')];
  if (first < loc.size) parts.push(await readExact(src, h.start + MDA_HEADER_SIZE, loc.size - first, 'LVM2 metadata text (wrapped)'));
  const text = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  if (lvmCrc(text) !== loc.checksum) throw corrupt(src.name, 'LVM2 metadata text checksum mismatch');
  return text.toString('utf8');
}
