/**
 * Random access into a compressed stream (a .vma.zst / .vma.lzo / .vma.gz backup, a gzipped
 * OVA disk), which the formats themselves do not allow: one streaming pass decodes the input
 * and keeps the decoded stream in a cache file, cut in 1 MiB chunks, each either all zeros
 * (kept as a mark only) or recompressed on its own with zstd level 1 (raw deflate level 1
 * where the native binding is not built); the chunk index (offset and length per chunk, 12
 * bytes per MiB) follows them. Reads then decode single chunks from the cache. The input is
 * only read.
 *
 * Side records may follow the chunk index: named blobs that the format above the stream keeps
 * with the cache so that a reuse opens without a pass over the decoded stream (the VMA
 * container's extent headers: its cluster index without decoding every chunk). Each is framed
 * (magic, name, length) and carries a SHA-256 of its frame and body; a damaged or cut record is
 * reported to its reader, who rebuilds and rewrites it.
 *
 * The cache: `--cache DIR` keeps it as DIR/NAME.<hash of the path>.diskpick-cache and reuses it
 * on the next run when the input's size, mtime and the SHA-256 of its first and last MiB still
 * match (else it is rebuilt, with a warning); it is written under a temporary name and renamed
 * only when complete. Without --cache it is a temporary file in $XDG_CACHE_HOME/diskpick (when
 * XDG_CACHE_HOME is set) or the system's temporary folder, unlinked as soon as it is created,
 * so it is gone when diskpick exits, however it exits. Costs: docs/formats/vma.md.
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, readSync, realpathSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Readable } from 'node:stream';
import { createGunzip, deflateRawSync, inflateRawSync } from 'node:zlib';
import { corrupt, DiskpickError, fromSystemError } from '../errors.js';
import { zstdCompress, zstdCompressAsync, zstdDecompressInto, ZstdStreamDecoder } from './codecs.js';
import { LZOP_MAGIC, LzopDecoder } from './lzop.js';
import { byteLru } from './lru.js';
import { readIntoSpan, readSpan, type ByteSource } from './source.js';

export type StreamCodec = 'zstd' | 'gzip' | 'lzop';

/** Decoded bytes per cache chunk. */
export const CHUNK = 1 << 20;
const CACHE_MAGIC = 'DPSTRMC1';
const CACHE_HEADER = 4096;
/** Bytes of the input's head and tail hashed into the cache key. */
const KEY_BYTES = 1 << 20;
const READ_PIECE = 4 << 20;
const CODEC_ZSTD = 1;
const CODEC_DEFLATE = 2;
const ZEROS = Buffer.alloc(CHUNK);
const SIDE_MAGIC = 'DPSIDE01';
/** A side record's frame: magic (8), name (24, NUL-padded), body length (8), SHA-256 (32). */
const SIDE_FRAME = 72;
const SIDE_NAME_MAX = 24;
/** Largest side record: 256 MiB (the VMA extent headers of ~1.8 TiB of data). */
export const SIDE_MAX = 256 << 20;

export interface StreamCacheConfig {
  /** Where caches are kept between runs; none: a temporary cache, gone on exit. */
  dir?: string;
  /** Told the input bytes read so far during the pass (`done` = `total` at the end). */
  progress?: (name: string, done: number, total: number) => void;
}

let config: StreamCacheConfig = {};

/** Set once by the command line (--cache DIR, the progress line on stderr). */
export function configureStreamCache(c: StreamCacheConfig): void {
  config = { ...c };
}

/** The command line's settings: --cache DIR, and progress on stderr when it is a terminal. */
export function configureStreamCacheFromCli(dir: string | undefined): void {
  configureStreamCache({ ...(dir !== undefined ? { dir } : {}), progress: stderrProgress() });
}

/** The codec of a stream by its magic, or null. */
export function streamCodecOf(head: Buffer): StreamCodec | null {
  if (head.length >= 4 && head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8) return 'gzip';
  if (head.length >= 9 && head.subarray(0, 9).equals(LZOP_MAGIC)) return 'lzop';
  return null;
}

/**
 * A one-line progress display on stderr (a terminal only), for `configureStreamCache`. Whether
 * stderr is a terminal is asked at the first report, not at every start: process.stderr makes
 * Node load its stream modules (measured: ~7 M instructions of `cat` of a small file).
 */
export function stderrProgress(): StreamCacheConfig['progress'] {
  let tty: boolean | undefined;
  const started = Date.now();
  let last = 0;
  return (name, done, total) => {
    tty ??= process.stderr.isTTY === true;
    if (!tty) return;
    const now = Date.now();
    if (done >= total) {
      if (last) process.stderr.write('\r\x1b[K');
      return;
    }
    if (now - started < 1000 || now - last < 200) return;
    last = now;
    const mib = (n: number) => (n / 1048576).toFixed(0);
    const rate = done / 1048576 / Math.max(0.001, (now - started) / 1000);
    process.stderr.write(`\rdiskpick: decompressing ${basename(name)} once for random access: ${((100 * done) / total).toFixed(0)}% (${mib(done)}/${mib(total)} MiB, ${rate.toFixed(0)} MiB/s)\x1b[K`);
  };
}

interface CacheKey {
  inputSize: number;
  mtimeMs: number;
  hash: Buffer;
}

async function keyOf(src: ByteSource, codec: StreamCodec): Promise<CacheKey> {
  const h = createHash('sha256').update(codec);
  h.update(await src.read(0, KEY_BYTES));
  if (src.size > KEY_BYTES) h.update(await src.read(Math.max(KEY_BYTES, src.size - KEY_BYTES), KEY_BYTES));
  let mtimeMs = 0;
  try {
    mtimeMs = statSync(src.name).mtimeMs;
  } catch {
    // A part of another file (a member of an OVA): its size and bytes make the key.
  }
  return { inputSize: src.size, mtimeMs, hash: h.digest() };
}

/**
 * Decodes `src`, handing each decoded piece to `write` (synchronously: the piece is reused
 * after it returns) and awaiting `between` after each piece of input, with progress.
 */
async function decode(src: ByteSource, codec: StreamCodec, write: (piece: Buffer) => void, between: () => Promise<void>): Promise<void> {
  const total = src.size;
  async function* input(): AsyncGenerator<Buffer> {
    for (let off = 0; off < total; off += READ_PIECE) {
      const b = await src.read(off, READ_PIECE);
      if (b.length === 0) break;
      config.progress?.(src.name, Math.min(total - 1, off + b.length), total);
      yield b;
    }
  }
  if (codec === 'gzip') {
    // Two 4 MiB pieces read ahead at most (Readable.from holds 16 by default).
    const pipe = Readable.from(input(), { highWaterMark: 2 }).pipe(createGunzip({ chunkSize: 1 << 20 }));
    for await (const b of pipe) {
      write(b as Buffer);
      await between();
    }
    return;
  }
  const dec = codec === 'zstd' ? new ZstdStreamDecoder() : new LzopDecoder();
  for await (const b of input()) {
    dec.push(b, write);
    await between();
  }
  if (dec instanceof ZstdStreamDecoder) dec.end(write);
  else dec.end();
}

/** A cache file open for reading: its chunk table. */
interface CacheFile {
  fd: number;
  path: string;
  size: number;
  codec: number;
  offsets: Float64Array;
  lengths: Uint32Array;
  /** Where the chunk index ends: the side records start there. */
  indexEnd: number;
  /** The side records whose frames are whole: name → body offset and length. */
  side: Map<string, { at: number; length: number; hash: Buffer }>;
  /** Why the side records stop short of the file's end (a damaged or cut frame), or null. */
  sideDamage: string | null;
  /** The descriptor can write (a kept cache on a read-only folder cannot take side records). */
  writable: boolean;
}

/** The SHA-256 a side record carries: of its frame's first 40 bytes and its body. */
function sideHash(frame: Buffer, body: Buffer): Buffer {
  return createHash('sha256').update(frame.subarray(0, 40)).update(body).digest();
}

/** Walks the side records after the chunk index (frames only; bodies are checked when read). */
function loadSide(fd: number, indexEnd: number, fileSize: number): Pick<CacheFile, 'side' | 'sideDamage'> {
  const side = new Map<string, { at: number; length: number; hash: Buffer }>();
  const frame = Buffer.alloc(SIDE_FRAME);
  for (let pos = indexEnd; pos < fileSize; ) {
    if (fileSize - pos < SIDE_FRAME || readSync(fd, frame, 0, SIDE_FRAME, pos) !== SIDE_FRAME) return { side, sideDamage: `a side record at ${pos} is cut short` };
    if (frame.toString('latin1', 0, 8) !== SIDE_MAGIC) return { side, sideDamage: `no side record at ${pos}` };
    const length = frame.readDoubleLE(32);
    if (!Number.isSafeInteger(length) || length < 0 || length > SIDE_MAX || pos + SIDE_FRAME + length > fileSize) return { side, sideDamage: `the side record at ${pos} claims ${length} bytes` };
    const name = frame.toString('latin1', 8, 8 + SIDE_NAME_MAX).replace(/\0+$/, '');
    side.set(name, { at: pos + SIDE_FRAME, length, hash: Buffer.from(frame.subarray(40, 72)) });
    pos += SIDE_FRAME + length;
  }
  return { side, sideDamage: null };
}

function header(key: CacheKey, size: number, chunks: number, codec: number, indexAt: number): Buffer {
  const h = Buffer.alloc(CACHE_HEADER);
  h.write(CACHE_MAGIC, 0, 'latin1');
  h.writeUInt32LE(1, 8);
  h.writeUInt32LE(CHUNK, 12);
  h.writeDoubleLE(size, 16);
  h.writeUInt32LE(chunks, 24);
  h[28] = codec;
  h.writeDoubleLE(key.inputSize, 32);
  h.writeDoubleLE(key.mtimeMs, 40);
  key.hash.copy(h, 48);
  h.writeDoubleLE(indexAt, 80);
  return h;
}

/** Reads a cache file's header and index; null when it is not for `key` (stale) or damaged, with why. */
function loadCache(fd: number, path: string, key: CacheKey): CacheFile | string {
  const fileSize = fstatSync(fd).size;
  const h = Buffer.alloc(CACHE_HEADER);
  if (readSync(fd, h, 0, CACHE_HEADER, 0) !== CACHE_HEADER || h.toString('latin1', 0, 8) !== CACHE_MAGIC || h.readUInt32LE(8) !== 1 || h.readUInt32LE(12) !== CHUNK) return 'not a diskpick cache of this version';
  if (h.readDoubleLE(32) !== key.inputSize || h.readDoubleLE(40) !== key.mtimeMs || !h.subarray(48, 80).equals(key.hash)) return 'made from another version of the input (size, mtime or content differ)';
  const size = h.readDoubleLE(16);
  const chunks = h.readUInt32LE(24);
  const codec = h[28]!;
  const indexAt = h.readDoubleLE(80);
  if (!Number.isSafeInteger(size) || chunks !== Math.ceil(size / CHUNK) || (codec !== CODEC_ZSTD && codec !== CODEC_DEFLATE) || indexAt + chunks * 12 > fileSize) return 'damaged (its header does not fit the file)';
  const idx = Buffer.alloc(chunks * 12);
  if (readSync(fd, idx, 0, idx.length, indexAt) !== idx.length) return 'damaged (its index is cut short)';
  const offsets = new Float64Array(chunks);
  const lengths = new Uint32Array(chunks);
  for (let i = 0; i < chunks; i++) {
    offsets[i] = idx.readDoubleLE(12 * i);
    lengths[i] = idx.readUInt32LE(12 * i + 8);
    if (offsets[i]! >= 0 && (offsets[i]! < CACHE_HEADER || offsets[i]! + lengths[i]! > indexAt)) return 'damaged (a chunk lies outside it)';
  }
  return { fd, path, size, codec, offsets, lengths, indexEnd: indexAt + chunks * 12, ...loadSide(fd, indexAt + chunks * 12, fileSize), writable: true };
}

/**
 * Most chunks being compressed at once in the thread pool while the main thread decodes the
 * next ones; past it (a piece of input that decodes to many chunks: long runs of zeros or
 * repeats) chunks are compressed on the main thread, so memory stays bounded.
 */
const IN_FLIGHT = 4;

/** The one streaming pass: decodes `src` into a new cache file at `fd`. */
async function buildCache(src: ByteSource, codec: StreamCodec, key: CacheKey, fd: number, path: string): Promise<CacheFile> {
  const offsets: number[] = [];
  const lengths: number[] = [];
  let at = CACHE_HEADER;
  let size = 0;
  const free: Buffer[] = [];
  let chunk: Buffer = Buffer.allocUnsafe(CHUNK);
  let fill = 0;
  const chunkCodec = zstdCompress(Buffer.alloc(1), 1) ? CODEC_ZSTD : CODEC_DEFLATE;
  /** Chunks in order: compressed bytes (or a job making them), null for a chunk of zeros. */
  const queue: Array<{ packed: Buffer | Promise<Buffer> | null; buf: Buffer | null }> = [];
  let inFlight = 0;
  const put = (packed: Buffer | null) => {
    if (packed === null) {
      offsets.push(-1);
      lengths.push(0);
      return;
    }
    writeAll(fd, packed, at, path);
    offsets.push(at);
    lengths.push(packed.length);
    at += packed.length;
  };
  /** Writes the chunks at the head of the queue whose bytes are ready (all of them: `all`). */
  const drain = async (all: boolean) => {
    while (queue.length > 0) {
      const q = queue[0]!;
      if (q.packed instanceof Promise) {
        if (!all && inFlight < IN_FLIGHT) return;
        q.packed = await q.packed;
        inFlight--;
      }
      queue.shift();
      put(q.packed);
      if (q.buf) free.push(q.buf);
    }
  };
  const emit = () => {
    const data = chunk.subarray(0, fill);
    size += fill;
    fill = 0;
    // memcmp against zeros: a byte loop in JavaScript (`some`) cost ~4 ms per MiB.
    if (data.equals(ZEROS.subarray(0, data.length))) {
      queue.push({ packed: null, buf: null });
      return;
    }
    const job = chunkCodec === CODEC_ZSTD && inFlight < IN_FLIGHT ? zstdCompressAsync(data, 1) : null;
    if (job) {
      inFlight++;
      queue.push({ packed: job, buf: chunk });
      chunk = free.pop() ?? Buffer.allocUnsafe(CHUNK);
      return;
    }
    queue.push({ packed: chunkCodec === CODEC_ZSTD ? zstdCompress(data, 1)! : deflateRawSync(data, { level: 1 }), buf: null });
  };
  const write = (piece: Buffer) => {
    for (let p = 0; p < piece.length; ) {
      const n = Math.min(piece.length - p, CHUNK - fill);
      piece.copy(chunk, fill, p, p + n);
      fill += n;
      p += n;
      if (fill === CHUNK) emit();
    }
  };
  try {
    try {
      await decode(src, codec, write, () => drain(false));
    } catch (err) {
      if (err instanceof DiskpickError) throw err;
      throw corrupt(src.name, `${codec} stream: ${(err as Error).message.replace(/\s+/g, ' ')}`);
    }
    if (fill > 0) emit();
    await drain(true);
  } finally {
    // Jobs still running when the pass failed must finish before their buffers go.
    await Promise.allSettled(queue.map((q) => q.packed));
  }
  config.progress?.(src.name, src.size, src.size);
  const idx = Buffer.alloc(offsets.length * 12);
  offsets.forEach((o, i) => {
    idx.writeDoubleLE(o, 12 * i);
    idx.writeUInt32LE(lengths[i]!, 12 * i + 8);
  });
  writeAll(fd, idx, at, path);
  writeAll(fd, header(key, size, offsets.length, chunkCodec, at), 0, path);
  return {
    fd, path, size, codec: chunkCodec, offsets: Float64Array.from(offsets), lengths: Uint32Array.from(lengths),
    indexEnd: at + idx.length, side: new Map(), sideDamage: null, writable: true,
  };
}

function writeAll(fd: number, b: Buffer, at: number, path: string): void {
  try {
    for (let done = 0; done < b.length; ) done += writeSync(fd, b, done, b.length - done, at + done);
  } catch (err) {
    throw fromSystemError(err, path, 'output');
  }
}

/** The decoded stream, read from its cache. */
export class StreamCacheSource implements ByteSource {
  readonly size: number;
  private readonly chunks = byteLru<number, Buffer>(16 * CHUNK);
  /** How many chunks were decoded (tests: a reused cache decodes only what is read). */
  readonly stats = { chunksDecoded: 0 };

  constructor(
    private readonly cache: CacheFile,
    readonly name: string,
    /** For `info`: where the cache is, and whether it was made by this run. */
    readonly cachePath: string | null,
    readonly reused: boolean,
  ) {
    this.size = cache.size;
  }

  private chunkAt(i: number): Buffer | null {
    const c = this.cache;
    if (c.offsets[i]! < 0) return null;
    let b = this.chunks.get(i);
    if (b) return b;
    const packed = Buffer.allocUnsafe(c.lengths[i]!);
    if (readSync(c.fd, packed, 0, packed.length, c.offsets[i]!) !== packed.length) throw corrupt(c.path, `the stream cache is cut short (chunk ${i}); remove it to rebuild it`);
    const want = Math.min(CHUNK, this.size - i * CHUNK);
    try {
      if (c.codec === CODEC_ZSTD) {
        b = Buffer.allocUnsafe(want);
        if (zstdDecompressInto(packed, b) !== want) throw new Error('wrong length');
      } else {
        b = inflateRawSync(packed);
        if (b.length !== want) throw new Error('wrong length');
      }
    } catch (err) {
      throw corrupt(c.path, `the stream cache is damaged (chunk ${i}: ${(err as Error).message}); remove it to rebuild it`);
    }
    this.stats.chunksDecoded++;
    this.chunks.set(i, b);
    return b;
  }

  /**
   * The side record `name` (its body, checked against its SHA-256), null when there is none,
   * or a string saying why it cannot be trusted (its reader rebuilds it and calls putSide).
   */
  side(name: string): Buffer | null | string {
    const c = this.cache;
    const r = c.side.get(name);
    if (!r) {
      if (c.sideDamage) return `damaged (${c.sideDamage})`;
      // A record whose name was damaged is not found by it: say so rather than "none".
      for (const other of c.side.keys()) if (typeof this.sideBody(other) === 'string') return `damaged (the side record "${other.replace(/[^\x20-\x7e]/g, '?')}" does not match its SHA-256)`;
      return null;
    }
    return this.sideBody(name);
  }

  private sideBody(name: string): Buffer | string {
    const r = this.cache.side.get(name)!;
    const c = this.cache;
    const body = Buffer.allocUnsafe(r.length);
    if (readSync(c.fd, body, 0, r.length, r.at) !== r.length) return 'damaged (cut short)';
    const frame = Buffer.alloc(40);
    frame.write(SIDE_MAGIC, 0, 'latin1');
    frame.write(name, 8, 'latin1');
    frame.writeDoubleLE(r.length, 32);
    if (!sideHash(frame, body).equals(r.hash)) return 'damaged (its SHA-256 does not match)';
    return body;
  }

  /**
   * Keeps `body` as the side record `name` in a kept cache (replacing one of that name and any
   * damaged tail); false where it cannot (a temporary cache, a read-only one, a body too big).
   * Two runs writing at once may leave a damaged record, which the next open rebuilds.
   */
  putSide(name: string, body: Buffer): boolean {
    const c = this.cache;
    if (this.cachePath === null || !c.writable || body.length > SIDE_MAX || name.length > SIDE_NAME_MAX || !/^[\x20-\x7e]+$/.test(name)) return false;
    const keep: Array<[string, Buffer]> = [];
    for (const other of c.side.keys()) {
      if (other === name) continue;
      const b = this.sideBody(other);
      if (b instanceof Buffer) keep.push([other, b]);
    }
    keep.push([name, body]);
    try {
      ftruncateSync(c.fd, c.indexEnd);
      c.side.clear();
      c.sideDamage = null;
      let pos = c.indexEnd;
      for (const [n, b] of keep) {
        const frame = Buffer.alloc(SIDE_FRAME);
        frame.write(SIDE_MAGIC, 0, 'latin1');
        frame.write(n, 8, 'latin1');
        frame.writeDoubleLE(b.length, 32);
        const hash = sideHash(frame, b);
        hash.copy(frame, 40);
        writeAll(c.fd, frame, pos, c.path);
        writeAll(c.fd, b, pos + SIDE_FRAME, c.path);
        c.side.set(n, { at: pos + SIDE_FRAME, length: b.length, hash });
        pos += SIDE_FRAME + b.length;
      }
      return true;
    } catch {
      c.sideDamage = 'not written';
      return false;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(readSpan(this.size, offset, length));
    await this.readInto(out, 0, offset, out.length);
    return out;
  }

  /** Straight from the decoded chunks into `target` (one copy; zeros filled). */
  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    for (let done = 0; done < n; ) {
      const pos = offset + done;
      const i = Math.floor(pos / CHUNK);
      const within = pos - i * CHUNK;
      const take = Math.min(n - done, CHUNK - within);
      const b = this.chunkAt(i);
      if (b) b.copy(target, at + done, within, within + take);
      else target.fill(0, at + done, at + done + take);
      done += take;
    }
    return Math.max(0, n);
  }

  async close(): Promise<void> {
    try {
      closeSync(this.cache.fd);
    } catch {
      // closed already
    }
  }
}

/**
 * Opens the decoded form of `src` (compressed with `codec`), building its cache with one pass
 * over the input unless a matching one is kept in the cache folder. `warn` is told when a kept
 * cache was stale and rebuilt.
 */
export async function openStreamCache(src: ByteSource, codec: StreamCodec, warn: (message: string) => void): Promise<StreamCacheSource> {
  const key = await keyOf(src, codec);
  const dir = config.dir;
  if (dir === undefined) {
    const base = process.env.XDG_CACHE_HOME ? join(process.env.XDG_CACHE_HOME, 'diskpick') : tmpdir();
    const path = join(base, `diskpick-stream-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.tmp`);
    let fd: number;
    try {
      mkdirSync(base, { recursive: true });
      fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    } catch (err) {
      throw fromSystemError(err, path, 'output');
    }
    // Unlinked at once: the cache lives as long as the descriptor, whatever ends the process.
    unlinkSync(path);
    try {
      return new StreamCacheSource(await buildCache(src, codec, key, fd, path), src.name, null, false);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }
  const real = (() => {
    try {
      return statSync(dir).isDirectory();
    } catch {
      return false;
    }
  })();
  if (!real) throw new DiskpickError('usage', '--cache: not a folder', dir);
  // Named by the input's real path, so that the same backup given by another relative path or
  // through a link finds its cache.
  let where = src.name;
  try {
    where = realpathSync(src.name);
  } catch {
    // a member of an archive (an OVA's disk): its name as given
  }
  const name = `${basename(src.name).replace(/[^\w.+-]/g, '_')}.${createHash('sha256').update(where).digest('hex').slice(0, 12)}.diskpick-cache`;
  const path = join(dir, name);
  let kept: number | null = null;
  let writable = true;
  try {
    // Read-write: side records are added to it (a read-only one is used without them).
    kept = openSync(path, constants.O_RDWR | constants.O_NOFOLLOW);
  } catch {
    try {
      kept = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
      writable = false;
    } catch {
      kept = null;
    }
  }
  if (kept !== null) {
    const got = loadCache(kept, path, key);
    if (typeof got !== 'string') return new StreamCacheSource({ ...got, writable }, src.name, path, true);
    closeSync(kept);
    warn(`the stream cache ${path} is ${got}: rebuilt`);
  }
  const tmp = `${path}.${process.pid}.tmp`;
  let fd: number;
  try {
    // 0600: the cache holds the backup's data, readable by its owner only.
    fd = openSync(tmp, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  } catch (err) {
    throw fromSystemError(err, tmp, 'output');
  }
  try {
    const built = await buildCache(src, codec, key, fd, path);
    renameSync(tmp, path);
    return new StreamCacheSource(built, src.name, path, false);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // already gone
    }
    throw err;
  }
}
