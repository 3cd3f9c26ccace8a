/**
 * The BitLocker volume header (libbde, "BitLocker Drive Encryption (BDE) format specification",
 * §"Volume header"): sector 0 of the volume, in three forms.
 * - Windows Vista: an NTFS-like boot sector signed "-FVE-FS-"; FVE metadata block 1 at the
 *   cluster in byte 56 (the block header then gives all three).
 * - Windows 7 and later: "-FVE-FS-", the BitLocker GUID at 160, the three FVE metadata block
 *   offsets at 176/184/192.
 * - BitLocker To Go on FAT: a real FAT32 boot sector ("MSWIN4.1"), the GUID at 424 and the
 *   offsets at 440/448/456: the discovery volume a FAT reader shows, the data encrypted elsewhere.
 */

/** 4967d63b-2e29-4ad8-8399-f6a339e3d001, as stored (mixed-endian GUID). */
export const BITLOCKER_GUID = Buffer.from('3bd66749292ed84a8399f6a339e3d001', 'hex');
/** BitLocker To Go: the same with a last byte of 0x01 on some volumes, "...d01" in libbde's note. */
const BITLOCKER_TOGO_GUID = Buffer.from('3bd66749292ed84a8399f6a339e3d010', 'hex');
/** "Used disk space only" encryption: 92a84d3b-dd80-4d0e-9e4e-b1e3284eaed8. */
const BITLOCKER_USED_ONLY_GUID = Buffer.from('3b4da89280dd0e4d9e4eb1e3284eaed8', 'hex');

export type BitLockerKind = 'vista' | 'win7' | 'togo';

export interface BitLockerVolumeHeader {
  kind: BitLockerKind;
  bytesPerSector: number;
  sectorsPerCluster: number;
  /** Byte offsets of the three FVE metadata blocks (Vista: only the first is known here). */
  metadataOffsets: number[];
}

function isGuid(b: Buffer, at: number): boolean {
  const g = b.subarray(at, at + 16);
  return g.equals(BITLOCKER_GUID) || g.equals(BITLOCKER_TOGO_GUID) || g.equals(BITLOCKER_USED_ONLY_GUID);
}

function offsets(b: Buffer, at: number): number[] {
  return [0, 8, 16].map((d) => Number(b.readBigUInt64LE(at + d)));
}

/** The header of a BitLocker volume, or null when sector 0 is not one. */
export function parseBitLockerHeader(s: Buffer): BitLockerVolumeHeader | null {
  if (s.length < 512 || s[510] !== 0x55 || s[511] !== 0xaa) return null;
  const sig = s.toString('latin1', 3, 11);
  const bytesPerSector = s.readUInt16LE(11);
  const sectorsPerCluster = s[13]!;
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) return null;
  if (sig === '-FVE-FS-') {
    if (isGuid(s, 160)) return { kind: 'win7', bytesPerSector, sectorsPerCluster, metadataOffsets: offsets(s, 176) };
    // Vista: no GUID; the first metadata block's cluster at 56.
    const lcn = Number(s.readBigUInt64LE(56));
    if (sectorsPerCluster === 0) return null;
    return { kind: 'vista', bytesPerSector, sectorsPerCluster, metadataOffsets: [lcn * sectorsPerCluster * bytesPerSector] };
  }
  if (isGuid(s, 424)) return { kind: 'togo', bytesPerSector, sectorsPerCluster, metadataOffsets: offsets(s, 440) };
  return null;
}
