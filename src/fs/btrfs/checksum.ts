/**
 * The four checksum algorithms a Btrfs volume may use (superblock csum_type) for its
 * superblock, tree blocks and data sectors: crc32c (the default), xxhash64, sha256 and
 * blake2b (BLAKE2b with a 256-bit digest). crc32c is ext's implementation; sha256 comes from
 * node:crypto; node:crypto only offers BLAKE2b-512 (a different function, not a prefix of
 * BLAKE2b-256) and no xxhash, so those two are small implementations here, checked against
 * `b2sum -l 256` and against images made by `mkfs.btrfs --csum` (test/btrfs).
 */
import { createHash } from 'node:crypto';
import { crc32cUpdate } from '../ext/crc32c.js';

export const CSUM_TYPE_NAMES = ['crc32c', 'xxhash64', 'sha256', 'blake2b'] as const;
/** Stored checksum bytes per type (the on-disk fields are 32 bytes, zero-padded). */
export const CSUM_SIZES = [4, 8, 32, 32] as const;

/** The checksum of buf[start … end) as it is stored on disk. */
export function computeCsum(type: number, buf: Buffer, start: number, end: number): Buffer {
  switch (type) {
    case 0: {
      const out = Buffer.allocUnsafe(4);
      out.writeUInt32LE((crc32cUpdate(0xffffffff, buf, start, end) ^ 0xffffffff) >>> 0, 0);
      return out;
    }
    case 1: {
      const out = Buffer.allocUnsafe(8);
      out.writeBigUInt64LE(xxhash64(buf, start, end), 0);
      return out;
    }
    case 2:
      return createHash('sha256').update(buf.subarray(start, end)).digest();
    case 3:
      return blake2b256(buf.subarray(start, end));
    default:
      throw new Error(`unknown checksum type ${type}`);
  }
}

/** True when buf[start … end) has the checksum stored at stored[at …]. */
export function csumMatches(type: number, buf: Buffer, start: number, end: number, stored: Buffer, at: number): boolean {
  if (type === 0) return ((crc32cUpdate(0xffffffff, buf, start, end) ^ 0xffffffff) >>> 0) === stored.readUInt32LE(at);
  const c = computeCsum(type, buf, start, end);
  return c.equals(stored.subarray(at, at + c.length));
}

// ---- xxHash64 (Yann Collet's specification, xxhash_spec.md) ----

const M64 = (1n << 64n) - 1n;
const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

const rotl64 = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & M64;
const round64 = (acc: bigint, input: bigint): bigint => (rotl64((acc + input * P2) & M64, 31n) * P1) & M64;
const merge64 = (acc: bigint, v: bigint): bigint => (((acc ^ round64(0n, v)) * P1) & M64) + P4 & M64;

export function xxhash64(buf: Buffer, start = 0, end = buf.length, seed = 0n): bigint {
  const len = end - start;
  let p = start;
  let h: bigint;
  if (len >= 32) {
    let v1 = (seed + P1 + P2) & M64;
    let v2 = (seed + P2) & M64;
    let v3 = seed;
    let v4 = (seed - P1) & M64;
    for (; p + 32 <= end; p += 32) {
      v1 = round64(v1, buf.readBigUInt64LE(p));
      v2 = round64(v2, buf.readBigUInt64LE(p + 8));
      v3 = round64(v3, buf.readBigUInt64LE(p + 16));
      v4 = round64(v4, buf.readBigUInt64LE(p + 24));
    }
    h = (rotl64(v1, 1n) + rotl64(v2, 7n) + rotl64(v3, 12n) + rotl64(v4, 18n)) & M64;
    h = merge64(h, v1);
    h = merge64(h, v2);
    h = merge64(h, v3);
    h = merge64(h, v4);
  } else {
    h = (seed + P5) & M64;
  }
  h = (h + BigInt(len)) & M64;
  for (; p + 8 <= end; p += 8) {
    h ^= round64(0n, buf.readBigUInt64LE(p));
    h = ((rotl64(h, 27n) * P1) & M64) + P4 & M64;
  }
  if (p + 4 <= end) {
    h ^= (BigInt(buf.readUInt32LE(p)) * P1) & M64;
    h = ((rotl64(h, 23n) * P2) & M64) + P3 & M64;
    p += 4;
  }
  for (; p < end; p++) {
    h ^= (BigInt(buf[p]!) * P5) & M64;
    h = (rotl64(h, 11n) * P1) & M64;
  }
  h ^= h >> 33n;
  h = (h * P2) & M64;
  h ^= h >> 29n;
  h = (h * P3) & M64;
  h ^= h >> 32n;
  return h;
}

// ---- BLAKE2b (RFC 7693) with a 32-byte digest, no key ----

const IV = [
  0x6a09e667f3bcc908n, 0xbb67ae8584caa73bn, 0x3c6ef372fe94f82bn, 0xa54ff53a5f1d36f1n,
  0x510e527fade682d1n, 0x9b05688c2b3e6c1fn, 0x1f83d9abfb41bd6bn, 0x5be0cd19137e2179n,
];
const SIGMA = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
  [14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3],
  [11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4],
  [7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8],
  [9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13],
  [2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9],
  [12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11],
  [13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10],
  [6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5],
  [10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0],
];
const rotr64 = (x: bigint, r: bigint): bigint => ((x >> r) | (x << (64n - r))) & M64;

function compress(h: bigint[], block: Buffer, t: bigint, last: boolean): void {
  const m: bigint[] = [];
  for (let i = 0; i < 16; i++) m.push(block.readBigUInt64LE(i * 8));
  const v = [...h, ...IV];
  v[12] = v[12]! ^ (t & M64);
  v[13] = v[13]! ^ (t >> 64n);
  if (last) v[14] = v[14]! ^ M64;
  const g = (a: number, b: number, c: number, d: number, x: bigint, y: bigint) => {
    v[a] = (v[a]! + v[b]! + x) & M64;
    v[d] = rotr64(v[d]! ^ v[a]!, 32n);
    v[c] = (v[c]! + v[d]!) & M64;
    v[b] = rotr64(v[b]! ^ v[c]!, 24n);
    v[a] = (v[a]! + v[b]! + y) & M64;
    v[d] = rotr64(v[d]! ^ v[a]!, 16n);
    v[c] = (v[c]! + v[d]!) & M64;
    v[b] = rotr64(v[b]! ^ v[c]!, 63n);
  };
  for (let r = 0; r < 12; r++) {
    const s = SIGMA[r % 10]!;
    g(0, 4, 8, 12, m[s[0]!]!, m[s[1]!]!);
    g(1, 5, 9, 13, m[s[2]!]!, m[s[3]!]!);
    g(2, 6, 10, 14, m[s[4]!]!, m[s[5]!]!);
    g(3, 7, 11, 15, m[s[6]!]!, m[s[7]!]!);
    g(0, 5, 10, 15, m[s[8]!]!, m[s[9]!]!);
    g(1, 6, 11, 12, m[s[10]!]!, m[s[11]!]!);
    g(2, 7, 8, 13, m[s[12]!]!, m[s[13]!]!);
    g(3, 4, 9, 14, m[s[14]!]!, m[s[15]!]!);
  }
  for (let i = 0; i < 8; i++) h[i] = h[i]! ^ v[i]! ^ v[i + 8]!;
}

export function blake2b256(data: Buffer): Buffer {
  const outLen = 32;
  const h = [...IV];
  h[0] = h[0]! ^ BigInt(0x01010000 ^ outLen);
  const block = Buffer.alloc(128);
  let off = 0;
  // Every block but the last is compressed as it comes; the last (possibly empty, zero-padded) gets the final flag.
  while (data.length - off > 128) {
    data.copy(block, 0, off, off + 128);
    off += 128;
    compress(h, block, BigInt(off), false);
  }
  block.fill(0);
  data.copy(block, 0, off);
  compress(h, block, BigInt(data.length), true);
  const out = Buffer.alloc(64);
  for (let i = 0; i < 8; i++) out.writeBigUInt64LE(h[i]!, i * 8);
  return out.subarray(0, outLen);
}
