/**
 * The NTFS boot sector (BIOS parameter block + NTFS extension): where the $MFT and its
 * mirror are, and the sizes every other structure is measured in.
 * See docs/formats/ntfs.md "Boot sector".
 */
import { corrupt } from '../../errors.js';

/**
 * Boot sector fields, named as in ntfs-3g's layout.h (NTFS_BOOT_SECTOR and its BIOS_PARAMETER_BLOCK);
 * the sizes worked out from them are camelCase.
 */
export interface NtfsBootSector {
  /** bpb.bytes_per_sector (0x0B). */
  bytes_per_sector: number;
  /** bpb.sectors_per_cluster (0x0D) as stored: 1…128, or 0xF4…0xFF for 2^(256 - n). */
  sectors_per_cluster: number;
  /** 0x28: the volume's length in sectors (the backup boot sector lies past it). */
  number_of_sectors: number;
  /** 0x30: first cluster of the $MFT. */
  mft_lcn: number;
  /** 0x38: first cluster of the $MFTMirr. */
  mftmirr_lcn: number;
  /** 0x40, as stored: > 0 counts clusters, < 0 is log2 of bytes. */
  clusters_per_mft_record: number;
  /** 0x44, the same for index blocks. */
  clusters_per_index_record: number;
  /** 0x48. */
  volume_serial_number: bigint;
  /** Derived: bytes per cluster. */
  clusterSize: number;
  /** Derived: whole clusters in the volume. */
  totalClusters: number;
  /** Derived: bytes per MFT record. */
  mftRecordSize: number;
  /** Derived: bytes per index block. */
  indexBlockSize: number;
}

export const NTFS_OEM_ID = 'NTFS    ';

export function probeNtfsBoot(head: Buffer): boolean {
  return head.length >= 512 && head.toString('latin1', 3, 11) === NTFS_OEM_ID;
}

const isPow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** clusters_per_mft_record / clusters_per_index_record: >0 counts clusters, <0 is log2 of bytes. */
function recordSize(raw: number, clusterSize: number): number {
  const v = raw > 127 ? raw - 256 : raw;
  if (v > 0) return v * clusterSize;
  if (v < -31 || v === 0) return 0;
  return 2 ** -v;
}

export function parseBootSector(b: Buffer, name: string): NtfsBootSector {
  if (!probeNtfsBoot(b)) throw corrupt(name, 'not an NTFS boot sector');
  const bytesPerSector = b.readUInt16LE(0x0b);
  if (!isPow2(bytesPerSector) || bytesPerSector < 256 || bytesPerSector > 4096) {
    throw corrupt(name, `NTFS boot sector: invalid bytes per sector ${bytesPerSector}`);
  }
  // sectors_per_cluster: 1…128 directly; 0xF4…0xFF mean 2^(256-n) (clusters above 64 KiB).
  const spc = b[0x0d]!;
  const sectorsPerCluster = spc <= 0x80 ? spc : spc >= 0xf4 ? 2 ** (256 - spc) : 0;
  const clusterSize = bytesPerSector * sectorsPerCluster;
  if (!isPow2(sectorsPerCluster) || clusterSize > 2 * 1024 * 1024) {
    throw corrupt(name, `NTFS boot sector: invalid sectors per cluster ${spc}`);
  }
  const numberOfSectors = Number(b.readBigUInt64LE(0x28));
  const mftLcn = Number(b.readBigUInt64LE(0x30));
  const mftMirrLcn = Number(b.readBigUInt64LE(0x38));
  const mftRecordSize = recordSize(b[0x40]!, clusterSize);
  const indexBlockSize = recordSize(b[0x44]!, clusterSize);
  if (!isPow2(mftRecordSize) || mftRecordSize < 256 || mftRecordSize > 65536) {
    throw corrupt(name, `NTFS boot sector: invalid MFT record size ${mftRecordSize}`);
  }
  if (!isPow2(indexBlockSize) || indexBlockSize < 256 || indexBlockSize > 65536) {
    throw corrupt(name, `NTFS boot sector: invalid index block size ${indexBlockSize}`);
  }
  if (!Number.isSafeInteger(numberOfSectors) || numberOfSectors <= 0) throw corrupt(name, 'NTFS boot sector: invalid number of sectors');
  const totalClusters = Math.floor((numberOfSectors * bytesPerSector) / clusterSize);
  if (!Number.isSafeInteger(mftLcn) || mftLcn <= 0 || mftLcn >= totalClusters) {
    throw corrupt(name, `NTFS boot sector: $MFT cluster ${mftLcn} is outside the volume`);
  }
  if (!Number.isSafeInteger(mftMirrLcn) || mftMirrLcn >= totalClusters) {
    throw corrupt(name, `NTFS boot sector: $MFTMirr cluster ${mftMirrLcn} is outside the volume`);
  }
  return {
    bytes_per_sector: bytesPerSector,
    sectors_per_cluster: spc,
    number_of_sectors: numberOfSectors,
    mft_lcn: mftLcn,
    mftmirr_lcn: mftMirrLcn,
    clusters_per_mft_record: b[0x40]!,
    clusters_per_index_record: b[0x44]!,
    volume_serial_number: b.readBigUInt64LE(0x48),
    clusterSize,
    totalClusters,
    mftRecordSize,
    indexBlockSize,
  };
}
