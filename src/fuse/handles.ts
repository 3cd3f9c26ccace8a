/**
 * Open files: a handle per open() whose read() goes straight to the file's ByteSource, the
 * host runs the libfuse3 binding reads by itself when a file's bytes lie in host files as they
 * are, and SEEK_DATA/SEEK_HOLE from the source's data ranges.
 */
import { corrupt } from '../errors.js';
import { hostRunsOf, readInto, type ByteSource } from '../source/source.js';
import { Errno } from './errno.js';

/** lseek whences the kernel passes on to the filesystem (unistd.h). */
const SEEK_DATA = 3;
const SEEK_HOLE = 4;

interface Handle {
  src: ByteSource;
  /** Sources this table opened (files) are closed on release; `.raw/` sources belong to the Vfs. */
  owned: boolean;
}

export class HandleTable {
  private readonly handles = new Map<number, Handle>();
  private nextHandle = 1;

  /** Files open right now. */
  get size(): number {
    return this.handles.size;
  }

  /** A new handle on `src`; `owned` sources are closed with it. */
  add(src: ByteSource, owned: boolean): number {
    const fh = this.nextHandle++;
    if (this.nextHandle > 0x7fffffff) this.nextHandle = 1;
    this.handles.set(fh, { src, owned });
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

  async closeAll(): Promise<void> {
    for (const [fh] of this.handles) await this.release(fh).catch(() => undefined);
  }
}
