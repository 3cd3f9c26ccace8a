/**
 * The File Allocation Table (fatgen103 §4): entries of 12, 16 or 28 bits, one per cluster,
 * each naming the next cluster of its chain; and the walk of a chain into runs of
 * contiguous clusters, bounded and checked for loops (hostile images).
 */
import { corrupt } from '../../errors.js';
import { Lru } from '../../source/lru.js';
import { readExact, type ByteSource } from '../../source/source.js';
import type { FatType } from './bpb.js';

/** The File Allocation Table, read in segments on demand (a FAT32 FAT can be hundreds of MiB). */
export class FileAllocationTable {
  private static readonly SEGMENT = 64 * 1024;
  private static readonly MAX_SEGMENTS = 256;
  private readonly segments = new Lru<number, Buffer>(FileAllocationTable.MAX_SEGMENTS);

  constructor(
    private readonly src: ByteSource,
    private readonly offset: number,
    private readonly bytes: number,
    readonly type: FatType,
    readonly clusterCount: number,
  ) {}

  /** Next cluster in a chain, or -1 at the end of the chain. Throws on free/bad/out-of-range entries. */
  async next(cluster: number): Promise<number> {
    const known = this.nextLoaded(cluster);
    if (known !== undefined) return known;
    const byteOff = this.entryOffset(cluster);
    const width = this.type === 'FAT32' ? 4 : 2;
    const seg = Math.floor(byteOff / FileAllocationTable.SEGMENT);
    const inSeg = byteOff - seg * FileAllocationTable.SEGMENT;
    let v: number;
    if (inSeg + width <= FileAllocationTable.SEGMENT) {
      const b = this.segments.get(seg) ?? (await this.load(seg));
      v = width === 4 ? b.readUInt32LE(inSeg) : b.readUInt16LE(inSeg);
    } else {
      const b = await readExact(this.src, this.offset + byteOff, width, 'FAT entry');
      v = width === 4 ? b.readUInt32LE(0) : b.readUInt16LE(0);
    }
    return this.decode(cluster, v);
  }

  /**
   * The next cluster when its FAT segment is already in memory, else undefined. Walking a
   * chain is one step per cluster (65 536 for a 256 MiB file): without this synchronous path
   * each step costs an await.
   */
  nextLoaded(cluster: number): number | undefined {
    const byteOff = this.entryOffset(cluster);
    const seg = Math.floor(byteOff / FileAllocationTable.SEGMENT);
    const inSeg = byteOff - seg * FileAllocationTable.SEGMENT;
    const width = this.type === 'FAT32' ? 4 : 2;
    if (inSeg + width > FileAllocationTable.SEGMENT) return undefined;
    const b = this.segments.get(seg);
    if (!b) return undefined;
    return this.decode(cluster, width === 4 ? b.readUInt32LE(inSeg) : b.readUInt16LE(inSeg));
  }

  /**
   * How many entries from `cluster` on, in FAT segments already in memory, point to the very
   * next cluster (a contiguous stretch), up to `max`. Big files are mostly such stretches;
   * one tight loop over them costs a fraction of one call per cluster.
   */
  contiguousFrom(cluster: number, max: number): number {
    if (this.type === 'FAT12') return 0;
    const wide = this.type === 'FAT32';
    const width = wide ? 4 : 2;
    const last = this.clusterCount + 1;
    let n = 0;
    while (n < max) {
      const byteOff = (cluster + n) * width;
      if (byteOff + width > this.bytes) break;
      const seg = Math.floor(byteOff / FileAllocationTable.SEGMENT);
      const b = this.segments.get(seg);
      if (!b) break;
      let i = byteOff - seg * FileAllocationTable.SEGMENT;
      const start = i;
      const end = Math.min(b.length, i + (max - n) * width);
      let c = cluster + n;
      while (i + width <= end && c < last) {
        const v = wide ? b.readUInt32LE(i) & 0x0fffffff : b.readUInt16LE(i);
        if (v !== c + 1) break;
        c++;
        i += width;
      }
      const steps = (i - start) / width;
      n += steps;
      if (i + width <= end) break; // the stretch ended inside this segment
      if (steps === 0) break;
    }
    return n;
  }

  private entryOffset(cluster: number): number {
    const byteOff = this.type === 'FAT12' ? cluster + (cluster >> 1) : this.type === 'FAT16' ? cluster * 2 : cluster * 4;
    if (byteOff + (this.type === 'FAT32' ? 4 : 2) > this.bytes) throw corrupt(this.src.name, `FAT entry for cluster ${cluster} is past the end of the FAT`);
    return byteOff;
  }

  /** An entry's value as the next cluster, -1 at the end of the chain; throws on free/bad/out-of-range. */
  private decode(cluster: number, v: number): number {
    let eoc: number;
    let bad: number;
    if (this.type === 'FAT12') {
      v = cluster & 1 ? v >> 4 : v & 0xfff;
      eoc = 0xff8;
      bad = 0xff7;
    } else if (this.type === 'FAT16') {
      eoc = 0xfff8;
      bad = 0xfff7;
    } else {
      v &= 0x0fffffff;
      eoc = 0x0ffffff8;
      bad = 0x0ffffff7;
    }
    if (v >= eoc) return -1;
    if (v === bad) throw corrupt(this.src.name, `cluster ${cluster} is marked bad in the FAT`);
    if (v < 2 || v >= this.clusterCount + 2) {
      throw corrupt(this.src.name, `FAT chain broken at cluster ${cluster} (next ${v === 0 ? 'is a free cluster' : `= ${v}, out of range`})`);
    }
    return v;
  }

  private async load(seg: number): Promise<Buffer> {
    const start = seg * FileAllocationTable.SEGMENT;
    const len = Math.min(FileAllocationTable.SEGMENT, this.bytes - start);
    const b = await readExact(this.src, this.offset + start, len, 'FAT');
    this.segments.set(seg, b);
    return b;
  }
}

/** A run of contiguous clusters of a chain, while it is walked. */
export interface ClusterRun {
  cluster: number;
  count: number;
}

/**
 * A chain that comes back to a cluster it already went through loops: followed, it would
 * repeat the same clusters up to the file's size and hand them out as its content (issue 26:
 * `cat` wrote them and exited 0). The walk is bounded by the size; this finds the revisit
 * afterwards, by sorting the runs (memory: the runs, never a bitmap of the volume).
 */
export function chainRevisit(runs: readonly ClusterRun[], what: string): void {
  if (runs.length < 2) return;
  const byStart = [...runs].sort((a, b) => a.cluster - b.cluster);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const r = byStart[i]!;
    if (r.cluster < prev.cluster + prev.count) throw corrupt(what, `cluster chain loops (cluster ${r.cluster} is reached twice)`);
  }
}

/**
 * The runs of contiguous clusters of the chain from `first`; `maxClusters` bounds the walk
 * (loops, hostile chains). `exact`: the chain must be that long (a file's size needs it).
 */
export async function walkChain(fat: FileAllocationTable, first: number, maxClusters: number, what: string, exact: boolean): Promise<ClusterRun[]> {
  const runs: ClusterRun[] = [];
  if (maxClusters === 0) return [];
  if (first < 2 || first >= fat.clusterCount + 2) throw corrupt(what, `first cluster ${first} is out of range`);
  // No chain is longer than the volume has clusters: a size claiming more is a lie, and the
  // walk below never goes past what the volume can hold.
  if (maxClusters > fat.clusterCount) {
    if (exact) throw corrupt(what, `needs ${maxClusters} clusters, more than the volume's ${fat.clusterCount}`);
    maxClusters = fat.clusterCount;
  }
  let c = first;
  let n = 0;
  let cur: ClusterRun = { cluster: c, count: 0 };
  for (;;) {
    if (c === cur.cluster + cur.count) cur.count++;
    else {
      runs.push(cur);
      cur = { cluster: c, count: 1 };
    }
    n++;
    if (n >= maxClusters) break;
    const k = fat.contiguousFrom(c, maxClusters - n);
    if (k > 0) {
      cur.count += k;
      n += k;
      c += k;
      if (n >= maxClusters) break;
    }
    const next = fat.nextLoaded(c) ?? (await fat.next(c));
    if (next < 0) {
      if (exact) throw corrupt(what, `cluster chain ends after ${n} clusters, the size needs ${maxClusters}`);
      break;
    }
    c = next;
  }
  runs.push(cur);
  chainRevisit(runs, what);
  return runs;
}
