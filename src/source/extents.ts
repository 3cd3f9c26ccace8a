/**
 * One file source for every filesystem: a file is a list of extents of its volume (dissect's
 * RunlistStream). A filesystem module only answers "which bytes of the volume hold bytes
 * L…L+n of this file" by building the extent list; reading, zero-filling holes, host runs for
 * the mount's binding and hole reporting for sparse restores live here, once.
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
 * A file (or stream) made of extents of `volume`. Bytes no extent covers, up to `size`, are
 * holes. `extents` must have passed checkExtents (sorted, non-overlapping).
 */
export class ExtentSource implements ByteSource {
  constructor(
    private readonly volume: ByteSource,
    private readonly extents: readonly Extent[],
    readonly size: number,
    readonly name: string,
  ) {}

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

  /** File bytes [offset, offset + n) as pieces of the volume: [volumeOffset, length], HOLE for zeros. */
  *pieces(offset: number, n: number): Generator<[number, number]> {
    const end = offset + n;
    let pos = offset;
    for (let i = this.indexAt(offset); pos < end; i++) {
      const e = this.extents[i];
      const start = e ? e.logical : end;
      if (start > pos) {
        const to = Math.min(end, start);
        yield [HOLE, to - pos];
        pos = to;
        if (!e || pos >= end) break;
      }
      const to = Math.min(end, e.logical + e.length);
      if (to <= pos) continue;
      yield [e.physical === HOLE ? HOLE : e.physical + (pos - e.logical), to - pos];
      pos = to;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    // The common case, a read inside one data extent, is one volume read and no copy.
    const e = this.extents[this.indexAt(offset)];
    if (e && e.physical !== HOLE && e.logical <= offset && e.logical + e.length >= offset + n) {
      const buf = await this.volume.read(e.physical + (offset - e.logical), n);
      if (buf.length < n) throw this.truncated(e.physical + (offset - e.logical) + buf.length);
      return buf;
    }
    return readIntoNew(this, offset, n);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    let pos = at;
    for (const [vo, len] of this.pieces(offset, n)) {
      if (vo === HOLE) target.fill(0, pos, pos + len);
      else {
        const got = await readInto(this.volume, target, pos, vo, len);
        if (got < len) throw this.truncated(vo + got);
      }
      pos += len;
    }
    return n;
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const runs: HostRun[] = [];
    for (const [vo, len] of this.pieces(offset, Math.min(length, this.size - offset))) {
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

  /**
   * The ranges of the file that hold data, in order ([offset, length]); everything else up to
   * `size` reads as zeros. For sparse restores (extract, dd) and SEEK_DATA/SEEK_HOLE.
   */
  *dataRanges(offset = 0, length = this.size - offset): Generator<[number, number]> {
    let pos = offset;
    for (const [vo, len] of this.pieces(offset, Math.max(0, Math.min(length, this.size - offset)))) {
      if (vo !== HOLE) yield [pos, len];
      pos += len;
    }
  }

  private truncated(at: number): Error {
    return corrupt(this.name, `truncated: file data at volume offset ${at} lies past the end of ${this.volume.name}`);
  }

  async close(): Promise<void> {}
}
