/**
 * Master Boot Record partition table with extended/logical chains (EBRs), as Linux numbers
 * it: primaries p1–p4 by slot, logical partitions from p5 in chain order.
 */
import { corrupt } from '../errors.js';
import { readExact, SliceSource, type ByteSource } from '../source/source.js';
import type { PartitionTable, Volume } from './types.js';

/** One 16-byte partition entry at MBR/EBR offset 446 + 16·i. */
export interface MbrPartitionEntry {
  bootIndicator: number; // 0x80 active, 0x00 inactive
  systemId: number; // partition type byte
  startingLba: number;
  sizeInLba: number;
}

export const MBR_SIGNATURE_OFFSET = 510;
const ENTRY_OFFSET = 446;
const MAX_LOGICAL = 256;

export function parseMbrEntries(sector: Buffer): MbrPartitionEntry[] {
  const out: MbrPartitionEntry[] = [];
  for (let i = 0; i < 4; i++) {
    const e = ENTRY_OFFSET + 16 * i;
    out.push({
      bootIndicator: sector[e]!,
      systemId: sector[e + 4]!,
      startingLba: sector.readUInt32LE(e + 8),
      sizeInLba: sector.readUInt32LE(e + 12),
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
  const entries = parseMbrEntries(sector);
  let used = 0;
  for (const e of entries) {
    if (e.bootIndicator !== 0 && e.bootIndicator !== 0x80) return false;
    if (e.systemId === 0) continue;
    if (e.startingLba === 0 || e.sizeInLba === 0) return false;
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
  const entries = parseMbrEntries(sector0);
  const add = (index: number, e: MbrPartitionEntry, baseLba: number, kind: 'primary' | 'logical') => {
    const startLba = baseLba + e.startingLba;
    const start = startLba * sectorSize;
    const size = e.sizeInLba * sectorSize;
    if (startLba + e.sizeInLba > diskSectors) {
      warnings.push(`p${index} ends past the end of the disk (sector ${startLba + e.sizeInLba} > ${diskSectors}): the image is truncated`);
    }
    volumes.push({
      index,
      start,
      size,
      source: new SliceSource(disk, start, size, `${disk.name} (p${index})`),
      type: mbrTypeName(e.systemId),
      bootable: e.bootIndicator === 0x80,
      kind,
    });
  };

  let extended: MbrPartitionEntry | null = null;
  entries.forEach((e, i) => {
    if (e.systemId === 0) return;
    if (isExtended(e.systemId)) {
      if (extended) warnings.push(`more than one extended partition; only the first is read`);
      else extended = e;
      return;
    }
    add(i + 1, e, 0, 'primary');
  });

  if (extended) {
    const ext = extended as MbrPartitionEntry;
    const seen = new Set<number>();
    let ebrLba = ext.startingLba;
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
      const [logical, next] = parseMbrEntries(ebr) as [MbrPartitionEntry, MbrPartitionEntry];
      if (logical.systemId !== 0 && logical.sizeInLba > 0) add(n++, logical, ebrLba, 'logical');
      if (next.systemId === 0 || next.startingLba === 0 || !isExtended(next.systemId)) break;
      ebrLba = ext.startingLba + next.startingLba;
    }
  }

  if (volumes.length === 0 && !extended) throw corrupt(disk.name, 'MBR partition table has no partitions');
  return {
    scheme: 'mbr',
    sectorSize,
    diskId: sector0.readUInt32LE(440).toString(16).padStart(8, '0'),
    volumes,
    warnings,
    details: {},
  };
}
