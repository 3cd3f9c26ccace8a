/**
 * The ISO 9660 volume descriptor set (ECMA-119 4th ed. §8): from logical sector 16 on, one
 * 2048-byte descriptor per sector, up to the Volume Descriptor Set Terminator. Field names
 * are the standard's (BP = byte position, 1-based in the standard, 0-based here).
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { parseDirectoryRecord, parseDecDateTime, type DirectoryRecord } from './records.js';
import type { Timespec } from '../types.js';

export const SECTOR = 2048;
export const DESCRIPTOR_START = 16 * SECTOR;
/** A real set holds a handful of descriptors; hostile ones end here. */
const MAX_DESCRIPTORS = 64;

export const VD_BOOT_RECORD = 0;
export const VD_PRIMARY = 1;
export const VD_SUPPLEMENTARY = 2;
export const VD_PARTITION = 3;
export const VD_TERMINATOR = 255;

/** Primary (type 1) or Supplementary/Enhanced (type 2) Volume Descriptor (ECMA-119 §8.4, §8.5). */
export interface VolumeDescriptor {
  type: number;
  version: number;
  /** Which descriptor of the set (0 = the one at sector 16). */
  index: number;
  system_identifier: string;
  volume_identifier: string;
  volume_space_size: number;
  /** Supplementary only: "%/@", "%/C" or "%/E" for Joliet (UCS-2 names). */
  escape_sequences: Buffer;
  volume_set_size: number;
  volume_sequence_number: number;
  logical_block_size: number;
  path_table_size: number;
  root_directory_record: DirectoryRecord;
  volume_set_identifier: string;
  publisher_identifier: string;
  data_preparer_identifier: string;
  application_identifier: string;
  volume_creation_date: Timespec | undefined;
  volume_modification_date: Timespec | undefined;
  file_structure_version: number;
  /** Joliet level 1–3 for a supplementary descriptor with a Joliet escape sequence, else 0. */
  jolietLevel: number;
}

/** Boot Record (ECMA-119 §8.2) as El Torito uses it: the boot catalog's sector. */
export interface BootRecord {
  boot_system_identifier: string;
  /** El Torito: the first sector of the Boot Catalog. */
  bootCatalogSector: number | null;
}

export interface DescriptorSet {
  primary: VolumeDescriptor;
  joliet: VolumeDescriptor | null;
  bootRecord: BootRecord | null;
  /** Other supplementary/enhanced descriptors (not Joliet), for `info`. */
  others: number;
}

/** Both-byte-order 32-bit field (ECMA-119 §7.3.3): little-endian half read, the big-endian half checked by callers who care. */
export function both32(b: Buffer, at: number): number {
  return b.readUInt32LE(at);
}

function text(b: Buffer, at: number, len: number, ucs2: boolean): string {
  const raw = b.subarray(at, at + len);
  const s = ucs2 ? ucs2be(raw) : raw.toString('latin1');
  return s.replace(/[\s\0]+$/, '');
}

/** UCS-2 big-endian (Joliet) to a JS string; an odd trailing byte is dropped. */
export function ucs2be(raw: Buffer): string {
  const n = raw.length & ~1;
  const sw = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 2) {
    sw[i] = raw[i + 1]!;
    sw[i + 1] = raw[i]!;
  }
  return sw.toString('utf16le');
}

function jolietLevelOf(esc: Buffer): number {
  const s = esc.toString('latin1', 0, 3);
  return s === '%/@' ? 1 : s === '%/C' ? 2 : s === '%/E' ? 3 : 0;
}

function parseVolumeDescriptor(src: ByteSource, b: Buffer, index: number): VolumeDescriptor {
  const type = b[0]!;
  const esc = b.subarray(88, 120);
  const jolietLevel = type === VD_SUPPLEMENTARY ? jolietLevelOf(esc) : 0;
  const ucs2 = jolietLevel > 0;
  const rootRaw = b.subarray(156, 190);
  const root = parseDirectoryRecord(rootRaw, 0);
  if (!root) throw corrupt(src.name, `ISO 9660: volume descriptor ${index} has an invalid root directory record`);
  return {
    type,
    version: b[6]!,
    index,
    system_identifier: text(b, 8, 32, ucs2),
    volume_identifier: text(b, 40, 32, ucs2),
    volume_space_size: both32(b, 80),
    escape_sequences: Buffer.from(esc),
    volume_set_size: b.readUInt16LE(120),
    volume_sequence_number: b.readUInt16LE(124),
    logical_block_size: b.readUInt16LE(128),
    path_table_size: both32(b, 132),
    root_directory_record: root,
    volume_set_identifier: text(b, 190, 128, ucs2),
    publisher_identifier: text(b, 318, 128, ucs2),
    data_preparer_identifier: text(b, 446, 128, ucs2),
    application_identifier: text(b, 574, 128, ucs2),
    volume_creation_date: parseDecDateTime(b, 813),
    volume_modification_date: parseDecDateTime(b, 830),
    file_structure_version: b[881]!,
    jolietLevel,
  };
}

/** True when sector 16 holds an ISO 9660 volume descriptor ("CD001"). `head` is the first 64 KiB. */
export function hasIsoDescriptor(head: Buffer): boolean {
  return head.length >= DESCRIPTOR_START + 7 && head.toString('latin1', DESCRIPTOR_START + 1, DESCRIPTOR_START + 6) === 'CD001';
}

/** Reads the volume descriptor set; fails with a one-line error when there is no primary descriptor. */
export async function readDescriptorSet(src: ByteSource): Promise<DescriptorSet> {
  let primary: VolumeDescriptor | null = null;
  let joliet: VolumeDescriptor | null = null;
  let bootRecord: BootRecord | null = null;
  let others = 0;
  let terminated = false;
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const b = await src.read(DESCRIPTOR_START + i * SECTOR, SECTOR);
    if (b.length < SECTOR) throw corrupt(src.name, `ISO 9660: truncated volume descriptor set (descriptor ${i})`);
    if (b.toString('latin1', 1, 6) !== 'CD001') {
      throw corrupt(src.name, `ISO 9660: volume descriptor ${i} (sector ${16 + i}) lacks the "CD001" identifier`);
    }
    const type = b[0]!;
    if (type === VD_TERMINATOR) {
      terminated = true;
      break;
    }
    if (type === VD_PRIMARY && !primary) primary = parseVolumeDescriptor(src, b, i);
    else if (type === VD_SUPPLEMENTARY) {
      const d = parseVolumeDescriptor(src, b, i);
      if (d.jolietLevel > 0 && !joliet) joliet = d;
      else others++;
    } else if (type === VD_BOOT_RECORD && !bootRecord) {
      const id = b.toString('latin1', 7, 39).replace(/\0+$/, '');
      bootRecord = { boot_system_identifier: id, bootCatalogSector: id.startsWith('EL TORITO SPECIFICATION') ? b.readUInt32LE(71) : null };
    }
  }
  if (!terminated) throw corrupt(src.name, `ISO 9660: no Volume Descriptor Set Terminator in the first ${MAX_DESCRIPTORS} descriptors`);
  if (!primary) throw corrupt(src.name, 'ISO 9660: no Primary Volume Descriptor');
  for (const d of [primary, joliet]) {
    if (!d) continue;
    const bs = d.logical_block_size;
    if (bs !== 512 && bs !== 1024 && bs !== 2048) {
      throw corrupt(src.name, `ISO 9660: unsupported logical block size ${bs} in volume descriptor ${d.index}`);
    }
  }
  return { primary, joliet, bootRecord, others };
}
