/**
 * Finds the partition table of a virtual disk: GPT (by its header, at 512- or 4096-byte
 * sectors), else MBR, else none (a bare filesystem: the vfs shows it as p0).
 */
import { corrupt } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import { readGpt, hasGptAt } from './gpt.js';
import { looksLikeMbr, parseMbrEntries, readMbr, hasMbrSignature } from './mbr.js';
import type { PartitionTable } from './types.js';
import type { OpenedSystem, VolumeSystem } from './system.js';

/** A filesystem boot sector at sector 0 (a partition-less volume), not a partition table. */
function isFilesystemBootSector(s: Buffer): boolean {
  const oem = s.toString('latin1', 3, 11);
  if (oem === 'NTFS    ' || oem === 'EXFAT   ') return true;
  if (s[0] !== 0xeb && s[0] !== 0xe9) return false;
  const bytesPerSector = s.readUInt16LE(11);
  const sectorsPerCluster = s[13]!;
  const reserved = s.readUInt16LE(14);
  const fats = s[16]!;
  const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;
  return [512, 1024, 2048, 4096].includes(bytesPerSector) && pow2(sectorsPerCluster) && reserved > 0 && fats >= 1 && fats <= 4;
}

export async function readPartitionTable(disk: ByteSource, sectorSize = 512): Promise<PartitionTable | null> {
  const s0 = await disk.read(0, 512);
  if (s0.length < 512) return null;
  const candidates = sectorSize === 4096 ? [4096, 512] : [512, 4096];
  const mbrEntries = hasMbrSignature(s0) ? parseMbrEntries(s0) : [];
  const protective = mbrEntries.some((e) => e.systemId === 0xee);
  for (const ss of candidates) {
    if (disk.size < ss * 3) continue;
    // A GPT counts when the MBR is protective, or when there is no valid MBR at all
    // (some tools skip it). A GPT signature behind a plain MBR is a stale leftover.
    if ((protective || !looksLikeMbr(s0)) && (await hasGptAt(disk, ss))) {
      const others = mbrEntries.filter((e) => e.systemId !== 0 && e.systemId !== 0xee).length;
      return readGpt(disk, ss, protective ? (others > 0 ? 'hybrid' : 'protective') : 'none');
    }
  }
  if (protective) {
    // Protective MBR but no primary header: the backup may still be there.
    for (const ss of candidates) {
      const last = await disk.read((Math.floor(disk.size / ss) - 1) * ss, 8);
      if (last.toString('latin1') === 'EFI PART') return readGpt(disk, ss, 'protective');
    }
  }
  if (isFilesystemBootSector(s0)) return null;
  if (looksLikeMbr(s0)) return readMbr(disk, s0, sectorSize === 4096 ? 4096 : 512);
  const bad = mbrEntries.findIndex((e) => e.systemId !== 0 || e.startingLba !== 0 || e.sizeInLba !== 0);
  if (bad >= 0 && !mbrEntries.every((e) => e.bootIndicator === 0 || e.bootIndicator === 0x80) ) {
    throw corrupt(disk.name, `corrupt partition table: MBR entry ${bad + 1} has an invalid boot indicator`);
  }
  if (bad >= 0) throw corrupt(disk.name, `corrupt partition table: MBR entry ${bad + 1} is invalid (type, start or size)`);
  return null;
}

/** One reading of a volume's partition table, shared by the GPT and MBR probes and opens. */
const tables = new WeakMap<ByteSource, Promise<PartitionTable | null>>();
function tableOf(src: ByteSource, sectorSize: number): Promise<PartitionTable | null> {
  let t = tables.get(src);
  if (!t) tables.set(src, (t = readPartitionTable(src, sectorSize)));
  return t;
}

/** What `info` shows of a partition type: its name without the GUID or type byte. */
function typeWords(type: string): string {
  const m = /^(?:[0-9A-F-]{36}|0x[0-9a-f]{2}) (.+)$/.exec(type);
  return m ? m[1]! : type;
}

function partitionSystem(scheme: PartitionTable['scheme']): VolumeSystem {
  return {
    name: scheme,
    partitionTable: true,
    async probe(_head, src, sectorSize) {
      return (await tableOf(src, sectorSize))?.scheme === scheme;
    },
    async open(src, ctx): Promise<OpenedSystem> {
      const t = (await tableOf(src, ctx.sectorSize))!;
      return {
        describe: `${scheme.toUpperCase()}, ${t.sectorSize}-byte sectors, disk id ${t.diskId}`,
        children: t.volumes.map((v) => ({
          name: `p${v.index}`, start: v.start, size: v.size, source: v.source, what: typeWords(v.type), partition: v,
        })),
        warnings: t.warnings,
        details: { scheme, sectorSize: t.sectorSize, diskId: t.diskId, ...t.details },
      };
    },
  };
}

export const gptSystem = partitionSystem('gpt');
export const mbrSystem = partitionSystem('mbr');

/** The partition table the GPT/MBR systems read on `src` (for `info`'s partition table line). */
export function partitionTableOf(src: ByteSource, sectorSize: number): Promise<PartitionTable | null> {
  return tableOf(src, sectorSize);
}
