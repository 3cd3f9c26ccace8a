/**
 * Reading the value of a compressed non-resident attribute: LZNT1 compression units. See
 * docs/formats/ntfs.md "Non-resident data" and "Compression units". Uncompressed streams are
 * plain extents of the volume and read through the shared ExtentSource (ntfs.ts attrSource);
 * a compression unit is not: its clusters hold an encoding of the whole unit, so a byte of the
 * stream has no place on the volume and the unit is decoded (and cached) whole.
 */
import { corrupt, DiskpickError } from '../../errors.js';
import { type ByteSource, type HostRun, readSpan, readIntoSpan } from '../../source/source.js';
import { Lru } from '../../source/lru.js';
import { decompressLznt1Unit } from './lznt1.js';
import { findRun, type Run } from './runlist.js';

/** Bytes per read of long runs. */
const CHUNK = 4 * 1024 * 1024;

export interface NonResidentLayout {
  runs: Run[];
  clusterSize: number;
  dataSize: number;
  initializedSize: number;
  /** log2 clusters per compression unit (not 0). */
  compressionUnit: number;
}

export class NtfsCompressedStream implements ByteSource {
  readonly size: number;
  private readonly unitClusters: number;
  private readonly unitCache = new Lru<number, Buffer>(8);

  constructor(
    private readonly vol: ByteSource,
    private readonly l: NonResidentLayout,
    readonly name: string,
  ) {
    this.size = l.dataSize;
    this.unitClusters = 2 ** l.compressionUnit;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    // Past the initialized size the stream reads as zeros, whatever the clusters hold.
    const validEnd = Math.min(offset + n, this.l.initializedSize);
    if (validEnd <= offset) return Buffer.alloc(n);
    return this.readCompressed(offset, n, validEnd);
  }

  /** Decoded units into target; bytes past the initialized size as zeros. */
  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    const end = offset + n;
    const validEnd = Math.max(offset, Math.min(end, this.l.initializedSize));
    await this.copyUnits(target, at, offset, validEnd);
    if (validEnd < end) target.fill(0, at + validEnd - offset, at + n);
    return n;
  }

  /** Compressed units need decoding: never host runs. */
  async hostRuns(): Promise<HostRun[] | null> {
    return null;
  }

  /**
   * Bytes past the initialized size are a hole; the rest is reported whole (a unit's sparse
   * clusters are part of its encoding).
   */
  *dataRanges(offset = 0, length = this.size - offset): Generator<[number, number]> {
    const end = Math.min(this.size, offset + Math.max(0, length));
    const validEnd = Math.max(offset, Math.min(end, this.l.initializedSize));
    if (validEnd > offset) yield [offset, validEnd - offset];
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
