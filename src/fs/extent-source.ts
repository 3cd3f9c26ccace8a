/**
 * A file made of extents of its volume (ISO 9660 multi-extent files, UDF allocation
 * descriptors): a list of pieces in file order, each a stretch of the volume or a hole.
 * Shared by the filesystems whose files are plain extent lists with no per-block decoding.
 */
import { corrupt } from '../errors.js';
import { hostRunsOfPieces, readInto, readIntoNew, type ByteSource, type HostRun } from '../source/source.js';

export interface Extent {
  /** Byte offset in the volume, or -1 for a hole (reads as zeros). */
  offset: number;
  length: number;
}

export class ExtentSource implements ByteSource {
  /** Logical start of each extent, for a binary search. */
  private readonly starts: number[] = [];
  readonly size: number;

  constructor(
    private readonly volume: ByteSource,
    private readonly extents: readonly Extent[],
    size: number,
    readonly name: string,
  ) {
    let at = 0;
    for (const e of extents) {
      this.starts.push(at);
      at += e.length;
    }
    // The extents may hold more than the file's size (the tail of the last block); never less,
    // callers check that. What they hold beyond `size` is never read.
    this.size = Math.min(size, at);
  }

  private indexOf(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  read(offset: number, length: number): Promise<Buffer> {
    if (offset >= this.size || length <= 0) return Promise.resolve(Buffer.alloc(0));
    const n = Math.min(length, this.size - offset);
    const i = this.indexOf(offset);
    const e = this.extents[i]!;
    const inExt = offset - this.starts[i]!;
    // One extent: the volume's own buffer, no copy.
    if (e.offset >= 0 && inExt + n <= e.length) return this.readPiece(e.offset + inExt, n);
    return readIntoNew(this, offset, n);
  }

  private async readPiece(at: number, n: number): Promise<Buffer> {
    const b = await this.volume.read(at, n);
    if (b.length < n) throw corrupt(this.name, `truncated image: file data at volume offset ${at + b.length} is past the end of the volume`);
    return b;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    if (offset >= this.size || length <= 0) return 0;
    const n = Math.min(length, this.size - offset, target.length - at);
    let done = 0;
    let i = this.indexOf(offset);
    while (done < n) {
      const e = this.extents[i]!;
      const inExt = offset + done - this.starts[i]!;
      const take = Math.min(e.length - inExt, n - done);
      if (e.offset < 0) target.fill(0, at + done, at + done + take);
      else {
        const got = await readInto(this.volume, target, at + done, e.offset + inExt, take);
        if (got < take) throw corrupt(this.name, `truncated image: file data at volume offset ${e.offset + inExt + got} is past the end of the volume`);
      }
      done += take;
      i++;
    }
    return n;
  }

  hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = Math.min(length, this.size - offset);
    const pieces: Array<[number, number]> = [];
    let done = 0;
    let i = this.indexOf(offset);
    while (done < n) {
      const e = this.extents[i]!;
      const inExt = offset + done - this.starts[i]!;
      const take = Math.min(e.length - inExt, n - done);
      pieces.push([e.offset < 0 ? -1 : e.offset + inExt, take]);
      done += take;
      i++;
    }
    return hostRunsOfPieces(this.volume, pieces);
  }

  async close(): Promise<void> {}
}
