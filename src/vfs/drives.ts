/**
 * Drive letters, as the Windows installation on the disk assigns them (docs/cli.md, "Windows
 * paths"). An NTFS volume holding `Windows\System32\config\SYSTEM` carries Windows' own record
 * in that hive's `MountedDevices` key: a value `\DosDevices\C:` whose data names the volume,
 * either by the MBR disk signature and the partition's byte offset (12 bytes) or, on GPT disks,
 * by "DMIO:ID:" and the partition's unique GUID (24 bytes). Without such a hive (or when none
 * of its values names a volume of these disks: a disk that was re-signed), letters follow the
 * order Windows gives new volumes: the Windows volume (if any) is C:, then the volumes Windows
 * reads (NTFS, FAT, exFAT) in partitions of the types it mounts (GPT basic data; MBR FAT and
 * NTFS/exFAT types), active
 * primary partitions first, then the other primaries, then logical ones, disk by disk.
 */
import { DiskpickError } from '../errors.js';
import { formatGuid } from '../source/bytes.js';
import { keyValues } from './regf/hive.js';
import type { Vfs, VfsVolume } from './vfs.js';
import type { VolumeNode } from '../volume/types.js';

export const SYSTEM_HIVE = ['Windows', 'System32', 'config', 'SYSTEM'];

/** What Windows gives a letter to: filesystems it reads out of the box. */
const WINDOWS_FS = new Set(['NTFS', 'FAT12', 'FAT16', 'FAT32', 'exFAT']);
/**
 * Partition types Windows mounts: on GPT only "Microsoft basic data" (EFI system, reserved,
 * recovery and every non-Windows type get no letter); on MBR the FAT and NTFS/exFAT types
 * (hidden, recovery, OEM and Linux types get none).
 */
const GETS_LETTER = /^(EBD0A0A2-B9E5-4433-87C0-68B6B72699C7|0x(01|04|06|07|0b|0c|0e) )/i;

/** How the letters were found, for `info`. */
export interface DriveSource {
  from: 'registry' | 'order';
  /** The hive read (`/p2/Windows/System32/config/SYSTEM`), when from the registry. */
  hive?: string;
}

const sources = new WeakMap<Vfs, DriveSource>();
export function driveSource(vfs: Vfs): DriveSource | undefined {
  return sources.get(vfs);
}

/** Volumes that are a partition of a disk (not LVs, not shadow copies, not inside another volume system). */
function diskVolumes(vfs: Vfs): VfsVolume[] {
  return vfs.volumes.filter((v) => v.node.partition && v.node.start !== null && v.node.disk >= 0 && !v.name.includes('@') && !inBootImage(v.node));
}

/** Partitions inside an ISO's El Torito hard-disk image: Windows gives a CD's boot image no letter. */
function inBootImage(n: VolumeNode): boolean {
  for (let p = n.parent; p; p = p.parent) if (p.what.startsWith('El Torito')) return true;
  return false;
}

async function mbrSignature(vfs: Vfs, disk: number): Promise<number | null> {
  const c = disk === 0 ? vfs.container : vfs.extraDisks[disk - 1]?.container;
  if (!c) return null;
  const s0 = await c.read(0, 512);
  return s0.length === 512 && s0[510] === 0x55 && s0[511] === 0xaa ? s0.readUInt32LE(440) : null;
}

export async function assignDriveLetters(vfs: Vfs): Promise<Map<string, VfsVolume>> {
  const hives: { vol: VfsVolume; path: string }[] = [];
  for (const v of vfs.volumes) {
    if (v.fs?.info.type !== 'NTFS' || v.name.includes('@')) continue;
    const path = `/${v.name}/${SYSTEM_HIVE.join('/')}`;
    const node = await vfs.lookup(path).catch(() => null);
    if (node && node.stat.type === 'file') hives.push({ vol: v, path });
  }
  for (const h of hives) {
    const m = await fromRegistry(vfs, h.path);
    if (m.size) {
      sources.set(vfs, { from: 'registry', hive: h.path });
      return m;
    }
  }
  sources.set(vfs, { from: 'order' });
  return inWindowsOrder(vfs, hives[0]?.vol);
}

/** The letters a SYSTEM hive's MountedDevices gives to volumes of these disks (empty if none). */
async function fromRegistry(vfs: Vfs, hivePath: string): Promise<Map<string, VfsVolume>> {
  const out = new Map<string, VfsVolume>();
  let values;
  try {
    const src = await vfs.openFile(await vfs.lookup(hivePath));
    try {
      values = await keyValues(src, ['MountedDevices']);
    } finally {
      await src.close();
    }
  } catch (err) {
    if (!(err instanceof DiskpickError)) throw err;
    vfs.onWarning?.(`${hivePath}: drive letters not read from the registry: ${err.message}`);
    return out;
  }
  if (!values) return out;
  const vols = diskVolumes(vfs);
  const signatures = new Map<number, number | null>();
  for (const v of vols) if (!signatures.has(v.node.disk)) signatures.set(v.node.disk, await mbrSignature(vfs, v.node.disk));
  for (const { name, data } of values) {
    const m = /^\\DosDevices\\([A-Z]):$/i.exec(name);
    if (!m) continue;
    const letter = m[1]!.toUpperCase();
    let vol: VfsVolume | undefined;
    if (data.length === 24 && data.toString('latin1', 0, 8) === 'DMIO:ID:') {
      const guid = formatGuid(data, 8);
      vol = vols.find((v) => v.node.partition?.uuid?.toUpperCase() === guid);
    } else if (data.length === 12) {
      const sig = data.readUInt32LE(0);
      const offset = Number(data.readBigUInt64LE(4));
      vol = vols.find((v) => signatures.get(v.node.disk) === sig && v.node.start === offset && !v.node.partition?.uuid);
    }
    if (vol && !out.has(letter)) out.set(letter, vol);
  }
  return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Letters in the order Windows gives them to volumes it finds, from C:. */
function inWindowsOrder(vfs: Vfs, windows: VfsVolume | undefined): Map<string, VfsVolume> {
  const rank = (v: VfsVolume) => (v === windows ? 0 : v.node.partition?.kind === 'logical' ? 3 : v.node.partition?.bootable ? 1 : 2);
  // A disk with no partition table (p0, a partition imaged alone) is one volume, as Windows
  // mounts a "superfloppy".
  const bare = vfs.volumes.filter((v) => v.name === 'p0');
  const candidates = [...bare, ...diskVolumes(vfs)]
    .filter((v) => v.fs && WINDOWS_FS.has(v.fs.info.type) && (v.name === 'p0' || GETS_LETTER.test(v.node.partition?.type ?? '')))
    .map((v, i) => ({ v, i }))
    .sort((a, b) => (a.v === windows ? -1 : a.v.node.disk) - (b.v === windows ? -1 : b.v.node.disk) || rank(a.v) - rank(b.v) || a.i - b.i);
  const out = new Map<string, VfsVolume>();
  let letter = 'C'.charCodeAt(0);
  for (const { v } of candidates) {
    if (letter > 'Z'.charCodeAt(0)) break;
    out.set(String.fromCharCode(letter++), v);
  }
  return out;
}
