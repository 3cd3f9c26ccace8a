/**
 * Where a file's blocks are: the ext4 extent tree (inodes.rst/ifork.rst "Extent Tree") and the
 * ext2/3 block map (direct, indirect, double and triple indirect blocks). Both produce one
 * sorted list of byte extents of the volume (src/source/extents.ts), with physically
 * contiguous neighbours merged so file reads become a few large device reads; uninitialized
 * (preallocated) extents are HOLEs, unmapped blocks are left out (holes too).
 */
import { corrupt } from '../../errors.js';
import { HOLE, type Extent } from '../../source/extents.js';
import { crc32cUpdate } from './crc32c.js';

/** A mapping as the tree or block map gives it, in blocks. */
interface BlockRun {
  /** First logical block in the file. */
  logical: number;
  /** First physical block on the volume. */
  physical: number;
  count: number;
  /** An uninitialized (preallocated) extent: reads as zeros. */
  uninit: boolean;
}

/** What the mapping code needs from the filesystem. */
export interface BlockReader {
  readonly blockSize: number;
  readonly blocksCount: number;
  /** One metadata block, through the journal overlay. */
  readBlock(block: number, what: string): Promise<Buffer>;
  /** Reports a checksum mismatch (bounded by the filesystem). */
  warnChecksum(what: string): void;
  readonly metadataCsum: boolean;
}

export const EXT4_EXT_MAGIC = 0xf30a;
/** The kernel never builds trees deeper than this (ext4_extents.h EXT4_MAX_EXTENT_DEPTH). */
const MAX_DEPTH = 5;
/** ee_len above this marks an uninitialized extent of (ee_len - 32768) blocks. */
const EXT_INIT_MAX_LEN = 32768;

/** struct ext4_extent_header: 12 bytes at the start of i_block and of every tree block. */
interface ExtentHeader {
  eh_magic: number;
  eh_entries: number;
  eh_max: number;
  eh_depth: number;
}

function parseHeader(b: Buffer): ExtentHeader {
  return { eh_magic: b.readUInt16LE(0), eh_entries: b.readUInt16LE(2), eh_max: b.readUInt16LE(4), eh_depth: b.readUInt16LE(6) };
}

export function hasExtentHeader(iBlock: Buffer): boolean {
  return iBlock.readUInt16LE(0) === EXT4_EXT_MAGIC;
}

/**
 * Walks the extent tree rooted in i_block. Depth must fall by one per level and every tree
 * block is visited once, so a hostile tree that points back at itself ends with an error.
 * `csumSeed` is the inode's checksum seed for the extent block tails (metadata_csum).
 */
export async function extentTreeExtents(r: BlockReader, iBlock: Buffer, file: string, csumSeed: number, maxLogical: number): Promise<Extent[]> {
  const runs: BlockRun[] = [];
  const visited = new Set<number>();
  const walk = async (node: Buffer, expectDepth: number | null, capacity: number, where: string): Promise<void> => {
    const h = parseHeader(node);
    if (h.eh_magic !== EXT4_EXT_MAGIC) throw corrupt(file, `extent tree: bad header magic in ${where}`);
    if (h.eh_depth > MAX_DEPTH) throw corrupt(file, `extent tree: depth ${h.eh_depth} is too deep`);
    if (expectDepth !== null && h.eh_depth !== expectDepth) throw corrupt(file, `extent tree: depth ${h.eh_depth} in ${where}, expected ${expectDepth}`);
    if (h.eh_entries > h.eh_max || h.eh_max > capacity) throw corrupt(file, `extent tree: ${h.eh_entries} entries (max ${h.eh_max}) do not fit in ${where}`);
    for (let i = 0; i < h.eh_entries; i++) {
      const o = 12 + i * 12;
      if (h.eh_depth === 0) {
        // struct ext4_extent: ee_block, ee_len, ee_start_hi, ee_start_lo.
        const ee_block = node.readUInt32LE(o);
        const ee_len = node.readUInt16LE(o + 4);
        const ee_start = node.readUInt32LE(o + 8) + node.readUInt16LE(o + 6) * 2 ** 32;
        const uninit = ee_len > EXT_INIT_MAX_LEN;
        const count = uninit ? ee_len - EXT_INIT_MAX_LEN : ee_len;
        if (count === 0 || ee_block >= maxLogical) continue;
        if (ee_start + count > r.blocksCount || ee_start === 0) {
          throw corrupt(file, `extent points outside the volume (block ${ee_start}, ${count} blocks)`);
        }
        runs.push({ logical: ee_block, physical: ee_start, count, uninit });
      } else {
        // struct ext4_extent_idx: ei_block, ei_leaf_lo, ei_leaf_hi.
        const leaf = node.readUInt32LE(o + 4) + node.readUInt16LE(o + 8) * 2 ** 32;
        if (leaf === 0 || leaf >= r.blocksCount) throw corrupt(file, `extent index points outside the volume (block ${leaf})`);
        if (visited.has(leaf)) throw corrupt(file, `extent tree loops (block ${leaf} is reached twice)`);
        visited.add(leaf);
        const child = await r.readBlock(leaf, `extent block ${leaf}`);
        const childCap = Math.floor((r.blockSize - 12) / 12);
        if (r.metadataCsum) {
          // struct ext4_extent_tail follows eh_max entries: crc32c(inode seed, block up to it).
          const ch = parseHeader(child);
          const tailAt = 12 + ch.eh_max * 12;
          if (ch.eh_magic === EXT4_EXT_MAGIC && tailAt + 4 <= child.length) {
            if (crc32cUpdate(csumSeed, child.subarray(0, tailAt)) !== child.readUInt32LE(tailAt)) r.warnChecksum(`extent block ${leaf} of ${file}`);
          }
        }
        await walk(child, h.eh_depth - 1, childCap, `extent block ${leaf}`);
      }
    }
  };
  await walk(iBlock, null, 4, 'the inode');
  return mergeRuns(runs, file, r.blockSize);
}

/**
 * Walks an ext2/3 block map: 12 direct pointers, then one single, one double and one triple
 * indirect block. Zero pointers are holes. Only logical blocks below `maxLogical` (the file
 * size) are followed, which bounds the work on a hostile map.
 */
export async function blockMapExtents(r: BlockReader, iBlock: Buffer, file: string, maxLogical: number, allocatedBlocks: number): Promise<Extent[]> {
  const runs: BlockRun[] = [];
  // i_blocks counts data and indirect blocks alike: a map naming more is hostile, and this
  // budget keeps a forged triple-indirect fan-out from turning into millions of reads.
  let budget = allocatedBlocks + 16;
  const spend = () => {
    if (--budget < 0) throw corrupt(file, 'block map names more blocks than the inode has allocated');
  };
  const per = r.blockSize / 4;
  const add = (logical: number, physical: number) => {
    if (physical >= r.blocksCount) throw corrupt(file, `block map points outside the volume (block ${physical})`);
    spend();
    const last = runs[runs.length - 1];
    if (last && last.logical + last.count === logical && last.physical + last.count === physical) last.count++;
    else runs.push({ logical, physical, count: 1, uninit: false });
  };
  const indirect = async (block: number, level: number, first: number): Promise<void> => {
    if (first >= maxLogical) return;
    if (block >= r.blocksCount) throw corrupt(file, `block map points outside the volume (block ${block})`);
    spend();
    const b = await r.readBlock(block, `indirect block ${block}`);
    const span = per ** (level - 1);
    for (let i = 0; i < per; i++) {
      const logical = first + i * span;
      if (logical >= maxLogical) break;
      const p = b.readUInt32LE(i * 4);
      if (p === 0) continue;
      if (level === 1) add(logical, p);
      else await indirect(p, level - 1, logical);
    }
  };
  for (let i = 0; i < 12 && i < maxLogical; i++) {
    const p = iBlock.readUInt32LE(i * 4);
    if (p !== 0) add(i, p);
  }
  const starts = [12, 12 + per, 12 + per + per * per];
  for (let level = 1; level <= 3; level++) {
    const p = iBlock.readUInt32LE((11 + level) * 4);
    if (p !== 0) await indirect(p, level, starts[level - 1]!);
  }
  return runs.map((x) => byteExtent(x, r.blockSize));
}

function byteExtent(x: BlockRun, bs: number): Extent {
  return { logical: x.logical * bs, physical: x.uninit ? HOLE : x.physical * bs, length: x.count * bs };
}

/** Sorts runs by logical block, rejects overlaps, merges contiguous neighbours. */
function mergeRuns(runs: BlockRun[], file: string, bs: number): Extent[] {
  runs.sort((a, b) => a.logical - b.logical);
  const out: BlockRun[] = [];
  for (const x of runs) {
    const last = out[out.length - 1];
    if (last && x.logical < last.logical + last.count) throw corrupt(file, `extents overlap at logical block ${x.logical}`);
    if (last && last.uninit === x.uninit && last.logical + last.count === x.logical && last.physical + last.count === x.physical) {
      last.count += x.count;
    } else out.push({ ...x });
  }
  return out.map((x) => byteExtent(x, bs));
}
