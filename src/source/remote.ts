/**
 * An image that lives behind a network (an HTTP(S) server, an S3 bucket), read without being
 * downloaded: every read is answered from aligned blocks fetched with range requests and kept
 * in one byte-bounded LRU, so every layer above (container tables, inode tables, file data)
 * shares one cache. Reads that follow each other grow a read-ahead window (a restore of a big
 * file turns into few large requests); scattered reads (folder listings, inode tables) run as
 * parallel requests, one per block group, each fetched once however many callers wait for it.
 */
import { corrupt } from '../errors.js';
import { readIntoSpan, readSpan, type ByteSource } from './source.js';

/** Bytes of image data received over the network by this process so far (all remote files). */
let received = 0;
export function networkBytesReceived(): number {
  return received;
}

/** What a transport (http.ts, s3.ts) gives RemoteSource. */
export interface RangeFetcher {
  /** The object's name for messages, with credentials and signatures removed. */
  readonly name: string;
  readonly size: number;
  /** Bytes [offset, offset + length) of the object; exactly that many, or a one-line error. */
  fetch(offset: number, length: number): Promise<Buffer>;
  /**
   * The same bytes cut into buffers of `blockSize` (the last one shorter), if the transport can
   * fill them directly; `alloc` gives each buffer (recycled ones: see RemoteBlockCache.alloc).
   */
  fetchBlocks?(offset: number, length: number, blockSize: number, alloc?: (size: number) => Buffer, onBlock?: (index: number, block: Buffer) => void): Promise<Buffer[]>;
  /** Bytes from offset 0 the opening already fetched (taken and cleared by RemoteSource). */
  initial?: Buffer | null;
  /** Bytes the server sent so far (bodies only). */
  readonly transferred: number;
  /** When the object was last changed, as the server says (Last-Modified), ms since 1970. */
  readonly lastModified: number | null;
  close(): Promise<void>;
}

/**
 * The block cache of one opened image: every remote file it reads (split parts, VMDK extents,
 * parents) shares one byte bound, so a chain of many files stays within `--cache-size`.
 */
export class RemoteBlockCache {
  /**
   * Blocks in LRU order, keyed by file number * 2^32 + block number. Not the shared Lru
   * (source/lru.ts): an evicted block must come back here for reuse (recycle), which the
   * two-generation Lru, dropping a whole generation at once, cannot hand back one by one; the
   * map holds at most `--cache-size` / 256 KiB (1 024) blocks, where the O(entries) eviction
   * lru.ts measures at 32 768 does not show (extract of 1 GiB: 4 096 evictions).
   */
  private readonly map = new Map<number, Buffer>();
  private files = 0;
  /**
   * Blocks no longer cached and never lent out (read() hands out views of blocks; those stay
   * the caller's): the next fetches fill them again. A block is 256 KiB, which malloc gives from
   * a fresh mmap each time: extract of 1 GiB over HTTP took 95 000 page faults and 0.3 s of GC
   * for blocks allocated, filled once and dropped (curl: 670 faults, one reused buffer).
   */
  private readonly free: Buffer[] = [];
  private readonly lent = new WeakSet<Buffer>();

  constructor(
    readonly maxBlocks: number,
    /** The size of the blocks worth keeping for reuse (the files' block size). */
    readonly blockSize = 256 * 1024,
  ) {}

  /** A buffer of `size` bytes for a fetch to fill: a recycled block when one fits. */
  alloc = (size: number): Buffer => (size === this.blockSize && this.free.pop()) || Buffer.allocUnsafe(size);

  /** Marks a block as handed out (a view of it lives on with a caller): it is never refilled. */
  lend(b: Buffer): void {
    this.lent.add(b);
  }

  /**
   * Gives a block no longer cached back for reuse. Safe while nobody can still read it: a waiter
   * already resolved with it runs its copy in the same microtask turn, before any socket read
   * (a macrotask) can fill the buffer again.
   */
  private recycle(b: Buffer): void {
    if (b.length === this.blockSize && !this.lent.has(b) && this.free.length + this.map.size < this.maxBlocks) this.free.push(b);
  }

  /** A number for one more file's keys. */
  register(): number {
    return this.files++;
  }

  has(key: number): boolean {
    return this.map.has(key);
  }

  get(key: number): Buffer | undefined {
    const b = this.map.get(key);
    if (b) {
      this.map.delete(key);
      this.map.set(key, b);
    }
    return b;
  }

  set(key: number, b: Buffer): void {
    this.map.delete(key);
    this.map.set(key, b);
    while (this.map.size > this.maxBlocks) {
      const oldest = this.map.keys().next().value!;
      this.recycle(this.map.get(oldest)!);
      this.map.delete(oldest);
    }
  }

  /** Drops one block a stream has read through (and recycles it). */
  release(key: number): void {
    const b = this.map.get(key);
    if (!b) return;
    this.map.delete(key);
    this.recycle(b);
  }

  /** Drops one file's blocks. */
  drop(file: number): void {
    for (const k of this.map.keys()) if (Math.floor(k / 2 ** 32) === file) this.map.delete(k);
  }
}

export interface RemoteCacheOptions {
  /** Bytes per cached block (default 256 KiB). */
  blockSize?: number;
  /** Most bytes the cache holds (default 256 MiB). */
  cacheBytes?: number;
  /** Largest read-ahead window (default 64 MiB). */
  maxReadAhead?: number;
  /** Share this cache (and its bound) with the other files of the image. */
  sharedCache?: RemoteBlockCache;
  /** Largest single range request (default 8 MiB): longer runs go as several at once. */
  maxRequest?: number;
}

export class RemoteSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly blockSize: number;
  private readonly maxAheadBlocks: number;
  private readonly maxRunBlocks: number;
  private readonly cache: RemoteBlockCache;
  private readonly fileNo: number;
  private readonly pending = new Map<number, Promise<Buffer>>();
  /** Where the last read ended, and the read-ahead window (in blocks) it earned. */
  private lastEnd = -1;
  private window = 1;
  /** Reads under way that still need each block, and the blocks a stream has read through. */
  private readonly readers = new Map<number, number>();
  private readonly readThrough = new Set<number>();

  constructor(readonly fetcher: RangeFetcher, opts: RemoteCacheOptions = {}) {
    this.name = fetcher.name;
    this.size = fetcher.size;
    this.blockSize = opts.blockSize ?? 256 * 1024;
    this.cache = opts.sharedCache ?? new RemoteBlockCache(Math.max(8, Math.floor((opts.cacheBytes ?? 256 * 1024 * 1024) / this.blockSize)), this.blockSize);
    this.fileNo = this.cache.register();
    // The opening request's bytes become block 0 when they are a whole one (or the whole file).
    const first = fetcher.initial;
    if (first && (first.length === this.blockSize || first.length === this.size)) this.remember(0, first);
    if (fetcher.initial) fetcher.initial = null;
    // 64 MiB ahead in requests of 8 MiB: extract of 1 GiB over a 20 ms round trip took 4.9-6.3 s
    // with 16 MiB in requests of 4 MiB, 3.4-5.5 s so (2.8-3.1 s with no latency; bench/remote.ts,
    // a loaded machine). Only sequential reads earn the window, doubling per read.
    // At most half the cache: blocks read ahead must not evict each other before they are read.
    this.maxAheadBlocks = Math.max(1, Math.min(Math.floor(this.cache.maxBlocks / 2), Math.floor((opts.maxReadAhead ?? 64 * 1024 * 1024) / this.blockSize)));
    this.maxRunBlocks = Math.max(1, Math.floor((opts.maxRequest ?? 8 * 1024 * 1024) / this.blockSize));
  }

  get transferred(): number {
    return this.fetcher.transferred;
  }

  private remember(i: number, b: Buffer): void {
    this.cache.set(this.fileNo * 2 ** 32 + i, b);
  }

  private cached(i: number): boolean {
    return this.cache.has(this.fileNo * 2 ** 32 + i);
  }

  /**
   * Fetches blocks [first, first + count) in one request (those not already cached or under
   * way), each then cached and handed to whoever waits for it.
   */
  private fetchRun(first: number, count: number): void {
    const lastBlock = Math.ceil(this.size / this.blockSize) - 1;
    const end = Math.min(first + count - 1, lastBlock);
    const present = (i: number) => this.cached(i) || this.pending.has(i);
    // Only the blocks neither cached nor under way: a run with a block already asked for in
    // its middle (read-ahead meeting a scattered read) was asked for whole, that block twice.
    // Long runs go as several requests at once (read-ahead over a link with latency: one
    // request of 16 MiB waits for its last byte before any of it is used; four of 4 MiB
    // overlap their round trips and arrive in order of need).
    for (let s = first; s <= end; ) {
      if (present(s)) {
        s++;
        continue;
      }
      let e = s;
      while (e < end && e + 1 - s < this.maxRunBlocks && !present(e + 1)) e++;
      this.request(s, e);
      s = e + 1;
    }
  }

  private request(start: number, end: number): void {
    const offset = start * this.blockSize;
    const length = Math.min(this.size, (end + 1) * this.blockSize) - offset;
    // Each block's waiters go on as soon as that block is whole (transports that can say so):
    // the first 256 KiB of an 8 MiB request need not wait for the other 7.75 MiB.
    const waiting: { resolve: (b: Buffer) => void; reject: (e: unknown) => void }[] = [];
    const settled = new Array<boolean>(end - start + 1).fill(false);
    const deliver = (k: number, b: Buffer) => {
      if (k < 0 || k >= settled.length || settled[k]) return;
      settled[k] = true;
      received += b.length;
      this.remember(start + k, b);
      this.pending.delete(start + k);
      waiting[k]!.resolve(b);
    };
    for (let i = start; i <= end; i++) {
      const p = new Promise<Buffer>((resolve, reject) => waiting.push({ resolve, reject }));
      p.catch(() => undefined);
      this.pending.set(i, p);
    }
    const all = this.fetcher.fetchBlocks
      ? this.fetcher.fetchBlocks(offset, length, this.blockSize, this.cache.alloc, deliver)
      : this.fetcher.fetch(offset, length).then((buf) => {
          // Copies: a block outlives the big response, which would otherwise stay alive whole.
          const out: Buffer[] = [];
          for (let at = 0; at < buf.length; at += this.blockSize) {
            const block = this.cache.alloc(Math.min(this.blockSize, buf.length - at));
            buf.copy(block, 0, at, at + block.length);
            out.push(block);
          }
          return out;
        });
    all.then(
      (blocks) => {
        for (let k = 0; k < settled.length; k++) deliver(k, blocks[k] ?? Buffer.alloc(0));
      },
      (err) => {
        for (let k = 0; k < settled.length; k++) {
          if (settled[k]) continue;
          settled[k] = true;
          this.pending.delete(start + k);
          waiting[k]!.reject(err);
        }
      },
    );
  }

  /**
   * Keeps the window after `next` requested. A request goes out only once the part of the
   * window not yet asked for is a good size (or reaches the end): asking for the one block a
   * read moved on by would cost a request, and its round of headers, per read.
   */
  private readAhead(next: number): void {
    if (this.window <= 1) return;
    const lastBlock = Math.ceil(this.size / this.blockSize) - 1;
    const end = Math.min(next + this.window - 1, lastBlock);
    let s = next;
    while (s <= end && (this.cached(s) || this.pending.has(s))) s++;
    if (s > end) return;
    if (end === lastBlock || end - s + 1 >= Math.min(this.window, this.maxRunBlocks)) this.fetchRun(s, end - s + 1);
  }

  /**
   * Moves the read-ahead state for a read of `n` bytes (`blocks` blocks) at `offset`; true when
   * it continues the stream. Sequential reads double the window (up to maxReadAhead). A big
   * read elsewhere (1 MiB or more: the next extent of a file being extracted) keeps the window
   * it earned and starts a stream there. A small read elsewhere (a QCOW2 L2 table, an inode
   * between a stream's reads) leaves the stream where it was and only halves its window, so
   * metadata reads neither restart the stream's ramp (eight round trips from 256 KiB to
   * 64 MiB: extract of 1 GiB in 8 extents over a 20 ms round trip took 1.45-1.66 s against
   * curl's 1.03-1.31 s) nor, once the stream has gone, get its read-ahead.
   */
  private advance(offset: number, n: number, blocks: number): boolean {
    if (offset === this.lastEnd) {
      this.window = Math.min(this.maxAheadBlocks, this.window * 2);
      this.lastEnd = offset + n;
      return true;
    }
    if (blocks >= 4) {
      this.window = Math.min(this.maxAheadBlocks, Math.max(this.window, 2 * blocks));
      this.lastEnd = offset + n;
    } else if (this.window > 1) {
      this.window = Math.max(1, this.window >> 1);
    } else {
      this.lastEnd = offset + n;
    }
    return false;
  }

  /** One read fewer needs block `i`; a block read through (drop-behind) goes once none does. */
  private unread(i: number): void {
    const left = (this.readers.get(i) ?? 1) - 1;
    if (left > 0) {
      this.readers.set(i, left);
      return;
    }
    this.readers.delete(i);
    if (this.readThrough.delete(i)) this.cache.release(this.fileNo * 2 ** 32 + i);
  }

  private block(i: number): Promise<Buffer> {
    const hit = this.cache.get(this.fileNo * 2 ** 32 + i);
    if (hit) return Promise.resolve(hit);
    let p = this.pending.get(i);
    if (!p) {
      this.fetchRun(i, 1);
      p = this.pending.get(i)!;
    }
    return p;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + n - 1) / this.blockSize);
    const streaming = this.advance(offset, n, last - first + 1);
    this.fetchRun(first, last - first + 1);
    if (this.lastEnd === offset + n) this.readAhead(last + 1);
    // Drop-behind (below) only for a long stream of big reads (extract, dd): metadata read
    // sequentially in small pieces comes back (cat of one file from the bench's QCOW2 fetched
    // a block twice when every sequential read dropped what it had read through).
    const dropBehind = streaming && this.window === this.maxAheadBlocks && n >= this.blockSize;
    // Reads run concurrently (extract keeps three in flight), and a file's bytes need not
    // start on a block boundary (QCOW2 data clusters sit 64 KiB into a block), so two reads
    // share the block between them; the one that reads a block's end must not drop it while
    // the other has yet to copy its part (it would fetch the block again: a round trip).
    for (let i = first; i <= last; i++) this.readers.set(i, (this.readers.get(i) ?? 0) + 1);
    let done = 0;
    let i = first;
    try {
      for (; i <= last; i++) {
        const b = await this.block(i);
        const from = i === first ? offset - first * this.blockSize : 0;
        const take = Math.min(b.length - from, n - done);
        if (take <= 0) throw corrupt(this.name, `the server sent less than asked at offset ${i * this.blockSize + from}`);
        b.copy(target, at + done, from, from + take);
        done += take;
        // Drop-behind: a stream (extract, dd) that has read a block to its end will not come back
        // to it; its buffer is refilled by the read-ahead instead of evicting the metadata that
        // other reads keep coming back to.
        if (dropBehind && from + take === b.length && b.length === this.blockSize) this.readThrough.add(i);
        this.unread(i);
      }
    } finally {
      for (; i <= last; i++) this.unread(i);
    }
    return done;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const first = Math.floor(offset / this.blockSize);
    // Inside one cached block: a view of it, no copy.
    if (first === Math.floor((offset + n - 1) / this.blockSize)) {
      this.advance(offset, n, 1);
      if (this.lastEnd === offset + n) this.readAhead(first + 1);
      const b = await this.block(first);
      const from = offset - first * this.blockSize;
      this.cache.lend(b);
      return b.subarray(from, from + n);
    }
    const out = Buffer.allocUnsafe(n);
    const got = await this.readInto(out, 0, offset, n);
    return got === n ? out : out.subarray(0, got);
  }

  async close(): Promise<void> {
    this.cache.drop(this.fileNo);
    await this.fetcher.close();
  }
}
