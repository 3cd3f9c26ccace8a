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
  /** The same bytes cut into buffers of `blockSize` (the last one shorter), if the transport can fill them directly. */
  fetchBlocks?(offset: number, length: number, blockSize: number): Promise<Buffer[]>;
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
  /** Blocks in LRU order, keyed by file number * 2^32 + block number. */
  private readonly map = new Map<number, Buffer>();
  private files = 0;

  constructor(readonly maxBlocks: number) {}

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
    while (this.map.size > this.maxBlocks) this.map.delete(this.map.keys().next().value!);
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
  /** Largest read-ahead window (default 16 MiB). */
  maxReadAhead?: number;
  /** Share this cache (and its bound) with the other files of the image. */
  sharedCache?: RemoteBlockCache;
  /** Largest single range request (default 4 MiB): longer runs go as several at once. */
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

  constructor(readonly fetcher: RangeFetcher, opts: RemoteCacheOptions = {}) {
    this.name = fetcher.name;
    this.size = fetcher.size;
    this.blockSize = opts.blockSize ?? 256 * 1024;
    this.cache = opts.sharedCache ?? new RemoteBlockCache(Math.max(8, Math.floor((opts.cacheBytes ?? 256 * 1024 * 1024) / this.blockSize)));
    this.fileNo = this.cache.register();
    // The opening request's bytes become block 0 when they are a whole one (or the whole file).
    const first = fetcher.initial;
    if (first && (first.length === this.blockSize || first.length === this.size)) this.remember(0, first);
    if (fetcher.initial) fetcher.initial = null;
    this.maxAheadBlocks = Math.max(1, Math.floor((opts.maxReadAhead ?? 16 * 1024 * 1024) / this.blockSize));
    this.maxRunBlocks = Math.max(1, Math.floor((opts.maxRequest ?? 4 * 1024 * 1024) / this.blockSize));
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
    let end = Math.min(first + count - 1, lastBlock);
    let start = first;
    while (start <= end && (this.cached(start) || this.pending.has(start))) start++;
    while (end >= start && (this.cached(end) || this.pending.has(end))) end--;
    if (start > end) return;
    // Long runs go as several requests at once (read-ahead over a link with latency: one
    // request of 16 MiB waits for its last byte before any of it is used; four of 4 MiB
    // overlap their round trips and arrive in order of need).
    for (let s = start; s <= end; s += this.maxRunBlocks) this.request(s, Math.min(end, s + this.maxRunBlocks - 1));
  }

  private request(start: number, end: number): void {
    const offset = start * this.blockSize;
    const length = Math.min(this.size, (end + 1) * this.blockSize) - offset;
    const all = this.fetcher.fetchBlocks
      ? this.fetcher.fetchBlocks(offset, length, this.blockSize)
      : this.fetcher.fetch(offset, length).then((buf) => {
          // Copies: a block outlives the big response, which would otherwise stay alive whole.
          const out: Buffer[] = [];
          for (let at = 0; at < buf.length; at += this.blockSize) out.push(Buffer.from(buf.subarray(at, at + this.blockSize)));
          return out;
        });
    all.then((blocks) => {
      for (const b of blocks) received += b.length;
    }, () => undefined);
    for (let i = start; i <= end; i++) {
      const p = all.then((blocks) => {
        const b = blocks[i - start] ?? Buffer.alloc(0);
        this.remember(i, b);
        return b;
      });
      p.catch(() => undefined);
      p.finally(() => this.pending.delete(i)).catch(() => undefined);
      this.pending.set(i, p);
    }
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
    // Sequential reads widen the window (up to maxReadAhead); a jump resets it.
    this.window = offset === this.lastEnd ? Math.min(this.maxAheadBlocks, this.window * 2) : 1;
    this.lastEnd = offset + n;
    this.fetchRun(first, last - first + 1);
    this.readAhead(last + 1);
    let done = 0;
    for (let i = first; i <= last; i++) {
      const b = await this.block(i);
      const from = i === first ? offset - first * this.blockSize : 0;
      const take = Math.min(b.length - from, n - done);
      if (take <= 0) throw corrupt(this.name, `the server sent less than asked at offset ${i * this.blockSize + from}`);
      b.copy(target, at + done, from, from + take);
      done += take;
    }
    return done;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const first = Math.floor(offset / this.blockSize);
    // Inside one cached block: a view of it, no copy.
    if (first === Math.floor((offset + n - 1) / this.blockSize)) {
      this.window = offset === this.lastEnd ? Math.min(this.maxAheadBlocks, this.window * 2) : 1;
      this.lastEnd = offset + n;
      this.readAhead(first + 1);
      const b = await this.block(first);
      const from = offset - first * this.blockSize;
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
