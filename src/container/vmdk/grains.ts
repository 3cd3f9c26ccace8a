/**
 * Reading through a two-level grain map (grain directory → grain tables → grains), the
 * scheme shared by the three VMDK sparse extent formats (KDMV hosted sparse, COWD ESX
 * redo logs, SESparse). Each format decodes its own tables into byte offsets; this module
 * loads tables lazily, caches them and decoded compressed grains, and turns a read of many
 * grains into few large reads of the extent file.
 */
import { corrupt } from '../../errors.js';
import { appendRun, hostRunsOf, readExact, readInto, type ByteSource, type HostRun } from '../../source/source.js';
import { inflateInto, type InflateResult } from '../inflate.js';
import { direct } from '../hostfile.js';
import { InFlight, Lru } from '../../source/lru.js';
import { scratch } from '../../source/scratch.js';

/** Grain not stored here: read from the parent disk (or zeros when there is none). */
export const GRAIN_UNALLOCATED = -1;
/** Grain explicitly zero (zeroed-grain GTE, SESparse zero/unmapped): zeros, never the parent. */
export const GRAIN_ZERO = -2;

/**
 * A grain table decoded to byte offsets in the extent file (or the GRAIN_* codes);
 * null when the directory entry says the whole table is unallocated, 'zero' when it
 * says the whole table reads as zeros.
 */
export type GrainTable = Float64Array | null | 'zero';

/** What a sparse extent format provides. */
export interface GrainMap {
  /** The extent file. */
  readonly file: ByteSource;
  /** Bytes per grain. */
  readonly grainBytes: number;
  /** Bytes of virtual disk this extent's tables cover (its header capacity). */
  readonly capacity: number;
  /** Grain table entries per table. */
  readonly gtesPerGt: number;
  /** Grains are deflate-compressed behind a grain marker (streamOptimized). */
  readonly compressed: boolean;
  /** Reads and validates grain table `gt` (0-based). Called once per table while it stays cached. */
  loadTable(gt: number): Promise<GrainTable>;
}

/** Budget for decoded grain tables and for decompressed grains, per extent. */
const TABLE_CACHE_BYTES = 16 * 1024 * 1024;
const GRAIN_CACHE_BYTES = 32 * 1024 * 1024;
/** Compressed grains read together in one request when they lie this close in the file. */
const COMPRESSED_WINDOW = 8 * 1024 * 1024;
/** Grain-marker header: lba (u64) + size (u32). libyal "Compressed grain data". */
const GRAIN_MARKER_BYTES = 12;

/** Where the bytes of one piece of a read come from. */
type RunKind = 'data' | 'zero' | 'parent' | 'compressed';

interface CompressedPiece {
  /** Extent offset of the piece. */
  pos: number;
  inGrain: number;
  take: number;
  /** File offset of the grain marker. */
  fileOffset: number;
}

/** Consecutive grains of one kind. */
interface Run {
  kind: RunKind;
  /** Extent offset where the run starts. */
  pos: number;
  len: number;
  /** File offset of the run's first byte (data runs). */
  file: number;
  /** The grains of a compressed run. */
  grains: CompressedPiece[];
}

/**
 * A grain directory read in 4 KiB pages on demand, so opening a 2 TB disk (a 256 KiB
 * directory) or a 64 TB SESparse snapshot (32 MiB) reads only the header.
 */
export class DirectoryPages {
  private static readonly PAGE = 4096;
  private static readonly MAX_PAGES = 4096;
  private readonly pages = new Lru<number, Buffer>(DirectoryPages.MAX_PAGES);
  private readonly loading = new InFlight<number, Buffer>();

  constructor(
    private readonly file: ByteSource,
    /** Byte offset of the directory in the file. */
    readonly start: number,
    /** Number of entries. */
    readonly entries: number,
    /** Bytes per entry (4 for KDMV and COWD, 8 for SESparse). */
    readonly entryBytes: number,
    private readonly what: string,
  ) {}

  get bytes(): number {
    return this.entries * this.entryBytes;
  }

  /** The page holding entry `i` and the entry's offset in it; undefined past the last entry. */
  async entry(i: number): Promise<{ page: Buffer; at: number } | undefined> {
    if (i < 0 || i >= this.entries) return undefined;
    const byte = i * this.entryBytes;
    const p = Math.floor(byte / DirectoryPages.PAGE);
    const page =
      this.pages.get(p) ??
      (await this.loading.run(p, async () => {
        const from = p * DirectoryPages.PAGE;
        const b = await readExact(this.file, this.start + from, Math.min(DirectoryPages.PAGE, this.bytes - from), this.what);
        this.pages.set(p, b);
        return b;
      }));
    return { page, at: byte - p * DirectoryPages.PAGE };
  }

  async u32(i: number): Promise<number | undefined> {
    const e = await this.entry(i);
    return e ? e.page.readUInt32LE(e.at) : undefined;
  }
}

/**
 * Fills target[at, at+length) with the parent disk's bytes at extent offset `offset` (zeros
 * where the parent ends).
 */
export type Fallback = (offset: number, length: number, target: Buffer, at: number) => Promise<void>;

export class GrainReader {
  private readonly tables: Lru<number, GrainTable>;
  private readonly pendingTables = new InFlight<number, GrainTable>();
  private readonly grains: Lru<number, Buffer>;

  constructor(readonly map: GrainMap) {
    this.tables = new Lru(Math.max(8, Math.floor(TABLE_CACHE_BYTES / (map.gtesPerGt * 8))));
    this.grains = new Lru(Math.max(2, Math.floor(GRAIN_CACHE_BYTES / map.grainBytes)));
  }

  private async table(gt: number): Promise<GrainTable> {
    const hit = this.tables.get(gt);
    if (hit !== undefined) return hit;
    return this.pendingTables.run(gt, async () => {
      const t = await this.map.loadTable(gt);
      this.tables.set(gt, t);
      return t;
    });
  }

  /** Byte offset of grain `g` in the extent file, or a GRAIN_* code. */
  async entry(g: number): Promise<number> {
    const m = this.map;
    if (g * m.grainBytes >= m.capacity) return GRAIN_UNALLOCATED;
    const gt = Math.floor(g / m.gtesPerGt);
    const t = this.tables.get(gt) ?? (await this.table(gt));
    if (t === null) return GRAIN_UNALLOCATED;
    if (t === 'zero') return GRAIN_ZERO;
    return t[g - gt * m.gtesPerGt]!;
  }

  /**
   * Splits extent bytes [offset, offset+length) into runs of one kind: consecutive grains
   * that are zero, fall through to the parent, are compressed, or are stored back to back
   * in the file (one read for the whole run).
   */
  private async plan(offset: number, length: number): Promise<Run[]> {
    const gb = this.map.grainBytes;
    const end = offset + length;
    const runs: Run[] = [];
    let cur: Run | null = null;
    let pos = offset;
    while (pos < end) {
      const g = Math.floor(pos / gb);
      const inGrain = pos - g * gb;
      const take = Math.min(gb - inGrain, end - pos);
      const e = await this.entry(g);
      let kind: RunKind;
      if (e === GRAIN_UNALLOCATED) kind = 'parent';
      else if (e === GRAIN_ZERO) kind = 'zero';
      else kind = this.map.compressed ? 'compressed' : 'data';
      const extend = cur !== null && cur.kind === kind && (kind !== 'data' || cur.file + cur.len === e + inGrain);
      if (!extend) {
        cur = { kind, pos, len: 0, file: kind === 'data' ? e + inGrain : 0, grains: [] };
        runs.push(cur);
      }
      if (kind === 'compressed') cur!.grains.push({ pos, inGrain, take, fileOffset: e });
      cur!.len += take;
      pos += take;
    }
    return runs;
  }

  /**
   * Where extent bytes [offset, offset+length) lie in host files, when no grain is
   * compressed: stored runs in the extent file, zeros, and the parent's own runs (`parent`;
   * null: zeros). null for a compressed extent (streamOptimized), asked before any table is
   * read, or where a run lies past the end of its file.
   */
  async hostRuns(offset: number, length: number, parent: ((offset: number, length: number) => Promise<HostRun[] | null>) | null): Promise<HostRun[] | null> {
    const file = direct(this.map.file);
    if (this.map.compressed || !file.hostRuns) return null;
    const runs: HostRun[] = [];
    for (const run of await this.plan(offset, length)) {
      let got: HostRun[] | null;
      if (run.kind === 'zero' || (run.kind === 'parent' && !parent)) got = [{ length: run.len, fd: -1, offset: 0 }];
      else if (run.kind === 'parent') got = await parent!(run.pos, run.len);
      else if (run.kind === 'data') got = await hostRunsOf(file, run.file, run.len);
      else got = null;
      if (!got) return null;
      for (const r of got) appendRun(runs, r);
    }
    return runs;
  }

  private async readData(run: Run): Promise<Buffer> {
    const b = await this.map.file.read(run.file, run.len);
    if (b.length < run.len) this.truncatedData(run.file + b.length);
    return b;
  }

  private async readDataInto(run: Run, out: Buffer, at: number): Promise<void> {
    const got = await readInto(direct(this.map.file), out, at, run.file, run.len);
    if (got < run.len) this.truncatedData(run.file + got);
  }

  private truncatedData(at: number): never {
    throw corrupt(this.map.file.name, `truncated: grain data at offset ${at} is past the end of the file`);
  }

  /**
   * Fills out[outPos, outPos+length) with extent bytes [offset, offset+length): stored runs
   * are read straight into `out` (all at once), zeros filled, the parent asked for its part,
   * and the compressed grains of the whole range fetched and decoded together.
   */
  async read(offset: number, length: number, out: Buffer, outPos: number, parent: Fallback | null): Promise<void> {
    return this.fill(await this.plan(offset, length), offset, out, outPos, parent);
  }

  private async fill(runs: Run[], offset: number, out: Buffer, outPos: number, parent: Fallback | null): Promise<void> {
    const jobs: Promise<void>[] = [];
    let compressed: CompressedPiece[] | null = null;
    for (const run of runs) {
      const at = outPos + (run.pos - offset);
      if (run.kind === 'zero' || (run.kind === 'parent' && !parent)) {
        out.fill(0, at, at + run.len);
      } else if (run.kind === 'parent') {
        jobs.push(parent!(run.pos, run.len, out, at));
      } else if (run.kind === 'data') {
        jobs.push(this.readDataInto(run, out, at));
      } else if (compressed) {
        for (const g of run.grains) compressed.push(g);
      } else {
        compressed = run.grains;
      }
    }
    if (compressed) jobs.push(this.readCompressed(compressed, out, outPos - offset));
    if (jobs.length === 1) return jobs[0];
    // Every read must be over before the caller gets its buffer back, failed or not.
    for (const r of await Promise.allSettled(jobs)) if (r.status === 'rejected') throw r.reason;
  }

  /**
   * The same bytes as a new buffer; when the range is one run of stored data (the common
   * case for a sequential read of a sparse disk) the file's buffer is returned without a copy.
   */
  async readBuffer(offset: number, length: number, parent: Fallback | null): Promise<Buffer> {
    const runs = await this.plan(offset, length);
    const only = runs.length === 1 ? runs[0]! : null;
    if (only?.kind === 'data') return this.readData(only);
    if (only?.kind === 'zero' || (only?.kind === 'parent' && !parent)) return Buffer.alloc(length);
    const out = Buffer.allocUnsafe(length);
    await this.fill(runs, offset, out, 0, parent);
    return out;
  }

  /**
   * Moves the listed parts of compressed grains into `out`. Cached grains are copied; the
   * others are fetched (one read for grains close together), then a grain read whole is
   * decoded straight into `out` (a sequential copy never reads it again) and a part of one is
   * decoded once into the cache, so that small reads walking through it decode it once.
   */
  private async readCompressed(list: CompressedPiece[], out: Buffer, outBase: number): Promise<void> {
    const gb = this.map.grainBytes;
    let need: CompressedPiece[] | null = null;
    for (const x of list) {
      const g = this.grains.get(x.fileOffset);
      if (g) {
        g.copy(out, outBase + x.pos, x.inGrain, x.inGrain + x.take);
      } else {
        (need ??= []).push(x);
      }
    }
    if (!need) return;
    const spans: Buffer[] = [];
    try {
      const raw = await this.fetchGrains(need, spans);
      for (const x of need) {
        const at = outBase + x.pos;
        if (x.inGrain === 0 && x.take === gb) {
          this.inflateGrain(raw.get(x.fileOffset)!, x.fileOffset, out, at);
          continue;
        }
        let g = this.grains.get(x.fileOffset);
        if (!g) {
          g = Buffer.allocUnsafe(gb);
          this.inflateGrain(raw.get(x.fileOffset)!, x.fileOffset, g, 0);
          this.grains.set(x.fileOffset, g);
        }
        g.copy(out, at, x.inGrain, x.inGrain + x.take);
      }
    } finally {
      for (const b of spans) scratch.give(b);
    }
  }

  /**
   * The compressed bytes (after the marker) of the grains at these file offsets, as views of
   * scratch buffers listed in `spans` (the caller gives them back once it has decoded).
   */
  private async fetchGrains(list: CompressedPiece[], spans: Buffer[]): Promise<Map<number, Buffer>> {
    const missing = [...new Set(list.map((x) => x.fileOffset))].sort((a, b) => a - b);
    const got = new Map<number, Buffer>();
    const gb = this.map.grainBytes;
    const file = this.map.file;
    // A marker's data can be a little larger than the grain (incompressible data).
    const maxData = gb + (gb >> 8) + 1024;
    const jobs: Promise<void>[] = [];
    let i = 0;
    while (i < missing.length) {
      const start = missing[i]!;
      let j = i;
      // One read for grains close together; a wide gap starts a new read rather than
      // fetching data nobody asked for.
      while (j + 1 < missing.length && missing[j + 1]! - start < COMPRESSED_WINDOW && missing[j + 1]! - missing[j]! <= GRAIN_MARKER_BYTES + maxData + 64 * 1024) j++;
      const first = i;
      const last = j;
      const spanEnd = Math.min(file.size, missing[j]! + GRAIN_MARKER_BYTES + maxData);
      const buf = scratch.take(spanEnd - start);
      spans.push(buf);
      jobs.push(
        readInto(direct(file), buf, 0, start, spanEnd - start).then(async (n) => {
          const span = buf.subarray(0, n);
          const more: Promise<void>[] = [];
          // Every read started here is waited for, even after a failure: one left running
          // would reject with nobody listening (seen on a cut-short streamOptimized VMDK).
          let failed: unknown = null;
          try {
            for (let k = first; k <= last; k++) {
              const off = missing[k]!;
              const rel = off - start;
              if (rel + GRAIN_MARKER_BYTES > span.length) {
                throw corrupt(file.name, `truncated: compressed grain marker at offset ${off} is past the end of the file`);
              }
              const size = span.readUInt32LE(rel + 8);
              if (size === 0 || size > maxData) {
                throw corrupt(file.name, `compressed grain at offset ${off} has an invalid size ${size}`);
              }
              if (rel + GRAIN_MARKER_BYTES + size <= span.length) {
                got.set(off, span.subarray(rel + GRAIN_MARKER_BYTES, rel + GRAIN_MARKER_BYTES + size));
              } else {
                more.push(readExact(file, off + GRAIN_MARKER_BYTES, size, 'compressed grain').then((d) => void got.set(off, d)));
              }
            }
          } catch (err) {
            failed = err;
          }
          for (const r of await Promise.allSettled(more)) if (r.status === 'rejected' && failed === null) failed = r.reason;
          if (failed !== null) throw failed;
        }),
      );
      i = j + 1;
    }
    for (const r of await Promise.allSettled(jobs)) if (r.status === 'rejected') throw r.reason;
    return got;
  }

  /**
   * Decodes one grain into out[at, at + grain size); the last grain of a disk may decode
   * shorter than a full grain: the rest is zeros.
   */
  private inflateGrain(data: Buffer, off: number, out: Buffer, at: number): void {
    const gb = this.map.grainBytes;
    let r: InflateResult;
    try {
      // RFC 1950 (zlib wrapper) is what VMware and qemu write; bare deflate is tolerated.
      r = inflateInto('zlib', data, out, at, gb, true);
    } catch {
      try {
        r = inflateInto('raw', data, out, at, gb, true);
      } catch {
        r = { written: 0, overflow: true };
      }
    }
    if (r.overflow) throw corrupt(this.map.file.name, `compressed grain at offset ${off} does not decompress to at most ${gb} bytes`);
    if (r.written < gb) out.fill(0, at + r.written, at + gb);
  }

  /** Test hook: how many decoded grains are cached. */
  get cachedGrains(): number {
    return this.grains.size;
  }
}
