/**
 * Reading the value of a non-resident attribute as a ByteSource: run list mapping, sparse
 * runs, the initialized size, and LZNT1 compression units. See docs/formats/ntfs.md
 * "Non-resident data" and "Compression units".
 */
import { corrupt, DiskpickError } from '../../errors.js';
import { hostRunsOfPieces, readInto, type ByteSource, type HostRun, readSpan, readIntoSpan } from '../../source/source.js';
import { Lru } from '../../source/lru.js';
import { decompressLznt1Unit } from './lznt1.js';
import { findRun, type Run } from './runlist.js';

/** Bytes per read of long runs: large enough that a big `cat` is a few big reads. */
const CHUNK = 4 * 1024 * 1024;
/** Requests at least this large are served through the 4 MiB read-ahead. */
const READ_AHEAD_MIN = 256 * 1024;

export interface NonResidentLayout {
  runs: Run[];
  clusterSize: number;
  dataSize: number;
  initializedSize: number;
  /** log2 clusters per compression unit, 0 when not compressed. */
  compressionUnit: number;
}

export class NtfsStream implements ByteSource {
  readonly size: number;
  private readonly unitClusters: number;
  private readonly unitCache = new Lru<number, Buffer>(8);
  /** The last large read of the volume (read-ahead for front-to-back copies). */
  private ahead: { at: number; buf: Buffer } | null = null;

  constructor(
    private readonly vol: ByteSource,
    private readonly l: NonResidentLayout,
    readonly name: string,
  ) {
    this.size = l.dataSize;
    this.unitClusters = l.compressionUnit ? 2 ** l.compressionUnit : 0;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const end = offset + n;
    // Past the initialized size the stream reads as zeros, whatever the clusters hold.
    const validEnd = Math.min(end, this.l.initializedSize);
    if (validEnd <= offset) return Buffer.alloc(n);
    if (this.unitClusters) return this.readCompressed(offset, n, validEnd);
    const cs = this.l.clusterSize;
    // Fast path: one run covers the whole request.
    const first = this.runAt(Math.floor(offset / cs), offset);
    if (first.lcn !== null && validEnd === end && (first.vcn + first.length) * cs >= end) {
      const at = first.lcn * cs + (offset - first.vcn * cs);
      const ra = this.ahead;
      if (ra && at >= ra.at && at + n <= ra.at + ra.buf.length) return ra.buf.subarray(at - ra.at, at - ra.at + n);
      if (n >= READ_AHEAD_MIN) {
        // Large reads come from a front-to-back copy: fetch up to 4 MiB of the run at once
        // and serve the next requests from it (fewer, larger reads of the image).
        const runLeft = Math.min((first.vcn + first.length) * cs, this.l.initializedSize) - offset;
        const len = Math.max(n, Math.min(CHUNK, runLeft));
        const buf = await this.readVol(at, len);
        this.ahead = { at, buf };
        return buf.subarray(0, n);
      }
      return this.readVol(at, n);
    }
    const out = Buffer.alloc(n);
    let pos = offset;
    while (pos < validEnd) {
      const r = this.runAt(Math.floor(pos / cs), pos);
      const runEnd = Math.min(validEnd, (r.vcn + r.length) * cs);
      const take = runEnd - pos;
      if (r.lcn !== null) {
        const b = await this.readVol(r.lcn * cs + (pos - r.vcn * cs), take);
        b.copy(out, pos - offset);
      }
      pos = runEnd;
    }
    return out;
  }

  /** Zero-copy read: runs straight from the volume into target; sparse and uninitialized bytes as zeros. */
  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    const end = offset + n;
    const validEnd = Math.max(offset, Math.min(end, this.l.initializedSize));
    if (this.unitClusters) {
      await this.copyUnits(target, at, offset, validEnd);
    } else {
      const cs = this.l.clusterSize;
      let pos = offset;
      while (pos < validEnd) {
        const r = this.runAt(Math.floor(pos / cs), pos);
        const runEnd = Math.min(validEnd, (r.vcn + r.length) * cs);
        const dest = at + pos - offset;
        if (r.lcn === null) {
          target.fill(0, dest, dest + runEnd - pos);
        } else {
          const volAt = r.lcn * cs + (pos - r.vcn * cs);
          const got = await readInto(this.vol, target, dest, volAt, runEnd - pos);
          if (got < runEnd - pos) throw corrupt(this.name, `data at volume offset ${volAt + got} is past the end of the volume`);
        }
        pos = runEnd;
      }
    }
    if (validEnd < end) target.fill(0, at + validEnd - offset, at + n);
    return n;
  }

  /** The same walk as readInto for uncompressed streams; compressed units need decoding: null. */
  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    if (this.unitClusters) return null;
    const n = Math.min(length, this.size - offset);
    const end = offset + n;
    const validEnd = Math.max(offset, Math.min(end, this.l.initializedSize));
    const cs = this.l.clusterSize;
    const pieces: Array<[number, number]> = [];
    for (let pos = offset; pos < validEnd;) {
      const i = findRun(this.l.runs, Math.floor(pos / cs));
      if (i < 0) return null;
      const r = this.l.runs[i]!;
      const runEnd = Math.min(validEnd, (r.vcn + r.length) * cs);
      if (runEnd <= pos) return null;
      pieces.push([r.lcn === null ? -1 : r.lcn * cs + (pos - r.vcn * cs), runEnd - pos]);
      pos = runEnd;
    }
    if (validEnd < end) pieces.push([-1, end - validEnd]);
    return hostRunsOfPieces(this.vol, pieces);
  }

  /**
   * The ranges holding data: sparse runs and bytes past the initialized size are holes.
   * Compressed streams are reported whole (a unit's sparse clusters are part of its encoding).
   */
  *dataRanges(offset = 0, length = this.size - offset): Generator<[number, number]> {
    const end = Math.min(this.size, offset + Math.max(0, length));
    const validEnd = Math.max(offset, Math.min(end, this.l.initializedSize));
    if (this.unitClusters) {
      if (validEnd > offset) yield [offset, validEnd - offset];
      return;
    }
    const cs = this.l.clusterSize;
    let start = -1;
    let pos = offset;
    while (pos < validEnd) {
      const i = findRun(this.l.runs, Math.floor(pos / cs));
      const r = i < 0 ? null : this.l.runs[i]!;
      const runEnd = r ? Math.min(validEnd, (r.vcn + r.length) * cs) : validEnd;
      // A gap in the run list is left to the read, which reports it.
      const data = !r || r.lcn !== null || runEnd <= pos;
      if (data && start < 0) start = pos;
      if (!data && start >= 0) {
        yield [start, pos - start];
        start = -1;
      }
      if (runEnd <= pos) {
        pos = validEnd;
        break;
      }
      pos = runEnd;
    }
    if (start >= 0) yield [start, pos - start];
  }

  private runAt(vcn: number, pos: number): Run {
    const i = findRun(this.l.runs, vcn);
    if (i < 0) throw corrupt(this.name, `run list does not cover byte ${pos} of ${this.size}`);
    return this.l.runs[i]!;
  }

  private async readVol(at: number, n: number): Promise<Buffer> {
    if (n <= CHUNK) {
      const b = await this.vol.read(at, n);
      if (b.length < n) throw corrupt(this.name, `data at volume offset ${at} is past the end of the volume`);
      return b;
    }
    const out = Buffer.allocUnsafe(n);
    for (let done = 0; done < n; done += CHUNK) {
      const b = await this.readVol(at + done, Math.min(CHUNK, n - done));
      b.copy(out, done);
    }
    return out;
  }

  private async readCompressed(offset: number, n: number, validEnd: number): Promise<Buffer> {
    const out = Buffer.alloc(n);
    await this.copyUnits(out, 0, offset, validEnd);
    return out;
  }

  /** Decoded compression units covering [offset, validEnd) into target[at …]. */
  private async copyUnits(target: Buffer, at: number, offset: number, validEnd: number): Promise<void> {
    const unitBytes = this.unitClusters * this.l.clusterSize;
    for (let u = Math.floor(offset / unitBytes); u * unitBytes < validEnd; u++) {
      const data = await this.unit(u, unitBytes);
      const uStart = u * unitBytes;
      const from = Math.max(offset, uStart);
      const to = Math.min(validEnd, uStart + unitBytes);
      data.copy(target, at + from - offset, from - uStart, to - uStart);
    }
  }

  /**
   * One compression unit: all clusters sparse → zeros; all clusters allocated → stored
   * uncompressed; some allocated → those clusters hold LZNT1 data for the whole unit.
   */
  private async unit(u: number, unitBytes: number): Promise<Buffer> {
    const hit = this.unitCache.get(u);
    if (hit) return hit;
    const cs = this.l.clusterSize;
    const v0 = u * this.unitClusters;
    const v1 = v0 + this.unitClusters;
    const pieces: { lcn: number; count: number }[] = [];
    let allocated = 0;
    let v = v0;
    while (v < v1) {
      const i = findRun(this.l.runs, v);
      if (i < 0) break; // past the last run: the rest of the unit is not stored
      const r = this.l.runs[i]!;
      const take = Math.min(v1, r.vcn + r.length) - v;
      if (r.lcn !== null) {
        pieces.push({ lcn: r.lcn + (v - r.vcn), count: take });
        allocated += take;
      }
      v += take;
    }
    let data: Buffer;
    if (allocated === 0) {
      data = Buffer.alloc(unitBytes);
    } else {
      const raw = Buffer.allocUnsafe(allocated * cs);
      let at = 0;
      for (const p of pieces) {
        const b = await this.readVol(p.lcn * cs, p.count * cs);
        b.copy(raw, at);
        at += b.length;
      }
      if (allocated >= this.unitClusters) {
        data = raw;
      } else {
        try {
          data = decompressLznt1Unit(raw, unitBytes, this.name);
        } catch (err) {
          if (err instanceof DiskpickError) throw err;
          throw corrupt(this.name, `compression unit ${u}: ${(err as Error).message}`);
        }
      }
    }
    this.unitCache.set(u, data);
    return data;
  }

  async close(): Promise<void> {}
}
