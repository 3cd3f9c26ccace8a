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
 * - pooled systems at the top level: `GROUP/CHILD` (LVM2: `VG/LV`, like /dev/VG/LV);
 * - the decrypted volume of an encrypted one (LUKS, BitLocker): the encrypted volume's own path
 *   (`p3` is what LUKS on p3 holds; an LVM2 PV in it gives `VG/LV` as any PV does).
 * A group whose name is already taken at the top level (a VG named `p1`, `disk2` or `.raw`, two
 * VGs of one name from two disks), compared case-insensitively, is shown as `NAME~2` (`~3`, …),
 * with a warning naming the original; partition and disk names never move.
 */
import { corrupt, DiskpickError } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import { identifyContent } from './identify.js';
import { volumeSystems } from './formats.js';
import type { ChildVolume, OpenedSystem, PoolMember, SecretKind, VolumeContext, VolumeSystem } from './system.js';
import type { VolumeKeys } from './crypt/keys.js';
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
  /** Keys for encrypted volumes, handed to their volume systems (src/volume/crypt/keys.ts). */
  keys?: VolumeKeys;
  systems?: VolumeSystem[];
}

// 68 KiB: the Btrfs superblock starts at 64 KiB (src/fs/detect.ts reads as much).
const HEAD_BYTES = 68 * 1024;
/** Bounds against hostile nesting: volumes in all, and volume systems stacked on each other. */
const MAX_VOLUMES = 4096;
const MAX_DEPTH = 8;
export const RESERVED_TOP_NAMES = ['.raw'];

export async function buildVolumeTree(disks: TreeDisk[], opts: TreeOptions): Promise<VolumeTree> {
  const b = new VolumeTreeBuilder(disks, opts);
  await b.run();
  return b.tree;
}

type Pending = { node: VolumeNode; depth: number; sectorSize: number; isDisk: boolean };
type Member = { member: PoolMember; node: VolumeNode; sectorSize: number; depth: number };

/**
 * The tree engine, kept after the first build so that a locked volume opened later (the browser
 * asks for its key when it is entered) continues the same passes: what its decrypted volume
 * holds is examined, and pooled systems (LVM on LUKS) assembled, as on the first build.
 */
export class VolumeTreeBuilder {
  readonly tree: VolumeTree;
  private readonly systems: VolumeSystem[];
  private readonly top = new Set<string>(RESERVED_TOP_NAMES);
  private readonly pending: Pending[] = [];
  private readonly members = new Map<VolumeSystem, Member[]>();
  private readonly assembled = new Set<string>();
  private readonly depthOf = new Map<VolumeNode, { depth: number; sectorSize: number }>();

  constructor(disks: TreeDisk[], private readonly opts: TreeOptions) {
    this.systems = opts.systems ?? volumeSystems;
    const diskNodes: VolumeNode[] = disks.map((d, k) => {
      const path = k === 0 ? '' : `disk${k + 1}`;
      if (path) this.top.add(path);
      return { path, disk: k, start: 0, size: d.source.size, source: d.source, what: k === 0 ? 'disk' : `disk ${k + 1}`, parent: null };
    });
    this.tree = { disks: diskNodes, volumes: [], warnings: [] };
    diskNodes.forEach((n, k) => this.pending.push({ node: n, depth: 0, sectorSize: disks[k]!.sectorSize, isDisk: true }));
  }

  private ctxFor(path: string, sectorSize: number, keys = this.opts.keys): VolumeContext {
    const opts = this.opts;
    return {
      sectorSize,
      volumePath: path,
      secret: (kind, p) => (opts.secret ? opts.secret(kind, p) : Promise.resolve(null)),
      ...(keys ? { keys } : {}),
      recognises: async (src) => {
        const head = await src.read(0, HEAD_BYTES);
        if (opts.hasFilesystem(head, src)) return true;
        for (const s of this.systems) {
          try {
            if (await s.probe(head, src, sectorSize)) return true;
          } catch (err) {
            if (!(err instanceof DiskpickError)) throw err;
          }
        }
        return false;
      },
      warn: (m) => this.tree.warnings.push(path ? `${path}: ${m}` : m),
    };
  }

  private addChild(parent: VolumeNode, c: ChildVolume, path: string, disk: number, depth: number, sectorSize: number): void {
    const volumes = this.tree.volumes;
    if (volumes.length >= MAX_VOLUMES) throw corrupt(parent.source?.name ?? path, `more than ${MAX_VOLUMES} volumes: damaged or hostile volume metadata`);
    const node: VolumeNode = {
      path, disk, start: c.start, size: c.size, source: c.source, what: c.what, parent,
      ...(c.error ? { error: c.error } : {}), ...(c.partition ? { partition: c.partition } : {}), ...(c.members ? { members: c.members } : {}),
      ...(c.pointTime ? { pointTime: c.pointTime } : {}), ...(c.pointOf !== undefined ? { pointOf: path.slice(0, path.lastIndexOf('/') + 1) + c.pointOf } : {}),
      ...(c.inPlace ? { inPlace: true } : {}), ...(c.unlock ? { unlock: c.unlock } : {}),
    };
    // In its parent's place: the parent's partition entry and start describe it too.
    if (c.inPlace) {
      if (parent.partition) node.partition = parent.partition;
      if (node.start === null) node.start = parent.start;
    }
    volumes.push(node);
    this.depthOf.set(node, { depth, sectorSize });
    this.pending.push({ node, depth, sectorSize, isDisk: false });
  }

  /** Children of a one-parent system, added under `node`. */
  private adopt(node: VolumeNode, sysName: string, r: OpenedSystem, depth: number, sectorSize: number): void {
    node.system = { name: sysName, describe: r.describe, warnings: r.warnings, ...(r.details ? { details: r.details } : {}), ...(r.encryption ? { encryption: r.encryption } : {}) };
    for (const c of r.children) {
      const path = c.inPlace ? node.path : node.path ? `${node.path}/${c.name}` : c.name;
      if (node.disk === 0 && !node.path) this.top.add(c.name.toLowerCase());
      this.addChild(node, c, path, node.disk, depth + 1, sectorSize);
    }
  }

  private async examine(node: VolumeNode, depth: number, sectorSize: number, isDisk: boolean): Promise<void> {
    const { opts, systems, tree } = this;
    const warnings = tree.warnings;
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
    const skipSystems = depth >= MAX_DEPTH;
    const order = isDisk ? systems : [...systems.filter((s) => s.beforeFilesystems), null, ...systems.filter((s) => !s.beforeFilesystems)];
    for (const sys of skipSystems ? [null] : order) {
      if (sys === null) {
        if (!isDisk && opts.hasFilesystem(head, src)) return;
        continue;
      }
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
      const ctx = this.ctxFor(node.path, sectorSize);
      if (sys.open) {
        let r;
        try {
          r = await sys.open(src, ctx);
        } catch (err) {
          // Inside a volume, a damaged volume system spoils that volume only.
          if (isDisk || !(err instanceof DiskpickError)) throw err;
          node.system = { name: sys.name, describe: `${sys.name}, unreadable: ${err.message}`, warnings: [err.message] };
          node.error = err;
          if (sys.beforeFilesystems) {
            const named = await identifyContent(head, src);
            if (named) node.content = named;
          }
          return;
        }
        this.adopt(node, sys.name, r, depth, sectorSize);
        // An encrypted volume is also named as blkid names it (type, UUID, label), opened or not.
        if (r.encryption) {
          const named = await identifyContent(head, src);
          if (named) node.content = named;
        }
      } else if (sys.readMember) {
        try {
          const m = await sys.readMember(src, ctx);
          node.system = { name: sys.name, describe: m.describe, warnings: [] };
          let list = this.members.get(sys);
          if (!list) this.members.set(sys, (list = []));
          list.push({ member: m, node, sectorSize, depth });
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          node.system = { name: sys.name, describe: `${sys.name} member, unreadable: ${err.message}`, warnings: [err.message] };
          if (!isDisk) node.error = err;
        }
      }
      return;
    }
    if (isDisk) {
      // No partition table: the whole disk is one volume, as Linux would use /dev/sdb.
      this.addChild(node, { name: 'p0', start: 0, size: src.size, source: src, what: 'whole disk' }, node.path ? `${node.path}/p0` : 'p0', node.disk, depth + 1, sectorSize);
      if (node.disk === 0) this.top.add('p0');
      return;
    }
    if (!skipSystems) {
      for (const sys of systems) {
        if (!sys.openUnmarked) continue;
        const r = await sys.openUnmarked(src, this.ctxFor(node.path, sectorSize));
        if (r) return this.adopt(node, sys.name, r, depth, sectorSize);
      }
    }
    const named = await identifyContent(head, src);
    if (named) node.content = named;
  }

  /** Runs passes until nothing new appears. Returns the volumes added by this run. */
  async run(): Promise<VolumeNode[]> {
    const { tree, members, assembled, top, pending } = this;
    const first = tree.volumes.length;
    for (let round = 0; round <= MAX_DEPTH; round++) {
      while (pending.length) {
        const p = pending.shift()!;
        await this.examine(p.node, p.depth, p.sectorSize, p.isDisk);
      }
      let grew = false;
      for (const [sys, list] of members) {
        const fresh = list.filter((m) => !assembled.has(`${sys.name}:${m.member.groupKey}`));
        if (!fresh.length) continue;
        const ctx = this.ctxFor('', fresh[0]!.sectorSize);
        const groups = await sys.assemble!(fresh.map((m) => ({ member: m.member, path: m.node.path })), ctx);
        for (const m of fresh) assembled.add(`${sys.name}:${m.member.groupKey}`);
        for (const g of groups) {
          if (!g.name) {
            for (const m of g.members) if (fresh[m.index]!.node.system) fresh[m.index]!.node.system!.describe = m.describe;
            continue;
          }
          const name = uniqueTopName(g.name, top);
          if (name !== g.name) tree.warnings.push(`${sys.name} group "${g.name}" is shown as /${name}: its name is already taken at the top level`);
          top.add(name.toLowerCase());
          const groupMembers = g.members.map((m) => fresh[m.index]!);
          g.members.forEach((m) => {
            const n = fresh[m.index]!.node;
            if (n.system) n.system.describe = m.describe;
          });
          for (const w of g.warnings) tree.warnings.push(`${name}: ${w}`);
          if (groupMembers[0]?.node.system) Object.assign(groupMembers[0].node.system, { details: g.details ?? {}, warnings: g.warnings });
          const firstNode = groupMembers[0]?.node ?? null;
          const depth = Math.max(...groupMembers.map((m) => m.depth), 0) + 1;
          for (const c of g.children) {
            this.addChild(firstNode ?? tree.disks[0]!, c, `${name}/${c.name}`, -1, depth, groupMembers[0]?.sectorSize ?? 512);
            grew = true;
          }
        }
      }
      if (!grew && !pending.length) break;
    }
    return tree.volumes.slice(first);
  }

  /**
   * Opens a locked volume (the decrypted child of an encrypted one) with `keys`, and examines
   * what it holds. Returns the volumes that appeared below it (none when it was opened but holds
   * a filesystem), or null when the key does not open it (a 'wrongKey' error is thrown instead
   * by the volume's unlock when the key was wrong).
   */
  async unlock(node: VolumeNode, keys: VolumeKeys): Promise<VolumeNode[] | null> {
    if (!node.unlock || node.source) return null;
    const r = await node.unlock(keys);
    if (!r) return null;
    node.source = r.source;
    node.size = r.source.size;
    delete node.error;
    delete node.unlock;
    if (node.parent?.system) {
      node.parent.system.encryption = r.encryption;
      node.parent.system.describe = node.parent.system.describe.replace(/^(\S+) \(locked\):/, '$1:');
    }
    node.what = node.what.replace(/ \(locked\)$/, '');
    const at = this.depthOf.get(node) ?? { depth: 1, sectorSize: 512 };
    this.pending.push({ node, depth: at.depth, sectorSize: at.sectorSize, isDisk: false });
    return this.run();
  }
}

function uniqueTopName(name: string, taken: Set<string>): string {
  if (!taken.has(name.toLowerCase())) return name;
  for (let i = 2; ; i++) if (!taken.has(`${name}~${i}`.toLowerCase())) return `${name}~${i}`;
}
