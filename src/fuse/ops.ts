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
import { escapeText } from '../escape.js';
import { InFlight, Lru } from '../source/lru.js';
import { hostRunsOf, readInto, type ByteSource } from '../source/source.js';
import type { Stat } from '../fs/types.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';

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
  ENXIO: -6,
  EOPNOTSUPP: -95,
} as const;

// st_mode type bits (sys/stat.h).
const S_IFMT: Record<Stat['type'], number> = {
  file: 0o100000, dir: 0o040000, symlink: 0o120000, chardev: 0o020000,
  blockdev: 0o060000, fifo: 0o010000, socket: 0o140000, other: 0o100000,
};

/** Folders queued to be listed ahead of a walker (see FuseFs.listAhead). */
const LIST_AHEAD_FOLDERS = 4096;

/** lseek whences the kernel passes on to the filesystem (unistd.h). */
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

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
  /** Bound on the entries kept in folder listings (oldest listings are dropped beyond it). */
  listingEntries?: number;
}

/**
 * A resolved path. `st` is its stat as the array fuse-native hands to libfuse, made once.
 * `listed`: a non-folder entry kept by its folder's listing without its node (a node holds the
 * filesystem's whole parsed record, ~2.5 KB on ext, so 100 000 of them would be 250 MB); it is
 * looked up again by name when opened, and keeps a symlink's target for readlink.
 */
type Entry = (
  | { kind: 'vfs'; node: VfsNode }
  | ListedEntry
  | { kind: 'rawdir'; prefix: string }
  | { kind: 'raw'; name: string; source: ByteSource }
) & { st?: Uint32Array };

/**
 * A file of a listing, made when something looks it up (a `find` looks up none). Its folder
 * entry's `modeIno` words hold the type and inode number, all libfuse puts in a readdir
 * answer; on ext and NTFS the listing is names-only, so the other fields are read only when
 * something asks for them (getattr): `st` is unset until then, and is then those words.
 */
interface ListedEntry {
  kind: 'listed';
  /** The folder's listing it is in. */
  owner: Listing;
  index: number;
}

/**
 * A folder's children as readdir answers them, "." and ".." first: names, and each entry's
 * st_mode and st_ino (all libfuse takes from a readdir answer: d_type, d_ino), in one buffer;
 * no object per entry (see answerReaddir). Entries are made on lookup; the name → index map
 * on the first lookup.
 */
interface Listing {
  /** The folder. */
  dir: VfsNode | null;
  names: string[];
  /** st_mode, st_ino of entry i at 2i, 2i + 1. */
  modeIno: Uint32Array;
  /** Whole stat words (STAT_WORDS per entry) of files listed with a complete stat (FAT, exFAT, NTFS); made only for those. */
  words?: Uint32Array;
  /** Folders (made with the listing: their nodes are needed to list them) and looked-up files. */
  kids: Array<Entry | undefined>;
  byName?: Map<string, number>;
  /** Set for names-only entries whose words hold only type and inode number. */
  partial?: Uint8Array;
  /** Targets of symlinks whose stat was complete at listing time. */
  targets?: Map<number, string>;
  /** The names as the libfuse3 binding takes them (UTF-8, each ended by NUL), made on first answer. */
  packed?: Buffer;
}

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

/** Words of one stat in fuse-native's layout (its getStatArray; read by populate_stat in C). */
const STAT_WORDS = 18;

/** What an error answer to getattr carries (the binding reads a stat array whatever the result). */
const NO_STAT = new Uint32Array(STAT_WORDS);

function setU64(a: Uint32Array, i: number, n: number): void {
  const lo = n % 4294967296;
  a[i] = lo;
  a[i + 1] = (n - lo) / 4294967296;
}

/** Writes `st` into `a` as fuse-native's getStatArray would (mode, uid, gid, size, dev, nlink, ino, rdev, blksize, blocks, a/m/ctime ms). */
export function fillStatArray(a: Uint32Array, st: Fuse.StatLike): Uint32Array {
  a[0] = st.mode;
  a[1] = st.uid;
  a[2] = st.gid;
  setU64(a, 3, st.size);
  a[5] = st.dev ?? 0;
  a[6] = st.nlink || 1;
  a[7] = st.ino;
  a[8] = st.rdev ?? 0;
  a[9] = st.blksize ?? 0;
  setU64(a, 10, st.blocks ?? 0);
  setU64(a, 12, st.atime);
  setU64(a, 14, st.mtime);
  setU64(a, 16, st.ctime);
  return a;
}

/** The stat in `a` (fillStatArray's layout) as an object. */
export function statLikeOf(a: Uint32Array): Fuse.StatLike {
  const u64 = (i: number) => a[i]! + a[i + 1]! * 4294967296;
  return {
    mode: a[0]!, uid: a[1]!, gid: a[2]!, size: u64(3), dev: a[5]!, nlink: a[6]!, ino: a[7]!, rdev: a[8]!,
    blksize: a[9]!, blocks: u64(10), atime: u64(12), mtime: u64(14), ctime: u64(16),
  };
}

/** Entry i's whole stat words in a listing's `words`: a view made when asked (a lookup). */
function wordsAt(words: Uint32Array, i: number): Uint32Array {
  return words.subarray(i * STAT_WORDS, (i + 1) * STAT_WORDS);
}

/** A name Linux can hold in a folder: no "/" or NUL, not "", "." or "..". */
function linuxName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}

export class FuseFs {
  /** Folders and entries found by lookup; entries found through a listing are reached from it. */
  private readonly cache: Lru<string, Entry>;
  private readonly rootEntry: Entry;
  private readonly rawDirEntry: Entry = { kind: 'rawdir', prefix: '' };
  /** Folders' listings, bounded by their number of entries. */
  private readonly listings: Lru<Entry, Listing>;
  private readonly listing = new InFlight<Entry, Listing>();
  private readonly xattrCache = new Lru<string, Map<string, Buffer | { stream: string; size: number }>>(4096);
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;
  readonly inodes = new InodeMap();
  /**
   * Paths under `.raw/`: `disk` (the image's whole disk), each readable volume by its path
   * (`p1`, `rl/root`: VG folders as in the tree), each further disk as `diskK/disk`.
   */
  private readonly rawNames: string[];
  /** Raw path → the name volumeSource takes. */
  private readonly rawVolume = new Map<string, string>();
  /** Folders inside `.raw/` ("rl", "disk2"), for their inode numbers. */
  private readonly rawDirs: string[] = [];

  constructor(private readonly vfs: Vfs, private readonly opts: FuseFsOptions) {
    this.cache = new Lru(opts.cacheEntries ?? 65536);
    this.listings = new Lru(opts.listingEntries ?? 262144, (l) => l.names.length);
    this.rootEntry = { kind: 'vfs', node: vfs.root() };
    for (const v of vfs.rawVolumeNames()) this.rawVolume.set(/^disk\d+$/.test(v) ? `${v}/${RAW_DISK}` : v, v);
    this.rawNames = [RAW_DISK, ...this.rawVolume.keys()];
    for (const n of this.rawNames) {
      for (let i = n.indexOf('/'); i > 0; i = n.indexOf('/', i + 1)) if (!this.rawDirs.includes(n.slice(0, i))) this.rawDirs.push(n.slice(0, i));
    }
  }

  /** The image file, for log lines about it. */
  get imageName(): string {
    return this.vfs.imagePath;
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
    if (path === '/') return this.rootEntry;
    const slash = path.lastIndexOf('/');
    const parentPath = slash <= 0 ? '/' : path.slice(0, slash);
    const name = path.slice(slash + 1);
    if (path === `/${RAW_DIR}`) {
      return this.rawDirEntry;
    } else if (path.startsWith(`/${RAW_DIR}/`)) {
      const rel = path.slice(RAW_DIR.length + 2);
      const vol = this.rawVolume.get(rel);
      if (rel === RAW_DISK) e = { kind: 'raw', name: rel, source: this.vfs.container };
      else if (vol !== undefined) e = { kind: 'raw', name: rel, source: this.vfs.volumeSource(vol) };
      else if (this.rawDirs.includes(rel)) e = { kind: 'rawdir', prefix: rel };
      else throw new DiskpickError('notFound', 'no such raw volume', path);
    } else {
      const parent = await this.resolve(parentPath);
      if (parent.kind !== 'vfs') throw new DiskpickError('wrongType', 'is not a folder', parentPath);
      const parentListing = this.listings.get(parent);
      const listed = parentListing && this.listedChild(parentListing, name);
      if (listed) {
        // Files stay reachable through their folder (no path-keyed copy per file); folders are
        // kept by path too, so a deep path does not walk down from the root each time.
        if (listed.kind !== 'listed') this.cache.set(path, listed);
        return listed;
      }
      // Not listed (yet), or a name spelt in another case on FAT/NTFS/exFAT, or a hidden entry.
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
    // Synthetic folders (VG and disk folders, volume folders) in slot 0 from 16: their Vfs numbers are small and unique.
    if (pl.kind === 'group' || pl.kind === 'volume') return 16 + node.stat.ino;
    return this.inodes.forFile(pl.vol.id, node.stat.ino);
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
      // Slot 0 (below 2^27) holds the synthetic entries: root 1, .raw 2, volume and VG folders
      // 16+, raw files 2^25+, folders inside .raw 2^26+.
      mode: S_IFMT.file | 0o444, uid: this.opts.uid, gid: this.opts.gid, size: source.size, nlink: 1, ino: 2 ** 25 + Math.max(0, i),
      blksize: 131072, blocks: Math.ceil(source.size / 512), atime: t, mtime: t, ctime: t,
    };
  }

  private entryStat(e: Entry): Fuse.StatLike {
    if (e.kind === 'vfs') return this.statOf(e.node);
    if (e.kind === 'listed') return statLikeOf(e.st!);
    if (e.kind === 'rawdir') return this.syntheticDirStat(e.prefix ? 2 ** 26 + this.rawDirs.indexOf(e.prefix) : 2);
    return this.rawStat(e.name, e.source);
  }

  /** The entry's stat as fuse-native's array, made on first use and kept (the image never changes). */
  statArray(e: Entry): Uint32Array {
    return (e.st ??= fillStatArray(new Uint32Array(STAT_WORDS), this.entryStat(e)));
  }

  // ---- operations -------------------------------------------------------------------------

  /** The stat the kernel gets for `path` (decoded from the kept array: the same answer). */
  async getattr(path: string): Promise<Fuse.StatLike> {
    return statLikeOf(await this.getattrArray(path));
  }

  /** getattr as the array libfuse receives: made once per entry, no allocation per call. */
  async getattrArray(path: string): Promise<Uint32Array> {
    const e = await this.resolve(path);
    if (e.kind === 'listed' && !e.st) await this.complete(e, path);
    return this.statArray(e);
  }

  /** The listing's names in one buffer, each ended by NUL (the libfuse3 binding's readdir answer). */
  packedNames(l: Listing): Buffer {
    return (l.packed ??= Buffer.from(`${l.names.join('\0')}\0`));
  }

  /** A folder's listing: names, stat arrays and entries, "." and ".." first (kept: see Listing). */
  async readdir(path: string): Promise<Listing> {
    return this.listingOf(await this.resolve(path), path);
  }

  private listingOf(e: Entry, path: string, ahead = true): Promise<Listing> {
    const kept = this.listings.get(e);
    if (kept) return Promise.resolve(kept);
    // Parallel readdirs of one folder share one reading of it.
    return this.listing.run(e, async () => {
      const l = await this.buildListing(e, path);
      if (ahead) this.listAhead(l, path);
      return l;
    });
  }

  /**
   * Folders listed ahead of a walker (find, du, a file manager): the sub-folders of every
   * folder listed, breadth first, one at a time between requests (each step runs after the
   * requests waiting: setImmediate follows libuv's poll phase, where the binding's requests
   * arrive). The image reading and decoding of the next folders then overlaps the kernel's and
   * the walker's work instead of following it, and through the libfuse3 binding each listing
   * is offered to libfuse's threads (onListedAhead), which answer the walker's LOOKUP and
   * READDIR of that folder without a trip to JavaScript. Bounded: LIST_AHEAD_FOLDERS queued,
   * a quarter of the kept-listing budget in names listed ahead and not yet asked for, and the
   * binding's own byte limit (an offer refused stops the queue until the walker asks again).
   * Errors are left to the walker's own request, which reports them.
   */
  private listAhead(l: Listing, path: string): void {
    if (process.env.DP_NOAHEAD) return;
    for (let i = 2; i < l.names.length && this.ahead.length < LIST_AHEAD_FOLDERS; i++) {
      const k = l.kids[i];
      // Folders of a filesystem only: a volume's folder would open its filesystem (or ask for its key) unasked.
      if (k?.kind === 'vfs' && k.node.place.kind === 'fs' && k.node.stat.type === 'dir' && !this.listings.get(k)) this.ahead.push([k, `${path === '/' ? '' : path}/${l.names[i]}`]);
    }
    if (this.ahead.length && !this.aheadRunning) {
      this.aheadRunning = true;
      setImmediate(() => this.aheadStep());
    }
  }

  private readonly ahead: Array<[Entry, string]> = [];
  private aheadRunning = false;
  /** Names listed ahead and not yet asked for by a walker (approximate: what the queue may still add). */
  private aheadNames = 0;
  /** Through the libfuse3 binding: hands a folder's listing made ahead, and its stat, to libfuse's threads; false when refused. */
  onListedAhead?: (path: string, l: Listing, st: Uint32Array) => boolean;

  private aheadStep(): void {
    const next = this.ahead.shift();
    const budget = (this.opts.listingEntries ?? 262144) / 4;
    // Through the binding, what waits is bounded by its byte limit; without it, by names listed.
    if (!next || (!this.onListedAhead && this.aheadNames > budget)) {
      this.ahead.length = 0;
      this.aheadRunning = false;
      this.aheadNames = 0;
      return;
    }
    const [k, p] = next;
    if (this.listings.get(k)) {
      setImmediate(() => this.aheadStep());
      return;
    }
    this.listingOf(k, p, false).then((kl) => {
      this.aheadNames += kl.names.length;
      if (this.onListedAhead && !this.onListedAhead(p, kl, this.statArray(k))) {
        this.ahead.length = 0;
      } else {
        this.listAhead(kl, p);
      }
      setImmediate(() => this.aheadStep());
    }, () => setImmediate(() => this.aheadStep()));
  }

  private async buildListing(e: Entry, path: string): Promise<Listing> {
    const parent = path === '/' ? e : await this.resolve(parentOf(path));
    if (e.kind === 'rawdir') {
      const under = e.prefix ? `${e.prefix}/` : '';
      const here: string[] = [];
      for (const n of this.rawNames) {
        if (!n.startsWith(under)) continue;
        const rest = n.slice(under.length);
        const first = rest.includes('/') ? rest.slice(0, rest.indexOf('/')) : rest;
        if (!here.includes(first)) here.push(first);
      }
      const kids: Entry[] = [];
      for (const n of here) kids.push(await this.resolve(`/${RAW_DIR}/${under}${n}`));
      const names = ['.', '..', ...here];
      const l = this.newListing(e, parent, names, null);
      kids.forEach((k, i) => this.listNode(l, i + 2, k));
      return this.keep(e, l);
    }
    if (e.kind !== 'vfs' || e.node.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', path);
    // Names and types by column where the filesystem can (ext): a `find` needs no more, and
    // files get no node. An LVM PV's folder is empty: its LVs are in the VG's folder.
    const c = this.vfs.shownElsewhere(e.node) ? { names: [], types: [], inos: [], nodes: [] } : await this.vfs.readdirNames(e.node);
    const dir = e.node.place;
    const volume = dir.kind === 'root' || dir.kind === 'group' ? -1 : dir.vol.id;
    const names = ['.', '..'];
    // A name with "/" or NUL cannot be a Linux directory entry; skip it rather than lie.
    let skip: Set<number> | null = null;
    for (let i = 0; i < c.names.length; i++) {
      const name = c.names[i]!;
      if (linuxName(name)) names.push(name);
      else (skip ??= new Set()).add(i);
    }
    if (path === '/') names.push(RAW_DIR);
    const l = this.newListing(e, parent, names, e.node);
    for (let i = 0, j = 2; i < c.names.length; i++) {
      if (skip?.has(i)) continue;
      const node = c.nodes[i];
      if (node) this.listNode(l, j, node);
      else this.listPartial(l, j, c.types[i]!, this.inodes.forFile(volume, c.inos[i]!));
      j++;
    }
    if (path === '/') this.listNode(l, names.length - 1, this.rawDirEntry);
    return this.keep(e, l);
  }

  /** A listing of `names` with "." and ".." filled in. */
  private newListing(e: Entry, parent: Entry, names: string[], dir: VfsNode | null): Listing {
    const l: Listing = { dir, names, modeIno: new Uint32Array(names.length * 2), kids: new Array<Entry | undefined>(names.length) };
    this.listWords(l, 0, this.statArray(e));
    this.listWords(l, 1, this.statArray(parent));
    return l;
  }

  private listWords(l: Listing, i: number, st: Uint32Array): void {
    l.modeIno[2 * i] = st[0]!;
    l.modeIno[2 * i + 1] = st[7]!;
  }

  /** Child `i` from its node: folders are kept as entries (listing one needs its node). */
  private listNode(l: Listing, i: number, kid: Entry | VfsNode): void {
    if (!('place' in kid) || kid.stat.type === 'dir') {
      const k: Entry = 'place' in kid ? { kind: 'vfs', node: kid } : kid;
      this.listWords(l, i, this.statArray(k));
      l.kids[i] = k;
    } else if (kid.partial) {
      this.listPartial(l, i, kid.stat.type, this.inoOf(kid));
    } else {
      const st = fillStatArray(wordsAt((l.words ??= new Uint32Array(l.names.length * STAT_WORDS)), i), this.statOf(kid));
      this.listWords(l, i, st);
      if (kid.stat.symlinkTarget !== undefined) (l.targets ??= new Map()).set(i, kid.stat.symlinkTarget);
    }
  }

  /** Child `i` known by type and number only: the rest of its stat is read on getattr. */
  private listPartial(l: Listing, i: number, type: Stat['type'], ino: number): void {
    l.modeIno[2 * i] = S_IFMT[type];
    l.modeIno[2 * i + 1] = ino;
    (l.partial ??= new Uint8Array(l.names.length))[i] = 1;
  }

  /** Keeps `l` as e's listing, within the budget of kept entries (the one just made always stays). */
  private keep(e: Entry, l: Listing): Listing {
    this.listings.set(e, l);
    return l;
  }

  /** The entry of a listing's child by exact name (the first one, should a damaged folder repeat it). */
  private listedChild(l: Listing, name: string): Entry | undefined {
    if (!l.byName) {
      l.byName = new Map();
      for (let i = l.names.length - 1; i >= 2; i--) l.byName.set(l.names[i]!, i);
    }
    const i = l.byName.get(name);
    if (i === undefined) return undefined;
    let k = l.kids[i];
    if (!k) {
      k = { kind: 'listed', owner: l, index: i };
      if (!l.partial?.[i] && l.words) k.st = wordsAt(l.words, i);
      l.kids[i] = k;
    }
    return k;
  }

  /** What is known of entry i's stat without reading more (at least its type and number). */
  private listedStat(l: Listing, i: number): Fuse.StatLike {
    const k = l.kids[i];
    if (k?.st) return statLikeOf(k.st);
    if (i >= 2 && !l.partial?.[i] && l.words) return statLikeOf(wordsAt(l.words, i));
    const st = new Uint32Array(STAT_WORDS);
    st[0] = l.modeIno[2 * i]!;
    st[7] = l.modeIno[2 * i + 1]!;
    return statLikeOf(st);
  }

  /** The node behind an entry: a listed file is looked up again in its folder. */
  private async nodeOf(e: Entry, path: string): Promise<VfsNode | null> {
    if (e.kind === 'vfs') return e.node;
    if (e.kind !== 'listed') return null;
    const { owner: l, index } = e;
    const name = l.names[index]!;
    const ino = l.modeIno[2 * index + 1];
    let node = await this.vfs.child(l.dir!, name);
    if (!node || this.inoOf(node) !== ino) {
      // Another entry answers to this name under the folder's case rules (names that fold to
      // one): this one is found in a complete listing.
      node = (await this.vfs.readdir(l.dir!)).find((k) => k.name === name && this.inoOf(k) === ino) ?? null;
    }
    if (!node) throw new DiskpickError('notFound', 'no such file or folder in the image', path);
    return node;
  }

  /** Reads the rest of a names-only entry's stat. */
  private async complete(e: ListedEntry & { st?: Uint32Array }, path: string): Promise<void> {
    const node = (await this.nodeOf(e, path))!;
    const target = node.stat.symlinkTarget;
    if (target !== undefined) (e.owner.targets ??= new Map()).set(e.index, target);
    e.st = fillStatArray(new Uint32Array(STAT_WORDS), this.statOf(node));
    e.owner.partial![e.index] = 0;
  }

  async readlink(path: string): Promise<string> {
    const e = await this.resolve(path);
    let t: string | undefined;
    if (e.kind === 'listed' && (e.owner.modeIno[2 * e.index]! & 0o170000) === S_IFMT.symlink) {
      if (!e.st) await this.complete(e, path);
      t = e.owner.targets?.get(e.index);
    }
    else if (e.kind === 'vfs' && e.node.stat.type === 'symlink') t = e.node.stat.symlinkTarget;
    else throw new DiskpickError('usage', 'is not a symbolic link', path);
    if (t === undefined) throw corrupt(path, 'symbolic link without a readable target');
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
      const node = (await this.nodeOf(e, path))!;
      if (node.stat.type === 'dir') return Errno.EISDIR;
      const src = await this.vfs.openFile(node);
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
    const size = h.src.size;
    if (pos >= size) return 0;
    const want = Math.min(len, buf.length, size - pos);
    let got = 0;
    while (got < want) {
      // Straight into libfuse's buffer: no Buffer per request (a fresh one per 128 KiB request
      // cost more than the read itself).
      const n = await readInto(h.src, buf, got, pos + got, want - got);
      // A short read before the end would look like end-of-file to the kernel: a silently cut
      // file. Say so instead (EIO and a log line).
      if (n <= 0) throw corrupt(h.src.name, `read at offset ${pos + got} returned no data before the end of the file (${size} bytes)`);
      got += n;
    }
    return got;
  }

  /**
   * Where the open file's bytes lie in host files (length, fd, offset per run; fd -1 for
   * zeros), when all of them are there as they are: the libfuse3 binding then reads them
   * itself. null where any byte needs decoding (containers with their own layout, compressed
   * files, a replayed journal) or the file is empty: its reads come here.
   */
  async hostRuns(fh: number): Promise<Float64Array | null> {
    const h = this.handles.get(fh);
    if (!h || h.src.size === 0) return null;
    // Bounded: a handle keeps its runs in the binding (32 bytes each) while the file is open.
    const runs = await hostRunsOf(h.src, 0, h.src.size, 4096).catch(() => null);
    if (!runs) return null;
    const out = new Float64Array(runs.length * 3);
    for (let i = 0; i < runs.length; i++) {
      const r = runs[i]!;
      out[3 * i] = r.length;
      out[3 * i + 1] = r.fd;
      out[3 * i + 2] = r.offset;
    }
    return out;
  }

  /**
   * SEEK_DATA (3) / SEEK_HOLE (4) on an open file, from its data ranges (ByteSource.dataRanges,
   * the one answer sparse extracts use too): the first data byte at or after `offset`, or the
   * first hole byte (the end of the file counts as a hole); -ENXIO at or past the end, or when
   * no data follows. A source that reports no holes is data from 0 to its size.
   */
  async lseek(fh: number, offset: number, whence: number): Promise<number> {
    const h = this.handles.get(fh);
    if (!h) return Errno.EBADF;
    if (whence !== SEEK_DATA && whence !== SEEK_HOLE) return Errno.EINVAL;
    const size = h.src.size;
    if (!(offset >= 0) || offset >= size) return Errno.ENXIO;
    const ranges = h.src.dataRanges ? h.src.dataRanges(offset, size - offset) : [[offset, size - offset] as [number, number]];
    if (whence === SEEK_DATA) {
      for (const [at, len] of ranges) if (len > 0) return Math.max(at, offset);
      return Errno.ENXIO;
    }
    // SEEK_HOLE: the end of the first run of ranges that starts at `offset` without a gap.
    let pos = offset;
    for (const [at, len] of ranges) {
      if (len <= 0) continue;
      if (at > pos) return pos;
      pos = Math.max(pos, at + len);
    }
    return Math.min(pos, size);
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
    const node = await this.nodeOf(await this.resolve(path), path);
    const t = new Map<string, Buffer | { stream: string; size: number }>();
    if (node && node.place.kind === 'fs') {
      for (const [k, v] of await this.vfs.xattrs(node)) t.set(k, v);
      for (const s of await this.vfs.streams(node)) {
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
    const node = await this.nodeOf(await this.resolve(path), path);
    if (!node) return Errno.ENODATA;
    const src = await this.vfs.openFile(node, v.stream);
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
          this.opts.log(`${op} ${escapeText(path)}: ${err.toLine()}`);
          return Errno.EOPNOTSUPP;
        default:
          this.opts.log(`${op} ${escapeText(path)}: ${err.toLine()}`);
          return Errno.EIO;
      }
    }
    const e = err as Error;
    this.opts.log(`${op} ${escapeText(path)}: internal error: ${escapeText(e?.message ?? String(err))}`);
    return Errno.EIO;
  }

  /** getattr for the mount's own handler: `reply` gets the entry's kept stat words. */
  answerGetattr(path: string, reply: (err: number, words: Uint32Array) => void): void {
    this.getattrArray(path).then((a) => reply(0, a), (err) => reply(this.errnoOf('getattr', path, err), NO_STAT));
  }

  /**
   * readdir for the mount's own handler. fuse-native wants one stat array per entry; made per
   * listing, 100 000 of them were most of a first `find` (their making, their garbage and
   * their memory's first touch). libfuse takes only st_mode and st_ino from them, so those two
   * words go into one shared buffer, over which a view per position is made once, and `reply`
   * (the binding, which copies every entry out before it returns) gets those views. Nothing
   * else may write the shared buffer between the copy and the reply: `reply` is called
   * synchronously right after it.
   */
  answerReaddir(path: string, reply: (err: number, names: string[], stats: Uint32Array[]) => void): void {
    this.readdir(path).then((l) => {
      const n = l.names.length;
      if (this.answerViews.length < n) {
        const count = Math.max(n, 2 * this.answerViews.length);
        this.answerWords = new Uint32Array(count * STAT_WORDS);
        this.answerViews = new Array<Uint32Array>(count);
        for (let i = 0; i < count; i++) this.answerViews[i] = wordsAt(this.answerWords, i);
      }
      const w = this.answerWords;
      const mi = l.modeIno;
      for (let i = 0; i < n; i++) {
        w[i * STAT_WORDS] = mi[2 * i]!;
        w[i * STAT_WORDS + 7] = mi[2 * i + 1]!;
      }
      reply(0, l.names, this.answerViews.length === n ? this.answerViews : this.answerViews.slice(0, n));
    }, (err) => reply(this.errnoOf('readdir', path, err), [], []));
  }

  private answerWords = new Uint32Array(0);
  private answerViews: Uint32Array[] = [];

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
      // The mount answers getattr and readdir through opGetattr/opReaddir (no stat object and
      // array per call); these are the same answers through fuse-native's own glue.
      getattr: (path, cb) => guard('getattr', path, () => this.getattr(path), (st) => cb(0, st), (e) => cb(e)),
      readdir: (path, cb) => guard('readdir', path, () => this.readdir(path), (l) => cb(0, l.names, l.names.map((_, i) => this.listedStat(l, i))), (e) => cb(e)),
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
