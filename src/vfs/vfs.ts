/**
 * One tree over a whole image: `/` lists the volumes as `p1`, `p2`, … (`p0` for a disk
 * with no partition table), and `/pN/…` is the filesystem inside. Every interface (CLI,
 * FUSE, TUI) walks this tree, so paths mean the same everywhere.
 */
import { stat as hostStat } from 'node:fs/promises';
import { DiskpickError } from '../errors.js';
import { openContainer, type OpenContainerOptions } from '../container/open.js';
import type { ChainLevel, Container } from '../container/container.js';
import { readPartitionTable } from '../volume/detect.js';
import type { PartitionTable, Volume } from '../volume/types.js';
import { openFilesystem } from '../fs/detect.js';
import type { FileSystem, FsInfo, FsNode, NameList, Stat, StreamInfo, Timespec } from '../fs/types.js';
import type { ByteSource } from '../source/source.js';
import { SliceSource } from '../source/source.js';
import { openHostFile } from '../source/index.js';
import type { EncryptionInfo, VolumeKeys } from '../volume/crypt/keys.js';
import { hasKeys } from '../volume/crypt/keys.js';
import { unlockVolume } from '../volume/crypt/unlock.js';

export interface VfsVolume {
  /** "p1", "p2", … or "p0". */
  name: string;
  volume: Volume;
  fs: FileSystem | null;
  /** Why no filesystem could be read on this volume. */
  fsError: DiskpickError | null;
  /** An encrypted volume (LUKS): what its header says; `volume.source` is then the decrypted data. */
  encryption?: EncryptionInfo;
}

export type VfsPlace =
  | { kind: 'root' }
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
  name: string;
  start: number;
  size: number;
  partitionType: string | null;
  partitionName: string | null;
  partitionUuid: string | null;
  bootable: boolean;
  filesystem: FsInfo | null;
  error: string | null;
  /** LUKS/BitLocker: header facts only (never a key). */
  encryption: EncryptionInfo | null;
}

export interface ImageInfo {
  file: string;
  container: {
    format: string;
    variant: string;
    virtualSize: number;
    sectorSize: number;
    chain: ChainLevel[];
    warnings: string[];
  };
  partitionTable: Omit<PartitionTable, 'volumes'> | null;
  volumes: VolumeInfo[];
}

export interface VfsOpenOptions extends OpenContainerOptions {
  /** Keys for encrypted volumes (options, environment, a prompt). */
  keys?: VolumeKeys;
}

/** Splits a user path into components; "\" is accepted as a separator, ".." stays inside the image. */
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
    readonly table: PartitionTable | null,
    readonly volumes: VfsVolume[],
    private readonly imageTime: Timespec,
  ) {}

  static async open(imagePath: string, opts: VfsOpenOptions = {}): Promise<Vfs> {
    const container = await openContainer(imagePath, opts);
    let header: ByteSource | undefined;
    try {
      if (opts.keys?.headerFile) {
        header = await openHostFile(opts.keys.headerFile);
        opts = { ...opts, keys: { ...opts.keys, header } };
      }
      const st = await hostStat(imagePath);
      const ms = st.mtimeMs;
      const imageTime = { sec: Math.floor(ms / 1000), nsec: Math.round((ms % 1000) * 1e6) };
      const table = await readPartitionTable(container, container.sectorSize);
      const volumes: VfsVolume[] = [];
      if (table) {
        for (const v of table.volumes) volumes.push(await mountVolume(`p${v.index}`, v, opts.keys));
      } else {
        const whole: Volume = {
          index: 0,
          start: 0,
          size: container.size,
          source: new SliceSource(container, 0, container.size),
          type: 'whole disk',
        };
        let vol = await mountVolume('p0', whole, opts.keys);
        if (!vol.fs && !vol.encryption && opts.keys?.header) vol = await mountVolume('p0', whole, opts.keys, true);
        if (!vol.fs && !vol.encryption) {
          const why = vol.fsError && vol.fsError.message !== 'unknown filesystem' ? ` (${vol.fsError.message})` : '';
          throw new DiskpickError('image', `not a disk image: no partition table and no known filesystem${why}`, imagePath);
        }
        volumes.push(vol);
      }
      await applyDetachedHeader(volumes, opts.keys);
      // A key that was given and opens none of the encrypted volumes is an error now, before
      // any output: a wrong key, not a listing of locked volumes.
      const encrypted = volumes.filter((v) => v.encryption);
      if (hasKeys(opts.keys) && encrypted.length > 0 && encrypted.every((v) => v.encryption!.locked)) {
        throw encrypted.find((v) => v.fsError?.kind === 'wrongKey' && v.fsError.message.startsWith('wrong key'))?.fsError ?? encrypted[0]!.fsError!;
      }
      if (opts.keys?.header && !volumes.some((v) => v.encryption && !v.encryption.locked)) {
        throw new DiskpickError('wrongKey', 'wrong key: the detached header opens with no key given, or no volume holds its data', opts.keys.header.name);
      }
      const vfs = new Vfs(imagePath, container, table, volumes, imageTime);
      vfs.header = header;
      return vfs;
    } catch (err) {
      await header?.close().catch(() => undefined);
      await container.close().catch(() => undefined);
      throw err;
    }
  }

  info(): ImageInfo {
    const c = this.container;
    let tableInfo: ImageInfo['partitionTable'] = null;
    if (this.table) {
      const { volumes: _v, ...rest } = this.table;
      tableInfo = rest;
    }
    return {
      file: this.imagePath,
      container: {
        format: c.format,
        variant: c.variant,
        virtualSize: c.size,
        sectorSize: c.sectorSize,
        chain: c.chain,
        warnings: c.warnings,
      },
      partitionTable: tableInfo,
      volumes: this.volumes.map((v) => ({
        name: v.name,
        start: v.volume.start,
        size: v.volume.size,
        partitionType: this.table ? v.volume.type : null,
        partitionName: v.volume.name ?? null,
        partitionUuid: v.volume.uuid ?? null,
        bootable: v.volume.bootable ?? false,
        filesystem: v.fs ? v.fs.info : null,
        error: v.fsError ? v.fsError.message : null,
        encryption: v.encryption ?? null,
      })),
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

  private volumeNode(vol: VfsVolume): VfsNode {
    return { path: `/${vol.name}`, name: vol.name, stat: this.dirStat(2 + vol.volume.index), place: { kind: 'volume', vol } };
  }

  /** The node at `path`; symlinks inside the image are not followed. */
  async lookup(path: string): Promise<VfsNode> {
    const parts = splitPath(path);
    let node = this.root();
    for (const part of parts) {
      const next = await this.child(node, part);
      if (!next) throw new DiskpickError('notFound', 'no such file or folder in the image', joinPath(node.path, part));
      node = next;
    }
    return node;
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
    const pl = dir.place;
    if (pl.kind === 'root') {
      const vol = this.volumes.find((v) => v.name === name.toLowerCase());
      return vol ? this.volumeNode(vol) : null;
    }
    if (dir.stat.type !== 'dir') {
      throw new DiskpickError('wrongType', 'is not a folder', dir.path);
    }
    const fs = this.fsOf(pl.vol);
    const parent = pl.kind === 'volume' ? await fs.root() : pl.node;
    if (pl.kind === 'volume') this.rootIno.set(pl.vol, parent.stat.ino);
    const n = await fs.lookup(parent, name);
    if (n && this.loopsBack(pl.vol, dir, n)) {
      throw new DiskpickError('image', 'folder loop: this folder contains one of its own parents (damaged or hostile image)', joinPath(dir.path, name));
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
    if (!vol.fs) throw vol.fsError ?? new DiskpickError('image', 'no filesystem on this volume', `/${vol.name}`);
    return vol.fs;
  }

  /**
   * Children of a folder node; filesystem metadata files only with `system`. With `namesOnly`
   * (for callers that show names and types only) entries may come back `partial`.
   */
  async readdir(dir: VfsNode, opts: { system?: boolean; namesOnly?: boolean } = {}): Promise<VfsNode[]> {
    const pl = dir.place;
    if (pl.kind === 'root') return this.volumes.map((v) => this.volumeNode(v));
    if (dir.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', dir.path);
    const fs = this.fsOf(pl.vol);
    const parent = pl.kind === 'volume' ? await fs.root() : pl.node;
    if (pl.kind === 'volume') this.rootIno.set(pl.vol, parent.stat.ino);
    const kids = await fs.readdir(parent, opts.namesOnly ? { namesOnly: true } : undefined);
    const ancestry = this.childAncestry(pl.vol, dir);
    const out: VfsNode[] = [];
    for (const k of kids) {
      if ((!opts.system && k.system) || this.loopedOver(pl.vol, dir, k, fs)) continue;
      out.push(this.fsNode(pl.vol, dir, k, ancestry));
    }
    return out;
  }

  /** True, with a warning (once), when a listing must skip `k`: it is one of its own parents. */
  private loopedOver(vol: VfsVolume, dir: VfsNode, k: FsNode, fs: FileSystem): boolean {
    if (!this.loopsBack(vol, dir, k)) return false;
    const w = `${joinPath(dir.path, k.name)}: skipped, the folder contains one of its own parents (a loop in the folder tree)`;
    if (!fs.info.warnings.includes(w) && fs.info.warnings.length < 100) {
      fs.info.warnings.push(w);
      this.onWarning?.(w);
    }
    return true;
  }

  /**
   * Children of a folder by column, for callers that need names and types only (`ls -R`, the
   * FUSE mount): where the filesystem can, files get no node at all. Same entries, order and
   * checks (system files, loops) as readdir.
   */
  async readdirNames(dir: VfsNode, opts: { system?: boolean } = {}): Promise<VfsNameList> {
    const pl = dir.place;
    if (pl.kind === 'root' || dir.stat.type !== 'dir') return columnsOf(await this.readdir(dir, opts));
    const fs = this.fsOf(pl.vol);
    if (!fs.readdirNames) return columnsOf(await this.readdir(dir, { ...opts, namesOnly: true }));
    const parent = pl.kind === 'volume' ? await fs.root() : pl.node;
    if (pl.kind === 'volume') this.rootIno.set(pl.vol, parent.stat.ino);
    const l: NameList = await fs.readdirNames(parent);
    if (l.nodes.length === 0) return { names: l.names, types: l.types, inos: l.inos, nodes: [] };
    const ancestry = this.childAncestry(pl.vol, dir);
    const nodes = new Array<VfsNode | undefined>(l.types.length);
    let skip: Set<number> | null = null;
    for (let i = 0; i < l.nodes.length; i++) {
      const k = l.nodes[i];
      if (!k) continue;
      if ((!opts.system && k.system) || this.loopedOver(pl.vol, dir, k, fs)) (skip ??= new Set()).add(i);
      else nodes[i] = this.fsNode(pl.vol, dir, k, ancestry);
    }
    if (!skip) return { names: l.names, types: l.types, inos: l.inos, nodes };
    const keep = (_: unknown, i: number) => !skip.has(i);
    return { names: l.names.filter(keep), types: l.types.filter(keep), inos: l.inos.filter(keep), nodes: nodes.filter(keep) };
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

  /** The raw bytes of a volume (FUSE `.raw/`, `dd --volume`). */
  volumeSource(name: string): ByteSource {
    const vol = this.volumes.find((v) => v.name === name);
    if (!vol) throw new DiskpickError('notFound', 'no such volume', name);
    return vol.volume.source;
  }

  /** A detached LUKS header file, open while the Vfs is. */
  private header: ByteSource | undefined;

  async close(): Promise<void> {
    for (const v of this.volumes) await v.fs?.close?.().catch(() => undefined);
    await this.header?.close().catch(() => undefined);
    await this.container.close();
  }
}

export function describeType(t: Stat['type']): string {
  return ({ file: 'file', dir: 'folder', symlink: 'symbolic link', chardev: 'character device',
    blockdev: 'block device', fifo: 'FIFO', socket: 'socket', other: 'special file' } as const)[t];
}

async function mountVolume(name: string, volume: Volume, keys: VolumeKeys | undefined, detachedHeader = false): Promise<VfsVolume> {
  let encryption: EncryptionInfo | undefined;
  try {
    // An encrypted volume (LUKS): its decrypted data takes the volume's place.
    const crypt = await unlockVolume(volume.source, keys, `/${name}`, { detachedHeader });
    if (crypt) {
      encryption = crypt.info;
      if (!crypt.source) return { name, volume, fs: null, fsError: crypt.error, encryption };
      volume = { ...volume, source: crypt.source };
    }
    const fs = await openFilesystem(volume.source);
    return { name, volume, fs, fsError: null, encryption };
  } catch (err) {
    if (err instanceof DiskpickError) return { name, volume, fs: null, fsError: err, encryption };
    throw err;
  }
}

/**
 * `--header FILE`: the data of a LUKS volume whose header is kept apart. It is the first volume
 * with no filesystem and no header of its own whose data, decrypted, holds a filesystem.
 */
async function applyDetachedHeader(volumes: VfsVolume[], keys: VolumeKeys | undefined): Promise<void> {
  if (!keys?.header) return;
  for (let i = 0; i < volumes.length; i++) {
    const v = volumes[i]!;
    if (v.fs || v.encryption) continue;
    const m = await mountVolume(v.name, v.volume, keys, true);
    if (m.encryption && (m.fs || m.fsError?.kind === 'wrongKey')) {
      volumes[i] = m;
      if (m.fs) return;
    }
  }
}

function columnsOf(kids: VfsNode[]): VfsNameList {
  return { names: kids.map((k) => k.name), types: kids.map((k) => k.stat.type), inos: kids.map((k) => k.stat.ino), nodes: kids };
}
