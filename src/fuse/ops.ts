/**
 * The FUSE operations over one Vfs, in the order a read goes through them: a path resolves
 * to an Entry (bounded path cache, the folder's listing, `.raw/` in raw-folder.ts), its stat
 * is made once as the kernel's words (stat-words.ts, numbers from inodes.ts), folders answer
 * readdir from kept listings (listing.ts, listed ahead of a walker in list-ahead.ts), and an
 * open file's reads go to its ByteSource through the handle table (handles.ts); extended
 * attributes in xattrs.ts.
 *
 * Every handler answers: a thrown error becomes an errno (errno.ts), and anything that is not
 * an ordinary "no such file" is written as one line to the log, never allowed to kill the process.
 */
import type Fuse from 'fuse-native';
import { corrupt, DiskpickError } from '../errors.js';
import { InFlight, Lru } from '../source/lru.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { Errno, errnoFor } from './errno.js';
import { HandleTable } from './handles.js';
import { InodeMap } from './inodes.js';
import { ListAhead } from './list-ahead.js';
import {
  joinedListing, listedChild, setKid, listedStat, nameAt, namesOf, newListing, setModeIno, setPartial, setPartials, setWords, shownNames,
  type Entry, type ListedEntry, type Listing,
} from './listing.js';
import { RAW_DIR, RawFolder } from './raw-folder.js';
import { fillStatArray, nodeStat, NO_STAT, S_IFMT, STAT_WORDS, statLikeOf, wordsAt, type OwnerOptions } from './stat-words.js';
import { Xattrs } from './xattrs.js';


export interface FuseFsOptions extends OwnerOptions {
  /** One line per failed operation. */
  log: (line: string) => void;
  /** Bounded size of the path → node cache. */
  cacheEntries?: number;
  /** Bound on the entries kept in folder listings (oldest listings are dropped beyond it). */
  listingEntries?: number;
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export class FuseFs {
  /** Folders and entries found by lookup; entries found through a listing are reached from it. */
  private readonly cache: Lru<string, Entry>;
  private readonly rootEntry: Entry;
  private readonly raw: RawFolder;
  /** Folders' listings, bounded by their number of entries. */
  private readonly listings: Lru<Entry, Listing>;
  private readonly listing = new InFlight<Entry, Listing>();
  private readonly handles = new HandleTable();
  private readonly xattrs: Xattrs;
  readonly inodes = new InodeMap();
  /** Folders listed ahead of a walker; the libfuse3 binding sets its `offer`. */
  readonly ahead: ListAhead;

  constructor(private readonly vfs: Vfs, private readonly opts: FuseFsOptions) {
    const listingEntries = opts.listingEntries ?? 262144;
    this.cache = new Lru(opts.cacheEntries ?? 65536);
    this.listings = new Lru(listingEntries, (l) => l.count);
    this.rootEntry = { kind: 'vfs', node: vfs.root() };
    this.raw = new RawFolder(vfs, opts);
    this.xattrs = new Xattrs(vfs, async (path) => this.nodeOf(await this.resolve(path), path));
    this.ahead = new ListAhead(
      { kept: (e) => this.listings.get(e), list: (e, path) => this.listingOf(e, path, false), statArray: (e) => this.statArray(e) },
      listingEntries / 4,
    );
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
      return this.raw.entry;
    } else if (path.startsWith(`/${RAW_DIR}/`)) {
      e = this.raw.entryOf(path.slice(RAW_DIR.length + 2), path);
    } else {
      const parent = await this.resolve(parentPath);
      if (parent.kind !== 'vfs') throw new DiskpickError('wrongType', 'is not a folder', parentPath);
      const parentListing = this.listings.get(parent);
      const listed = parentListing && listedChild(parentListing, name);
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

  /** The node behind an entry: a listed file is looked up again in its folder. */
  private async nodeOf(e: Entry, path: string): Promise<VfsNode | null> {
    if (e.kind === 'vfs') return e.node;
    if (e.kind !== 'listed') return null;
    const { owner: l, index } = e;
    const name = nameAt(l, index);
    const ino = l.modeIno[2 * index + 1];
    let node = await this.vfs.child(l.dir!, name);
    if (!node || this.inodes.of(node) !== ino) {
      // Another entry answers to this name under the folder's case rules (names that fold to
      // one): this one is found in a complete listing.
      node = (await this.vfs.readdir(l.dir!)).find((k) => k.name === name && this.inodes.of(k) === ino) ?? null;
    }
    if (!node) throw new DiskpickError('notFound', 'no such file or folder in the image', path);
    return node;
  }

  // ---- stat -------------------------------------------------------------------------------

  statOf(node: VfsNode): Fuse.StatLike {
    return nodeStat(node, this.inodes.of(node), this.opts);
  }

  private entryStat(e: Entry): Fuse.StatLike {
    if (e.kind === 'vfs') return this.statOf(e.node);
    if (e.kind === 'listed') return statLikeOf(e.st!);
    return this.raw.stat(e);
  }

  /** The entry's stat as fuse-native's array, made on first use and kept (the image never changes). */
  statArray(e: Entry): Uint32Array {
    return (e.st ??= fillStatArray(new Uint32Array(STAT_WORDS), this.entryStat(e)));
  }

  /** Reads the rest of a names-only entry's stat. */
  private async complete(e: ListedEntry & { st?: Uint32Array }, path: string): Promise<void> {
    const node = (await this.nodeOf(e, path))!;
    const target = node.stat.symlinkTarget;
    if (target !== undefined) (e.owner.targets ??= new Map()).set(e.index, target);
    e.st = fillStatArray(new Uint32Array(STAT_WORDS), this.statOf(node));
    e.owner.partial![e.index] = 0;
  }

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

  // ---- listings ---------------------------------------------------------------------------

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
      if (ahead) this.ahead.after(l, path);
      return l;
    });
  }

  private async buildListing(e: Entry, path: string): Promise<Listing> {
    const parent = path === '/' ? e : await this.resolve(parentOf(path));
    if (e.kind === 'rawdir') {
      const here = this.raw.namesIn(e.prefix);
      const under = e.prefix ? `${e.prefix}/` : '';
      const kids: Entry[] = [];
      for (const n of here) kids.push(await this.resolve(`/${RAW_DIR}/${under}${n}`));
      const l = newListing(['.', '..', ...here], null, this.statArray(e), this.statArray(parent));
      kids.forEach((k, i) => this.listNode(l, i + 2, k));
      return this.keep(e, l);
    }
    if (e.kind !== 'vfs' || e.node.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', path);
    // Names and types by column where the filesystem can (ext): a `find` needs no more, and
    // files get no node. An LVM PV's folder is empty: its LVs are in the VG's folder. In the
    // order stored: the kernel asks no order of a readdir answer (its own ext4 answers in hash
    // order), and sorting 1000 names a folder was ~10% of the mount's main-thread time in a
    // first walk of 100 000 files (NTFS, whose index order is not code-unit order).
    const c = this.vfs.shownElsewhere(e.node) ? { names: [], types: [], inos: [], nodes: [] } : await this.vfs.readdirNames(e.node, { unsorted: true });
    const dir = e.node.place;
    const volume = dir.kind === 'root' || dir.kind === 'group' ? -1 : dir.vol.id;
    // The filesystem's names as one string where it has them so (NTFS), else one by one.
    let l = c.joined === undefined || path === '/' ? null : joinedListing(c.joined, c.types.length, e.node, this.statArray(e), this.statArray(parent));
    let skip: Uint8Array | null = null;
    if (l === null) {
      const shown = shownNames(c.names, path === '/' ? RAW_DIR : null);
      skip = shown.skip;
      l = newListing(shown.names, e.node, this.statArray(e), this.statArray(parent));
    }
    // Per entry only in small functions of their own (see shownNames): this one runs 100
    // times in a walk of 100 folders and stays out of the optimizing compiler.
    const withNode = setPartials(l, c, skip, volume, this.inodes);
    for (let k = 0; k < withNode.length; k += 2) this.listNode(l, withNode[k + 1]!, c.nodes[withNode[k]!]!);
    if (path === '/') this.listNode(l, l.count - 1, this.raw.entry);
    return this.keep(e, l);
  }

  /** Child `i` from its node: folders are kept as entries (listing one needs its node). */
  private listNode(l: Listing, i: number, kid: Entry | VfsNode): void {
    if (!('place' in kid) || kid.stat.type === 'dir') {
      const k: Entry = 'place' in kid ? { kind: 'vfs', node: kid } : kid;
      setModeIno(l, i, this.statArray(k));
      setKid(l, i, k);
      (l.folders ??= []).push(i);
    } else if (kid.partial) {
      setPartial(l, i, kid.stat.type, this.inodes.of(kid));
    } else {
      setWords(l, i, this.statOf(kid));
      if (kid.stat.symlinkTarget !== undefined) (l.targets ??= new Map()).set(i, kid.stat.symlinkTarget);
    }
  }

  /** Keeps `l` as e's listing, within the budget of kept entries (the one just made always stays). */
  private keep(e: Entry, l: Listing): Listing {
    this.listings.set(e, l);
    return l;
  }

  // ---- open files -------------------------------------------------------------------------

  async open(path: string, flags: number): Promise<number> {
    // O_ACCMODE: the mount is read-only, whatever the kernel lets through.
    if ((flags & 3) !== 0) return Errno.EROFS;
    const e = await this.resolve(path);
    if (e.kind === 'raw') return this.handles.add(e.source, false);
    if (e.kind === 'rawdir') return Errno.EISDIR;
    const node = (await this.nodeOf(e, path))!;
    if (node.stat.type === 'dir') return Errno.EISDIR;
    const src = await this.vfs.openFile(node);
    // One read before the kernel's parallel readahead arrives: sources that set themselves up
    // lazily on the first read (cluster chains, run lists) then do it once instead of racing.
    if (src.size > 0) await src.read(0, 1);
    return this.handles.add(src, true);
  }

  read(fh: number, buf: Buffer, len: number, pos: number): Promise<number> {
    return this.handles.read(fh, buf, len, pos);
  }

  hostRuns(fh: number): Promise<Float64Array | null> {
    return this.handles.hostRuns(fh);
  }

  lseek(fh: number, offset: number, whence: number): Promise<number> {
    return this.handles.lseek(fh, offset, whence);
  }

  release(fh: number): Promise<void> {
    return this.handles.release(fh);
  }

  closeAll(): Promise<void> {
    return this.handles.closeAll();
  }

  listxattr(path: string): Promise<string[]> {
    return this.xattrs.list(path);
  }

  getxattr(path: string, name: string): Promise<Buffer | number> {
    return this.xattrs.get(path, name);
  }

  statfs(): Fuse.StatfsLike {
    const blocks = Math.min(0xffffffff, Math.ceil(this.vfs.container.size / 4096));
    // ST_RDONLY = 1.
    return { bsize: 4096, frsize: 4096, blocks, bfree: 0, bavail: 0, files: 0, ffree: 0, favail: 0, fsid: 0, flag: 1, namemax: 255 };
  }

  // ---- glue to fuse-native ----------------------------------------------------------------

  /** errno for an error; logs one line unless it is an ordinary outcome of a lookup. */
  errnoOf(op: string, path: string, err: unknown): number {
    return errnoFor(this.opts.log, op, path, err);
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
      const n = l.count;
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
      reply(0, namesOf(l), this.answerViews.length === n ? this.answerViews : this.answerViews.slice(0, n));
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
      readdir: (path, cb) => guard('readdir', path, () => this.readdir(path), (l) => { const names = namesOf(l); cb(0, names, names.map((_, i) => listedStat(l, i))); }, (e) => cb(e)),
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
