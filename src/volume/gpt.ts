/**
 * GUID Partition Table (UEFI spec, chapter 5.3): primary header at LBA 1, backup header at the
 * last LBA; both carry a CRC32 of themselves and of the partition entry array. A damaged
 * primary falls back to the backup, with a warning.
 */
import { corrupt } from '../errors.js';
import { SliceSource, type ByteSource } from '../source/source.js';
import { formatGuid, isZeroGuid } from './guid.js';
import type { PartitionTable, Volume } from './types.js';

export const GPT_SIGNATURE = 'EFI PART';

/**
 * CRC-32 (IEEE 802.3, as the UEFI spec's CRC32) in its reflected form: bit 31 is x^0. Kept as
 * a signed 32-bit value, like every register below: V8 holds those as small integers, where
 * unsigned values of 2^31 and more are heap numbers (an allocation per step in the interpreter).
 */
const CRC32_POLY = 0xedb88320 | 0;
/** The CRC register after shifting in each 4-bit value: 16 entries, made in 64 steps. */
let crcNibbles: Int32Array | undefined;

/** a·b mod P, both reflected polynomials. */
function mulModP(a: number, b: number): number {
  let p = 0;
  for (let m = 1 << 31; m !== 0 && a !== 0; m >>>= 1) {
    if (a & m) {
      p ^= b;
      a ^= m;
    }
    b = b & 1 ? (b >>> 1) ^ CRC32_POLY : b >>> 1;
  }
  return p;
}

/** x^(8·n) mod P: what n zero bytes do to the CRC register. */
function zeroBytesModP(n: number): number {
  let r = 1 << 31;
  let base = 0x00800000; // x^8
  for (; n > 0; n = Math.floor(n / 2)) {
    if (n % 2) r = mulModP(r, base);
    base = mulModP(base, base);
  }
  return r;
}

/**
 * CRC-32 of `b[0, end)` followed by `zeros` zero bytes. Not zlib's crc32: reading node:zlib's
 * crc32 loads the zlib module and its streams on every start of a GPT disk. Four bits a step
 * from a 16-entry table: what is hashed is a 92-byte header and the used entries (a few hundred
 * bytes), and the usual 256-entry table took longer to make (2 048 steps, which V8 went on to
 * optimise on a background thread: ~1.2 ms of CPU of `cat` of a small file, issue 27) than to
 * use. An entry array is mostly unused (zero) entries, whose effect on the register is one
 * multiplication by x^(8·zeros).
 */
export function crc32(b: Uint8Array, end = b.length, zeros = 0): number {
  let t = crcNibbles;
  if (!t) {
    t = crcNibbles = new Int32Array(16);
    for (let i = 0; i < 16; i++) {
      let c = i;
      for (let k = 0; k < 4; k++) c = c & 1 ? (c >>> 1) ^ CRC32_POLY : c >>> 1;
      t[i] = c;
    }
  }
  let c = -1;
  for (let i = 0; i < end; i++) {
    c ^= b[i]!;
    c = t[c & 15]! ^ (c >>> 4);
    c = t[c & 15]! ^ (c >>> 4);
  }
  if (zeros > 0) c = mulModP(c, zeroBytesModP(zeros));
  return (c ^ -1) >>> 0;
}

/** CRC-32 of an entry array: its unused entries at the end (all zero bytes) taken in one step. */
function entryArrayCrc32(arr: Buffer, entrySize: number): number {
  const zero = Buffer.alloc(entrySize);
  let used = arr.length;
  while (used >= entrySize && arr.subarray(used - entrySize, used).equals(zero)) used -= entrySize;
  return crc32(arr, used, arr.length - used);
}

/** EFI_PARTITION_TABLE_HEADER (UEFI 2.x, table 5-5); the offset of each field in the header sector. */
export interface GptHeader {
  /** "EFI PART". Offset 0. */
  Signature: string;
  /** Offset 8. */
  Revision: number;
  /** Bytes covered by HeaderCRC32 (at least 92). Offset 12. */
  HeaderSize: number;
  /** CRC32 of the header with this field zeroed. Offset 16. */
  HeaderCRC32: number;
  /** Offset 24. */
  MyLBA: bigint;
  /** The other header's LBA (the backup's, for the primary). Offset 32. */
  AlternateLBA: bigint;
  /** Offset 40. */
  FirstUsableLBA: bigint;
  /** Offset 48. */
  LastUsableLBA: bigint;
  /** Offset 56, 16 bytes. */
  DiskGUID: string;
  /** Offset 72. */
  PartitionEntryLBA: bigint;
  /** Offset 80. */
  NumberOfPartitionEntries: number;
  /** Offset 84 (128 · 2^n). */
  SizeOfPartitionEntry: number;
  /** CRC32 of the whole entry array. Offset 88. */
  PartitionEntryArrayCRC32: number;
}

/** EFI_PARTITION_ENTRY (UEFI 2.x, table 5-6); offsets from the entry's start. */
export interface GptPartitionEntry {
  /** All zeros: an unused entry. Offset 0, 16 bytes. */
  PartitionTypeGUID: string;
  /** Offset 16, 16 bytes. */
  UniquePartitionGUID: string;
  /** Offset 32. */
  StartingLBA: bigint;
  /** Inclusive. Offset 40. */
  EndingLBA: bigint;
  /** Offset 48. */
  Attributes: bigint;
  /** UTF-16LE, NUL-padded. Offset 56, 72 bytes. */
  PartitionName: string;
}

const MAX_ENTRY_ARRAY = 4 * 1024 * 1024;

function parseHeader(b: Buffer): GptHeader {
  return {
    Signature: b.toString('latin1', 0, 8),
    Revision: b.readUInt32LE(8),
    HeaderSize: b.readUInt32LE(12),
    HeaderCRC32: b.readUInt32LE(16),
    MyLBA: b.readBigUInt64LE(24),
    AlternateLBA: b.readBigUInt64LE(32),
    FirstUsableLBA: b.readBigUInt64LE(40),
    LastUsableLBA: b.readBigUInt64LE(48),
    DiskGUID: formatGuid(b, 56),
    PartitionEntryLBA: b.readBigUInt64LE(72),
    NumberOfPartitionEntries: b.readUInt32LE(80),
    SizeOfPartitionEntry: b.readUInt32LE(84),
    PartitionEntryArrayCRC32: b.readUInt32LE(88),
  };
}

/** Checks signature, size and CRC of a header sector; returns why not when it fails. */
function checkHeader(sector: Buffer, sectorSize: number): GptHeader | string {
  if (sector.length < 92) return 'no GPT signature';
  const h = parseHeader(sector);
  if (h.Signature !== GPT_SIGNATURE) return 'no GPT signature';
  if (h.HeaderSize < 92 || h.HeaderSize > sectorSize) return `header size ${h.HeaderSize} is invalid`;
  const copy = Buffer.from(sector.subarray(0, h.HeaderSize));
  copy.writeUInt32LE(0, 16);
  if (crc32(copy) >>> 0 !== h.HeaderCRC32) return 'header CRC32 mismatch';
  if (h.SizeOfPartitionEntry < 128 || h.SizeOfPartitionEntry % 8 !== 0 || h.SizeOfPartitionEntry > 4096) {
    return `partition entry size ${h.SizeOfPartitionEntry} is invalid`;
  }
  if (h.NumberOfPartitionEntries * h.SizeOfPartitionEntry > MAX_ENTRY_ARRAY) {
    return `partition entry array of ${h.NumberOfPartitionEntries} entries is implausibly large`;
  }
  return h;
}

async function readEntries(disk: ByteSource, h: GptHeader, sectorSize: number): Promise<GptPartitionEntry[] | string> {
  const len = h.NumberOfPartitionEntries * h.SizeOfPartitionEntry;
  const off = Number(h.PartitionEntryLBA) * sectorSize;
  if (!Number.isSafeInteger(off) || off + len > disk.size) return 'partition entry array lies past the end of the disk';
  const arr = await disk.read(off, len);
  if (arr.length < len) return 'partition entry array is cut short';
  if (entryArrayCrc32(arr, h.SizeOfPartitionEntry) !== h.PartitionEntryArrayCRC32) return 'partition entry array CRC32 mismatch';
  const out: GptPartitionEntry[] = [];
  for (let i = 0; i < h.NumberOfPartitionEntries; i++) {
    const e = i * h.SizeOfPartitionEntry;
    if (isZeroGuid(arr, e)) {
      out.push({ PartitionTypeGUID: '', UniquePartitionGUID: '', StartingLBA: 0n, EndingLBA: 0n, Attributes: 0n, PartitionName: '' });
      continue;
    }
    const nameRaw = arr.subarray(e + 56, e + 128).toString('utf16le');
    const nul = nameRaw.indexOf('\0');
    out.push({
      PartitionTypeGUID: formatGuid(arr, e),
      UniquePartitionGUID: formatGuid(arr, e + 16),
      StartingLBA: arr.readBigUInt64LE(e + 32),
      EndingLBA: arr.readBigUInt64LE(e + 40),
      Attributes: arr.readBigUInt64LE(e + 48),
      PartitionName: nul >= 0 ? nameRaw.slice(0, nul) : nameRaw,
    });
  }
  return out;
}

const GPT_TYPES: Record<string, string> = {
  'C12A7328-F81F-11D2-BA4B-00A0C93EC93B': 'EFI System',
  'E3C9E316-0B5C-4DB8-817D-F92DF00215AE': 'Microsoft reserved',
  'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7': 'Microsoft basic data',
  'DE94BBA4-06D1-4D40-A16A-BFD50179D6AC': 'Windows recovery environment',
  '5808C8AA-7E8F-42E0-85D2-E1E90434CFB3': 'Windows LDM metadata',
  'AF9B60A0-1431-4F62-BC68-3311714A69AD': 'Windows LDM data',
  '0FC63DAF-8483-4772-8E79-3D69D8477DE4': 'Linux filesystem',
  '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F': 'Linux swap',
  'E6D6D379-F507-44C2-A23C-238F2A3DF928': 'Linux LVM',
  'A19D880F-05FC-4D3B-A006-743F0F84911E': 'Linux RAID',
  '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709': 'Linux x86-64 root (/)',
  '933AC7E1-2EB4-4F13-B844-0E14E2AEF915': 'Linux /home',
  'BC13C2FF-59E6-4262-A352-B275FD6F7172': 'Linux extended boot',
  '21686148-6449-6E6F-744E-656564454649': 'BIOS boot',
  '48465300-0000-11AA-AA11-00306543ECAC': 'Apple HFS/HFS+',
  '7C3457EF-0000-11AA-AA11-00306543ECAC': 'Apple APFS',
};

export function gptTypeName(guid: string): string {
  return GPT_TYPES[guid] ? `${guid} ${GPT_TYPES[guid]}` : guid;
}

/** Finds "EFI PART" at LBA 1 for the given sector size. */
export async function hasGptAt(disk: ByteSource, sectorSize: number): Promise<boolean> {
  const b = await disk.read(sectorSize, 8);
  return b.toString('latin1') === GPT_SIGNATURE;
}

export async function readGpt(disk: ByteSource, sectorSize: number, protectiveMbr: 'protective' | 'hybrid' | 'none'): Promise<PartitionTable> {
  const warnings: string[] = [];
  const lastLba = Math.floor(disk.size / sectorSize) - 1;
  const primarySector = await disk.read(sectorSize, sectorSize);
  const primary = checkHeader(primarySector, sectorSize);
  let header: GptHeader | null = null;
  let entries: GptPartitionEntry[] | null = null;
  let used = 'primary';
  let primaryProblem = '';
  if (typeof primary !== 'string') {
    const e = await readEntries(disk, primary, sectorSize);
    if (typeof e !== 'string') {
      header = primary;
      entries = e;
    } else primaryProblem = e;
  } else primaryProblem = primary;

  // The backup header is where the primary says, or else in the last sector of the disk.
  const backupLbas = new Set<number>([lastLba]);
  if (typeof primary !== 'string' && primary.AlternateLBA <= BigInt(lastLba)) backupLbas.add(Number(primary.AlternateLBA));
  let backupProblem = '';
  for (const lba of backupLbas) {
    const sector = await disk.read(lba * sectorSize, sectorSize);
    const backup = checkHeader(sector, sectorSize);
    if (typeof backup === 'string') {
      backupProblem = backup;
      continue;
    }
    if (!header) {
      const e = await readEntries(disk, backup, sectorSize);
      if (typeof e === 'string') {
        backupProblem = e;
        continue;
      }
      header = backup;
      entries = e;
      used = 'backup';
      warnings.push(`primary GPT is damaged (${primaryProblem}); using the backup GPT at sector ${lba}`);
    }
    backupProblem = '';
    break;
  }
  if (!header || !entries) {
    throw corrupt(disk.name, `corrupt partition table: primary GPT: ${primaryProblem}; backup GPT: ${backupProblem || 'not found'}`);
  }
  if (used === 'primary' && backupProblem) warnings.push(`backup GPT is damaged or missing (${backupProblem})`);

  const volumes: Volume[] = [];
  const diskSectors = BigInt(lastLba + 1);
  entries.forEach((e, i) => {
    if (!e.PartitionTypeGUID) return;
    const index = i + 1;
    if (e.EndingLBA < e.StartingLBA) {
      warnings.push(`p${index}: ending LBA ${e.EndingLBA} is before starting LBA ${e.StartingLBA}; skipped`);
      return;
    }
    if (e.EndingLBA >= diskSectors) {
      warnings.push(`p${index} ends past the end of the disk (sector ${e.EndingLBA} >= ${diskSectors}): the image is truncated`);
    }
    const start = Number(e.StartingLBA) * sectorSize;
    const size = Number(e.EndingLBA - e.StartingLBA + 1n) * sectorSize;
    if (!Number.isSafeInteger(start + size)) {
      warnings.push(`p${index}: position out of range; skipped`);
      return;
    }
    volumes.push({
      index,
      start,
      size,
      source: new SliceSource(disk, start, size, `${disk.name} (p${index})`),
      type: gptTypeName(e.PartitionTypeGUID),
      name: e.PartitionName || undefined,
      uuid: e.UniquePartitionGUID,
    });
  });
  return {
    scheme: 'gpt',
    sectorSize,
    diskId: header.DiskGUID,
    volumes,
    warnings,
    details: { header: used, protectiveMbr, entries: header.NumberOfPartitionEntries },
  };
}
