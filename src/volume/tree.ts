/**
 * Builds the volume tree of one or more disks by repeated volume-system passes: each volume is
 * examined once (a filesystem on it ends the descent; else the first volume system whose probe
 * claims it gives it children, which are examined in turn); pooled systems (LVM2) are assembled
 * once no volume is left to examine, and their children examined too, until nothing new appears.
 *
 * Names (the paths every interface uses):
 * - partitions of the first disk: `pN` (Linux numbering); the whole first disk, when it holds no
 *   volume system: `p0`;
 * - further disks (`--disk`): `diskK/pN`, `diskK/p0` (K from 2: the image is disk 1);
 * - a one-parent system nested in a volume: `PARENT/CHILD` (a partition table inside an LV:
 *   `rl/images/p1`);
 * - pooled systems at the top level: `GROUP/CHILD` (LVM2: `VG/LV`, like /dev/VG/LV).
 * A group whose name is already taken at the top level (a VG named `p1`, `disk2` or `.raw`, two
 * VGs of one name from two disks), compared case-insensitively, is shown as `NAME~2` (`~3`, …),
 * with a warning naming the original; partition and disk names never move.
 */
import { DiskpickError } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import { identifyContent } from './identify.js';
import { volumeSystems } from './formats.js';
import type { ChildVolume, PoolMember, SecretKind, VolumeContext, VolumeSystem } from './system.js';
import type { VolumeNode } from './types.js';

export interface TreeDisk {
  source: ByteSource;
  sectorSize: number;
}

export interface VolumeTree {
  /** One node per disk (path "" for the first, "diskK" for the others). */
  disks: VolumeNode[];
  /** Every volume below the disks, in the order found (stable for one set of inputs). */
  volumes: VolumeNode[];
  warnings: string[];
}

export interface TreeOptions {
  /** True when a filesystem module claims the volume (the volume layer knows no filesystems). */
  hasFilesystem(head: Buffer, src: ByteSource): boolean;
  secret?(kind: SecretKind, volumePath: string): Promise<Buffer | null>;
  systems?: VolumeSystem[];
}

// 68 KiB: the Btrfs superblock starts at 64 KiB (src/fs/detect.ts reads as much).
const HEAD_BYTES = 68 * 1024;
/** Bounds against hostile nesting: volumes in all, and volume systems stacked on each other. */
const MAX_VOLUMES = 4096;
const MAX_DEPTH = 8;
export const RESERVED_TOP_NAMES = ['.raw'];

export async function buildVolumeTree(disks: TreeDisk[], opts: TreeOptions): Promise<VolumeTree> {
  const systems = opts.systems ?? volumeSystems;
  const warnings: string[] = [];
  const volumes: VolumeNode[] = [];
  const top = new Set<string>(RESERVED_TOP_NAMES);
  const pending: Array<{ node: VolumeNode; depth: number; sectorSize: number; isDisk: boolean }> = [];
  const members = new Map<VolumeSystem, Array<{ member: PoolMember; node: VolumeNode; sectorSize: number; depth: number }>>();
  const diskNodes: VolumeNode[] = disks.map((d, k) => {
    const path = k === 0 ? '' : `disk${k + 1}`;
    if (path) top.add(path);
    return { path, disk: k, start: 0, size: d.source.size, source: d.source, what: k === 0 ? 'disk' : `disk ${k + 1}`, parent: null };
  });
  diskNodes.forEach((n, k) => pending.push({ node: n, depth: 0, sectorSize: disks[k]!.sectorSize, isDisk: true }));

  const ctxFor = (path: string, sectorSize: number): VolumeContext => ({
    sectorSize,
    volumePath: path,
    secret: (kind, p) => (opts.secret ? opts.secret(kind, p) : Promise.resolve(null)),
    warn: (m) => warnings.push(path ? `${path}: ${m}` : m),
  });

  const addChild = (parent: VolumeNode, c: ChildVolume, path: string, disk: number, depth: number, sectorSize: number) => {
    if (volumes.length >= MAX_VOLUMES) throw new DiskpickError('image', `more than ${MAX_VOLUMES} volumes: damaged or hostile volume metadata`, parent.source?.name ?? path);
    const node: VolumeNode = {
      path, disk, start: c.start, size: c.size, source: c.source, what: c.what, parent,
      ...(c.error ? { error: c.error } : {}), ...(c.partition ? { partition: c.partition } : {}), ...(c.members ? { members: c.members } : {}),
      ...(c.pointTime ? { pointTime: c.pointTime } : {}), ...(c.pointOf !== undefined ? { pointOf: path.slice(0, path.lastIndexOf('/') + 1) + c.pointOf } : {}),
    };
    volumes.push(node);
    pending.push({ node, depth, sectorSize, isDisk: false });
  };

  const examine = async (node: VolumeNode, depth: number, sectorSize: number, isDisk: boolean): Promise<void> => {
    const src = node.source;
    if (!src) return;
    let head: Buffer;
    try {
      head = await src.read(0, HEAD_BYTES);
    } catch (err) {
      // A volume past the end of a truncated image: the filesystem layer reports it when opened.
      if (!isDisk && err instanceof DiskpickError) return;
      throw err;
    }
    if (!isDisk && opts.hasFilesystem(head, src)) return;
    const skipSystems = depth >= MAX_DEPTH;
    if (!skipSystems) {
      for (const sys of systems) {
        if (isDisk && !sys.partitionTable) continue;
        let claimed: boolean;
        try {
          claimed = await sys.probe(head, src, sectorSize);
        } catch (err) {
          // A damaged partition table of the disk itself stops the open, as it always did.
          if (isDisk || !(err instanceof DiskpickError)) throw err;
          warnings.push(`${node.path}: ${err.message}`);
          continue;
        }
        if (!claimed) continue;
        const ctx = ctxFor(node.path, sectorSize);
        if (sys.open) {
          let r;
          try {
            r = await sys.open(src, ctx);
          } catch (err) {
            // Inside a volume, a damaged volume system spoils that volume only.
            if (isDisk || !(err instanceof DiskpickError)) throw err;
            node.system = { name: sys.name, describe: `${sys.name}, unreadable: ${err.message}`, warnings: [err.message] };
            node.error = err;
            return;
          }
          node.system = { name: sys.name, describe: r.describe, warnings: r.warnings, ...(r.details ? { details: r.details } : {}) };
          for (const c of r.children) {
            const path = node.path ? `${node.path}/${c.name}` : c.name;
            if (node.disk === 0 && !node.path) top.add(c.name.toLowerCase());
            addChild(node, c, path, node.disk, depth + 1, sectorSize);
          }
        } else if (sys.readMember) {
          try {
            const m = await sys.readMember(src, ctx);
            node.system = { name: sys.name, describe: m.describe, warnings: [] };
            let list = members.get(sys);
            if (!list) members.set(sys, (list = []));
            list.push({ member: m, node, sectorSize, depth });
          } catch (err) {
            if (!(err instanceof DiskpickError)) throw err;
            node.system = { name: sys.name, describe: `${sys.name} member, unreadable: ${err.message}`, warnings: [err.message] };
            if (!isDisk) node.error = err;
          }
        }
        return;
      }
    }
    if (isDisk) {
      // No partition table: the whole disk is one volume, as Linux would use /dev/sdb.
      addChild(node, { name: 'p0', start: 0, size: src.size, source: src, what: 'whole disk' }, node.path ? `${node.path}/p0` : 'p0', node.disk, depth + 1, sectorSize);
      if (node.disk === 0) top.add('p0');
      return;
    }
    const named = await identifyContent(head, src);
    if (named) node.content = named;
  };

  const assembled = new Set<string>();
  for (let round = 0; round <= MAX_DEPTH; round++) {
    while (pending.length) {
      const p = pending.shift()!;
      await examine(p.node, p.depth, p.sectorSize, p.isDisk);
    }
    let grew = false;
    for (const [sys, list] of members) {
      const fresh = list.filter((m) => !assembled.has(`${sys.name}:${m.member.groupKey}`));
      if (!fresh.length) continue;
      const ctx = ctxFor('', fresh[0]!.sectorSize);
      const groups = await sys.assemble!(fresh.map((m) => ({ member: m.member, path: m.node.path })), ctx);
      for (const m of fresh) assembled.add(`${sys.name}:${m.member.groupKey}`);
      for (const g of groups) {
        if (!g.name) {
          for (const m of g.members) if (fresh[m.index]!.node.system) fresh[m.index]!.node.system!.describe = m.describe;
          continue;
        }
        const name = uniqueTopName(g.name, top);
        if (name !== g.name) warnings.push(`${sys.name} group "${g.name}" is shown as /${name}: its name is already taken at the top level`);
        top.add(name.toLowerCase());
        const groupMembers = g.members.map((m) => fresh[m.index]!);
        g.members.forEach((m) => {
          const n = fresh[m.index]!.node;
          if (n.system) n.system.describe = m.describe;
        });
        for (const w of g.warnings) warnings.push(`${name}: ${w}`);
        if (groupMembers[0]?.node.system) Object.assign(groupMembers[0].node.system, { details: g.details ?? {}, warnings: g.warnings });
        const first = groupMembers[0]?.node ?? null;
        const depth = Math.max(...groupMembers.map((m) => m.depth), 0) + 1;
        for (const c of g.children) {
          addChild(first ?? diskNodes[0]!, c, `${name}/${c.name}`, -1, depth, groupMembers[0]?.sectorSize ?? 512);
          grew = true;
        }
      }
    }
    if (!grew && !pending.length) break;
  }
  return { disks: diskNodes, volumes, warnings };
}

function uniqueTopName(name: string, taken: Set<string>): string {
  if (!taken.has(name.toLowerCase())) return name;
  for (let i = 2; ; i++) if (!taken.has(`${name}~${i}`.toLowerCase())) return `${name}~${i}`;
}
