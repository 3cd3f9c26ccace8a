/**
 * Finds the partition table of a virtual disk: GPT (by its header, at 512- or 4096-byte
 * sectors), else MBR, else none (a bare filesystem: the vfs shows it as p0).
 */
import { corrupt } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import { readGpt, hasGptAt } from './gpt.js';
import { looksLikeMbr, parseMbrPartitionRecords, readMbr, hasMbrSignature } from './mbr.js';
import type { PartitionTable } from './types.js';
// The header modules, not the readers: this module loads at every start (issue 27).
import { parseBitLockerHeader as probeBitLocker } from './bitlocker/volume-header.js';
import { probeLuks } from './luks/luks1-header.js';
import type { OpenedSystem, VolumeSystem } from './system.js';
import { identifyContent } from './identify.js';
import { isoVolumesOf } from './eltorito/eltorito.js';

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
  const candidates = forced.has(disk) ? [sectorSize] : sectorSize === 4096 ? [4096, 512] : [512, 4096];
  const mbrEntries = hasMbrSignature(s0) ? parseMbrPartitionRecords(s0) : [];
  const protective = mbrEntries.some((e) => e.OSType === 0xee);
  for (const ss of candidates) {
    if (disk.size < ss * 3) continue;
    // A GPT counts when the MBR is protective, or when there is no valid MBR at all
    // (some tools skip it). A GPT signature behind a plain MBR is a stale leftover.
    if ((protective || !looksLikeMbr(s0)) && (await hasGptAt(disk, ss))) {
      const others = mbrEntries.filter((e) => e.OSType !== 0 && e.OSType !== 0xee).length;
      const t = await readGpt(disk, ss, protective ? (others > 0 ? 'hybrid' : 'protective') : 'none');
      t.details.sectorSizeBy = forced.has(disk) ? '--sector-size' : 'GPT header position';
      return t;
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
  // An encrypted volume without a partition table (BitLocker's header is boot-sector shaped).
  if (probeBitLocker(s0) || probeLuks(s0)) return null;
  if (looksLikeMbr(s0)) return readMbrSized(disk, s0, sectorSize, forced.has(disk));
  const bad = mbrEntries.findIndex((e) => e.OSType !== 0 || e.StartingLBA !== 0 || e.SizeInLBA !== 0);
  if (bad >= 0 && !mbrEntries.every((e) => e.BootIndicator === 0 || e.BootIndicator === 0x80) ) {
    throw corrupt(disk.name, `corrupt partition table: MBR entry ${bad + 1} has an invalid boot indicator`);
  }
  if (bad >= 0) throw corrupt(disk.name, `corrupt partition table: MBR entry ${bad + 1} is invalid (type, start or size)`);
  return null;
}

/**
 * Disks whose sector size the user gave (`--sector-size`): no detection on them.
 * (A WeakMap on the source, as `tables` below: the volume systems' probe takes a sector size only.)
 */
const forced = new WeakSet<ByteSource>();

/** `--sector-size 512|4096`: read the partition table of `disk` at that size, no detection. */
export function forceSectorSize(disk: ByteSource): void {
  forced.add(disk);
}

/**
 * An MBR's sector size is written nowhere: a 4Kn disk (or a VM disk with 4 KiB logical sectors)
 * counts its LBAs in 4096-byte units. Both readings are tried and the one whose partitions start
 * on something recognisable (a filesystem boot sector or superblock, LUKS, BitLocker, an LVM2
 * label, a nested table…) and whose extended chain holds together wins; a tie keeps the
 * container's size (512 unless it carries its own, as VHDX does). The choice is in `info`
 * (`details.sectorSizeDetected`).
 */
async function readMbrSized(disk: ByteSource, s0: Buffer, containerSize: number, isForced: boolean): Promise<PartitionTable> {
  const preferred = containerSize === 4096 ? 4096 : 512;
  if (isForced) {
    const t = await readMbr(disk, s0, preferred);
    t.details.sectorSizeBy = '--sector-size';
    return t;
  }
  const other = preferred === 512 ? 4096 : 512;
  const score = async (ss: number): Promise<{ t: PartitionTable | null; n: number }> => {
    let t: PartitionTable;
    try {
      t = await readMbr(disk, s0, ss);
    } catch {
      return { t: null, n: -1 };
    }
    let n = -2 * t.warnings.length;
    for (const v of t.volumes) {
      if (v.start + 512 > disk.size) {
        n -= 2;
        continue;
      }
      // (A volume cut short by the end of the image is no evidence either way.)
      if (await volumeStartRecognised(v.source).catch(() => false)) n += 2;
    }
    return { t, n };
  };
  const a = await score(preferred);
  // A disk too small to hold the partitions at 4 KiB units says nothing more.
  const b = disk.size >= other * 3 ? await score(other) : { t: null, n: -1 };
  const pick = b.t && b.n > a.n ? b : a;
  if (!pick.t) return readMbr(disk, s0, preferred);
  // 'detection': the other size was tried and lost (or won); 'container': nothing to tell them apart.
  pick.t.details.sectorSizeBy = b.t && a.n !== b.n ? 'detection' : 'container';
  return pick.t;
}

/** True when a volume starts with something diskpick knows (for the MBR sector-size choice). */
async function volumeStartRecognised(src: ByteSource): Promise<boolean> {
  const head = await src.read(0, 68 * 1024).catch(() => Buffer.alloc(0));
  if (head.length < 512) return false;
  if (isFilesystemBootSector(head) || probeBitLocker(head) || probeLuks(head) || hasMbrSignature(head)) return true;
  const at = (off: number, magic: string) => head.length >= off + magic.length && head.toString('latin1', off, off + magic.length) === magic;
  // ext2/3/4 superblock magic at 1024 + 56; an LVM2 label in one of the first four sectors; Btrfs at 64 KiB + 64.
  if (head.length >= 1082 && head.readUInt16LE(1080) === 0xef53) return true;
  for (let k = 0; k < 4; k++) if (at(k * 512, 'LABELONE')) return true;
  if (at(65536 + 64, '_BHRfS_M')) return true;
  return (await identifyContent(head, src)) !== null;
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
      // A hybrid ISO (isohybrid, xorriso): the ISO filesystem of the whole image (p0) and its boot images too.
      const hybridWarnings: string[] = [];
      const hybrid = await isoVolumesOf(src, await src.read(0, 17 * 2048), (m) => hybridWarnings.push(m), ctx.recognises);
      return {
        describe: `${scheme.toUpperCase()}, ${t.sectorSize}-byte sectors, disk id ${t.diskId}${hybrid.length ? ', hybrid ISO 9660 image' : ''}`,
        children: [...hybrid.slice(0, 1), ...t.volumes.map((v) => ({
          name: `p${v.index}`, start: v.start, size: v.size, source: v.source, what: typeWords(v.type), partition: v,
        })), ...hybrid.slice(1)],
        warnings: [...t.warnings, ...hybridWarnings],
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
