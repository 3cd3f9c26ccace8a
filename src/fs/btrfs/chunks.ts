/**
 * Btrfs addresses everything (tree blocks, file data) by "logical" byte numbers; struct
 * btrfs_chunk items map each range of them to stripes on devices. The SYSTEM chunks needed to
 * read the chunk tree sit in the superblock's sys_chunk_array, the rest in the chunk tree
 * (items keyed FIRST_CHUNK_TREE_OBJECTID, CHUNK_ITEM, logical). Profiles: SINGLE, DUP, RAID0,
 * RAID1/1C3/1C4, RAID10 (docs/formats/btrfs.md); RAID5/6 are named and refused.
 */
import { corrupt, unsupported, cannotOpen } from '../../errors.js';
import { readInto, type ByteSource, type HostRun } from '../../source/source.js';
import { hostRunsOf } from '../../source/source.js';

export const CHUNK_ITEM_KEY = 228;
/** Block group / chunk type bits (BTRFS_BLOCK_GROUP_*). */
export const BG = {
  DATA: 1n << 0n,
  SYSTEM: 1n << 1n,
  METADATA: 1n << 2n,
  RAID0: 1n << 3n,
  RAID1: 1n << 4n,
  DUP: 1n << 5n,
  RAID10: 1n << 6n,
  RAID5: 1n << 7n,
  RAID6: 1n << 8n,
  RAID1C3: 1n << 9n,
  RAID1C4: 1n << 10n,
} as const;

export interface Stripe {
  devid: number;
  offset: number;
}

/** One struct btrfs_chunk with its stripes, keyed by its logical start. */
export interface Chunk {
  logical: number;
  length: number;
  type: bigint;
  stripe_len: number;
  num_stripes: number;
  sub_stripes: number;
  stripes: Stripe[];
}

export const CHUNK_ITEM_SIZE = 48;
export const STRIPE_SIZE = 32;

/** Parses a btrfs_chunk at b[o …]; returns it and its byte length. */
export function parseChunk(b: Buffer, o: number, logical: number, file: string): { chunk: Chunk; size: number } {
  if (o + CHUNK_ITEM_SIZE > b.length) throw corrupt(file, `Btrfs chunk item at logical ${logical} is cut short`);
  const num_stripes = b.readUInt16LE(o + 44);
  const size = CHUNK_ITEM_SIZE + num_stripes * STRIPE_SIZE;
  if (num_stripes === 0 || o + size > b.length) throw corrupt(file, `Btrfs chunk item at logical ${logical} has ${num_stripes} stripes that do not fit`);
  const safe = (v: bigint, what: string) => {
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `Btrfs chunk at logical ${logical}: ${what} ${v} is out of range`);
    return Number(v);
  };
  const stripes: Stripe[] = [];
  for (let i = 0; i < num_stripes; i++) {
    const s = o + CHUNK_ITEM_SIZE + i * STRIPE_SIZE;
    stripes.push({ devid: safe(b.readBigUInt64LE(s), 'devid'), offset: safe(b.readBigUInt64LE(s + 8), 'stripe offset') });
  }
  const chunk: Chunk = {
    logical,
    length: safe(b.readBigUInt64LE(o), 'length'),
    type: b.readBigUInt64LE(o + 24),
    stripe_len: safe(b.readBigUInt64LE(o + 16), 'stripe_len'),
    num_stripes,
    sub_stripes: b.readUInt16LE(o + 46),
    stripes,
  };
  if (chunk.length === 0 || chunk.stripe_len === 0 || (chunk.stripe_len & (chunk.stripe_len - 1)) !== 0) {
    throw corrupt(file, `Btrfs chunk at logical ${logical} has length ${chunk.length}, stripe_len ${chunk.stripe_len}`);
  }
  return { chunk, size };
}

export function profileName(type: bigint): string {
  if (type & BG.RAID0) return 'RAID0';
  if (type & BG.RAID1) return 'RAID1';
  if (type & BG.DUP) return 'DUP';
  if (type & BG.RAID10) return 'RAID10';
  if (type & BG.RAID5) return 'RAID5';
  if (type & BG.RAID6) return 'RAID6';
  if (type & BG.RAID1C3) return 'RAID1C3';
  if (type & BG.RAID1C4) return 'RAID1C4';
  return 'SINGLE';
}

/** A piece of a logical range on one device: the copies (mirrors) that hold it, in order of preference. */
export interface PhysicalPiece {
  length: number;
  copies: Stripe[];
}

/** The logical → device map of one filesystem, and reads through it. */
export class ChunkMap {
  private chunks: Chunk[] = [];
  /** The end of the highest chunk: the size of the logical address space. */
  size = 0;

  constructor(
    /** The devices present, by devid. */
    readonly devices: Map<number, ByteSource>,
    private readonly file: string,
  ) {}

  get all(): readonly Chunk[] {
    return this.chunks;
  }

  /** Adds a chunk; the same chunk twice (sys_chunk_array and chunk tree) is kept once; overlaps are damage. */
  add(c: Chunk): void {
    const file = this.file;
    const profile = profileName(c.type);
    if (profile === 'RAID5' || profile === 'RAID6') {
      throw unsupported(file, `Btrfs ${profile} chunks (logical ${c.logical}) are not supported`);
    }
    const need = { SINGLE: 1, DUP: 2, RAID1: 2, RAID1C3: 3, RAID1C4: 4, RAID0: 1, RAID10: 2 }[profile] ?? 1;
    if (c.num_stripes < need || (profile === 'RAID10' && (c.sub_stripes < 2 || c.num_stripes % c.sub_stripes !== 0))) {
      throw corrupt(file, `Btrfs ${profile} chunk at logical ${c.logical} has ${c.num_stripes} stripes`);
    }
    if (!Number.isSafeInteger(c.logical + c.length)) throw corrupt(file, `Btrfs chunk at logical ${c.logical} is out of range`);
    const i = this.indexAfter(c.logical);
    const prev = this.chunks[i - 1];
    if (prev && prev.logical === c.logical && prev.length === c.length) return;
    const next = this.chunks[i];
    if ((prev && prev.logical + prev.length > c.logical) || (next && c.logical + c.length > next.logical)) {
      throw corrupt(file, `Btrfs chunks overlap at logical ${c.logical}`);
    }
    this.chunks.splice(i, 0, c);
    this.size = Math.max(this.size, c.logical + c.length);
  }

  /** Index of the first chunk starting after `logical`. */
  private indexAfter(logical: number): number {
    let lo = 0;
    let hi = this.chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.chunks[mid]!.logical <= logical) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  chunkAt(logical: number): Chunk | null {
    const c = this.chunks[this.indexAfter(logical) - 1];
    return c && logical < c.logical + c.length ? c : null;
  }

  /** The first piece of [logical, logical + length): as much as lies in one stripe, and where its copies are. */
  map(logical: number, length: number): PhysicalPiece {
    const c = this.chunkAt(logical);
    if (!c) throw corrupt(this.file, `Btrfs logical address ${logical} is in no chunk`);
    const off = logical - c.logical;
    let n = Math.min(length, c.logical + c.length - logical);
    const t = c.type;
    if (t & (BG.RAID0 | BG.RAID10)) {
      const sl = c.stripe_len;
      const stripeNr = Math.floor(off / sl);
      const inStripe = off % sl;
      n = Math.min(n, sl - inStripe);
      const groups = t & BG.RAID10 ? c.num_stripes / c.sub_stripes : c.num_stripes;
      const width = t & BG.RAID10 ? c.sub_stripes : 1;
      const first = (stripeNr % groups) * width;
      const row = Math.floor(stripeNr / groups);
      const copies: Stripe[] = [];
      for (let k = 0; k < width; k++) {
        const s = c.stripes[first + k]!;
        copies.push({ devid: s.devid, offset: s.offset + row * sl + inStripe });
      }
      return { length: n, copies };
    }
    // SINGLE uses its one stripe; DUP and RAID1* keep a whole copy on every stripe.
    const copies = (t & (BG.DUP | BG.RAID1 | BG.RAID1C3 | BG.RAID1C4) ? c.stripes : c.stripes.slice(0, 1)).map((s) => ({ devid: s.devid, offset: s.offset + off }));
    return { length: n, copies };
  }

  /** How many copies hold `logical` (metadata with a bad checksum is retried on the others). */
  copies(logical: number): number {
    return this.map(logical, 1).copies.length;
  }

  /** The device of a copy, or null when that device is not among those opened. */
  private device(s: Stripe): ByteSource | null {
    return this.devices.get(s.devid) ?? null;
  }

  /**
   * Reads logical [logical, logical + length) into target[at …]; `mirror` picks the n-th
   * present copy where there are several (0: the first present).
   */
  async readInto(target: Buffer, at: number, logical: number, length: number, mirror = 0): Promise<void> {
    let pos = 0;
    while (pos < length) {
      const p = this.map(logical + pos, length - pos);
      const present = p.copies.filter((s) => this.device(s));
      if (present.length === 0) {
        const ids = [...new Set(p.copies.map((s) => s.devid))].join(', ');
        throw cannotOpen(this.file, `Btrfs logical address ${logical + pos} lies on device ${ids} of the filesystem, which is not among the disks given: add its disk with --disk`);
      }
      const s = present[mirror % present.length]!;
      const dev = this.device(s)!;
      const got = await readInto(dev, target, at + pos, s.offset, p.length);
      if (got < p.length) {
        throw corrupt(this.file, `truncated: Btrfs logical ${logical + pos} maps to device offset ${s.offset + got}, past the end of ${dev.name}`);
      }
      pos += p.length;
    }
  }

  async read(logical: number, length: number, mirror = 0): Promise<Buffer> {
    const b = Buffer.allocUnsafe(length);
    await this.readInto(b, 0, logical, length, mirror);
    return b;
  }

  /** Where logical bytes lie in host files, or null where some piece cannot say. */
  async hostRuns(logical: number, length: number): Promise<HostRun[] | null> {
    const runs: HostRun[] = [];
    let pos = 0;
    while (pos < length) {
      const p = this.map(logical + pos, length - pos);
      const s = p.copies.find((c) => this.device(c));
      if (!s) return null;
      const dev = this.device(s)!;
      if (s.offset + p.length > dev.size) return null;
      const got = await hostRunsOf(dev, s.offset, p.length);
      if (!got) return null;
      runs.push(...got);
      pos += p.length;
    }
    return runs;
  }
}

/** The chunks of the superblock's sys_chunk_array: (struct btrfs_disk_key, struct btrfs_chunk) pairs. */
export function parseSysChunkArray(a: Buffer, file: string): Chunk[] {
  const out: Chunk[] = [];
  let o = 0;
  while (o < a.length) {
    if (o + 17 > a.length) throw corrupt(file, 'Btrfs sys_chunk_array is cut short');
    const type = a[o + 8]!;
    const logical = a.readBigUInt64LE(o + 9);
    if (type !== CHUNK_ITEM_KEY) throw corrupt(file, `Btrfs sys_chunk_array holds a key of type ${type}, not a chunk`);
    if (logical > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, 'Btrfs sys_chunk_array chunk address is out of range');
    const { chunk, size } = parseChunk(a, o + 17, Number(logical), file);
    out.push(chunk);
    o += 17 + size;
  }
  return out;
}
