/**
 * File data as Btrfs stores it: bytes at logical addresses (mapped to devices by the chunk
 * map), each data sector checksummed in the csum tree (items keyed EXTENT_CSUM_OBJECTID,
 * EXTENT_CSUM, logical start; one checksum per sector). A DataVolume is the logical address
 * space seen by one file: every read is checked sector by sector against the csum tree, and a
 * mismatch fails naming the file and the file offset; never silently wrong bytes.
 */
import { DiskpickError, corrupt } from '../../errors.js';
import { readIntoNew, readIntoSpan, type ByteSource, type HostRun } from '../../source/source.js';
import { scratch } from '../../source/scratch.js';
import { crc32cFirstMismatch } from '../../source/codecs.js';
import { csumMatches } from './checksum.js';
import type { ChunkMap } from './chunks.js';
import { KEY, OBJ } from './items.js';
import { U64_MAX, key, type TreeReader, type TreeRoot } from './tree.js';

/** A run of sectors [start, end) and their checksums, or null where the csum tree has none. */
interface CsumRun {
  start: number;
  end: number;
  csums: Buffer | null;
}

/** Looks up data checksums, keeping the item last used (a sequential read stays inside one). */
export class CsumTree {
  private last: CsumRun | null = null;

  constructor(
    private readonly reader: TreeReader,
    private readonly root: TreeRoot | null,
    readonly csumType: number,
    readonly csumSize: number,
    readonly sectorsize: number,
    private readonly file: string,
  ) {}

  /** The run holding sector `logical`. */
  async runAt(logical: number): Promise<CsumRun> {
    const l = this.last;
    if (l && l.start <= logical && logical < l.end) return l;
    let run: CsumRun = { start: logical, end: Number.MAX_SAFE_INTEGER, csums: null };
    if (this.root) {
      const min = key(OBJ.EXTENT_CSUM, KEY.EXTENT_CSUM, logical);
      const max = key(OBJ.EXTENT_CSUM, KEY.EXTENT_CSUM, U64_MAX);
      for await (const it of this.reader.items(this.root, min, max, true)) {
        if (it.objectid !== OBJ.EXTENT_CSUM || it.type !== KEY.EXTENT_CSUM) continue;
        if (it.offset > BigInt(Number.MAX_SAFE_INTEGER)) break;
        const start = Number(it.offset);
        if (start % this.sectorsize !== 0) throw corrupt(this.file, `Btrfs csum item at ${start} is not sector aligned`);
        const end = start + Math.floor(it.data.length / this.csumSize) * this.sectorsize;
        if (start <= logical && logical < end) {
          run = { start, end, csums: it.data };
          break;
        }
        if (start > logical) {
          run = { start: logical, end: start, csums: null };
          break;
        }
      }
    }
    this.last = run;
    return run;
  }
}

/** The logical address space of the filesystem, as read for one file. */
export class DataVolume implements ByteSource {
  readonly size: number;

  constructor(
    private readonly map: ChunkMap,
    private readonly csums: CsumTree | null,
    readonly name: string,
    /** The file offset that logical byte `l` holds (for messages). */
    private readonly fileOffsetOf: (l: number) => number,
  ) {
    this.size = map.size;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return readIntoNew(this, offset, length);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    if (!this.csums) {
      await this.mapRead(target, at, offset, n);
      return n;
    }
    const ss = this.csums.sectorsize;
    const a0 = offset - (offset % ss);
    const a1 = Math.ceil((offset + n) / ss) * ss;
    if (a0 === offset && a1 === offset + n) {
      await this.readChecked(target, at, offset, n);
      return n;
    }
    const buf = scratch.take(a1 - a0);
    try {
      await this.readChecked(buf, 0, a0, a1 - a0);
      buf.copy(target, at, offset - a0, offset - a0 + n);
    } finally {
      scratch.give(buf);
    }
    return n;
  }

  private async mapRead(buf: Buffer, at: number, logical: number, length: number, mirror = 0): Promise<void> {
    try {
      await this.map.readInto(buf, at, logical, length, mirror);
    } catch (err) {
      // A device not given, an image cut short: named with the file that needed it.
      if (err instanceof DiskpickError && err.file !== this.name) throw new DiskpickError(err.kind, `${err.message} (${err.file})`, this.name);
      throw err;
    }
  }

  /**
   * Reads whole sectors and checks them; where a sector does not match and the data has
   * further copies (DUP, RAID1*, RAID10 mirrors), the read is made again from each of them, as
   * the kernel does, and fails only when no copy matches.
   */
  private async readChecked(buf: Buffer, at: number, logical: number, length: number): Promise<void> {
    await this.mapRead(buf, at, logical, length);
    try {
      await this.verify(buf, at, logical, length);
    } catch (err) {
      const copies = this.map.copies(logical);
      for (let mirror = 1; mirror < copies; mirror++) {
        try {
          await this.mapRead(buf, at, logical, length, mirror);
          await this.verify(buf, at, logical, length);
          return;
        } catch {
          // the next copy, else the first error
        }
      }
      throw err;
    }
  }

  /** Checks whole sectors buf[at …] holding logical [logical, logical + length). */
  private async verify(buf: Buffer, at: number, logical: number, length: number): Promise<void> {
    const c = this.csums!;
    const ss = c.sectorsize;
    let l = logical;
    const end = logical + length;
    while (l < end) {
      const run = await c.runAt(l);
      const stop = Math.min(end, run.end);
      if (run.csums && c.csumType === 0 && stop > l) {
        // crc32c (the default): all sectors of the run in one call (SSE4.2 in the native binding).
        const o = at + (l - logical);
        const bad = crc32cFirstMismatch(buf, o, o + (stop - l), ss, run.csums, ((l - run.start) / ss) * 4);
        if (bad >= 0) {
          const b = l + bad * ss;
          throw corrupt(this.name, `data checksum mismatch at file offset ${this.fileOffsetOf(b)} (Btrfs logical ${b}); --no-verify reads it as it is`);
        }
        l = stop;
      } else if (run.csums) {
        for (; l < stop; l += ss) {
          const o = at + (l - logical);
          const ci = ((l - run.start) / ss) * c.csumSize;
          if (!csumMatches(c.csumType, buf, o, o + ss, run.csums, ci)) {
            throw corrupt(this.name, `data checksum mismatch at file offset ${this.fileOffsetOf(l)} (Btrfs logical ${l}); --no-verify reads it as it is`);
          }
        }
      }
      l = Math.max(stop, l);
    }
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    // Checked bytes need a trip through here; only unchecked reads may bypass it.
    if (this.csums) return null;
    return this.map.hostRuns(offset, Math.min(length, this.size - offset));
  }

  async close(): Promise<void> {}
}
