/**
 * Open files: a handle per open() whose read() goes straight to the file's ByteSource, the
 * host runs the libfuse3 binding reads by itself when a file's bytes lie in host files as they
 * are, and SEEK_DATA/SEEK_HOLE from the source's data ranges.
 */
import { corrupt } from '../errors.js';
import { appendRun, hostRunsOf, readInto, type ByteSource, type HostRun } from '../source/source.js';
import { Errno } from './errno.js';

/** Runs a handle keeps in the binding at most (32 bytes each while the file is open). */
const MAX_RUNS = 4096;
/**
 * Host runs are worked out at open in steps of 4 GiB, and after the first step only while the
 * open has spent less than 500 ms on them; past that the file is read through JavaScript.
 * Inside a container every cluster is looked up (13–17 ms of CPU per GiB of a QCOW2 with
 * 64 KiB clusters, issue 21), so a 2 TB `.raw/disk` would otherwise hold its open for half a
 * minute. Files up to 4 GiB (every FAT32 file, the bench's) always get their runs.
 */
const RUNS_STEP = 4 * 1024 ** 3;
const RUNS_BUDGET_MS = 500;

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
   * itself. null where any byte needs decoding (compressed clusters, grains or files, a
   * replayed log or journal), the file is empty, or working the runs out outgrows
   * RUNS_BUDGET_MS: its reads come here.
   */
  async hostRuns(fh: number): Promise<Float64Array | null> {
    const h = this.handles.get(fh);
    if (!h || h.src.size === 0) return null;
    const size = h.src.size;
    const started = performance.now();
    const runs: HostRun[] = [];
    for (let pos = 0; pos < size; pos += RUNS_STEP) {
      if (pos > 0 && performance.now() - started > RUNS_BUDGET_MS) return null;
      const step = await hostRunsOf(h.src, pos, Math.min(RUNS_STEP, size - pos), MAX_RUNS).catch(() => null);
      if (!step) return null;
      for (const r of step) appendRun(runs, r);
      if (runs.length > MAX_RUNS) return null;
    }
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
