/**
 * A logical volume's bytes: its segments in LV order, each mapping LV bytes to places in PVs
 * (linear: one area; striped: chunks round-robin over areas; mirrors: one chosen leg). A read
 * is cut where the mapping changes, so a linear LV costs one slice per segment crossed.
 */
import { corrupt } from '../../errors.js';
import { appendRun, hostRunsOf, readInto, readSpan, type ByteSource, type HostRun } from '../../source/source.js';

/** Where one LV byte lies: in `src` at `offset`, with `run` bytes following contiguously there. */
export interface Located {
  src: ByteSource;
  offset: number;
  run: number;
}

export interface MappedSegment {
  /** Byte range [start, start + length) of the LV. */
  start: number;
  length: number;
  /** `off` is relative to the segment. */
  locate(off: number): Located;
}

export function linearSegment(start: number, length: number, src: ByteSource, at: number): MappedSegment {
  return { start, length, locate: (off) => ({ src, offset: at + off, run: length - off }) };
}

/** Striped: chunks of `stripeSize` bytes go round-robin over the areas, each area `length / N` long. */
export function stripedSegment(start: number, length: number, stripeSize: number, areas: Array<{ src: ByteSource; at: number }>): MappedSegment {
  const n = areas.length;
  return {
    start,
    length,
    locate(off) {
      const chunk = Math.floor(off / stripeSize);
      const within = off - chunk * stripeSize;
      const a = areas[chunk % n]!;
      const row = Math.floor(chunk / n);
      return { src: a.src, offset: a.at + row * stripeSize + within, run: Math.min(stripeSize - within, length - off) };
    },
  };
}

export class LvSource implements ByteSource {
  readonly size: number;
  constructor(readonly name: string, private readonly segments: MappedSegment[]) {
    const last = segments[segments.length - 1];
    this.size = last ? last.start + last.length : 0;
  }

  private segmentAt(off: number): MappedSegment {
    let lo = 0;
    let hi = this.segments.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.segments[mid]!.start <= off) lo = mid;
      else hi = mid - 1;
    }
    return this.segments[lo]!;
  }

  /** Calls `each` for the pieces of [offset, offset + n), in order. */
  private async walk(offset: number, n: number, each: (l: Located, len: number, done: number) => Promise<boolean>): Promise<void> {
    let done = 0;
    while (done < n) {
      const off = offset + done;
      const seg = this.segmentAt(off);
      const l = seg.locate(off - seg.start);
      const len = Math.min(l.run, n - done);
      if (!(await each(l, len, done))) return;
      done += len;
    }
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const seg = this.segmentAt(offset);
    const l = seg.locate(offset - seg.start);
    // Within one piece (the common case for linear LVs): the slice's own buffer, no copy.
    if (l.run >= n) return this.readPiece(l, n);
    const out = Buffer.allocUnsafe(n);
    await this.readInto(out, 0, offset, n);
    return out;
  }

  private async readPiece(l: Located, n: number): Promise<Buffer> {
    const b = await l.src.read(l.offset, n);
    if (b.length < n) throw this.cutShort(l, b.length, n);
    return b;
  }

  private cutShort(l: Located, got: number, n: number): Error {
    return corrupt(this.name, `truncated image: bytes ${l.offset + got}…${l.offset + n} are past the end of ${l.src.name}`);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    await this.walk(offset, n, async (l, len, done) => {
      const got = await readInto(l.src, target, at + done, l.offset, len);
      if (got < len) throw this.cutShort(l, got, len);
      return true;
    });
    return n;
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = Math.min(length, this.size - offset);
    if (n <= 0) return [];
    const runs: HostRun[] = [];
    let ok = true;
    await this.walk(offset, n, async (l, len) => {
      const r = await hostRunsOf(l.src, l.offset, len);
      if (!r) return (ok = false);
      for (const x of r) appendRun(runs, x);
      return runs.length <= 1 << 16 || (ok = false);
    });
    return ok ? runs : null;
  }

  async close(): Promise<void> {}
}
