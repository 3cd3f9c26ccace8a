/**
 * Btrfs B-trees: every tree (root, chunk, fs, csum …) is made of nodes of `nodesize` bytes,
 * each starting with struct btrfs_header. Interior nodes (level > 0) hold struct btrfs_key_ptr
 * (key, blockptr, generation); leaves (level 0) hold struct btrfs_item (key, offset, size)
 * whose data sits at the end of the leaf. A child's level must be its parent's minus one, so
 * a walk is at most 8 levels deep and a loop in the links cannot make it endless.
 */
import { corrupt } from '../../errors.js';
import { csumMatches } from './checksum.js';
import type { ChunkMap } from './chunks.js';
import type { Superblock } from './superblock.js';

export const HEADER_SIZE = 0x65;
const ITEM_SIZE = 25;
const KEY_PTR_SIZE = 33;
export const MAX_LEVEL = 7;
export const U64_MAX = (1n << 64n) - 1n;

/** struct btrfs_disk_key: sorted by objectid, then type, then offset. */
export interface Key {
  objectid: bigint;
  type: number;
  offset: bigint;
}

export interface Item extends Key {
  /** The item's data (a view of the cached leaf). */
  data: Buffer;
}

/** Where a tree starts (a root item's bytenr and level, or the superblock's). */
export interface TreeRoot {
  bytenr: number;
  level: number;
  /** Which tree (objectid of its root item), for messages. */
  id: bigint;
}

export function key(objectid: bigint | number, type: number, offset: bigint | number): Key {
  return { objectid: BigInt(objectid), type, offset: BigInt(offset) };
}

export function cmpKey(a: Key, b: Key): number {
  if (a.objectid !== b.objectid) return a.objectid < b.objectid ? -1 : 1;
  if (a.type !== b.type) return a.type < b.type ? -1 : 1;
  if (a.offset !== b.offset) return a.offset < b.offset ? -1 : 1;
  return 0;
}

/** One verified tree block. */
export class TreeNode {
  constructor(
    readonly bytenr: number,
    readonly level: number,
    readonly owner: bigint,
    readonly generation: bigint,
    readonly nritems: number,
    readonly buf: Buffer,
  ) {}

  keyAt(i: number): Key {
    const o = HEADER_SIZE + i * (this.level === 0 ? ITEM_SIZE : KEY_PTR_SIZE);
    return { objectid: this.buf.readBigUInt64LE(o), type: this.buf[o + 8]!, offset: this.buf.readBigUInt64LE(o + 9) };
  }

  /** Compares item i's key with k without allocating. */
  cmpAt(i: number, k: Key): number {
    const b = this.buf;
    const o = HEADER_SIZE + i * (this.level === 0 ? ITEM_SIZE : KEY_PTR_SIZE);
    const obj = b.readBigUInt64LE(o);
    if (obj !== k.objectid) return obj < k.objectid ? -1 : 1;
    const t = b[o + 8]!;
    if (t !== k.type) return t < k.type ? -1 : 1;
    const off = b.readBigUInt64LE(o + 9);
    if (off !== k.offset) return off < k.offset ? -1 : 1;
    return 0;
  }

  itemData(i: number): Buffer {
    const o = HEADER_SIZE + i * ITEM_SIZE;
    const off = this.buf.readUInt32LE(o + 17);
    const size = this.buf.readUInt32LE(o + 21);
    return this.buf.subarray(HEADER_SIZE + off, HEADER_SIZE + off + size);
  }

  blockptr(i: number): bigint {
    return this.buf.readBigUInt64LE(HEADER_SIZE + i * KEY_PTR_SIZE + 17);
  }

  /** Index of the last key <= k, or -1 when all are greater. */
  lastAtOrBefore(k: Key): number {
    let lo = 0;
    let hi = this.nritems;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cmpAt(mid, k) <= 0) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}

const NODE_CACHE_MAX = 4096;

/** Reads, checks and caches tree blocks, and walks trees. */
export class TreeReader {
  private readonly cache = new Map<number, TreeNode>();

  constructor(
    private map: ChunkMap,
    private readonly sb: Superblock,
    private readonly file: string,
  ) {}

  setMap(map: ChunkMap): void {
    this.map = map;
    this.cache.clear();
  }

  /** The tree block at `bytenr`, which its parent says is at `level`. A copy with a bad checksum is retried on the others (DUP, RAID1). */
  async node(bytenr: number, level: number, tree: bigint): Promise<TreeNode> {
    const hit = this.cache.get(bytenr);
    if (hit) {
      if (hit.level !== level) throw this.bad(bytenr, tree, `is level ${hit.level} where its parent expects ${level}`);
      return hit;
    }
    const ns = this.sb.nodesize;
    if (!Number.isSafeInteger(bytenr) || bytenr <= 0 || bytenr % this.sb.sectorsize !== 0) throw this.bad(bytenr, tree, 'is not a valid address');
    const copies = this.map.copies(bytenr);
    let firstErr: Error | null = null;
    for (let m = 0; m < copies; m++) {
      const buf = await this.map.read(bytenr, ns, m);
      const problem = this.check(buf, bytenr, level);
      if (problem) {
        firstErr ??= this.bad(bytenr, tree, problem);
        continue;
      }
      const node = new TreeNode(bytenr, level, buf.readBigUInt64LE(0x58), buf.readBigUInt64LE(0x50), buf.readUInt32LE(0x60), buf);
      if (this.cache.size >= NODE_CACHE_MAX) {
        let n = NODE_CACHE_MAX / 2;
        for (const k of this.cache.keys()) {
          this.cache.delete(k);
          if (--n === 0) break;
        }
      }
      this.cache.set(bytenr, node);
      return node;
    }
    throw firstErr!;
  }

  private bad(bytenr: number, tree: bigint, what: string): Error {
    return corrupt(this.file, `Btrfs tree block ${bytenr} (tree ${treeName(tree)}) ${what}`);
  }

  /** Why a block is not a sound tree block at `bytenr`/`level`, or null. */
  private check(b: Buffer, bytenr: number, level: number): string | null {
    const ns = this.sb.nodesize;
    if (!csumMatches(this.sb.csum_type, b, 0x20, ns, b, 0)) return 'has a checksum mismatch';
    if (!b.subarray(0x20, 0x30).equals(this.sb.treeFsid)) return 'belongs to another filesystem (fsid)';
    if (b.readBigUInt64LE(0x30) !== BigInt(bytenr)) return `says it is at ${b.readBigUInt64LE(0x30)}`;
    const lvl = b[0x64]!;
    if (lvl !== level) return `is level ${lvl} where its parent expects ${level}`;
    const n = b.readUInt32LE(0x60);
    const room = ns - HEADER_SIZE;
    if (level === 0) {
      if (n * ITEM_SIZE > room) return `claims ${n} items`;
      let dataStart = room;
      for (let i = 0; i < n; i++) {
        const o = HEADER_SIZE + i * ITEM_SIZE;
        const off = b.readUInt32LE(o + 17);
        const size = b.readUInt32LE(o + 21);
        if (off + size > room || off < n * ITEM_SIZE) return `item ${i} data lies outside the block`;
        dataStart = Math.min(dataStart, off);
      }
    } else {
      if (n === 0 || n * KEY_PTR_SIZE > room) return `claims ${n} pointers`;
    }
    // Keys strictly ascending: a search relies on it.
    const step = level === 0 ? ITEM_SIZE : KEY_PTR_SIZE;
    for (let i = 1; i < n; i++) {
      const a = HEADER_SIZE + (i - 1) * step;
      const c = HEADER_SIZE + i * step;
      const oa = b.readBigUInt64LE(a);
      const oc = b.readBigUInt64LE(c);
      if (oa < oc) continue;
      if (oa === oc) {
        if (b[a + 8]! < b[c + 8]!) continue;
        if (b[a + 8] === b[c + 8] && b.readBigUInt64LE(a + 9) < b.readBigUInt64LE(c + 9)) continue;
      }
      return `has keys out of order at ${i}`;
    }
    return null;
  }

  /**
   * The items with min <= key <= max, in key order. With `fromPrevious`, starts at the last
   * item before min when none equals it (a csum item covering an address, an extent that
   * begins before an offset).
   */
  async *items(root: TreeRoot, min: Key, max: Key, fromPrevious = false): AsyncGenerator<Item> {
    if (root.level > MAX_LEVEL) throw corrupt(this.file, `Btrfs tree ${treeName(root.id)} has level ${root.level}`);
    yield* this.walk(root.bytenr, root.level, root.id, min, max, fromPrevious);
  }

  private async *walk(bytenr: number, level: number, tree: bigint, min: Key, max: Key, fromPrevious: boolean): AsyncGenerator<Item> {
    const node = await this.node(bytenr, level, tree);
    if (level === 0) {
      let i = node.lastAtOrBefore(min);
      if (i < 0 || (!fromPrevious && node.cmpAt(i, min) < 0)) i++;
      for (; i < node.nritems; i++) {
        if (node.cmpAt(i, max) > 0) return;
        const k = node.keyAt(i);
        yield { objectid: k.objectid, type: k.type, offset: k.offset, data: node.itemData(i) };
      }
      return;
    }
    let i = Math.max(0, node.lastAtOrBefore(min));
    for (; i < node.nritems; i++) {
      if (i > 0 && node.cmpAt(i, max) > 0) return;
      const child = node.blockptr(i);
      if (child > BigInt(Number.MAX_SAFE_INTEGER)) throw this.bad(bytenr, tree, `points to ${child}`);
      yield* this.walk(Number(child), level - 1, tree, min, max, fromPrevious && i === Math.max(0, node.lastAtOrBefore(min)));
    }
  }

  /** The first item with min <= key <= max, or null. */
  async first(root: TreeRoot, min: Key, max: Key): Promise<Item | null> {
    for await (const it of this.items(root, min, max)) return it;
    return null;
  }

  /** Exactly the item with key k, or null. */
  find(root: TreeRoot, k: Key): Promise<Item | null> {
    return this.first(root, k, k);
  }
}

const TREE_NAMES: Record<string, string> = { '1': 'root', '2': 'extent', '3': 'chunk', '4': 'dev', '5': 'fs', '7': 'csum', '9': 'uuid', '10': 'free space' };

export function treeName(id: bigint): string {
  return TREE_NAMES[String(id)] ?? String(id);
}
