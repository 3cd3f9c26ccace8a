/**
 * The FUSE operations over one Vfs: path → node resolution with a bounded cache, the stat
 * model translated to what the kernel expects (inode numbers, modes, owners, times), an
 * open-file handle table so read() goes straight to the file's ByteSource, NTFS streams and
 * ext xattrs as extended attributes, and the hidden `/.raw/` folder with the whole virtual
 * disk and each volume as read-only files.
 *
 * Every handler answers: a thrown error becomes an errno, and anything that is not an
 * ordinary "no such file" is written as one line to the log, never allowed to kill the process.
 */
import type Fuse from 'fuse-native';
import { corrupt, DiskpickError } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import type { Stat } from '../fs/types.js';
import { joinPath, type Vfs, type VfsNode } from '../vfs/vfs.js';

/** errno values (Linux), negated as fuse-native wants them. */
export const Errno = {
  EPERM: -1,
  ENOENT: -2,
  EIO: -5,
  EBADF: -9,
  EACCES: -13,
  ENOTDIR: -20,
  EISDIR: -21,
  EINVAL: -22,
  E2BIG: -7,
  EROFS: -30,
  ERANGE: -34,
  ENODATA: -61,
  EOPNOTSUPP: -95,
} as const;

// st_mode type bits (sys/stat.h).
const S_IFMT: Record<Stat['type'], number> = {
  file: 0o100000, dir: 0o040000, symlink: 0o120000, chardev: 0o020000,
  blockdev: 0o060000, fifo: 0o010000, socket: 0o140000, other: 0o100000,
};

/** The hidden folder of raw images, and its file for the whole virtual disk. */
export const RAW_DIR = '.raw';
export const RAW_DISK = 'disk';

/** Linux caps one extended attribute value at 64 KiB (XATTR_SIZE_MAX). */
const XATTR_SIZE_MAX = 65536;

/** How ownership and permissions look for filesystems that store none (FAT, exFAT, NTFS). */
export interface OwnerOptions {
  uid: number;
  gid: number;
  /** null: 0755 folders, 0644 files; else 0777/0666 minus this mask. */
  umask: number | null;
}

export interface FuseFsOptions extends OwnerOptions {
  /** One line per failed operation. */
  log: (line: string) => void;
  /** Bounded size of the path → node cache. */
  cacheEntries?: number;
}

type Entry =
  | { kind: 'vfs'; node: VfsNode }
  | { kind: 'rawdir' }
  | { kind: 'raw'; name: string; source: ByteSource };

interface Handle {
  src: ByteSource;
  /** Sources this table opened (files) are closed on release; `.raw/` sources belong to the Vfs. */
  owned: boolean;
}

/** st_ino is 32 bits through fuse-native: layout of the numbers given to the kernel. */
const SLOT_BITS = 27;
const SLOT_SIZE = 2 ** SLOT_BITS;
const MAX_DIRECT_SLOT = 15;
const FIRST_ASSIGNED = 2 ** 31;

/**
 * Inode numbers: unique over the whole mount, the same for every path of one file (hard
 * links), and the same from one mount to the next where possible. A file's number is
 * `(volume index + 1) << 27 | Stat.ino` while both fit (15 volumes, 2^27 inodes — ext and
 * NTFS volumes short of 134 million files); slot 0 holds the synthetic folders and `.raw/`.
 * Anything larger (FAT/exFAT use byte offsets of directory entries, which outgrow 2^27 on big
 * volumes) gets a number from 2^31 up, assigned on first sight and kept for the mount's life.
 */
export class InodeMap {
  private readonly assigned = new Map<string, number>();
  private next = FIRST_ASSIGNED;

  forFile(volumeIndex: number, ino: number): number {
    const slot = volumeIndex + 1;
    if (slot <= MAX_DIRECT_SLOT && Number.isSafeInteger(ino) && ino >= 0 && ino < SLOT_SIZE) return slot * SLOT_SIZE + ino;
    const key = `${volumeIndex}:${ino}`;
    let n = this.assigned.get(key);
    if (n === undefined) {
      // 2^31 numbers: a walk of two billion distinct oversized inodes would wrap; restart above the
      // direct range rather than hand out 0.
      if (this.next > 0xffffffff) this.next = FIRST_ASSIGNED;
      n = this.next++;
      this.assigned.set(key, n);
    }
    return n;
  }
}

/** A Map that forgets its oldest entries beyond `max` (insertion order). */
class BoundedMap<K, V> {
  private readonly map = new Map<K, V>();
  constructor(private readonly max: number) {}
  get(k: K): V | undefined {
    return this.map.get(k);
  }
  set(k: K, v: V): void {
    if (this.map.size >= this.max && !this.map.has(k)) {
      // Drop a tenth at once so a big walk does not pay one deletion per insertion.
      let drop = Math.max(1, Math.floor(this.max / 10));
      for (const key of this.map.keys()) {
        this.map.delete(key);
        if (--drop === 0) break;
      }
    }
    this.map.set(k, v);
  }
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function msOf(t: { sec: number; nsec: number } | undefined, fallback: number): number {
  if (!t) return fallback;
  // fuse-native carries unsigned milliseconds: dates before 1970 show as the epoch.
  const ms = t.sec * 1000 + Math.floor(t.nsec / 1e6);
  return ms > 0 ? ms : 0;
}

export class FuseFs {
  private readonly cache: BoundedMap<string, Entry>;
  private readonly xattrCache = new BoundedMap<string, Map<string, Buffer | { stream: string; size: number }>>(4096);
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  readonly inodes = new InodeMap();
  private readonly rawNames: string[];

  constructor(private readonly vfs: Vfs, private readonly opts: FuseFsOptions) {
    this.cache = new BoundedMap(opts.cacheEntries ?? 65536);
    this.rawNames = [RAW_DISK, ...vfs.volumes.map((v) => v.name)];
  }

  /** Files open through the mount right now. */
  get openHandles(): number {
    return this.handles.size;
  }

  // ---- resolution -------------------------------------------------------------------------

  async resolve(path: string): Promise<Entry> {
    const hit = this.cache.get(path);
    if (hit) return hit;
    let e: Entry;
    if (path === '/') {
      e = { kind: 'vfs', node: this.vfs.root() };
    } else if (path === `/${RAW_DIR}`) {
      e = { kind: 'rawdir' };
    } else if (parentOf(path) === `/${RAW_DIR}`) {
      const name = path.slice(RAW_DIR.length + 2);
      if (name === RAW_DISK) e = { kind: 'raw', name, source: this.vfs.container };
      else if (this.rawNames.includes(name)) e = { kind: 'raw', name, source: this.vfs.volumeSource(name) };
      else throw new DiskpickError('notFound', 'no such raw volume', path);
    } else {
      const parent = await this.resolve(parentOf(path));
      if (parent.kind !== 'vfs') throw new DiskpickError('wrongType', 'is not a folder', parentOf(path));
      const name = path.slice(path.lastIndexOf('/') + 1);
      const node = await this.vfs.child(parent.node, name);
      if (!node) throw new DiskpickError('notFound', 'no such file or folder in the image', path);
      e = { kind: 'vfs', node };
    }
    this.cache.set(path, e);
    return e;
  }

  // ---- stat -------------------------------------------------------------------------------

  inoOf(node: VfsNode): number {
    const pl = node.place;
    if (pl.kind === 'root') return 1;
    if (pl.kind === 'volume') return 16 + pl.vol.volume.index;
    return this.inodes.forFile(pl.vol.volume.index, node.stat.ino);
  }

  statOf(node: VfsNode): Fuse.StatLike {
    const st = node.stat;
    const own = st.hasOwnership;
    let perm: number;
    if (own) perm = st.mode & 0o7777;
    else if (st.type === 'symlink') perm = 0o777;
    else if (st.type === 'dir') perm = this.opts.umask === null ? 0o755 : 0o777 & ~this.opts.umask;
    else perm = this.opts.umask === null ? 0o644 : 0o666 & ~this.opts.umask;
    const mtime = msOf(st.mtime, 0);
    return {
      mode: S_IFMT[st.type] | perm,
      uid: own ? st.uid : this.opts.uid,
      gid: own ? st.gid : this.opts.gid,
      size: st.size,
      nlink: Math.max(1, st.nlink),
      ino: this.inoOf(node),
      rdev: st.rdev ?? 0,
      // Readers size their read() calls by st_blksize; 128 KiB is the largest FUSE read.
      blksize: 131072,
      blocks: Math.ceil(st.allocated / 512),
      atime: msOf(st.atime, mtime),
      mtime,
      ctime: msOf(st.ctime, mtime),
    };
  }

  private syntheticDirStat(ino: number): Fuse.StatLike {
    const root = this.vfs.root().stat;
    const t = msOf(root.mtime, 0);
    return {
      mode: S_IFMT.dir | 0o555, uid: this.opts.uid, gid: this.opts.gid, size: 0, nlink: 2, ino,
      blksize: 131072, blocks: 0, atime: t, mtime: t, ctime: t,
    };
  }

  private rawStat(name: string, source: ByteSource): Fuse.StatLike {
    const t = msOf(this.vfs.root().stat.mtime, 0);
    const i = this.rawNames.indexOf(name);
    return {
      // Slot 0 (below 2^27) holds the synthetic entries: root 1, .raw 2, volume folders 16+, raw files 1000+.
      mode: S_IFMT.file | 0o444, uid: this.opts.uid, gid: this.opts.gid, size: source.size, nlink: 1, ino: 1000 + Math.max(0, i),
      blksize: 131072, blocks: Math.ceil(source.size / 512), atime: t, mtime: t, ctime: t,
    };
  }

  private entryStat(e: Entry): Fuse.StatLike {
    if (e.kind === 'vfs') return this.statOf(e.node);
    if (e.kind === 'rawdir') return this.syntheticDirStat(2);
    return this.rawStat(e.name, e.source);
  }

  // ---- operations -------------------------------------------------------------------------

  async getattr(path: string): Promise<Fuse.StatLike> {
    return this.entryStat(await this.resolve(path));
  }

  async readdir(path: string): Promise<{ names: string[]; stats: Fuse.StatLike[] }> {
    const e = await this.resolve(path);
    const names = ['.', '..'];
    const self = this.entryStat(e);
    const stats = [self, path === '/' ? self : this.entryStat(await this.resolve(parentOf(path)))];
    if (e.kind === 'rawdir') {
      for (const n of this.rawNames) {
        const child = await this.resolve(`/${RAW_DIR}/${n}`);
        names.push(n);
        stats.push(this.entryStat(child));
      }
      return { names, stats };
    }
    if (e.kind !== 'vfs') throw new DiskpickError('wrongType', 'is not a folder', path);
    if (e.node.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', path);
    const kids = await this.vfs.readdir(e.node);
    for (const k of kids) {
      // A name with "/" or NUL cannot be a Linux directory entry; skip it rather than lie.
      if (k.name.includes('/') || k.name.includes('\0') || k.name === '' || k.name === '.' || k.name === '..') continue;
      names.push(k.name);
      stats.push(this.statOf(k));
      this.cache.set(joinPath(path, k.name), { kind: 'vfs', node: k });
    }
    if (path === '/') {
      names.push(RAW_DIR);
      stats.push(this.syntheticDirStat(2));
    }
    return { names, stats };
  }

  async readlink(path: string): Promise<string> {
    const e = await this.resolve(path);
    if (e.kind !== 'vfs' || e.node.stat.type !== 'symlink') throw new DiskpickError('usage', 'is not a symbolic link', path);
    const t = e.node.stat.symlinkTarget;
    if (t === undefined) throw new DiskpickError('image', 'symbolic link without a readable target', path);
    return t;
  }

  async open(path: string, flags: number): Promise<number> {
    // O_ACCMODE: the mount is read-only, whatever the kernel lets through.
    if ((flags & 3) !== 0) return Errno.EROFS;
    const e = await this.resolve(path);
    let h: Handle;
    if (e.kind === 'raw') h = { src: e.source, owned: false };
    else if (e.kind === 'rawdir') return Errno.EISDIR;
    else {
      if (e.node.stat.type === 'dir') return Errno.EISDIR;
      const src = await this.vfs.openFile(e.node);
      // One read before the kernel's parallel readahead arrives: sources that set themselves up
      // lazily on the first read (cluster chains, run lists) then do it once instead of racing.
      if (src.size > 0) await src.read(0, 1);
      h = { src, owned: true };
    }
    const fh = this.nextHandle++;
    if (this.nextHandle > 0x7fffffff) this.nextHandle = 1;
    this.handles.set(fh, h);
    return fh;
  }

  async read(fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    const h = this.handles.get(fh);
    if (!h) return Errno.EBADF;
    if (pos >= h.src.size) return 0;
    const want = Math.min(len, buf.length, h.src.size - pos);
    let got = 0;
    while (got < want) {
      const data = await h.src.read(pos + got, want - got);
      // A short read before the end would look like end-of-file to the kernel: a silently cut
      // file. Say so instead (EIO and a log line).
      if (data.length === 0) throw corrupt(h.src.name, `read at offset ${pos + got} returned no data before the end of the file (${h.src.size} bytes)`);
      got += data.copy(buf, got, 0, Math.min(data.length, want - got));
    }
    return got;
  }

  async release(fh: number): Promise<void> {
    const h = this.handles.get(fh);
    this.handles.delete(fh);
    if (h?.owned) await h.src.close();
  }

  /** Extended attributes of a node: its own (ext) and `user.<stream>` for NTFS named streams. */
  private async xattrTable(path: string): Promise<Map<string, Buffer | { stream: string; size: number }>> {
    const hit = this.xattrCache.get(path);
    if (hit) return hit;
    const e = await this.resolve(path);
    const t = new Map<string, Buffer | { stream: string; size: number }>();
    if (e.kind === 'vfs' && e.node.place.kind === 'fs') {
      for (const [k, v] of await this.vfs.xattrs(e.node)) t.set(k, v);
      for (const s of await this.vfs.streams(e.node)) {
        const name = `user.${s.name}`;
        if (!t.has(name)) t.set(name, { stream: s.name, size: s.size });
      }
    }
    this.xattrCache.set(path, t);
    return t;
  }

  async listxattr(path: string): Promise<string[]> {
    return [...(await this.xattrTable(path)).keys()];
  }

  /** The value, ENODATA when absent, E2BIG for a stream larger than Linux allows an xattr. */
  async getxattr(path: string, name: string): Promise<Buffer | number> {
    const v = (await this.xattrTable(path)).get(name);
    if (v === undefined) return Errno.ENODATA;
    if (Buffer.isBuffer(v)) return v;
    if (v.size > XATTR_SIZE_MAX) return Errno.E2BIG;
    const e = await this.resolve(path);
    if (e.kind !== 'vfs') return Errno.ENODATA;
    const src = await this.vfs.openFile(e.node, v.stream);
    try {
      const data = await src.read(0, v.size);
      return Buffer.from(data);
    } finally {
      await src.close();
    }
  }

  statfs(): Fuse.StatfsLike {
    const blocks = Math.min(0xffffffff, Math.ceil(this.vfs.container.size / 4096));
    // ST_RDONLY = 1.
    return { bsize: 4096, frsize: 4096, blocks, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 1, namemax: 255 };
  }

  async closeAll(): Promise<void> {
    for (const [fh] of this.handles) await this.release(fh).catch(() => undefined);
  }

  // ---- glue to fuse-native ----------------------------------------------------------------

  /** errno for an error; logs one line unless it is an ordinary outcome of a lookup. */
  errnoOf(op: string, path: string, err: unknown): number {
    if (err instanceof DiskpickError) {
      switch (err.kind) {
        case 'notFound':
          return Errno.ENOENT;
        case 'wrongType':
          return Errno.ENOTDIR;
        case 'usage':
          return Errno.EINVAL;
        case 'unsupported':
          this.opts.log(`${op} ${path}: ${err.toLine()}`);
          return Errno.EOPNOTSUPP;
        default:
          this.opts.log(`${op} ${path}: ${err.toLine()}`);
          return Errno.EIO;
      }
    }
    const e = err as Error;
    this.opts.log(`${op} ${path}: internal error: ${(e?.message ?? String(err)).replace(/[\r\n]+/g, ' ')}`);
    return Errno.EIO;
  }

  /** The handlers fuse-native calls. Each one answers exactly once, whatever happens. */
  operations(): Fuse.Operations {
    const guard = <T>(op: string, path: string, work: () => Promise<T>, ok: (v: T) => void, fail: (errno: number) => void): void => {
      let p: Promise<T>;
      try {
        p = work();
      } catch (err) {
        fail(this.errnoOf(op, path, err));
        return;
      }
      p.then(ok, (err) => fail(this.errnoOf(op, path, err)));
    };
    return {
      init: (cb) => cb(0),
      getattr: (path, cb) => guard('getattr', path, () => this.getattr(path), (st) => cb(0, st), (e) => cb(e)),
      readdir: (path, cb) => guard('readdir', path, () => this.readdir(path), (r) => cb(0, r.names, r.stats), (e) => cb(e)),
      readlink: (path, cb) => guard('readlink', path, () => this.readlink(path), (t) => cb(0, t), (e) => cb(e)),
      open: (path, flags, cb) => guard('open', path, () => this.open(path, flags), (fh) => (fh < 0 ? cb(fh) : cb(0, fh)), (e) => cb(e)),
      read: (path, fd, buf, len, pos, cb) => guard('read', path, () => this.read(fd, buf, len, pos), (n) => cb(n), (e) => cb(e)),
      release: (path, fd, cb) => guard('release', path, () => this.release(fd), () => cb(0), () => cb(0)),
      statfs: (path, cb) => guard('statfs', path, async () => this.statfs(), (s) => cb(0, s), (e) => cb(e)),
      listxattr: (path, cb) => guard('listxattr', path, () => this.listxattr(path), (l) => cb(0, l), (e) => cb(e)),
      getxattr: (path, name, _pos, cb) => guard('getxattr', path, () => this.getxattr(path, name), (v) => (typeof v === 'number' ? cb(v) : cb(0, v)), (e) => cb(e)),
    };
  }
}
