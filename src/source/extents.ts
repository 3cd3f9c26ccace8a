/**
 * One file source for every filesystem: a file is a list of extents of its volume (dissect's
 * RunlistStream). A filesystem module only answers "which bytes of the volume hold bytes
 * L…L+n of this file" by building the extent list (eagerly, or on demand through an
 * ExtentMap); reading, zero-filling holes, the valid-data cut, host runs for the mount's
 * binding and hole reporting for sparse restores live here, once.
 */
import { corrupt } from '../errors.js';
import { appendRun, hostRunsOf, readInto, readIntoNew, type ByteSource, type HostRun, readSpan, readIntoSpan } from './source.js';

/** `length` bytes at byte `logical` of the file lie at byte `physical` of the volume. */
export interface Extent {
  /** Byte offset in the file. */
  logical: number;
  /** Byte offset in the volume; HOLE: bytes that read as zeros (a hole, an unwritten/prealloc extent). */
  physical: number;
  length: number;
}

/** `Extent.physical` of bytes that read as zeros. */
export const HOLE = -1;
/** A piece no extent covers where the map has no holes (a damaged map): an error to read. */
const GAP = -2;

/**
 * Checks an extent list a filesystem built from on-disk maps (hostile input): sorted by
 * `logical`, no overlaps, whole non-negative numbers, every data extent inside the volume.
 * Returns the list with zero-length extents dropped; throws a one-line corrupt error naming
 * the file otherwise, so a damaged map is never read as silently wrong bytes.
 */
export function checkExtents(extents: readonly Extent[], volumeSize: number, fileName: string): Extent[] {
  const out: Extent[] = [];
  let end = 0;
  for (const e of extents) {
    if (e.length === 0) continue;
    if (!Number.isSafeInteger(e.logical) || !Number.isSafeInteger(e.length) || !Number.isSafeInteger(e.physical) || e.logical < 0 || e.length < 0 || (e.physical < 0 && e.physical !== HOLE)) {
      throw corrupt(fileName, `invalid extent (file offset ${e.logical}, volume offset ${e.physical}, ${e.length} bytes)`);
    }
    if (e.logical < end) throw corrupt(fileName, `overlapping extents at file offset ${e.logical}`);
    if (e.physical !== HOLE && e.physical + e.length > volumeSize) {
      throw corrupt(fileName, `extent at file offset ${e.logical} lies past the end of the volume (volume offset ${e.physical}, ${e.length} bytes, volume ${volumeSize} bytes)`);
    }
    out.push(e);
    end = e.logical + e.length;
  }
  return out;
}

/**
 * Extents built on demand, for maps that are costly to walk whole (a FAT or exFAT cluster
 * chain of a 100 GiB file is millions of FAT entries): the first byte streams as soon as the
 * chain reaches it. The map appends to `extents` (and may lengthen its last extent), keeping
 * the list sorted and checked as checkExtents would.
 */
export interface ExtentMap {
  readonly extents: readonly Extent[];
  /** File bytes [0, known) are mapped. */
  readonly known: number;
  /** Maps at least [0, end), or throws naming the damage. ExtentSource makes one call at a time. */
  extend(end: number): Promise<void>;
}

export interface ExtentSourceOptions {
  /**
   * Bytes from here to `size` read as zeros whatever the map says: NTFS's initialized size,
   * exFAT's ValidDataLength. Default `size`.
   */
  validSize?: number;
  /**
   * Where set, bytes below `validSize` that no extent covers are a damaged map, not a hole
   * (FAT/exFAT chains and NTFS run lists have no implicit holes): reading them fails naming
   * the map ("run list", "cluster chain"); dataRanges reports them as data so the read does.
   */
  gapsAreErrors?: string;
  /**
   * Large reads (>= 256 KiB, a front-to-back copy through `read`) fetch up to 4 MiB of the
   * extent at once and serve the next requests from it. NTFS turns it on (its $MFT is read in
   * 4 MiB chunks, copies through `read` in 1 MiB ones: fewer, larger reads of the image).
   */
  readAhead?: boolean;
}

/** Bytes per read-ahead. */
const READ_AHEAD = 4 * 1024 * 1024;
/** Requests at least this large are served through the read-ahead. */
const READ_AHEAD_MIN = 256 * 1024;

/**
 * A file (or stream) made of extents of `volume`. Bytes no extent covers, up to `size`, are
 * holes (or errors, `gapsAreErrors`). The extents are a list that passed checkExtents
 * (ExtentSource) or an ExtentMap that keeps them so (LazyExtentSource).
 */
abstract class ExtentReader implements ByteSource {
  private readonly fixed: readonly Extent[] | null;
  private readonly map: ExtentMap | null;
  private readonly validSize: number;
  private readonly gapName: string | null;
  /** The map's extension in progress: reads may overlap (read-ahead), the walk may not. */
  private mapping: Promise<void> = Promise.resolve();
  private ahead: { at: number; buf: Buffer } | null = null;
  private readonly readAhead: boolean;

  constructor(
    private readonly volume: ByteSource,
    extents: readonly Extent[] | ExtentMap,
    readonly size: number,
    readonly name: string,
    opts: ExtentSourceOptions = {},
  ) {
    this.map = Array.isArray(extents) ? null : (extents as ExtentMap);
    this.fixed = Array.isArray(extents) ? (extents as readonly Extent[]) : null;
    this.validSize = Math.min(size, opts.validSize ?? size);
    this.gapName = opts.gapsAreErrors ?? null;
    this.readAhead = opts.readAhead ?? false;
  }

  private get extents(): readonly Extent[] {
    return this.fixed ?? this.map!.extents;
  }

  /**
   * Maps file bytes [0, end) (only the valid part is ever mapped); undefined when they are
   * mapped already, so reads of a known map cost no extra await.
   */
  private mapTo(end: number): Promise<void> | undefined {
    const map = this.map;
    const want = Math.min(end, this.validSize);
    if (!map || map.known >= want) return undefined;
    const step = this.mapping.then(() => (map.known >= want ? undefined : map.extend(want)));
    this.mapping = step.then(() => undefined, () => undefined);
    return step;
  }

  /** Index of the first extent that ends after `offset` (extents.length if none). */
  private indexAt(offset: number): number {
    const x = this.extents;
    let lo = 0;
    let hi = x.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const e = x[mid]!;
      if (e.logical + e.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * File bytes [offset, offset + n) as pieces of the volume: [volumeOffset, length], HOLE for
   * zeros, GAP for bytes a hole-less map does not cover. The map must reach offset + n.
   */
  protected *pieces(offset: number, n: number): Generator<[number, number]> {
    const end = offset + n;
    const valid = Math.min(end, this.validSize);
    const none = this.gapName ? GAP : HOLE;
    const x = this.extents;
    let pos = offset;
    for (let i = this.indexAt(offset); pos < valid; i++) {
      const e = x[i];
      const start = e ? e.logical : valid;
      if (start > pos) {
        const to = Math.min(valid, start);
        yield [none, to - pos];
        pos = to;
        if (!e || pos >= valid) break;
      }
      const to = Math.min(valid, e.logical + e.length);
      if (to <= pos) continue;
      yield [e.physical === HOLE ? HOLE : e.physical + (pos - e.logical), to - pos];
      pos = to;
    }
    if (pos < end) yield [HOLE, end - pos];
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    if (offset + n > this.validSize) {
      if (offset >= this.validSize) return Buffer.alloc(n);
      return readIntoNew(this, offset, n);
    }
    const mapping = this.mapTo(offset + n);
    if (mapping) await mapping;
    // The common case, a read inside one data extent, is one volume read and no copy.
    const e = this.extents[this.indexAt(offset)];
    if (e && e.physical !== HOLE && e.logical <= offset && e.logical + e.length >= offset + n) {
      const at = e.physical + (offset - e.logical);
      if (this.readAhead) return this.readAheadAt(at, n, Math.min(e.logical + e.length, this.validSize) - offset);
      return this.readVolume(at, n);
    }
    return readIntoNew(this, offset, n);
  }

  private async readVolume(at: number, n: number): Promise<Buffer> {
    const buf = await this.volume.read(at, n);
    if (buf.length < n) throw this.truncated(at + buf.length);
    return buf;
  }

  /** `n` bytes at volume offset `at`, `extentLeft` bytes of the extent (and of valid data) from there on. */
  private async readAheadAt(at: number, n: number, extentLeft: number): Promise<Buffer> {
    const ra = this.ahead;
    if (ra && at >= ra.at && at + n <= ra.at + ra.buf.length) return ra.buf.subarray(at - ra.at, at - ra.at + n);
    if (n < READ_AHEAD_MIN) return this.readVolume(at, n);
    const len = Math.max(n, Math.min(READ_AHEAD, extentLeft));
    const buf = await this.readVolume(at, len);
    this.ahead = { at, buf };
    return buf.subarray(0, n);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    const mapping = this.mapTo(offset + n);
    if (mapping) await mapping;
    // Inside one data extent (most reads): one volume read, no piece walk. Small reads (an
    // exFAT bitmap byte per listed file) paid more for the walk's garbage than for the read.
    const e = this.extents[this.indexAt(offset)];
    if (e && e.physical !== HOLE && e.logical <= offset && e.logical + e.length >= offset + n && offset + n <= this.validSize) {
      const vo = e.physical + (offset - e.logical);
      const got = await readInto(this.volume, target, at, vo, n);
      if (got < n) throw this.truncated(vo + got);
      return n;
    }
    let pos = at;
    let fileAt = offset;
    for (const [vo, len] of this.pieces(offset, n)) {
      if (vo === HOLE) target.fill(0, pos, pos + len);
      else if (vo === GAP) throw corrupt(this.name, `${this.gapName} does not cover byte ${fileAt} of ${this.size}`);
      else {
        const got = await readInto(this.volume, target, pos, vo, len);
        if (got < len) throw this.truncated(vo + got);
      }
      pos += len;
      fileAt += len;
    }
    return n;
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = Math.min(length, this.size - offset);
    if (n <= 0) return [];
    const mapping = this.mapTo(offset + n);
    if (mapping) await mapping;
    const runs: HostRun[] = [];
    for (const [vo, len] of this.pieces(offset, n)) {
      if (vo === GAP) return null;
      if (vo === HOLE) appendRun(runs, { length: len, fd: -1, offset: 0 });
      else {
        const got = await hostRunsOf(this.volume, vo, len);
        if (!got) return null;
        for (const r of got) appendRun(runs, r);
      }
      if (runs.length > 1 << 16) return null;
    }
    return runs;
  }

  private truncated(at: number): Error {
    return corrupt(this.name, `truncated: file data at volume offset ${at} lies past the end of ${this.volume.name}`);
  }

  async close(): Promise<void> {}
}

/** A file whose extents are all known up front (ext, NTFS, XFS, Btrfs, ISO 9660, UDF). */
export class ExtentSource extends ExtentReader {
  constructor(volume: ByteSource, extents: readonly Extent[], size: number, name: string, opts?: ExtentSourceOptions) {
    super(volume, extents, size, name, opts);
  }

  /**
   * The ranges of the file that hold data, in order ([offset, length]); everything else up to
   * `size` reads as zeros. For sparse restores (extract, dd) and SEEK_DATA/SEEK_HOLE.
   */
  *dataRanges(offset = 0, length = this.size - offset): Generator<[number, number]> {
    let pos = offset;
    let start = -1;
    for (const [vo, len] of this.pieces(offset, Math.max(0, Math.min(length, this.size - offset)))) {
      if (vo !== HOLE) {
        if (start < 0) start = pos;
      } else if (start >= 0) {
        yield [start, pos - start];
        start = -1;
      }
      pos += len;
    }
    if (start >= 0) yield [start, pos - start];
  }
}

/**
 * A file whose extents are found as reads reach them (FAT, exFAT cluster chains). It reports
 * no data ranges: that would mean walking the whole map, and a chain has no holes to skip.
 */
export class LazyExtentSource extends ExtentReader {
  constructor(volume: ByteSource, map: ExtentMap, size: number, name: string, opts?: ExtentSourceOptions) {
    super(volume, map, size, name, opts);
  }
}
