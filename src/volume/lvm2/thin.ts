/**
 * LVM thin provisioning: a thin pool's metadata (the dm-thin on-disk format, as the kernel's
 * Documentation/admin-guide/device-mapper/thin-provisioning.rst and thin-provisioning-tools
 * describe it) maps each thin device's virtual blocks to blocks of the pool's data LV through
 * two levels of persistent-data B-trees: device id → the device's mapping tree; virtual block →
 * `block_time` (data block << 24 | time). Unmapped blocks read as zeros.
 *
 * Checked as hostile input: the superblock magic and sizes, every node's own block number,
 * flags, entry counts against the node size, depth (a loop is an error), and every data block
 * against the data LV's end. Checksums (crc32c) are not verified: the structure checks catch
 * what would misread.
 */
import { corrupt } from '../../errors.js';
import { Lru } from '../../source/lru.js';
import { readExact, readSpan, type ByteSource } from '../../source/source.js';

export const THIN_SUPERBLOCK_MAGIC = 27022010n;
const META_BLOCK = 4096;
const NODE_HEADER = 32;
const INTERNAL_NODE = 1;
const LEAF_NODE = 2;
const MAX_DEPTH = 16;
const NODE_CACHE = 4096;

/** thin_disk_superblock (the fields read). */
export interface ThinSuperblock {
  magic: bigint;
  version: number;
  transaction_id: bigint;
  data_mapping_root: number;
  device_details_root: number;
  /** Sectors per data block. */
  data_block_size: number;
  metadata_block_size: number;
  metadata_nr_blocks: number;
}

/** node_header of a persistent-data B-tree node. */
interface BtreeNode {
  flags: number;
  blocknr: number;
  nr_entries: number;
  max_entries: number;
  value_size: number;
  buf: Buffer;
}

export class ThinPool {
  private readonly nodes = new Lru<number, BtreeNode>(NODE_CACHE);
  private constructor(
    readonly name: string,
    private readonly meta: ByteSource,
    readonly data: ByteSource,
    readonly sb: ThinSuperblock,
    /** Bytes per data block. */
    readonly blockBytes: number,
  ) {}

  static async open(name: string, meta: ByteSource, data: ByteSource, chunkBytes: number): Promise<ThinPool> {
    const b = await readExact(meta, 0, 512, 'thin pool superblock');
    const sb: ThinSuperblock = {
      magic: b.readBigUInt64LE(32),
      version: b.readUInt32LE(40),
      transaction_id: b.readBigUInt64LE(48),
      data_mapping_root: safe(b.readBigUInt64LE(320), name, 'data mapping root'),
      device_details_root: safe(b.readBigUInt64LE(328), name, 'device details root'),
      data_block_size: b.readUInt32LE(336),
      metadata_block_size: b.readUInt32LE(340),
      metadata_nr_blocks: safe(b.readBigUInt64LE(344), name, 'metadata size'),
    };
    if (sb.magic !== THIN_SUPERBLOCK_MAGIC) throw corrupt(name, 'thin pool metadata has no superblock (wrong magic)');
    if (sb.version < 1 || sb.version > 2) throw corrupt(name, `thin pool metadata version ${sb.version} is not 1 or 2`);
    if (sb.metadata_block_size !== META_BLOCK / 512) throw corrupt(name, `thin pool metadata block size ${sb.metadata_block_size} sectors is not 8`);
    const blockBytes = sb.data_block_size * 512;
    // dm-thin's block sizes: 64 KiB to 1 GiB, multiples of 64 KiB.
    if (blockBytes < 65536 || blockBytes > 1 << 30 || blockBytes % 65536) throw corrupt(name, `thin pool data block size ${blockBytes} is invalid`);
    if (chunkBytes && chunkBytes !== blockBytes) throw corrupt(name, `thin pool chunk size ${chunkBytes} (LVM metadata) differs from the pool's data block size ${blockBytes}`);
    return new ThinPool(name, meta, data, sb, blockBytes);
  }

  private async node(block: number): Promise<BtreeNode> {
    const hit = this.nodes.get(block);
    if (hit) return hit;
    if (block <= 0 || block >= this.sb.metadata_nr_blocks) throw corrupt(this.name, `thin pool B-tree points to block ${block}, outside the metadata`);
    const buf = await readExact(this.meta, block * META_BLOCK, META_BLOCK, 'thin pool B-tree node');
    const n: BtreeNode = {
      flags: buf.readUInt32LE(4),
      blocknr: safe(buf.readBigUInt64LE(8), this.name, 'node block number'),
      nr_entries: buf.readUInt32LE(16),
      max_entries: buf.readUInt32LE(20),
      value_size: buf.readUInt32LE(24),
      buf,
    };
    if (n.blocknr !== block) throw corrupt(this.name, `thin pool B-tree node at block ${block} says it is block ${n.blocknr}`);
    if (n.flags !== INTERNAL_NODE && n.flags !== LEAF_NODE) throw corrupt(this.name, `thin pool B-tree node ${block} has flags ${n.flags}`);
    if (n.value_size !== 8 && !(n.flags === LEAF_NODE && n.value_size === 24)) throw corrupt(this.name, `thin pool B-tree node ${block}: value size ${n.value_size}`);
    if (n.nr_entries > n.max_entries || NODE_HEADER + n.max_entries * (8 + n.value_size) > META_BLOCK) {
      throw corrupt(this.name, `thin pool B-tree node ${block}: ${n.nr_entries} of ${n.max_entries} entries do not fit a block`);
    }
    this.nodes.set(block, n);
    return n;
  }

  /** The 8-byte value stored under `key` in the tree at `root`, or null. */
  async lookup(root: number, key: bigint): Promise<bigint | null> {
    let block = root;
    for (let depth = 0; depth < MAX_DEPTH; depth++) {
      const n = await this.node(block);
      // The last key ≤ `key` (binary search; keys are sorted).
      let lo = 0;
      let hi = n.nr_entries - 1;
      let at = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (n.buf.readBigUInt64LE(NODE_HEADER + mid * 8) <= key) {
          at = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (at < 0) return null;
      const value = n.buf.readBigUInt64LE(NODE_HEADER + n.max_entries * 8 + at * n.value_size);
      if (n.flags === LEAF_NODE) return n.buf.readBigUInt64LE(NODE_HEADER + at * 8) === key ? value : null;
      block = safe(value, this.name, 'child block');
    }
    throw corrupt(this.name, `thin pool B-tree deeper than ${MAX_DEPTH} levels (a loop?)`);
  }

  /** The thin device `id` as `size` bytes, or an error naming it when the pool does not hold it. */
  async device(id: number, size: number, name: string): Promise<ByteSource> {
    const root = await this.lookup(this.sb.data_mapping_root, BigInt(id));
    if (root === null) throw corrupt(this.name, `thin pool holds no device ${id} (for ${name})`);
    return new ThinSource(name, size, this, safe(root, this.name, 'device root'));
  }

  /** The data block a virtual block maps to, or -1. */
  async map(root: number, vblock: number): Promise<number> {
    const v = await this.lookup(root, BigInt(vblock));
    if (v === null) return -1;
    const block = Number(v >> 24n);
    if ((block + 1) * this.blockBytes > this.data.size) throw corrupt(this.name, `thin block ${vblock} maps to data block ${block}, past the end of the pool's data`);
    return block;
  }
}

function safe(v: bigint, file: string, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `thin pool ${what} ${v} is out of range`);
  return Number(v);
}

/** A thin LV: each block through the pool's mapping; unmapped blocks are zeros. */
class ThinSource implements ByteSource {
  constructor(readonly name: string, readonly size: number, private readonly pool: ThinPool, private readonly root: number) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(n);
    await this.readInto(out, 0, offset, n);
    return out;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    const bs = this.pool.blockBytes;
    for (let done = 0; done < n; ) {
      const pos = offset + done;
      const vblock = Math.floor(pos / bs);
      const within = pos - vblock * bs;
      const len = Math.min(bs - within, n - done);
      const d = await this.pool.map(this.root, vblock);
      if (d < 0) target.fill(0, at + done, at + done + len);
      else {
        const b = await readExact(this.pool.data, d * bs + within, len, 'thin data block');
        b.copy(target, at + done);
      }
      done += len;
    }
    return n;
  }

  async close(): Promise<void> {}
}
