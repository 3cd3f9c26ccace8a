/**
 * One tree over a whole image (and the further disks given with it): `/` lists the volumes as
 * `p1`, `p2`, … (`p0` for a disk with no partition table), LVM logical volumes as `VG/LV`
 * folders, further disks as `diskK/…` (naming rules: src/volume/tree.ts), and `/VOLUME/…` is
 * the filesystem inside. Every interface (CLI, FUSE, TUI) walks this tree, so paths mean the
 * same everywhere.
 */
import { stat as hostStat } from '../source/host-fs.js';
import { cannotOpen, corrupt, DiskpickError } from '../errors.js';
import { openContainer, type OpenContainerOptions } from '../container/open.js';
import { displayImageName } from '../container/remote-open.js';
import { parseImageArg } from '../container/point.js';
import type { ChainLevel, Container } from '../container/container.js';
import { isDamageWarning } from '../container/damage.js';
import { forceSectorSize, partitionTableOf } from '../volume/detect.js';
import type { PartitionTable, Volume, VolumeNode } from '../volume/types.js';
import { VolumeTreeBuilder } from '../volume/tree.js';
import { readCatalog, type VssStoreEntry } from '../volume/vss/catalog.js';
import { ShadowCopySource } from '../volume/vss/shadow.js';
import type { SecretKind } from '../volume/system.js';
import { openFilesystem } from '../fs/detect.js';
import { fsFormats } from '../fs/formats.js';
import { canFindOrphans, withOrphans } from '../fs/orphans.js';
import { dropEntries, JoinedNameList, type FileSystem, type FsInfo, type FsNode, type NameList, type Stat, type StreamInfo, type Timespec } from '../fs/types.js';
import type { ByteSource } from '../source/source.js';
import { ZeroSource } from '../source/source.js';
import { openHostFile } from '../source/index.js';
import { hasKeys, noKeys, type EncryptionInfo, type VolumeKeys } from '../volume/crypt/keys.js';
import { assignDriveLetters, driveSource, type DriveSource } from './drives.js';

export interface VfsVolume {
  /** Its path: "p1", "p0", "rl/root", "disk2/p1". */
  name: string;
  /** Number of the volume in this run (order found): unique, stable for one set of inputs. */
  id: number;
  /** The partition entry (partitions), or the volume's facts in the same shape (LVs). */
  volume: Volume;
  /** Its place in the volume tree. */
  node: VolumeNode;
  fs: FileSystem | null;
  /** Why no filesystem could be read on this volume. */
  fsError: DiskpickError | null;
  /** An encrypted volume (LUKS, BitLocker): what its header says; `volume.source` is then the decrypted data. */
  encryption?: EncryptionInfo;
  /** An encrypted volume's decrypted volume (the tree's child shown in its place); `node` is the encrypted one. */
  inner?: VolumeNode;
  /** Volumes nested in it (a partition table inside an LV), by name. */
  kids?: Map<string, VolumeEntry>;
  /** Its folder's inode number among the synthetic folders. */
  ino: number;
  /** A device of a filesystem that spans several volumes (Btrfs), shown at this volume path instead. */
  shownAt?: string;
}

/** A synthetic folder of the volume namespace: "/", a VG ("rl"), a further disk ("disk2"). */
export interface VolumeDir {
  path: string;
  name: string;
  ino: number;
  kids: Map<string, VolumeEntry>;
}

export type VolumeEntry = { dir: VolumeDir } | { vol: VfsVolume };

export type VfsPlace =
  | { kind: 'root' }
  | { kind: 'group'; dir: VolumeDir }
  | { kind: 'volume'; vol: VfsVolume }
  | { kind: 'fs'; vol: VfsVolume; node: FsNode };

/** The folders above a node, innermost first, by identity (volume + inode). */
interface Ancestry {
  key: string;
  up: Ancestry | undefined;
}

export interface VfsNode {
  /** Normalized absolute path: "/", "/p1", "/p1/Users/anna/report.docx". */
  path: string;
  /** Folders this node lies in (for loop detection in damaged trees). */
  ancestry?: Ancestry;
  name: string;
  stat: Stat;
  place: VfsPlace;
  system?: boolean;
  /** Only name, stat.type and stat.ino are real (a names-only readdir); see Vfs.complete. */
  partial?: boolean;
}

/** A folder's children by column, with Vfs nodes (see Vfs.readdirNames; volumes: their synthetic ino). */
export type VfsNameList = NameList<VfsNode>;

export interface VolumeInfo {
  /** Its path ("p1", "rl/root"). */
  name: string;
  /** Byte offset in its disk; null for LVs (made of extents of PVs). */
  start: number | null;
  size: number;
  /** The volume it lies in ("p2" for an LV's first PV; "" the first disk, "disk2"). */
  parent: string | null;
  /** Which disk it lies on (0: the image), -1 for volumes over several (LVs). */
  disk: number;
  /** One line: the partition type, "LVM2 PV of VG rl (3 LVs)", "LV linear, 2 segments". */
  what: string;
  /** The volume system found on it (gpt, mbr, lvm2), if any, with its facts. */
  system: { name: string; describe: string; details?: Record<string, string | number | boolean>; warnings: string[] } | null;
  /** A format named but not read (LUKS2, BitLocker, swap …). */
  content: { type: string; uuid?: string; label?: string } | null;
  /** LUKS/BitLocker: header facts only (never a key); the filesystem is the decrypted one's. */
  encryption: EncryptionInfo | null;
  /** The volumes it is built from (an LV's PVs). */
  members: string[] | null;
  partitionType: string | null;
  partitionName: string | null;
  partitionUuid: string | null;
  bootable: boolean;
  filesystem: FsInfo | null;
  error: string | null;
  /** Its Windows drive letter ("C"), once read (Vfs.driveLetters; src/vfs/drives.ts). */
  drive?: string | null;
}

export interface ImageInfo {
  file: string;
  /** Further disks opened with the image (`--disk`), as disk2, disk3, … */
  disks: Array<{ name: string; file: string; format: string; variant: string; virtualSize: number }>;
  /** Problems of the volume layer (missing PVs, renamed groups, older metadata). */
  warnings: string[];
  /** Findings that are not errors: "no partition table or filesystem recognised". */
  findings: string[];
  /**
   * What is damaged in the image files (a file cut short: how much is missing); empty when
   * sound. The rest of the image is read; reads of the damaged part fail for what needs them.
   */
  damaged: string[];
  container: {
    format: string;
    variant: string;
    virtualSize: number;
    sectorSize: number;
    chain: ChainLevel[];
    warnings: string[];
    /** Format facts (EWF acquiry metadata), when the format has any. */
    details?: Record<string, string>;
  };
  partitionTable: Omit<PartitionTable, 'volumes'> | null;
  /** The volume system of the whole disk when it is no partition table (an ISO image with its El Torito boot images). */
  diskSystem?: string;
  volumes: VolumeInfo[];
  /** Where the drive letters come from (the SYSTEM hive read, or Windows' order), once read. */
  driveLetters?: DriveSource;
}

export interface VfsOpenOptions extends OpenContainerOptions {
  /** Further disks of the same machine (a VG over several disks), opened with the image. */
  disks?: string[];
  /**
   * Open even when nothing is recognised (`info` describes the container and says so); else
   * such an image is a one-line "not a disk image" error.
   */
  allowEmpty?: boolean;
  /**
   * Keys for encrypted volumes, asked for by volume systems that need one (LUKS, BitLocker):
   * `kind` says what is wanted, `volumePath` which volume ("p3"). null: none given (the volume
   * is then listed, locked).
   */
  secret?: (kind: SecretKind, volumePath: string) => Promise<Buffer | null>;
  /** Show files in use that no folder lists under /pN/$Orphans/ (filesystems that can find them). */
  orphans?: boolean;
  /** Check data checksums where the filesystem has them (Btrfs); default true (`--no-verify` turns it off). */
  verifyData?: boolean;
  /** Keys for encrypted volumes (options, environment, a prompt): src/volume/crypt/keys.ts. */
  keys?: VolumeKeys;
  /** `--sector-size`: the logical sector size of the image's partition table, not detected. */
  sectorSize?: 512 | 4096;
}

/**
 * A path as a Windows admin types it, in the tree's `/` form (docs/cli.md, "Windows paths"):
 * a path holding no `/` but a `\` (`\p2\Users`, `p2\Users\*.docx`) uses `\` as its
 * separator (glob characters are then made literal with brackets, `[*]`); a path with a `/`
 * keeps `\` as the glob escape. `C:\Users` and `C:/Users` start at drive C (`/C:/Users`, which
 * Vfs.child resolves through the drive letters). Anything else is returned as it is.
 */
export function windowsToTreePath(path: string): string {
  const drive = /^([A-Za-z]):(?:[\\/]|$)/.exec(path);
  let rest = drive ? path.slice(2) : path;
  if (!rest.includes('/') && rest.includes('\\')) rest = rest.replace(/\\/g, '/');
  if (drive) return `/${drive[1]!.toUpperCase()}:${rest.startsWith('/') || rest === '' ? rest : `/${rest}`}`;
  return rest;
}

/** "C:" (a drive letter as the first name of a path). */
export const DRIVE_NAME = /^[A-Za-z]:$/;

/** Name order of listings: by UTF-16 code unit, as `LC_ALL=C ls` orders ASCII names. */
export function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * A names-only listing in name order (its columns permuted together); already sorted: as is.
 * Measured on the ext bench image (100 103 entries, `ls -R`, 12 alternating runs at load ~23):
 * 0.206 s of CPU sorted against 0.203 s with -U (+1.6 %); the walk alone, in process, 16 → 22 ms.
 */
function sortNameList<Node>(l: NameList<Node>): NameList<Node> {
  const names = l.names;
  let sorted = true;
  for (let i = 1; i < names.length && sorted; i++) if (names[i - 1]! > names[i]!) sorted = false;
  if (sorted) return l;
  const order = Array.from({ length: names.length }, (_, i) => i);
  order.sort((a, b) => compareNames(names[a]!, names[b]!));
  return {
    names: order.map((i) => names[i]!),
    types: order.map((i) => l.types[i]!),
    inos: order.map((i) => l.inos[i]!),
    nodes: order.map((i) => l.nodes[i]),
  };
}

/** Splits a user path into components (`/` separates; see windowsToTreePath for `\`); ".." stays inside the image. */
export function splitPath(path: string): string[] {
  if (path.includes('\0')) throw new DiskpickError('usage', 'path contains a NUL byte', path);
  const parts: string[] = [];
  for (const p of path.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') parts.pop();
    else parts.push(p);
  }
  return parts;
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

export class Vfs {
  private constructor(
    readonly imagePath: string,
    readonly container: Container,
    /** Further disks (`--disk`), in the order given: disk2, disk3, … */
    readonly extraDisks: Array<{ file: string; container: Container; inImage?: boolean }>,
    readonly table: PartitionTable | null,
    /** Every volume, in the order found (partitions, then LVs …). */
    readonly volumes: VfsVolume[],
    private readonly top: VolumeDir,
    private readonly treeWarnings: string[],
    private readonly findings: string[],
    private readonly imageTime: Timespec,
  ) {}

  static async open(imagePath: string, opts: VfsOpenOptions = {}): Promise<Vfs> {
    // A point suffix (src/container/point.ts): the container applies @level and @snap, the
    // shadow copy of @vss:K is chosen below.
    const ref = await parseImageArg(imagePath);
    const container = await openContainer(imagePath, opts);
    const extra: Array<{ file: string; container: Container; inImage?: boolean }> = [];
    let header: ByteSource | undefined;
    try {
      if (opts.keys?.headerFile) {
        header = await openHostFile(opts.keys.headerFile);
        opts = { ...opts, keys: { ...opts.keys, header } };
      }
      // Disks the image itself holds (an OVA's further disks) come first, then `--disk` ones.
      for (const d of container.moreDisks ?? []) extra.push({ file: d.label, container: d.container, inImage: true });
      for (const d of opts.disks ?? []) {
        const c = await openContainer(d, opts);
        extra.push({ file: d, container: c });
        for (const m of c.moreDisks ?? []) extra.push({ file: m.label, container: m.container, inImage: true });
      }
      // An image given by URL has no host file: its folders carry the server's Last-Modified.
      const ms = /^(https?|s3):\/\//i.test(ref.file) ? container.remoteMtimeMs ?? Date.now() : (await hostStat(ref.point?.kind === 'level' ? container.chain[0]!.file : ref.file)).mtimeMs;
      const imageTime = { sec: Math.floor(ms / 1000), nsec: Math.round((ms % 1000) * 1e6) };
      const builder = new VolumeTreeBuilder(
        [container, ...extra.map((e) => e.container)].map((c) => {
          if (opts.sectorSize) forceSectorSize(c);
          return { source: c, sectorSize: opts.sectorSize ?? c.sectorSize };
        }),
        { hasFilesystem: (head, src) => fsFormats.some((f) => f.probe(head, src)), ...(opts.secret ? { secret: opts.secret } : {}), ...(opts.keys ? { keys: opts.keys } : {}) },
      );
      await builder.run();
      const tree = builder.tree;
      const diskSystem = tree.disks[0]!.system;
      const table = diskSystem && (diskSystem.name === 'gpt' || diskSystem.name === 'mbr') ? await partitionTableOf(container, opts.sectorSize ?? container.sectorSize) : null;
      const volumes: VfsVolume[] = [];
      let nextIno = 2;
      const topDir: VolumeDir = { path: '/', name: '', ino: 1, kids: new Map() };
      const dirs = new Map<string, VolumeDir>([['', topDir]]);
      const byPath = new Map<string, VfsVolume>();
      /** The folder a volume path's last name goes into (made as needed: "rl", "disk2"). */
      const folderOf = (path: string): Map<string, VolumeEntry> => {
        const slash = path.lastIndexOf('/');
        if (slash < 0) return topDir.kids;
        const up = path.slice(0, slash);
        const vol = byPath.get(up);
        if (vol) return (vol.kids ??= new Map());
        let d = dirs.get(up);
        if (!d) {
          d = { path: `/${up}`, name: up.slice(up.lastIndexOf('/') + 1), ino: nextIno++, kids: new Map() };
          dirs.set(up, d);
          folderOf(up).set(d.name, { dir: d });
        }
        return d.kids;
      };
      // A filesystem spanning several volumes (multi-device Btrfs) finds its devices among these.
      const multi = { peers: tree.volumes.filter((n) => n.source && !n.error && !n.system).map((n) => n.source!), taken: new Map<ByteSource, string>() };
      const place = new VolumePlacer(volumes, byPath, folderOf, () => nextIno++, opts, multi);
      await place.add(tree.volumes);
      // A key that was given and opens none of the encrypted volumes is an error now, before
      // any output: a wrong key, not a listing of locked volumes.
      const encrypted = volumes.filter((v) => v.encryption);
      if (hasKeys(opts.keys) && encrypted.length > 0 && encrypted.every((v) => v.encryption!.locked)) {
        throw encrypted.find((v) => v.fsError?.kind === 'wrongKey' && v.fsError.message.startsWith('wrong key'))?.fsError ?? encrypted[0]!.fsError!;
      }
      if (opts.keys?.header && !volumes.some((v) => v.encryption && !v.encryption.locked)) {
        throw new DiskpickError('wrongKey', 'wrong key: the detached header opens with no key given, or no volume holds its data', opts.keys.header.name);
      }
      // Volume Shadow Copies of NTFS volumes: each a volume of its own beside it, `p2@vss1` …
      // (docs/points-in-time.md). One small read per NTFS volume finds whether it has any.
      for (const v of [...volumes]) {
        if (v.fs?.info.type !== 'NTFS' || !v.node.source) continue; // (an opened BitLocker volume: its decrypted bytes, below)
        for (const sv of await shadowCopies(v, opts, () => nextIno++, volumes.length, tree.warnings)) {
          volumes.push(sv);
          byPath.set(sv.name, sv);
          folderOf(sv.name).set(sv.name.slice(sv.name.lastIndexOf('/') + 1), { vol: sv });
        }
      }
      if (ref.point?.kind === 'vss') asOfShadowCopy(volumes, folderOf, ref.point.store, imagePath);
      const findings: string[] = [];
      if (!tree.disks.some((d) => d.system) && !volumes.some((v) => v.fs || v.encryption || v.node.system || v.node.content || v.kids)) {
        const only = volumes.length === 1 ? volumes[0]! : null;
        const why = only?.fsError && only.fsError.message !== 'unknown filesystem' ? ` (${only.fsError.message})` : '';
        // A filesystem that was recognised but uses what diskpick does not read keeps its exit code (6).
        const kind = only?.fsError?.kind === 'unsupported' ? 'unsupported' : 'image';
        if (!opts.allowEmpty) throw new DiskpickError(kind, `not a disk image: no partition table and no known filesystem${why}`, displayImageName(imagePath));
        findings.push(`no partition table or filesystem recognised${why}`);
      }
      // By URL: shown without credentials wherever the tree names its image (info, logs, titles).
      const vfs = new Vfs(displayImageName(imagePath), container, extra, table, volumes, topDir, tree.warnings, findings, imageTime);
      if (diskSystem && !table) vfs.diskSystem = diskSystem.describe;
      for (const v of volumes) if (v.fs) vfs.warningsSeen.set(v, v.fs.info.warnings.length);
      vfs.header = header;
      vfs.openOptions = opts;
      vfs.imageArg = imagePath;
      vfs.builder = builder;
      vfs.placer = place;
      return vfs;
    } catch (err) {
      await header?.close().catch(() => undefined);
      for (const e of extra) if (!e.inImage) await e.container.close().catch(() => undefined);
      await container.close().catch(() => undefined);
      throw err;
    }
  }

  /** See ImageInfo.diskSystem. */
  diskSystem?: string;

  info(): ImageInfo {
    const c = this.container;
    let tableInfo: ImageInfo['partitionTable'] = null;
    if (this.table) {
      const { volumes: _v, ...rest } = this.table;
      tableInfo = rest;
    }
    return {
      file: this.imagePath,
      disks: this.extraDisks.map((d, k) => ({ name: `disk${k + 2}`, file: displayImageName(d.file), format: d.container.format, variant: d.container.variant, virtualSize: d.container.size })),
      warnings: this.treeWarnings,
      findings: this.findings,
      damaged: c.warnings.filter(isDamageWarning),
      container: {
        format: c.format,
        variant: c.variant,
        virtualSize: c.size,
        sectorSize: c.sectorSize,
        chain: c.chain,
        warnings: c.warnings,
        ...(c.details ? { details: c.details } : {}),
      },
      partitionTable: tableInfo,
      ...(this.diskSystem ? { diskSystem: this.diskSystem } : {}),
      ...(this.driveMap ? { driveLetters: driveSource(this) } : {}),
      volumes: this.volumes.map((v) => {
        const n = v.node;
        const inner = v.inner?.source ? v.inner : null;
        return {
          name: v.name,
          start: n.start,
          size: n.size,
          parent: n.parent ? n.parent.path : null,
          disk: n.disk,
          what: n.what,
          // An opened encrypted volume: the volume system inside it (an LVM2 PV); its
          // encryption is in `encryption`.
          system: (inner ? inner.system : n.system) ?? null,
          content: n.content ?? inner?.content ?? null,
          members: n.members ?? null,
          partitionType: n.partition ? n.partition.type : null,
          partitionName: n.partition?.name ?? null,
          partitionUuid: n.partition?.uuid ?? null,
          bootable: n.partition?.bootable ?? false,
          filesystem: v.fs ? v.fs.info : null,
          error: v.fsError ? v.fsError.message : null,
          encryption: v.encryption ?? null,
          ...(this.driveMap ? { drive: [...this.driveMap].find(([, d]) => d === v)?.[0] ?? null } : {}),
        };
      }),
    };
  }

  private dirStat(ino: number): Stat {
    const t = this.imageTime;
    return {
      type: 'dir', size: 0, allocated: 0, mode: 0o755, uid: 0, gid: 0, nlink: 2, ino,
      atime: t, mtime: t, ctime: t, hasOwnership: false,
    };
  }

  root(): VfsNode {
    return { path: '/', name: '', stat: this.dirStat(1), place: { kind: 'root' } };
  }

  private entryNode(e: VolumeEntry): VfsNode {
    if ('dir' in e) return { path: e.dir.path, name: e.dir.name, stat: this.dirStat(e.dir.ino), place: { kind: 'group', dir: e.dir } };
    const vol = e.vol;
    return { path: `/${vol.name}`, name: vol.name.slice(vol.name.lastIndexOf('/') + 1), stat: this.dirStat(vol.ino), place: { kind: 'volume', vol } };
  }

  /** The volume-namespace entries under a synthetic folder (or a volume holding volumes), or null. */
  private volumeKids(dir: VfsNode): Map<string, VolumeEntry> | null {
    const pl = dir.place;
    if (pl.kind === 'root') return this.top.kids;
    if (pl.kind === 'group') return pl.dir.kids;
    if (pl.kind === 'volume' && !pl.vol.fs && pl.vol.kids) return pl.vol.kids;
    return null;
  }

  /** A volume's path names: exactly, else ignoring case (users type P1 or RL). */
  private static findEntry(kids: Map<string, VolumeEntry>, name: string): VolumeEntry | null {
    const hit = kids.get(name);
    if (hit) return hit;
    const low = name.toLowerCase();
    for (const [k, e] of kids) if (k.toLowerCase() === low) return e;
    return null;
  }

  /** The node at `path`; symlinks inside the image are not followed. */
  async lookup(path: string): Promise<VfsNode> {
    const parts = splitPath(windowsToTreePath(path));
    let node = this.root();
    for (const part of parts) {
      const next = await this.child(node, part);
      if (!next) {
        // The first name of a path is a volume: say which there are (`ls bare.vhdx /Documents`).
        if (node.place.kind === 'root') throw new DiskpickError('notFound', `no such volume; paths start with a volume: ${this.volumeHint()}`, `/${part}`);
        throw new DiskpickError('notFound', 'no such file or folder in the image', joinPath(node.path, part));
      }
      node = next;
    }
    return node;
  }

  /** "/p1, /p2, C: (/p2)" — how paths start, for hints. */
  volumeHint(): string {
    const names = [...this.top.kids.keys()].map((k) => `/${k}`);
    const shown = names.length > 8 ? [...names.slice(0, 8), '…'] : names;
    const drives = this.driveMap ? [...this.driveMap].map(([l, v]) => `${l}: (/${v.name})`) : [];
    return [...shown, ...drives].join(', ') || 'none';
  }

  /** Drive letters as the Windows installation on the disk assigns them (src/vfs/drives.ts), once read. */
  private driveMap: Map<string, VfsVolume> | null = null;

  /** Drive letter ("C") → volume, as Windows on this disk sees it, or in Windows' own order (src/vfs/drives.ts). */
  async driveLetters(): Promise<Map<string, VfsVolume>> {
    if (!this.driveMap) this.driveMap = await assignDriveLetters(this);
    return this.driveMap;
  }

  /**
   * Resolves `PATH` or `PATH:STREAM` (an NTFS alternate data stream). A name that itself
   * contains ":" (possible on ext) wins over the stream reading.
   */
  async lookupWithStream(path: string): Promise<{ node: VfsNode; stream?: string }> {
    try {
      return { node: await this.lookup(path) };
    } catch (err) {
      const parts = splitPath(path);
      const last = parts[parts.length - 1] ?? '';
      const colon = last.indexOf(':');
      if (!(err instanceof DiskpickError) || err.kind !== 'notFound' || colon <= 0) throw err;
      const node = await this.lookup([...parts.slice(0, -1), last.slice(0, colon)].join('/'));
      const stream = last.slice(colon + 1);
      const streams = await this.streams(node);
      if (!streams.some((s) => s.name === stream)) {
        throw new DiskpickError('notFound', `no stream named "${stream}"`, node.path);
      }
      return { node, stream };
    }
  }

  /** One child of a folder node, by name (filesystem case rules), or null. */
  async child(dir: VfsNode, name: string): Promise<VfsNode | null> {
    const vkids = this.volumeKids(dir);
    if (vkids) {
      const e = Vfs.findEntry(vkids, name);
      if (!e && dir.place.kind === 'root' && DRIVE_NAME.test(name)) {
        // `C:` stands for the volume Windows calls C (not listed: an alias, also in the mount).
        const vol = (await this.driveLetters()).get(name[0]!.toUpperCase());
        return vol ? this.entryNode({ vol }) : null;
      }
      return e ? this.entryNode(e) : null;
    }
    const pl = dir.place;
    if (pl.kind === 'root' || pl.kind === 'group') return null;
    if (dir.stat.type !== 'dir') {
      throw new DiskpickError('wrongType', 'is not a folder', dir.path);
    }
    const fs = this.fsOf(pl.vol);
    const parent = pl.kind === 'volume' ? await fs.root() : pl.node;
    if (pl.kind === 'volume') this.rootIno.set(pl.vol, parent.stat.ino);
    const n = await fs.lookup(parent, name);
    this.passOnWarnings(pl.vol, fs);
    if (n && this.loopsBack(pl.vol, dir, n)) {
      throw corrupt(joinPath(dir.path, name), 'folder loop: this folder contains one of its own parents (damaged or hostile image)');
    }
    return n ? this.fsNode(pl.vol, dir, n) : null;
  }

  private static key(vol: VfsVolume, ino: number): string {
    return `${vol.name}:${ino}`;
  }

  /** A folder entry naming the folder itself or one above it would make every walk endless. */
  private loopsBack(vol: VfsVolume, dir: VfsNode, n: FsNode): boolean {
    if (n.stat.type !== 'dir') return false;
    const k = Vfs.key(vol, n.stat.ino);
    if (dir.place.kind === 'fs' && Vfs.key(vol, dir.stat.ino) === k) return true;
    if (dir.place.kind === 'volume' && vol.fs && this.rootIno.get(vol) === n.stat.ino) return true;
    for (let a = dir.ancestry; a; a = a.up) if (a.key === k) return true;
    return false;
  }

  private readonly rootIno = new Map<VfsVolume, number>();

  /**
   * True for a volume whose contents are shown elsewhere in the tree (an LVM2 PV: its LVs are
   * the VG folder's): walks (`ls -R`, `find`, globs) pass it by silently; listing it directly
   * still says what it is.
   */
  shownElsewhere(node: VfsNode): boolean {
    if (node.place.kind !== 'volume') return false;
    const v = node.place.vol;
    return !v.fs && !v.kids && ((v.inner ?? v.node).system?.name === 'lvm2' || !!v.shownAt);
  }

  /** Told about problems found while walking (loops skipped), for the CLI to show once. */
  onWarning?: (message: string) => void;

  /** The ancestry of every child of `dir` (one object, shared by all of them). */
  private childAncestry(vol: VfsVolume, dir: VfsNode): Ancestry | undefined {
    return dir.place.kind === 'fs' ? { key: Vfs.key(vol, dir.stat.ino), up: dir.ancestry } : dir.place.kind === 'volume' ? { key: Vfs.key(vol, this.rootIno.get(vol) ?? -1), up: undefined } : undefined;
  }

  private fsNode(vol: VfsVolume, dir: VfsNode, n: FsNode, ancestry = this.childAncestry(vol, dir)): VfsNode {
    const v: VfsNode = { path: joinPath(dir.path, n.name), name: n.name, stat: n.stat, place: { kind: 'fs', vol, node: n }, system: n.system, ancestry };
    if (n.partial) v.partial = true;
    return v;
  }

  /**
   * Fills in the stat of a node from a names-only readdir (in place; the node is returned).
   * Complete nodes come back untouched.
   */
  async complete(node: VfsNode): Promise<VfsNode> {
    const pl = node.place;
    if (!node.partial || pl.kind !== 'fs') return node;
    const fs = this.fsOf(pl.vol);
    const full = fs.complete ? await fs.complete(pl.node) : pl.node;
    node.stat = full.stat;
    node.system = full.system;
    node.place = { kind: 'fs', vol: pl.vol, node: full };
    delete node.partial;
    return node;
  }

  private fsOf(vol: VfsVolume): FileSystem {
    if (!vol.fs) throw vol.fsError ?? cannotOpen(`/${vol.name}`, 'no filesystem on this volume');
    return vol.fs;
  }

  /**
   * Children of a folder node; filesystem metadata files only with `system`. With `namesOnly`
   * (for callers that show names and types only) entries may come back `partial`.
   */
  async readdir(dir: VfsNode, opts: { system?: boolean; namesOnly?: boolean; unsorted?: boolean } = {}): Promise<VfsNode[]> {
    const vkids = this.volumeKids(dir);
    if (vkids) return [...vkids.values()].map((e) => this.entryNode(e));
    const pl = dir.place;
    if (pl.kind === 'root' || pl.kind === 'group') return [];
    if (dir.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', dir.path);
    const fs = this.fsOf(pl.vol);
    const parent = pl.kind === 'volume' ? await fs.root() : pl.node;
    if (pl.kind === 'volume') this.rootIno.set(pl.vol, parent.stat.ino);
    const kids = await fs.readdir(parent, opts.namesOnly ? { namesOnly: true } : undefined);
    this.passOnWarnings(pl.vol, fs);
    const ancestry = this.childAncestry(pl.vol, dir);
    const out: VfsNode[] = [];
    for (const k of kids) {
      if ((!opts.system && k.system) || this.loopedOver(pl.vol, dir, k, fs)) continue;
      out.push(this.fsNode(pl.vol, dir, k, ancestry));
    }
    // By name unless asked for disk order (`ls -U`): every interface lists through here.
    return opts.unsorted ? out : out.sort((a, b) => compareNames(a.name, b.name));
  }

  /** How many of each filesystem's warnings were there at open or have been passed on. */
  private readonly warningsSeen = new Map<VfsVolume, number>();

  /**
   * Passes on warnings a filesystem recorded while listing (a folder entry looping back,
   * skipped): a listing that leaves an entry out says so (issue 26).
   */
  private passOnWarnings(vol: VfsVolume, fs: FileSystem): void {
    const w = fs.info.warnings;
    const seen = this.warningsSeen.get(vol) ?? 0;
    if (w.length <= seen) return;
    this.warningsSeen.set(vol, w.length);
    for (let i = seen; i < w.length; i++) this.onWarning?.(w[i]!);
  }

  /** True, with a warning (once), when a listing must skip `k`: it is one of its own parents. */
  private loopedOver(vol: VfsVolume, dir: VfsNode, k: FsNode, fs: FileSystem): boolean {
    if (!this.loopsBack(vol, dir, k)) return false;
    const w = `${joinPath(dir.path, k.name)}: skipped, the folder contains one of its own parents (a loop in the folder tree)`;
    if (!fs.info.warnings.includes(w) && fs.info.warnings.length < 100) {
      this.passOnWarnings(vol, fs);
      fs.info.warnings.push(w);
      this.warningsSeen.set(vol, fs.info.warnings.length);
      this.onWarning?.(w);
    }
    return true;
  }

  /**
   * Children of a folder by column, for callers that need names and types only (`ls -R`, the
   * FUSE mount): where the filesystem can, files get no node at all. Same entries, order and
   * checks (system files, loops) as readdir.
   */
  async readdirNames(dir: VfsNode, opts: { system?: boolean; unsorted?: boolean } = {}): Promise<VfsNameList> {
    const l = await this.readdirNamesAsStored(dir, opts);
    // Volumes keep the order found (p1, p2 … p10, then LVs, shadow copies), as readdir gives them.
    return opts.unsorted || this.volumeKids(dir) ? l : sortNameList(l);
  }

  private async readdirNamesAsStored(dir: VfsNode, opts: { system?: boolean; unsorted?: boolean }): Promise<VfsNameList> {
    const pl = dir.place;
    if (pl.kind === 'root' || pl.kind === 'group' || this.volumeKids(dir) || dir.stat.type !== 'dir') return columnsOf(await this.readdir(dir, { ...opts, unsorted: true }));
    const fs = this.fsOf(pl.vol);
    if (!fs.readdirNames) return columnsOf(await this.readdir(dir, { ...opts, namesOnly: true, unsorted: true }));
    const parent = pl.kind === 'volume' ? await fs.root() : pl.node;
    if (pl.kind === 'volume') this.rootIno.set(pl.vol, parent.stat.ino);
    const l: NameList = await fs.readdirNames(parent);
    this.passOnWarnings(pl.vol, fs);
    if (l.nodes.length === 0) return l instanceof JoinedNameList ? l.withNodes<VfsNode>([]) : { names: l.names, types: l.types, inos: l.inos, nodes: [] };
    const ancestry = this.childAncestry(pl.vol, dir);
    const nodes = new Array<VfsNode | undefined>(l.types.length);
    let skip: Set<number> | null = null;
    for (let i = 0; i < l.nodes.length; i++) {
      const k = l.nodes[i];
      if (!k) continue;
      if ((!opts.system && k.system) || this.loopedOver(pl.vol, dir, k, fs)) (skip ??= new Set()).add(i);
      else nodes[i] = this.fsNode(pl.vol, dir, k, ancestry);
    }
    if (!skip) return l instanceof JoinedNameList ? l.withNodes(nodes) : { names: l.names, types: l.types, inos: l.inos, nodes };
    return dropEntries({ names: l.names, types: l.types, inos: l.inos, nodes }, skip);
  }

  /** A file's content (or one of its named streams) as a random-access source. */
  async openFile(node: VfsNode, stream?: string): Promise<ByteSource> {
    const pl = node.place;
    if (pl.kind !== 'fs') throw new DiskpickError('wrongType', 'is a folder, not a file', node.path);
    if (node.stat.type === 'dir' && !stream) throw new DiskpickError('wrongType', 'is a folder, not a file', node.path);
    if (node.stat.type !== 'file' && node.stat.type !== 'dir') {
      throw new DiskpickError('wrongType', `is a ${describeType(node.stat.type)}, not a regular file`, node.path);
    }
    const fs = this.fsOf(pl.vol);
    if (stream && !fs.streams) throw new DiskpickError('notFound', `${fs.info.type} has no named streams`, node.path);
    return fs.openFile(pl.node, stream);
  }

  async streams(node: VfsNode): Promise<StreamInfo[]> {
    const pl = node.place;
    if (pl.kind !== 'fs') return [];
    const fs = this.fsOf(pl.vol);
    return fs.streams ? fs.streams(pl.node) : [];
  }

  async xattrs(node: VfsNode): Promise<Map<string, Buffer>> {
    const pl = node.place;
    if (pl.kind !== 'fs') return new Map();
    const fs = this.fsOf(pl.vol);
    return fs.xattrs ? fs.xattrs(pl.node) : new Map();
  }

  /**
   * The raw bytes of a volume (FUSE `.raw/`, `dd --volume`) by its path ("p1", "rl/root",
   * "/rl/root"), or a further disk as a whole ("disk2"). A volume that is listed but cannot be
   * read (a missing PV, an unsupported LV type) gives its one-line error.
   */
  volumeSource(name: string): ByteSource {
    const path = splitPath(name).join('/');
    const vol = this.volumes.find((v) => v.name === path) ?? this.volumes.find((v) => v.name.toLowerCase() === path.toLowerCase());
    if (vol) {
      // An opened encrypted volume: its decrypted bytes; a locked one: its encrypted bytes.
      if (vol.inner?.source) return vol.inner.source;
      if (!vol.node.source) throw vol.node.error ?? cannotOpen(vol.name, 'this volume cannot be read');
      return vol.node.source;
    }
    const m = /^disk(\d+)$/i.exec(path);
    const extra = m ? this.extraDisks[Number(m[1]) - 2] : undefined;
    if (extra) return extra.container;
    throw new DiskpickError('notFound', `no such volume (volumes: ${this.volumes.map((v) => v.name).join(', ') || 'none'})`, name);
  }

  /** Paths of the volumes whose raw bytes can be read, and the further disks ("disk2"), for `.raw/`. */
  rawVolumeNames(): string[] {
    return [...this.volumes.filter((v) => v.node.source).map((v) => v.name), ...this.extraDisks.map((_, k) => `disk${k + 2}`)];
  }

  /** The options it was opened with: points of the same image open with them (the browser's versions panel). */
  openOptions: VfsOpenOptions = {};
  /** The image as it was given, to open it again (imagePath is how it is shown: an http URL without its credentials). */
  imageArg = '';

  /** A detached LUKS header file, open while the Vfs is. */
  private header: ByteSource | undefined;
  /** The volume tree's engine and the Vfs's side of it, kept for volumes opened later (unlock). */
  private builder!: VolumeTreeBuilder;
  private placer!: VolumePlacer;

  /**
   * The locked encrypted volume a node is (a volume folder whose key was not given), or null.
   * Opening it asks for its key (`unlock`).
   */
  lockedVolume(node: VfsNode): VfsVolume | null {
    if (node.place.kind !== 'volume') return null;
    const v = node.place.vol;
    return v.inner && !v.inner.source && v.inner.unlock ? v : null;
  }

  /**
   * Opens a locked encrypted volume with `keys` (typed in the browser): its decrypted volume
   * takes its place and the tree goes on below it (an LVM2 PV inside adds its VG's folder at
   * the top). A wrong key throws the one-line 'wrongKey' error; the volume stays locked.
   */
  async unlock(vol: VfsVolume, keys: Partial<VolumeKeys>): Promise<boolean> {
    const n = vol.inner;
    if (!n || n.source || !n.unlock) return false;
    const added = await this.builder.unlock(n, { ...noKeys(), ...keys });
    if (!added) return false;
    await this.placer.add([n, ...added]);
    for (const v of this.volumes) if (v.fs && !this.warningsSeen.has(v)) this.warningsSeen.set(v, v.fs.info.warnings.length);
    return true;
  }

  async close(): Promise<void> {
    await this.header?.close().catch(() => undefined);
    for (const v of this.volumes) await v.fs?.close?.().catch(() => undefined);
    for (const e of this.extraDisks) if (!e.inImage) await e.container.close().catch(() => undefined);
    await this.container.close();
  }
}

export function describeType(t: Stat['type']): string {
  return ({ file: 'file', dir: 'folder', symlink: 'symbolic link', chardev: 'character device',
    blockdev: 'block device', fifo: 'FIFO', socket: 'socket', other: 'special file' } as const)[t];
}

/**
 * The shadow copies of an NTFS volume as volumes named `PATH@vssN` (oldest first), each read
 * through src/volume/vss. A damaged catalog is a warning; the volume itself stays readable.
 */
async function shadowCopies(v: VfsVolume, opts: VfsOpenOptions, ino: () => number, firstId: number, warnings: string[]): Promise<VfsVolume[]> {
  const src = v.encryption && !v.encryption.locked ? v.volume.source : v.node.source!;
  let stores: VssStoreEntry[];
  try {
    stores = await readCatalog(src);
  } catch (err) {
    if (!(err instanceof DiskpickError)) throw err;
    warnings.push(`${v.name}: shadow copies not shown: ${err.message}`);
    return [];
  }
  const out: VfsVolume[] = [];
  for (let k = 0; k < stores.length; k++) {
    const path = `${v.node.path}@vss${k + 1}`;
    const when = new Date(stores[k]!.creationTime.sec * 1000).toISOString().replace('T', ' ').slice(0, 19);
    const node: VolumeNode = { path, disk: v.node.disk, start: v.node.start, size: v.node.size, source: null, what: `shadow copy ${k + 1} of ${v.node.path}, taken ${when} UTC`, parent: v.node, pointTime: stores[k]!.creationTime, pointOf: v.node.path, pointId: stores[k]!.storeIdentifier };
    try {
      node.source = await ShadowCopySource.open(src, stores, k, `${src.name}@vss${k + 1}`);
      node.size = node.source.size;
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      node.error = err;
    }
    out.push(await mountVolume(node, firstId + k, ino(), opts));
  }
  return out;
}

/**
 * `IMAGE@vss:K`: every NTFS volume with a K-th shadow copy is read as of it, under its own name
 * (`/p2/…` is p2's shadow copy K), and the `@vssN` volumes are left out of the tree.
 */
function asOfShadowCopy(volumes: VfsVolume[], folderOf: (path: string) => Map<string, VolumeEntry>, k: number, image: string): void {
  const isCopy = (v: VfsVolume) => /@vss\d+$/.test(v.name);
  const counts: string[] = [];
  let found = 0;
  for (let i = 0; i < volumes.length; i++) {
    const v = volumes[i]!;
    if (isCopy(v)) continue;
    const copies = volumes.filter((c) => c.name.startsWith(`${v.name}@vss`) && /^\d+$/.test(c.name.slice(v.name.length + 4)));
    if (copies.length === 0) continue;
    counts.push(`${v.name} has ${copies.length}`);
    const sv = copies.find((c) => c.name === `${v.name}@vss${k}`);
    if (!sv) continue;
    found++;
    const replaced: VfsVolume = { ...sv, name: v.name, id: v.id, ino: v.ino };
    volumes[i] = replaced;
    folderOf(v.name).set(v.name.slice(v.name.lastIndexOf('/') + 1), { vol: replaced });
  }
  for (let i = volumes.length - 1; i >= 0; i--) {
    const v = volumes[i]!;
    if (!isCopy(v)) continue;
    folderOf(v.name).delete(v.name.slice(v.name.lastIndexOf('/') + 1));
    volumes.splice(i, 1);
  }
  if (found === 0) throw new DiskpickError('notFound', `no shadow copy ${k}: ${counts.length ? counts.join(', ') : 'no NTFS volume of it has shadow copies'}`, image);
}

/** A volume of the tree with its filesystem opened, or the reason there is none. */
type MultiDevice = { peers: ByteSource[]; taken: Map<ByteSource, string> };

async function mountVolume(node: VolumeNode, id: number, ino: number, opts: VfsOpenOptions, multi?: MultiDevice): Promise<VfsVolume> {
  const volume: Volume = node.partition ?? {
    index: id, start: node.start ?? 0, size: node.size, source: node.source ?? new ZeroSource(node.size, node.path), type: node.what,
  };
  const v: VfsVolume = { name: node.path, id, volume, node, fs: null, fsError: null, ino };
  const where = `/${node.path}`;
  if (!node.source || node.error) v.fsError = node.error ?? cannotOpen(where, 'this volume cannot be read');
  else if (node.system?.name === 'lvm2') {
    const vg = /of VG (\S+)/.exec(node.system.describe)?.[1];
    v.fsError = new DiskpickError('wrongType', `is an LVM2 physical volume${vg ? ` of VG ${vg}: its logical volumes are the folders under /${vg}` : ''}`, where);
  } else if (node.system) {
    // Its children are listed in its folder (a partition table inside an LV); an encrypted
    // volume's one child takes its place (VolumePlacer).
  } else if (node.content) {
    const c = node.content;
    v.fsError = new DiskpickError('unsupported', `is ${c.type}${c.uuid ? ` (UUID ${c.uuid})` : ''}, which diskpick does not read; its raw bytes are in the mount's .raw/ and in dd --volume ${node.path}`, where);
  } else if (multi?.taken.has(node.source)) {
    v.shownAt = multi.taken.get(node.source)!;
    v.fsError = new DiskpickError('wrongType', `is a device of the multi-device filesystem shown at /${v.shownAt}`, where);
  } else {
    try {
      const opened = await openFilesystem(node.source, { ...(opts.verifyData === false ? { verifyData: false } : {}), ...(multi ? { peers: multi.peers } : {}) });
      for (const m of opened.members ?? []) multi?.taken.set(m, node.path);
      v.fs = opts.orphans && canFindOrphans(opened) ? withOrphans(opened) : opened;
    } catch (err) {
      if (err instanceof DiskpickError) v.fsError = err;
      else throw err;
    }
  }
  return v;
}

/**
 * Puts the tree's volumes into the Vfs: a folder per volume, made as the tree found them; the
 * decrypted volume of an encrypted one (`inPlace`) fills its parent's folder instead of a new one.
 */
class VolumePlacer {
  constructor(
    private readonly volumes: VfsVolume[],
    private readonly byPath: Map<string, VfsVolume>,
    private readonly folderOf: (path: string) => Map<string, VolumeEntry>,
    private readonly nextIno: () => number,
    private readonly opts: VfsOpenOptions,
    private readonly multi?: MultiDevice,
  ) {}

  async add(nodes: VolumeNode[]): Promise<void> {
    for (const n of nodes) {
      const outer = n.inPlace ? this.byPath.get(n.path) : undefined;
      if (outer) {
        const m = await mountVolume(n, outer.id, outer.ino, this.opts, this.multi);
        outer.inner = n;
        const enc = n.parent?.system?.encryption;
        if (enc) outer.encryption = enc;
        outer.fs = m.fs;
        outer.fsError = m.fsError;
        if (n.source) outer.volume = { ...outer.volume, source: n.source };
        continue;
      }
      const vol = await mountVolume(n, this.volumes.length, this.nextIno(), this.opts, this.multi);
      this.volumes.push(vol);
      this.byPath.set(n.path, vol);
      this.folderOf(n.path).set(n.path.slice(n.path.lastIndexOf('/') + 1), { vol });
    }
  }
}

function columnsOf(kids: VfsNode[]): VfsNameList {
  return { names: kids.map((k) => k.name), types: kids.map((k) => k.stat.type), inos: kids.map((k) => k.stat.ino), nodes: kids };
}
