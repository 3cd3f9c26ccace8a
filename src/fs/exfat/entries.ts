/**
 * exFAT directory entries (§6, §7): every entry is 32 bytes, EntryType bit 7 is InUse; a
 * file is a File entry (§7.4) with its Stream Extension (§7.6) and File Name (§7.7)
 * secondaries, checked by SetChecksum (§6.3.3).
 */
import type { Timespec } from '../types.js';

export const ENTRY_SIZE = 32;
export const TYPE_END_OF_DIRECTORY = 0x00;
export const TYPE_ALLOCATION_BITMAP = 0x81; // §7.1
export const TYPE_UPCASE_TABLE = 0x82; // §7.2
export const TYPE_VOLUME_LABEL = 0x83; // §7.3
export const TYPE_FILE = 0x85; // §7.4
export const TYPE_VOLUME_GUID = 0xa0; // §7.5
export const TYPE_STREAM_EXTENSION = 0xc0; // §7.6
export const TYPE_FILE_NAME = 0xc1; // §7.7
export const IN_USE = 0x80;
/** TypeImportance bit (§6.2.1.2): 0 = critical, 1 = benign. */
export const BENIGN = 0x20;
/** TypeCategory bit (§6.2.1.3): 0 = primary, 1 = secondary. */
export const SECONDARY = 0x40;

/** FileAttributes (§7.4.4, Table 28). */
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;

/** GeneralSecondaryFlags (§6.4.2). */
export const FLAG_ALLOCATION_POSSIBLE = 0x01;
export const FLAG_NO_FAT_CHAIN = 0x02;

/** Largest folder the spec allows (§9.5): bounds what one readdir reads. */
export const MAX_DIRECTORY_BYTES = 256 * 1024 * 1024;

/** §6.3.3 Figure 2: 16-bit rotate-and-add over the set, skipping the SetChecksum field itself. */
export function entrySetChecksum(set: Buffer): number {
  let sum = 0;
  for (let i = 0; i < set.length; i++) {
    if (i === 2 || i === 3) continue;
    sum = ((((sum & 1) << 15) | (sum >>> 1)) + set[i]!) & 0xffff;
  }
  return sum;
}

/**
 * Timestamp (§7.4.8: DoubleSeconds 0–4, Minute 5–10, Hour 11–15, Day 16–20, Month 21–24,
 * Year 25–31 from 1980), 10msIncrement (§7.4.9: 0–199) and UtcOffset (§7.4.10: bit 7
 * OffsetValid, bits 0–6 a signed count of 15 minutes). The stored time is local; without a
 * valid offset we take it as UTC, the only choice that does not depend on the reader's zone.
 */
export function exfatTime(ts: number, inc10ms: number, utcOffset: number): Timespec | undefined {
  if (ts === 0) return undefined;
  const sec2 = ts & 0x1f;
  const minute = (ts >>> 5) & 0x3f;
  const hour = (ts >>> 11) & 0x1f;
  const day = (ts >>> 16) & 0x1f;
  const month = (ts >>> 21) & 0x0f;
  const year = 1980 + ((ts >>> 25) & 0x7f);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec2 > 29) return undefined;
  let sec = Date.UTC(year, month - 1, day, hour, minute, sec2 * 2) / 1000;
  const inc = inc10ms <= 199 ? inc10ms : 0;
  sec += Math.floor(inc / 100);
  const nsec = (inc % 100) * 10_000_000;
  if (utcOffset & 0x80) {
    const quarters = utcOffset & 0x40 ? (utcOffset & 0x7f) - 0x80 : utcOffset & 0x7f;
    sec -= quarters * 15 * 60;
  }
  return { sec, nsec };
}

/** What one File directory entry set says (§7.4, §7.6, §7.7). */
export interface FileEntrySet {
  name: string;
  attributes: number;
  create?: Timespec;
  modify?: Timespec;
  access?: Timespec;
  flags: number;
  validDataLength: number;
  firstCluster: number;
  dataLength: number;
  /** DataLength exactly as stored (a Number rounds past 2^53). */
  dataLengthExact: bigint;
}

/** Parses a checked entry set; a string is the reason it cannot be used. */
export function parseFileSet(set: Buffer): FileEntrySet | string {
  const secondaryCount = set[1]!;
  if (set[ENTRY_SIZE] !== TYPE_STREAM_EXTENSION) return 'the entry after the File entry is not a Stream Extension';
  const s = set.subarray(ENTRY_SIZE, 2 * ENTRY_SIZE);
  const nameLength = s[3]!;
  if (nameLength < 1) return 'NameLength is 0';
  const nameEntries = Math.ceil(nameLength / 15);
  if (1 + nameEntries > secondaryCount) return `SecondaryCount ${secondaryCount} is too small for a ${nameLength}-character name`;
  const units = Buffer.allocUnsafe(nameEntries * 30);
  for (let i = 0; i < nameEntries; i++) {
    const e = set.subarray((2 + i) * ENTRY_SIZE, (3 + i) * ENTRY_SIZE);
    if (e[0] !== TYPE_FILE_NAME) return `entry ${2 + i} of the set is not a File Name entry`;
    e.copy(units, i * 30, 2, 32);
  }
  // Further secondaries: benign ones (vendor extensions) are ignored (§8.2 item 4); an
  // unrecognised critical one makes the whole set unrecognised (§8.2 item 3).
  for (let i = 2 + nameEntries; i <= secondaryCount; i++) {
    const t = set[i * ENTRY_SIZE]!;
    if (!(t & IN_USE) || !(t & SECONDARY)) return `entry ${i} of the set is not an in-use secondary entry`;
    if (!(t & BENIGN)) return `unrecognised critical secondary entry type 0x${t.toString(16)}`;
  }
  const dataLengthExact = s.readBigUInt64LE(24);
  const dataLength = Number(dataLengthExact);
  const validDataLength = Number(s.readBigUInt64LE(8));
  const f = set;
  return {
    name: units.toString('utf16le', 0, nameLength * 2),
    attributes: f.readUInt16LE(4),
    create: exfatTime(f.readUInt32LE(8), f[20]!, f[22]!),
    modify: exfatTime(f.readUInt32LE(12), f[21]!, f[23]!),
    access: exfatTime(f.readUInt32LE(16), 0, f[24]!),
    flags: s[1]!,
    validDataLength,
    firstCluster: s.readUInt32LE(20),
    dataLength,
    dataLengthExact,
  };
}

/** FileAttributes as the words stat shows. */
export function attributeWords(a: number): string[] {
  const out: string[] = [];
  if (a & ATTR_READ_ONLY) out.push('readonly');
  if (a & ATTR_HIDDEN) out.push('hidden');
  if (a & ATTR_SYSTEM) out.push('system');
  if (a & ATTR_ARCHIVE) out.push('archive');
  return out;
}
