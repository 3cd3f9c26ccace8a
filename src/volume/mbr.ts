/**
 * Master Boot Record partition table with extended/logical chains (EBRs), as Linux numbers
 * it: primaries p1–p4 by slot, logical partitions from p5 in chain order.
 */
import { corrupt } from '../errors.js';
import { readExact, SliceSource, type ByteSource } from '../source/source.js';
import type { PartitionTable, Volume } from './types.js';

/**
 * Legacy MBR (UEFI 2.x, table 5-1), the same layout in every EBR: BootCode (0, 440 bytes),
 * UniqueMBRDiskSignature (440, 4), Unknown (444, 2), PartitionRecord (446, 4 × 16),
 * Signature (510, 0xAA55).
 */
export const MBR_SIGNATURE_OFFSET = 510;
const UNIQUE_MBR_DISK_SIGNATURE_OFFSET = 440;
const PARTITION_RECORD_OFFSET = 446;
const MAX_LOGICAL = 256;

/** One MBR Partition Record (UEFI 2.x, table 5-2), 16 bytes; the CHS fields are not read. */
export interface MbrPartitionRecord {
  /** 0x80 bootable (active), 0x00 not. Offset 0. */
  BootIndicator: number;
  /** The partition type. Offset 4. */
  OSType: number;
  /** First sector, from the start of the disk (MBR) or of the enclosing EBR's base. Offset 8. */
  StartingLBA: number;
  /** Size in sectors. Offset 12. */
  SizeInLBA: number;
}

/** The four partition records of an MBR or EBR sector. */
export function parseMbrPartitionRecords(sector: Buffer): MbrPartitionRecord[] {
  const out: MbrPartitionRecord[] = [];
  for (let i = 0; i < 4; i++) {
    const e = PARTITION_RECORD_OFFSET + 16 * i;
    out.push({
      BootIndicator: sector[e]!,
      OSType: sector[e + 4]!,
      StartingLBA: sector.readUInt32LE(e + 8),
      SizeInLBA: sector.readUInt32LE(e + 12),
    });
  }
  return out;
}

export function hasMbrSignature(sector: Buffer): boolean {
  return sector.length >= 512 && sector[MBR_SIGNATURE_OFFSET] === 0x55 && sector[MBR_SIGNATURE_OFFSET + 1] === 0xaa;
}

/** Entries look like a partition table (not boot code of a filesystem's boot sector). */
export function looksLikeMbr(sector: Buffer): boolean {
  if (!hasMbrSignature(sector)) return false;
  const entries = parseMbrPartitionRecords(sector);
  let used = 0;
  for (const e of entries) {
    if (e.BootIndicator !== 0 && e.BootIndicator !== 0x80) return false;
    if (e.OSType === 0) continue;
    if (e.StartingLBA === 0 || e.SizeInLBA === 0) return false;
    used++;
  }
  return used > 0;
}

export const isExtended = (t: number) => t === 0x05 || t === 0x0f || t === 0x85;

const MBR_TYPES: Record<number, string> = {
  0x01: 'FAT12', 0x04: 'FAT16 <32M', 0x05: 'Extended', 0x06: 'FAT16', 0x07: 'HPFS/NTFS/exFAT',
  0x0b: 'W95 FAT32', 0x0c: 'W95 FAT32 (LBA)', 0x0e: 'W95 FAT16 (LBA)', 0x0f: "W95 Ext'd (LBA)",
  0x11: 'Hidden FAT12', 0x14: 'Hidden FAT16 <32M', 0x16: 'Hidden FAT16', 0x17: 'Hidden HPFS/NTFS',
  0x1b: 'Hidden W95 FAT32', 0x1c: 'Hidden W95 FAT32 (LBA)', 0x1e: 'Hidden W95 FAT16 (LBA)',
  0x27: 'Hidden NTFS WinRE', 0x42: 'SFS / Windows dynamic', 0x82: 'Linux swap', 0x83: 'Linux',
  0x85: 'Linux extended', 0x8e: 'Linux LVM', 0xa5: 'FreeBSD', 0xa6: 'OpenBSD', 0xaf: 'HFS / HFS+',
  0xee: 'GPT', 0xef: 'EFI (FAT-12/16/32)', 0xfd: 'Linux raid autodetect',
};

export function mbrTypeName(t: number): string {
  const hex = `0x${t.toString(16).padStart(2, '0')}`;
  return MBR_TYPES[t] ? `${hex} ${MBR_TYPES[t]}` : hex;
}

/** Reads an MBR (sector already known to look like one) and its logical partitions. */
export async function readMbr(disk: ByteSource, sector0: Buffer, sectorSize: number): Promise<PartitionTable> {
  const warnings: string[] = [];
  const volumes: Volume[] = [];
  const diskSectors = Math.floor(disk.size / sectorSize);
  const entries = parseMbrPartitionRecords(sector0);
  const add = (index: number, e: MbrPartitionRecord, baseLba: number, kind: 'primary' | 'logical') => {
    const startLba = baseLba + e.StartingLBA;
    const start = startLba * sectorSize;
    const size = e.SizeInLBA * sectorSize;
    if (startLba + e.SizeInLBA > diskSectors) {
      warnings.push(`p${index} ends past the end of the disk (sector ${startLba + e.SizeInLBA} > ${diskSectors}): the image is truncated`);
    }
    volumes.push({
      index,
      start,
      size,
      source: new SliceSource(disk, start, size, `${disk.name} (p${index})`),
      type: mbrTypeName(e.OSType),
      bootable: e.BootIndicator === 0x80,
      kind,
    });
  };

  let extended: MbrPartitionRecord | null = null;
  entries.forEach((e, i) => {
    if (e.OSType === 0) return;
    if (isExtended(e.OSType)) {
      if (extended) warnings.push(`more than one extended partition; only the first is read`);
      else extended = e;
      return;
    }
    add(i + 1, e, 0, 'primary');
  });

  if (extended) {
    const ext = extended as MbrPartitionRecord;
    const seen = new Set<number>();
    let ebrLba = ext.StartingLBA;
    let n = 5;
    while (true) {
      if (seen.has(ebrLba)) {
        warnings.push(`extended partition chain loops back to sector ${ebrLba}; stopped there`);
        break;
      }
      if (seen.size >= MAX_LOGICAL) {
        warnings.push(`more than ${MAX_LOGICAL} logical partitions; stopped there`);
        break;
      }
      seen.add(ebrLba);
      if (ebrLba >= diskSectors) {
        warnings.push(`extended boot record at sector ${ebrLba} is past the end of the disk`);
        break;
      }
      const ebr = await readExact(disk, ebrLba * sectorSize, 512, 'extended boot record');
      if (!hasMbrSignature(ebr)) {
        warnings.push(`extended boot record at sector ${ebrLba} has no 55AA signature; chain stopped`);
        break;
      }
      const [logical, next] = parseMbrPartitionRecords(ebr) as [MbrPartitionRecord, MbrPartitionRecord];
      if (logical.OSType !== 0 && logical.SizeInLBA > 0) add(n++, logical, ebrLba, 'logical');
      if (next.OSType === 0 || next.StartingLBA === 0 || !isExtended(next.OSType)) break;
      ebrLba = ext.StartingLBA + next.StartingLBA;
    }
  }

  if (volumes.length === 0 && !extended) throw corrupt(disk.name, 'MBR partition table has no partitions');
  return {
    scheme: 'mbr',
    sectorSize,
    diskId: sector0.readUInt32LE(UNIQUE_MBR_DISK_SIGNATURE_OFFSET).toString(16).padStart(8, '0'),
    volumes,
    warnings,
    details: {},
  };
}
