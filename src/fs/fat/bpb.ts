/**
 * The FAT boot sector: the BIOS Parameter Block (fatgen103 §3.1–3.3, field names from there),
 * the checks that tell a FAT boot sector from others, and BitLocker To Go's variant of it.
 */

/** BIOS Parameter Block, common part and the FAT12/16 or FAT32 extension (fatgen103 §3.1–3.3). */
export interface BiosParameterBlock {
  BS_OEMName: string;
  BPB_BytsPerSec: number;
  BPB_SecPerClus: number;
  BPB_RsvdSecCnt: number;
  BPB_NumFATs: number;
  BPB_RootEntCnt: number;
  BPB_TotSec16: number;
  BPB_Media: number;
  BPB_FATSz16: number;
  BPB_TotSec32: number;
  /** FAT32 only (0 otherwise). */
  BPB_FATSz32: number;
  BPB_ExtFlags: number;
  BPB_RootClus: number;
  BS_BootSig: number;
  BS_VolID: number;
  BS_VolLab: string;
  BS_FilSysType: string;
}

export function parseBpb(b: Buffer): BiosParameterBlock {
  const fat32 = b.readUInt16LE(22) === 0; // BPB_FATSz16 is 0 only on FAT32
  const ext = fat32 ? 64 : 36;
  return {
    BS_OEMName: b.toString('latin1', 3, 11),
    BPB_BytsPerSec: b.readUInt16LE(11),
    BPB_SecPerClus: b[13]!,
    BPB_RsvdSecCnt: b.readUInt16LE(14),
    BPB_NumFATs: b[16]!,
    BPB_RootEntCnt: b.readUInt16LE(17),
    BPB_TotSec16: b.readUInt16LE(19),
    BPB_Media: b[21]!,
    BPB_FATSz16: b.readUInt16LE(22),
    BPB_TotSec32: b.readUInt32LE(32),
    BPB_FATSz32: fat32 ? b.readUInt32LE(36) : 0,
    BPB_ExtFlags: fat32 ? b.readUInt16LE(40) : 0,
    BPB_RootClus: fat32 ? b.readUInt32LE(44) : 0,
    BS_BootSig: b[ext + 2]!,
    BS_VolID: b.readUInt32LE(ext + 3),
    BS_VolLab: b.toString('latin1', ext + 7, ext + 18),
    BS_FilSysType: b.toString('latin1', ext + 18, ext + 26),
  };
}

const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

export function bpbLooksValid(b: Buffer): boolean {
  if (b.length < 512) return false;
  if (b[0] !== 0xeb && b[0] !== 0xe9) return false;
  const oem = b.toString('latin1', 3, 11);
  if (oem === 'NTFS    ' || oem === 'EXFAT   ') return false;
  const p = parseBpb(b);
  return (
    [512, 1024, 2048, 4096].includes(p.BPB_BytsPerSec) &&
    pow2(p.BPB_SecPerClus) && p.BPB_SecPerClus <= 128 &&
    p.BPB_RsvdSecCnt > 0 && p.BPB_NumFATs >= 1 && p.BPB_NumFATs <= 4 &&
    (p.BPB_Media === 0xf0 || p.BPB_Media >= 0xf8) &&
    (p.BPB_TotSec16 !== 0 || p.BPB_TotSec32 !== 0) &&
    (p.BPB_FATSz16 !== 0 || p.BPB_FATSz32 !== 0)
  );
}

export type FatType = 'FAT12' | 'FAT16' | 'FAT32';

/**
 * BitLocker To Go (libbde documentation, "BitLocker To Go volume header"): a FAT32 boot sector
 * with OEM name "MSWIN4.1", then at 0x1A8 the BitLocker identifier
 * {4967D63B-2E29-4AD8-8399-F6A339E3D001} (GUID byte order) and the three FVE metadata offsets.
 * The FAT32 around it is a real, small "discovery volume".
 */
const BITLOCKER_IDENTIFIER = Buffer.from('3bd66749292ed84a8399f6a339e3d001', 'hex');
export const BITLOCKER_TO_GO = 'BitLocker To Go (encrypted; discovery volume shown)';

export function isBitLockerToGo(boot: Buffer): boolean {
  return boot.length >= 0x1b8 && boot.toString('latin1', 3, 11) === 'MSWIN4.1' && boot.subarray(0x1a8, 0x1b8).equals(BITLOCKER_IDENTIFIER);
}
