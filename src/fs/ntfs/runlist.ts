/**
 * Run lists (mapping pairs) of non-resident attributes: which clusters hold which part of
 * a stream. See docs/formats/ntfs.md "Run lists".
 */
import { corrupt } from '../../errors.js';
import { HOLE, type Extent } from '../../source/extents.js';

export interface Run {
  /** First virtual cluster (within the stream) of this run. */
  vcn: number;
  /** First logical cluster on the volume, or null for a sparse run (a hole: zeros). */
  lcn: number | null;
  length: number;
}

function readUnsigned(b: Buffer, at: number, n: number): number {
  let v = 0;
  for (let i = n - 1; i >= 0; i--) v = v * 256 + b[at + i]!;
  return v;
}

function readSigned(b: Buffer, at: number, n: number): number {
  let v = readUnsigned(b, at, n);
  if (b[at + n - 1]! & 0x80) v -= 2 ** (8 * n);
  return v;
}

/**
 * Decodes the mapping pairs in b[start, end): each pair is a header byte (low nibble =
 * bytes of the run length, high nibble = bytes of the signed LCN delta, 0 = sparse),
 * then the two numbers. A zero header byte ends the list.
 */
export function decodeRunList(b: Buffer, start: number, end: number, firstVcn: number, totalClusters: number, name: string): Run[] {
  const runs: Run[] = [];
  let at = start;
  let vcn = firstVcn;
  let lcn = 0;
  const stop = Math.min(end, b.length);
  while (at < stop) {
    const h = b[at]!;
    if (h === 0) break;
    const lenBytes = h & 0x0f;
    const offBytes = h >> 4;
    if (lenBytes === 0 || lenBytes > 8 || offBytes > 8 || at + 1 + lenBytes + offBytes > stop) {
      throw corrupt(name, `bad run list (header byte 0x${h.toString(16)} at offset ${at - start})`);
    }
    const length = readUnsigned(b, at + 1, lenBytes);
    if (!Number.isSafeInteger(length) || length <= 0 || length > totalClusters) {
      throw corrupt(name, `bad run list: run of ${length} clusters`);
    }
    if (offBytes === 0) {
      runs.push({ vcn, lcn: null, length });
    } else {
      lcn += readSigned(b, at + 1 + lenBytes, offBytes);
      if (!Number.isSafeInteger(lcn) || lcn < 0 || lcn + length > totalClusters) {
        throw corrupt(name, `run list points outside the volume (clusters ${lcn}…${lcn + length}, volume has ${totalClusters})`);
      }
      runs.push({ vcn, lcn, length });
    }
    vcn += length;
    at += 1 + lenBytes + offBytes;
  }
  return runs;
}

/** Index of the run holding `vcn` (runs sorted by vcn), or -1. */
export function findRun(runs: Run[], vcn: number): number {
  let lo = 0;
  let hi = runs.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = runs[mid]!;
    if (vcn < r.vcn) hi = mid - 1;
    else if (vcn >= r.vcn + r.length) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/**
 * A run list as byte extents of the volume (src/source/extents.ts), sparse runs as HOLEs,
 * runs that continue each other joined. decodeRunList's runs are in VCN order and bounded
 * by the volume's clusters, as ExtentSource needs.
 */
export function runExtents(runs: readonly Run[], clusterSize: number): Extent[] {
  const out: Extent[] = [];
  for (const r of runs) {
    const e: Extent = { logical: r.vcn * clusterSize, physical: r.lcn === null ? HOLE : r.lcn * clusterSize, length: r.length * clusterSize };
    const last = out[out.length - 1];
    if (last && last.logical + last.length === e.logical && (last.physical === HOLE ? e.physical === HOLE : e.physical === last.physical + last.length)) last.length += e.length;
    else out.push(e);
  }
  return out;
}
