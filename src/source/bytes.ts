/**
 * Byte helpers every layer shares: 64-bit integers as Numbers, GUIDs as text, CRC-32C.
 * The lowest layer, so that a container, a volume system and a filesystem read them alike.
 */
import { corrupt } from '../errors.js';

// ---- 64-bit integers ----------------------------------------------------------------------

/** A little-endian u64 as a Number: exact below 2^53, larger values rounded (callers' range checks reject them). */
export function u64le(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * 4294967296;
}

/** A little-endian u64 as a Number, values past 2^53 - 1 read as Number.MAX_SAFE_INTEGER (always out of range later). */
export function u64leSafe(b: Buffer, at: number): number {
  const hi = b.readUInt32LE(at + 4);
  return hi > 0x1fffff ? Number.MAX_SAFE_INTEGER : hi * 4294967296 + b.readUInt32LE(at);
}

/** A big-endian u64 as a Number, values past 2^53 - 1 read as Number.MAX_SAFE_INTEGER. */
export function u64beSafe(b: Buffer, at: number): number {
  const hi = b.readUInt32BE(at);
  return hi > 0x1fffff ? Number.MAX_SAFE_INTEGER : hi * 4294967296 + b.readUInt32BE(at + 4);
}

/**
 * A little-endian u64 no larger than `limit` (at most 2^53 - 1), else a one-line error on
 * `file`: "`what` VALUE" (the value printed exactly).
 */
export function u64leAtMost(b: Buffer, at: number, limit: number, file: string, what: string): number {
  const v = u64leSafe(b, at);
  if (v >= limit) {
    const exact = b.readBigUInt64LE(at);
    if (exact > BigInt(limit)) throw corrupt(file, `${what} ${exact}`);
  }
  return v;
}

// ---- Times --------------------------------------------------------------------------------

/** A point in time with the precision the filesystem stores (FAT: 2 s/10 ms, NTFS: 100 ns, ext4: 1 ns). */
export interface Timespec {
  /** Seconds since 1970-01-01T00:00:00Z; negative before 1970. */
  sec: number;
  /** 0 … 999 999 999. */
  nsec: number;
}

/** Converts a count of 100 ns intervals since 1601-01-01 (Windows FILETIME) to a Timespec. */
export function timespecFromFiletime(ft: bigint): Timespec {
  const EPOCH_DIFF = 116444736000000000n;
  const t = ft - EPOCH_DIFF;
  let sec = t / 10_000_000n;
  let rem = t % 10_000_000n;
  if (rem < 0n) {
    rem += 10_000_000n;
    sec -= 1n;
  }
  return { sec: Number(sec), nsec: Number(rem) * 100 };
}

// ---- GUIDs --------------------------------------------------------------------------------

/**
 * A GUID as GPT, VHDX, NTFS and exFAT store it (the first three fields little-endian, the last
 * two as bytes), as text the way sgdisk, blkid and Windows print it (upper case).
 */
export function formatGuid(b: Buffer, at = 0): string {
  const hex = (from: number, to: number) => b.subarray(at + from, at + to).toString('hex');
  const le = (from: number, len: number) => Buffer.from(b.subarray(at + from, at + from + len)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${hex(8, 10)}-${hex(10, 16)}`.toUpperCase();
}

/** The 16 bytes of a GUID written as text ("{…}" and "-" allowed), the inverse of formatGuid. */
export function guidBytes(s: string): Buffer {
  const b = Buffer.from(s.replace(/[{}-]/g, ''), 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

export function isZeroGuid(b: Buffer, at = 0): boolean {
  for (let i = 0; i < 16; i++) if (b[at + i] !== 0) return false;
  return true;
}

// ---- CRC-32C ------------------------------------------------------------------------------

/*
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78): VHDX headers, regions and log
 * entries, ext4's metadata_csum and jbd2's csum_v2/v3. ext4 chains the raw register value
 * through several fields (seed → inode number → generation → inode bytes) without the final
 * inversion, so the raw update is exposed and callers decide where to invert; crc32c() is the
 * whole standard checksum.
 */
/**
 * Slicing-by-8 tables: metadata blocks are checked on every read, so this is hot. Made at the
 * first checksum, not when the module loads: nearly every command loads it, most never use it
 * (~3 800 interpreted steps at every start, issue 27).
 */
let TABLE_: Uint32Array | undefined;
function crc32cTable(): Uint32Array {
  return (TABLE_ ??= makeCrc32cTable());
}

function makeCrc32cTable(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) t[s * 256 + i] = (t[(s - 1) * 256 + i]! >>> 8) ^ t[t[(s - 1) * 256 + i]! & 0xff]!;
  }
  return t;
}

/** Feeds buf[start … end) into the CRC register `crc` (no pre- or post-inversion; a range saves a subarray per call). */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = crc >>> 0;
  let i = start;
  const n = end;
  const T = crc32cTable();
  if ((buf.byteOffset + i) % 4 === 0 && n - i >= 64) {
    // Aligned (whole metadata blocks): two 32-bit loads per 8 bytes instead of eight byte loads.
    // Little-endian words, as the byte loads below assemble them (x86 and ARM Linux).
    const words = new Uint32Array(buf.buffer, buf.byteOffset + i, (n - i) >>> 3 << 1);
    for (let w = 0; w < words.length; w += 2) {
      const lo = (c ^ words[w]!) >>> 0;
      const hi = words[w + 1]!;
      c =
        T[7 * 256 + (lo & 0xff)]! ^
        T[6 * 256 + ((lo >>> 8) & 0xff)]! ^
        T[5 * 256 + ((lo >>> 16) & 0xff)]! ^
        T[4 * 256 + (lo >>> 24)]! ^
        T[3 * 256 + (hi & 0xff)]! ^
        T[2 * 256 + ((hi >>> 8) & 0xff)]! ^
        T[256 + ((hi >>> 16) & 0xff)]! ^
        T[hi >>> 24]!;
    }
    i += words.length * 4;
  }
  for (; i + 8 <= n; i += 8) {
    const lo = (c ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))) >>> 0;
    c =
      T[7 * 256 + (lo & 0xff)]! ^
      T[6 * 256 + ((lo >>> 8) & 0xff)]! ^
      T[5 * 256 + ((lo >>> 16) & 0xff)]! ^
      T[4 * 256 + (lo >>> 24)]! ^
      T[3 * 256 + buf[i + 4]!]! ^
      T[2 * 256 + buf[i + 5]!]! ^
      T[256 + buf[i + 6]!]! ^
      T[buf[i + 7]!]!;
  }
  for (; i < n; i++) c = T[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** Feeds `count` zero bytes (checksum fields counted as zero), without allocating. */
export function crc32cZeros(crc: number, count: number): number {
  let c = crc >>> 0;
  const T = crc32cTable();
  for (let i = 0; i < count; i++) c = T[c & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** Feeds a little-endian 32-bit integer (ext4 checksums an inode number this way), without allocating. */
export function crc32cLe32(crc: number, v: number): number {
  let c = crc >>> 0;
  const T = crc32cTable();
  for (let i = 0; i < 4; i++) c = T[(c ^ ((v >>> (8 * i)) & 0xff)) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** The standard CRC-32C of `buf`, with the 4 bytes at `zeroAt` (a stored checksum) taken as zero. */
export function crc32c(buf: Uint8Array, zeroAt = -1): number {
  let c = 0xffffffff;
  if (zeroAt < 0 || zeroAt >= buf.length) {
    c = crc32cUpdate(c, buf);
  } else {
    c = crc32cUpdate(c, buf, 0, zeroAt);
    c = crc32cZeros(c, Math.min(4, buf.length - zeroAt));
    if (zeroAt + 4 < buf.length) c = crc32cUpdate(c, buf, zeroAt + 4);
  }
  return (c ^ 0xffffffff) >>> 0;
}
