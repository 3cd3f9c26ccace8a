/**
 * The one interface every layer reads through: random access to bytes, read-only.
 * Containers, volumes and files inside filesystems are all ByteSources, so a layer only
 * ever needs the one below it.
 */
import { corrupt } from '../errors.js';

export interface ByteSource {
  /** Name used in error messages (the host file, or "image.vmdk:/p1/file"). */
  readonly name: string;
  /** Size in bytes. */
  readonly size: number;
  /**
   * Reads up to `length` bytes at `offset`. The result is shorter only where it reaches
   * `size`; reading at or past `size` gives an empty buffer. The returned buffer may be
   * shared with a cache: callers must not modify it.
   */
  read(offset: number, length: number): Promise<Buffer>;
  /**
   * Optional zero-copy form of `read`: fills `target[at …]` with up to `length` bytes at
   * `offset` and resolves to how many it wrote (short only where it reaches `size`). Sources
   * that pass bytes through (files, slices, file runs, mapped containers) implement it so
   * that a big copy moves every byte once into one reused buffer: allocating a fresh Buffer
   * per chunk costs more than the read itself (measured: 360–650 ms of page faults and GC per
   * 256 MiB against 29 ms with one buffer). Callers go through `readInto()` below.
   */
  readInto?(target: Buffer, at: number, offset: number, length: number): Promise<number>;
  /**
   * Optional: where the bytes [offset, offset + length) lie in host files, in order, when they
   * are there as they are (no decoding, no cache between). The mount's libfuse3 binding reads
   * such files itself, in libfuse's threads, with no trip through JavaScript per read
   * (docs/fuse.md). null where some byte needs more than a pread. Callers use `hostRunsOf()`.
   */
  hostRuns?(offset: number, length: number): Promise<HostRun[] | null>;
  /**
   * Optional: the ranges ([offset, length], in order) of [offset, offset + length) that hold
   * data; everything else up to `size` is a hole and reads as zeros. Files of filesystems with
   * holes (ext extents and block maps, NTFS sparse runs) say so, and copies skip the holes
   * instead of reading them (issue 26: a 1 TiB sparse file cost 1 TiB of reads). Callers use
   * `pumpData` (chunks.ts).
   */
  dataRanges?(offset?: number, length?: number): Iterable<[number, number]>;
  close(): Promise<void>;
}

/**
 * How many bytes a read of `length` at `offset` gets from a source of `size` bytes: none at or
 * past the end or for an empty request, else up to the end. Every source's read starts here.
 */
export function readSpan(size: number, offset: number, length: number): number {
  return offset >= size || length <= 0 ? 0 : Math.min(length, size - offset);
}

/** readSpan for a readInto: also no more than `target` holds from `at` (may be <= 0). */
export function readIntoSpan(size: number, offset: number, length: number, target: Uint8Array, at: number): number {
  return offset >= size || length <= 0 ? 0 : Math.min(length, size - offset, target.length - at);
}

/** `length` bytes at `offset` of the open host file `fd`; fd -1: bytes that read as zeros. */
export interface HostRun {
  length: number;
  fd: number;
  offset: number;
}

/** Appends `run` to `runs`, joined with the last one where they continue each other. */
export function appendRun(runs: HostRun[], run: HostRun): void {
  if (run.length <= 0) return;
  const last = runs[runs.length - 1];
  if (last && last.fd === run.fd && (run.fd < 0 || last.offset + last.length === run.offset)) last.length += run.length;
  else runs.push({ ...run });
}

/**
 * The host runs of [offset, offset + length) of `src` (all of it by default), or null where
 * the source cannot say or the bytes are not all in host files as they are. Beyond `maxRuns`
 * runs (a badly fragmented file) also null: the caller reads through the source instead.
 */
export async function hostRunsOf(src: ByteSource, offset = 0, length = src.size - offset, maxRuns = 1 << 16): Promise<HostRun[] | null> {
  if (!src.hostRuns) return null;
  const n = Math.min(length, src.size - offset);
  if (n <= 0) return [];
  const runs = await src.hostRuns(offset, n);
  if (!runs || runs.length > maxRuns) return null;
  let total = 0;
  for (const r of runs) total += r.length;
  return total === n ? runs : null;
}

/** Fills `target[at …]` from `src` (zero-copy where the source can, else one copy). */
export async function readInto(src: ByteSource, target: Buffer, at: number, offset: number, length: number): Promise<number> {
  const n = readIntoSpan(src.size, offset, length, target, at);
  if (n <= 0) return 0;
  if (src.readInto) return src.readInto(target, at, offset, n);
  const b = await src.read(offset, n);
  return b.copy(target, at, 0, Math.min(b.length, n));
}

/**
 * `read` for sources whose `readInto` does the work: a fresh buffer filled by it, cut to what
 * it delivered. (Their own `read` keeps any zero-copy shortcut of its own before calling this.)
 */
export async function readIntoNew(src: ByteSource & Required<Pick<ByteSource, 'readInto'>>, offset: number, length: number): Promise<Buffer> {
  const n = readSpan(src.size, offset, length);
  if (n === 0) return Buffer.alloc(0);
  const out = Buffer.allocUnsafe(n);
  const got = await src.readInto(out, 0, offset, n);
  return got === n ? out : out.subarray(0, got);
}

/**
 * The host runs of bytes gathered from `src` piece by piece: each piece `[offset, length]` of
 * `src`, or `[-1, length]` for bytes that read as zeros (a hole). For files made of extents of
 * their volume. null where a piece is not in host files as it is, or reaches past `src`.
 */
export async function hostRunsOfPieces(src: ByteSource, pieces: Iterable<readonly [number, number]>, maxRuns = 1 << 16): Promise<HostRun[] | null> {
  const runs: HostRun[] = [];
  for (const [offset, length] of pieces) {
    if (offset === -1) {
      appendRun(runs, { length, fd: -1, offset: 0 });
      continue;
    }
    // Any other offset outside the source (a damaged map) is for read() to report.
    if (!Number.isSafeInteger(offset) || offset < 0 || offset + length > src.size) return null;
    const got = await hostRunsOf(src, offset, length);
    if (!got) return null;
    for (const r of got) appendRun(runs, r);
    if (runs.length > maxRuns) return null;
  }
  return runs;
}

/** Reads exactly `length` bytes or fails naming the source: the structure is cut short. */
export async function readExact(src: ByteSource, offset: number, length: number, what = 'data'): Promise<Buffer> {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw corrupt(src.name, `${what} at an invalid offset (${offset}, ${length} bytes)`);
  }
  const buf = await src.read(offset, length);
  if (buf.length < length) {
    throw corrupt(src.name, `truncated: ${what} at offset ${offset} needs ${length} bytes, only ${buf.length} present`);
  }
  return buf;
}

/** A window [start, start+size) of another source: a partition, or an extent. */
export class SliceSource implements ByteSource {
  constructor(
    private readonly base: ByteSource,
    private readonly start: number,
    readonly size: number,
    readonly name: string = base.name,
  ) {}

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = Math.min(length, this.size - offset);
    // Past the base's end the window is truncated: read() says so, a run could not.
    if (n <= 0 || this.start + offset + n > this.base.size) return null;
    return hostRunsOf(this.base, this.start + offset, n);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const buf = await this.base.read(this.start + offset, n);
    // A window reaching past the end of its base is a truncated image: reading zeros there
    // would hand the user silently wrong files, so say so.
    if (buf.length < n) {
      throw corrupt(this.name, `truncated image: bytes ${this.start + offset + buf.length}…${this.start + offset + n} are past the end of ${this.base.name}`);
    }
    return buf;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    const got = await readInto(this.base, target, at, this.start + offset, n);
    if (got < n) {
      throw corrupt(this.name, `truncated image: bytes ${this.start + offset + got}…${this.start + offset + n} are past the end of ${this.base.name}`);
    }
    return got;
  }

  async close(): Promise<void> {}
}

/** Bytes held in memory (resident attributes, decompressed blocks, tests). */
export class BufferSource implements ByteSource {
  readonly size: number;
  constructor(private readonly data: Buffer, readonly name: string) {
    this.size = data.length;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    return this.data.subarray(offset, offset + readSpan(this.size, offset, length));
  }
  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    return n === 0 ? 0 : this.data.copy(target, at, offset, offset + n);
  }
  async close(): Promise<void> {}
}

/** A source of zeros (holes, unallocated regions of a sparse disk with no parent). */
export class ZeroSource implements ByteSource {
  constructor(readonly size: number, readonly name: string) {}
  async read(offset: number, length: number): Promise<Buffer> {
    return Buffer.alloc(readSpan(this.size, offset, length));
  }
  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    target.fill(0, at, at + n);
    return n;
  }
  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    return [{ length: Math.min(length, this.size - offset), fd: -1, offset: 0 }];
  }
  async close(): Promise<void> {}
}
