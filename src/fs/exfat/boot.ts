/**
 * The exFAT boot region (§3): the Main and Backup Boot Sector fields (§3.1, Table 4), their
 * valid ranges and the boot checksum sector (§3.4).
 */
import { readExact, type ByteSource } from '../../source/source.js';

export interface BootSector {
  PartitionOffset: bigint;
  VolumeLength: bigint;
  FatOffset: number;
  FatLength: number;
  ClusterHeapOffset: number;
  ClusterCount: number;
  FirstClusterOfRootDirectory: number;
  VolumeSerialNumber: number;
  FileSystemRevision: number;
  VolumeFlags: number;
  BytesPerSectorShift: number;
  SectorsPerClusterShift: number;
  NumberOfFats: number;
  PercentInUse: number;
}

export const FILE_SYSTEM_NAME = 'EXFAT   ';
/** Main and backup boot regions are 12 sectors each (§2, Table 3). */
export const BOOT_REGION_SECTORS = 12;

function parseBootSector(b: Buffer): BootSector {
  return {
    PartitionOffset: b.readBigUInt64LE(64),
    VolumeLength: b.readBigUInt64LE(72),
    FatOffset: b.readUInt32LE(80),
    FatLength: b.readUInt32LE(84),
    ClusterHeapOffset: b.readUInt32LE(88),
    ClusterCount: b.readUInt32LE(92),
    FirstClusterOfRootDirectory: b.readUInt32LE(96),
    VolumeSerialNumber: b.readUInt32LE(100),
    FileSystemRevision: b.readUInt16LE(104),
    VolumeFlags: b.readUInt16LE(106),
    BytesPerSectorShift: b[108]!,
    SectorsPerClusterShift: b[109]!,
    NumberOfFats: b[110]!,
    PercentInUse: b[112]!,
  };
}

/** Why a boot sector cannot be used, or null when every field is in its valid range (§3.1.x). */
function bootSectorProblem(b: Buffer, bs: BootSector): string | null {
  if (b.toString('latin1', 3, 11) !== FILE_SYSTEM_NAME) return 'no "EXFAT" file system name';
  // MustBeZero covers the FAT BIOS parameter block so FAT drivers never take exFAT for FAT (§3.1.3).
  for (let i = 11; i < 64; i++) if (b[i] !== 0) return 'MustBeZero field is not zero';
  if (b.readUInt16LE(510) !== 0xaa55) return 'boot signature is not 55AA';
  const bps = bs.BytesPerSectorShift;
  if (bps < 9 || bps > 12) return `BytesPerSectorShift ${bps} is outside 9…12`;
  if (bs.SectorsPerClusterShift > 25 - bps) return `SectorsPerClusterShift ${bs.SectorsPerClusterShift} makes clusters over 32 MiB`;
  if (bs.NumberOfFats !== 1 && bs.NumberOfFats !== 2) return `NumberOfFats ${bs.NumberOfFats} is not 1 or 2`;
  if (bs.FileSystemRevision >> 8 !== 1) return `file system revision ${bs.FileSystemRevision >> 8}.${bs.FileSystemRevision & 0xff} is not 1.x`;
  if (bs.FatOffset < 24) return `FatOffset ${bs.FatOffset} is inside the boot regions`;
  if (bs.ClusterCount < 1 || bs.ClusterCount > 0xfffffff5) return `ClusterCount ${bs.ClusterCount} is out of range`;
  const sector = 2 ** bps;
  if (bs.FatLength * sector < (bs.ClusterCount + 2) * 4) return `FatLength ${bs.FatLength} is too small for ${bs.ClusterCount} clusters`;
  if (bs.ClusterHeapOffset < bs.FatOffset + bs.FatLength * bs.NumberOfFats) return 'ClusterHeapOffset overlaps the FAT';
  const heapEnd = BigInt(bs.ClusterHeapOffset) + (BigInt(bs.ClusterCount) << BigInt(bs.SectorsPerClusterShift));
  if (heapEnd > bs.VolumeLength) return 'the cluster heap reaches past VolumeLength';
  const root = bs.FirstClusterOfRootDirectory;
  if (root < 2 || root > bs.ClusterCount + 1) return `FirstClusterOfRootDirectory ${root} is not a cluster of the heap`;
  return null;
}

/** §3.4 Figure 1: a rotate-right-and-add over the 11 sectors, skipping VolumeFlags and PercentInUse. */
function bootChecksum(sectors: Buffer, bytesPerSector: number): number {
  const n = bytesPerSector * 11;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (i === 106 || i === 107 || i === 112) continue;
    sum = (((sum & 1) << 31) | (sum >>> 1)) + sectors[i]!;
    sum >>>= 0;
  }
  return sum;
}

/** Reads and checks one boot region (main at sector 0, backup at sector 12). Null result: problem text. */
export async function readBootRegion(src: ByteSource, firstSector: number, shift: number): Promise<{ bs: BootSector } | { problem: string }> {
  const sector = 2 ** shift;
  const at = firstSector * sector;
  if (at + BOOT_REGION_SECTORS * sector > src.size) return { problem: 'cut short by the end of the volume' };
  const region = await readExact(src, at, BOOT_REGION_SECTORS * sector, 'exFAT boot region');
  const bs = parseBootSector(region);
  if (bs.BytesPerSectorShift !== shift) return { problem: `BytesPerSectorShift ${bs.BytesPerSectorShift} does not match` };
  const problem = bootSectorProblem(region, bs);
  if (problem) return { problem };
  const want = bootChecksum(region, sector);
  // The checksum sector repeats the 32-bit value to its end (§3.4).
  for (let off = 11 * sector; off < 12 * sector; off += 4) {
    if (region.readUInt32LE(off) !== want) return { problem: 'boot checksum mismatch' };
  }
  return { bs };
}

/** The registry's probe (src/fs/formats.ts): FileSystemName of the Main Boot Sector. */
export function probeExfat(head: Buffer): boolean {
  return head.length >= 512 && head.toString('latin1', 3, 11) === FILE_SYSTEM_NAME;
}
