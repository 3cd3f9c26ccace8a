/**
 * What the sparse container formats (VHD, VHDX, QCOW2, VDI) share: the virtual disk is cut
 * into blocks, a table maps each block to bytes in the host file, to zeros, or to the parent.
 * A format module only answers "what is at virtual offset X" (map); this base class turns
 * that into reads, joining neighbouring host pieces into one host read so a big sequential
 * read costs one system call per contiguous run, not one per cluster.
 */
import { corrupt, DiskpickError } from '../errors.js';
import { Lru } from '../source/lru.js';
import { appendRun, hostRunsOf, readExact, readInto, type ByteSource, type HostRun, readSpan, readIntoSpan } from '../source/source.js';
import type { ChainLevel, Container, OpenContext } from './container.js';
import { direct } from './hostfile.js';

/** One piece of the virtual disk, as a format maps it. */
export type Piece =
  /** Bytes stored in a host file (the image itself unless `src` says otherwise). */
  | { kind: 'host'; length: number; offset: number; src?: ByteSource }
  /** Reads as zeros. */
  | { kind: 'zero'; length: number }
  /** Not in this level: the parent's bytes at the same virtual offset (zeros without one). */
  | { kind: 'parent'; length: number }
  /** Bytes already decoded in memory (a decompressed cluster); `data.length >= length`. */
  | { kind: 'buffer'; length: number; data: Buffer }
  /**
   * Bytes decoded when they are moved (a compressed cluster read whole): `into` writes
   * exactly `length` bytes at target[at …], so they go straight into the reader's buffer.
   */
  | { kind: 'decode'; length: number; into(target: Buffer, at: number): void };

/**
 * hostRuns asks map() for a growing window, from 1 MiB to 256 MiB: an image whose first
 * piece needs decoding (a compressed QCOW2 cluster, whose map() fetches the compressed bytes
 * of the whole window) costs one small window before the answer is no. The whole answer for a
 * 1 GiB file cost 13–17 ms of CPU in a QCOW2 with 64 KiB clusters, under 1 ms in a VHDX
 * (warm tables; issue 21), paid once when the mount opens the file.
 */
const HOST_RUNS_FIRST_WINDOW = 1 << 20;
const HOST_RUNS_MAX_WINDOW = 1 << 28;
/** Beyond this many runs (a badly fragmented image) the reader goes through read(). */
const HOST_RUNS_MAX = 1 << 16;

export abstract class MappedContainer implements Container {
  abstract readonly format: string;
  abstract readonly variant: string;
  sectorSize = 512;
  warnings: string[] = [];
  readonly name: string;

  constructor(
    /** The image file, read-only. */
    protected readonly file: ByteSource,
    readonly size: number,
    /** The level below, for differencing images / backing files. */
    protected readonly parent: Container | null,
    /** Further host files this level reads (closed with it). */
    protected readonly extra: ByteSource[] = [],
  ) {
    this.name = file.name;
  }

  get chain(): ChainLevel[] {
    const own: ChainLevel = { format: this.format, variant: this.variant, virtualSize: this.size, file: this.file.name };
    if (this.extra.length) own.extraFiles = this.extra.map((s) => s.name);
    return [own, ...(this.parent ? this.parent.chain : [])];
  }

  /**
   * Pieces covering [offset, offset + length), in order, or a prefix of it (at least one
   * byte). Called only with offset < size and offset + length <= size.
   */
  protected abstract map(offset: number, length: number): Promise<Piece[]>;

  /** The pieces of [offset, offset + n), neighbours that one read can serve joined. */
  private async plan(offset: number, n: number): Promise<Piece[]> {
    if (!Number.isSafeInteger(offset) || offset < 0) throw corrupt(this.name, `read at an invalid offset ${offset}`);
    const pieces: Piece[] = [];
    let pos = offset;
    const end = offset + n;
    while (pos < end) {
      const got = await this.map(pos, end - pos);
      let advanced = 0;
      for (const p of got) {
        if (p.length <= 0) continue;
        const take = Math.min(p.length, end - pos - advanced);
        if (take < p.length && p.kind === 'decode') throw new Error(`${this.format}: map returned a whole-cluster piece past the read`);
        const q = take === p.length ? p : ({ ...p, length: take } as Piece);
        const last = pieces[pieces.length - 1];
        // Join as we go: a sequential read of contiguous clusters becomes one host read.
        if (last && last.kind === q.kind && (q.kind === 'zero' || q.kind === 'parent')) {
          pieces[pieces.length - 1] = { ...last, length: last.length + q.length } as Piece;
        } else if (last && last.kind === 'host' && q.kind === 'host' && last.src === q.src && last.offset + last.length === q.offset) {
          pieces[pieces.length - 1] = { ...last, length: last.length + q.length };
        } else {
          pieces.push(q);
        }
        advanced += take;
        if (pos + advanced >= end) break;
      }
      if (advanced <= 0) throw new Error(`${this.format}: map made no progress at ${pos}`);
      pos += advanced;
    }
    return pieces;
  }

  /**
   * Where [offset, offset + length) lies in host files, when every piece is there as it is:
   * stored clusters/blocks/grains of this level and of parents that can say the same, and
   * zeros (unallocated with no parent, or past a smaller parent's end). null as soon as a
   * piece needs decoding (compressed, replayed from a log) or a host file cannot say (a
   * remote image: asked before any table is read), and where a piece lies past the end of
   * its file (read() reports that). The mount's libfuse3 binding then preads files inside
   * such images in libfuse's threads, as it does for raw images.
   */
  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return [];
    if (!direct(this.file).hostRuns || this.decodes) return null;
    const runs: HostRun[] = [];
    // Host pieces that continue each other are asked of their file as one span.
    let span: { src: ByteSource; offset: number; length: number } | null = null;
    const flush = async (): Promise<boolean> => {
      if (!span) return true;
      const got = await hostRunsOf(span.src, span.offset, span.length);
      span = null;
      if (!got) return false;
      for (const r of got) appendRun(runs, r);
      return true;
    };
    const end = offset + n;
    let pos = offset;
    let window = HOST_RUNS_FIRST_WINDOW;
    while (pos < end) {
      const from = pos;
      for (const p of await this.map(pos, Math.min(end - pos, window))) {
        if (p.length <= 0) continue;
        const take = Math.min(p.length, end - pos);
        if (p.kind === 'host') {
          const src = direct(p.src ?? this.file);
          if (span && span.src === src && span.offset + span.length === p.offset) span.length += take;
          else {
            if (!(await flush())) return null;
            span = { src, offset: p.offset, length: take };
          }
        } else if (p.kind === 'zero' || (p.kind === 'parent' && !this.parent)) {
          if (!(await flush())) return null;
          appendRun(runs, { length: take, fd: -1, offset: 0 });
        } else if (p.kind === 'parent') {
          if (!(await flush())) return null;
          // A parent smaller than the child reads as zeros past its end (qcow2 spec, "Cluster mapping").
          const inParent = Math.max(0, Math.min(take, this.parent!.size - pos));
          const got = inParent > 0 ? await hostRunsOf(this.parent!, pos, inParent) : [];
          if (!got) return null;
          for (const r of got) appendRun(runs, r);
          appendRun(runs, { length: take - inParent, fd: -1, offset: 0 });
        } else {
          this.decodes = true;
          return null;
        }
        pos += take;
        if (pos >= end) break;
      }
      if (pos === from || runs.length > HOST_RUNS_MAX) return null;
      window = Math.min(2 * window, HOST_RUNS_MAX_WINDOW);
    }
    return (await flush()) ? runs : null;
  }

  /**
   * Set once hostRuns has met a piece that needs decoding: an image that compresses one
   * cluster compresses them all as a rule, and asking again would fetch the compressed bytes
   * twice per read (once in map() here, once by the read), e.g. for a LUKS volume's fused
   * read (src/volume/crypt/decrypted-source.ts), which asks before every big read.
   */
  private decodes = false;

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const runs = await this.plan(offset, n);
    // One run (the common case for sequential reads of contiguous clusters): hand back the
    // host buffer itself, no copy.
    if (runs.length === 1) return this.readPiece(runs[0]!, offset);
    const out = Buffer.allocUnsafe(n);
    await this.fill(runs, out, 0, offset);
    return out;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    await this.fill(await this.plan(offset, n), target, at, offset);
    return n;
  }

  /**
   * Moves the bytes of `runs` (starting at virtual `offset`) into target[at …]: host runs
   * are read straight into it and parents asked to fill their part, all at once; while those
   * reads run, zeros are filled and clusters decoded on this thread.
   */
  private async fill(runs: Piece[], target: Buffer, at: number, offset: number): Promise<void> {
    const jobs: Promise<void>[] = [];
    let dest = at;
    let local = false;
    for (const r of runs) {
      const d = dest;
      const len = r.length;
      dest += len;
      if (r.kind === 'parent' && this.parent) {
        const parent = this.parent;
        jobs.push(
          readInto(parent, target, d, offset + (d - at), len).then((got) => {
            // A parent smaller than the child reads as zeros past its end (qcow2 spec, "Cluster mapping").
            if (got < len) target.fill(0, d + got, d + len);
          }),
        );
      } else if (r.kind === 'host') {
        const src = direct(r.src ?? this.file);
        const hostOffset = r.offset;
        const vofs = offset + (d - at);
        jobs.push(
          readInto(src, target, d, hostOffset, len).then((got) => {
            if (got < len) {
              throw corrupt(src.name, `truncated: data of virtual offset ${vofs} is at host offset ${hostOffset + got}, past the end of the file (${src.size} bytes)`);
            }
          }),
        );
      } else {
        local = true;
      }
    }
    let failed: unknown = null;
    if (local) {
      try {
        dest = at;
        for (const r of runs) {
          const d = dest;
          dest += r.length;
          if (r.kind === 'zero' || (r.kind === 'parent' && !this.parent)) target.fill(0, d, d + r.length);
          else if (r.kind === 'buffer') r.data.copy(target, d, 0, r.length);
          else if (r.kind === 'decode') r.into(target, d);
        }
      } catch (err) {
        failed = err;
      }
    }
    if (jobs.length === 1 && !failed) return jobs[0];
    // Every read must be over before the caller gets its buffer back, failed or not.
    for (const r of await Promise.allSettled(jobs)) if (r.status === 'rejected') failed ??= r.reason;
    if (failed) throw failed;
  }

  private async readPiece(p: Piece, virtualOffset: number): Promise<Buffer> {
    switch (p.kind) {
      case 'zero':
        return Buffer.alloc(p.length);
      case 'buffer':
        return p.data.length === p.length ? p.data : p.data.subarray(0, p.length);
      case 'decode': {
        const b = Buffer.allocUnsafe(p.length);
        p.into(b, 0);
        return b;
      }
      case 'parent': {
        if (!this.parent) return Buffer.alloc(p.length);
        const b = await this.parent.read(virtualOffset, p.length);
        if (b.length === p.length) return b;
        // A parent smaller than the child reads as zeros past its end (qcow2 spec, "Cluster mapping").
        const full = Buffer.alloc(p.length);
        b.copy(full);
        return full;
      }
      case 'host': {
        const src = p.src ?? this.file;
        const b = await src.read(p.offset, p.length);
        if (b.length < p.length) {
          throw corrupt(src.name, `truncated: data of virtual offset ${virtualOffset} is at host offset ${p.offset + b.length}, past the end of the file (${src.size} bytes)`);
        }
        return b;
      }
    }
  }

  async close(): Promise<void> {
    await this.file.close().catch(() => undefined);
    for (const e of this.extra) await e.close().catch(() => undefined);
    if (this.parent) await this.parent.close().catch(() => undefined);
  }
}

/**
 * A table of fixed-size entries in the image (VHD/VHDX BAT, VDI block map) loaded a page at
 * a time when first needed, so that opening a 2 TB image reads no table at all and a hostile
 * entry count costs no memory until the pages are touched.
 */
export class PagedTable {
  private readonly pages: Lru<number, Buffer>;
  private readonly perPage: number;

  constructor(
    private readonly src: ByteSource,
    private readonly offset: number,
    readonly count: number,
    private readonly entrySize: number,
    private readonly what: string,
    pageBytes = 64 * 1024,
    maxPages = 256,
  ) {
    this.perPage = Math.max(1, Math.floor(pageBytes / entrySize));
    this.pages = new Lru(maxPages);
  }

  /** The page holding entry `i`, and where in it the entry starts. */
  async entry(i: number): Promise<[Buffer, number]> {
    if (i < 0 || i >= this.count) throw corrupt(this.src.name, `${this.what} entry ${i} is outside the table (${this.count} entries)`);
    const p = Math.floor(i / this.perPage);
    let page = this.pages.get(p);
    if (!page) {
      const first = p * this.perPage;
      const n = Math.min(this.perPage, this.count - first);
      page = await readExact(this.src, this.offset + first * this.entrySize, n * this.entrySize, this.what);
      this.pages.set(p, page);
    }
    return [page, (i - p * this.perPage) * this.entrySize];
  }
}

/** Windows paths in parent locators use backslashes; the host uses slashes. */
export function windowsToHostPath(p: string): string {
  let s = p.replace(/\0+$/, '');
  // \\?\C:\dir\file and C:\dir\file: a drive letter means nothing here, keep the path part.
  s = s.replace(/^\\\\\?\\/, '');
  s = s.replace(/\\/g, '/');
  s = s.replace(/^[A-Za-z]:\//, '/');
  return s;
}
