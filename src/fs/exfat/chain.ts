/**
 * The exFAT FAT and cluster heap (§4.1, §5): cluster chains followed through 32-bit FAT
 * entries, or NoFatChain-contiguous (§6.3.4.2), as byte extents of the volume
 * (src/source/extents.ts). Chains that loop, leave the heap, hit a free or bad cluster, or
 * end early fail with the name of what they belong to.
 */
import { corrupt } from '../../errors.js';
import { ExtentSource, type Extent, type ExtentMap } from '../../source/extents.js';
import { Lru } from '../../source/lru.js';
import type { ByteSource } from '../../source/source.js';

/**
 * A cluster chain resolved as far as a reader has needed so far: big files start streaming at
 * once, and only the FAT blocks actually used are read.
 */
interface Chain {
  what: string;
  /** Byte extents of the volume, one per run of consecutive clusters (the last grows as the walk goes on). */
  extents: Extent[];
  /** Clusters resolved. */
  total: number;
  /** Last cluster resolved. */
  cur: number;
  /** The end-of-chain mark was reached (or the chain is NoFatChain-contiguous). */
  ended: boolean;
  /** Visited clusters, built at the chain's first backward step (a loop needs one). */
  seen: Uint8Array | null;
  /** Longest chain accepted when walking to its end. */
  limit: number;
}

const FAT_BLOCK = 64 * 1024;
const FAT_BLOCKS_CACHED = 64;

export class ClusterHeap {
  private readonly fatBlocks = new Lru<number, Buffer>(FAT_BLOCKS_CACHED);

  constructor(
    private readonly src: ByteSource,
    /** Byte offset of the active FAT. */
    private readonly fatOffset: number,
    private readonly heapOffset: number,
    readonly clusterSize: number,
    readonly clusterCount: number,
  ) {}

  clusterOffset(cluster: number): number {
    return this.heapOffset + (cluster - 2) * this.clusterSize;
  }

  validCluster(c: number): boolean {
    return c >= 2 && c <= this.clusterCount + 1;
  }

  /** The FAT block holding `cluster`'s entry (64 KiB, cached). */
  private async fatBlock(cluster: number): Promise<{ b: Buffer; first: number }> {
    const block = Math.floor((cluster * 4) / FAT_BLOCK);
    let b = this.fatBlocks.get(block);
    if (!b) {
      // The last block may end with the volume: take what is there if it holds the entry.
      b = await this.src.read(this.fatOffset + block * FAT_BLOCK, FAT_BLOCK);
      if (b.length < cluster * 4 - block * FAT_BLOCK + 4) throw corrupt(this.src.name, `truncated: the FAT entry of cluster ${cluster} is past the end of the volume`);
      this.fatBlocks.set(block, b);
    }
    return { b, first: (block * FAT_BLOCK) / 4 };
  }

  /** Starts a chain at `first`; NoFatChain allocations (§6.3.4.2) are one run of `needed` clusters, the FAT unread. */
  private startChain(what: string, first: number, needed: number | null, noFatChain: boolean, limit: number): Chain {
    const c: Chain = { what, extents: [], total: 0, cur: first, ended: false, seen: null, limit };
    if (needed === 0) {
      c.ended = true;
      return c;
    }
    if (!this.validCluster(first)) throw corrupt(what, `first cluster ${first} is outside the cluster heap (2…${this.clusterCount + 1})`);
    if (noFatChain) {
      if (needed === null) throw corrupt(what, 'NoFatChain without a length');
      if (first + needed - 1 > this.clusterCount + 1) throw corrupt(what, `its ${needed} contiguous clusters from ${first} run past the end of the cluster heap`);
      c.extents.push({ logical: 0, physical: this.clusterOffset(first), length: needed * this.clusterSize });
      c.total = needed;
      c.ended = true;
      return c;
    }
    c.extents.push({ logical: 0, physical: this.clusterOffset(first), length: this.clusterSize });
    c.total = 1;
    return c;
  }

  /**
   * Follows the FAT (§4.1.3) until `c` holds `want` clusters, or to the end-of-chain mark when
   * `want` is null. Chains that loop, leave the heap, hit a free or bad cluster, or end early
   * fail with the name of what they belong to.
   */
  private async extendChain(c: Chain, want: number | null): Promise<void> {
    while (want === null || c.total < want) {
      if (c.ended) {
        if (want === null) return;
        throw corrupt(c.what, `cluster chain ends after ${c.total} clusters, ${want} are needed for its length`);
      }
      const { b, first } = await this.fatBlock(c.cur);
      // Walk synchronously while the chain stays inside this FAT block.
      for (;;) {
        const at = (c.cur - first) * 4;
        if (at < 0 || at + 4 > b.length) break;
        const cur = c.cur;
        const next = b.readUInt32LE(at);
        if (next === 0xffffffff) {
          c.ended = true;
          break;
        }
        if (next === 0xfffffff7) throw corrupt(c.what, `cluster chain reaches a bad-cluster mark after cluster ${cur}`);
        if (!this.validCluster(next)) throw corrupt(c.what, `cluster chain leaves the cluster heap: cluster ${cur} points to ${next}`);
        if (want === null && c.total >= c.limit) throw corrupt(c.what, `cluster chain is longer than ${c.limit} clusters`);
        // A chain may never point back into itself (§4.1.3). Any loop needs a backward step,
        // so the visited set is only built at the first one.
        if (next <= cur && !c.seen) {
          c.seen = new Uint8Array(Math.ceil((this.clusterCount + 2) / 8));
          for (const e of c.extents) {
            const from = (e.physical - this.heapOffset) / this.clusterSize + 2;
            for (let x = from; x < from + e.length / this.clusterSize; x++) c.seen[x >>> 3]! |= 1 << (x & 7);
          }
        }
        if (c.seen) {
          if (c.seen[next >>> 3]! & (1 << (next & 7))) throw corrupt(c.what, `cluster chain loops: cluster ${cur} points back to ${next}`);
          c.seen[next >>> 3]! |= 1 << (next & 7);
        }
        if (next === cur + 1) c.extents[c.extents.length - 1]!.length += this.clusterSize;
        else c.extents.push({ logical: c.total * this.clusterSize, physical: this.clusterOffset(next), length: this.clusterSize });
        c.total++;
        c.cur = next;
        if (want !== null && c.total >= want) break;
      }
    }
  }

  /** A whole chain: `needed` clusters long, or to its end mark when null (the root folder). */
  async chain(what: string, first: number, needed: number | null, noFatChain: boolean, limit: number): Promise<Extent[]> {
    const c = this.startChain(what, first, needed, noFatChain, limit);
    await this.extendChain(c, needed);
    return c.extents;
  }

  /** The first `length` bytes of a whole chain as a source (the allocation bitmap, read a byte at a time). */
  async chainSource(what: string, first: number, length: number): Promise<ExtentSource> {
    const extents = await this.chain(what, first, Math.ceil(length / this.clusterSize), false, this.clusterCount);
    return new ExtentSource(this.src, extents, length, this.src.name, { gapsAreErrors: 'exFAT cluster chain' });
  }

  /** Bytes [offset, offset + length) of a chain resolved whole (`extents`) into out[outAt …]. */
  async readChain(extents: Extent[], offset: number, length: number, out: Buffer, outAt: number): Promise<void> {
    const last = extents[extents.length - 1];
    const src = new ExtentSource(this.src, extents, last ? last.logical + last.length : 0, this.src.name, { gapsAreErrors: 'exFAT cluster chain' });
    if ((await src.readInto(out, outAt, offset, length)) < length) throw corrupt(this.src.name, 'exFAT: a read reaches past the end of its cluster chain');
  }

  /**
   * A file's chain as an ExtentMap of its first `needed` clusters, walked as far as reads need
   * (big files start streaming at once, and only the FAT blocks actually used are read);
   * started at the first read, so a damaged chain fails the read, not the open.
   */
  lazyChain(what: string, first: number, needed: number, noFatChain: boolean): ExtentMap {
    const cs = this.clusterSize;
    let chain: Chain | null = null;
    const map = {
      extents: [] as readonly Extent[],
      known: 0,
      extend: async (end: number): Promise<void> => {
        chain ??= this.startChain(what, first, needed, noFatChain, this.clusterCount);
        map.extents = chain.extents;
        await this.extendChain(chain, Math.ceil(end / cs));
        map.known = chain.total * cs;
      },
    };
    return map;
  }

  clear(): void {
    this.fatBlocks.clear();
  }
}
