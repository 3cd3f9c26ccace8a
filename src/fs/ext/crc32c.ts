/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum ext4's metadata_csum
 * and jbd2's csum_v2/v3 use. ext4 chains the raw register value through several fields
 * (seed → inode number → generation → inode bytes) without the final inversion, so this
 * module exposes the raw update and callers decide where to invert.
 */
const TABLE = (() => {
  // Slicing-by-8 tables: metadata blocks are checked on every read, so this is hot.
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
})();

/** Feeds buf[start … end) into the CRC register `crc` (no pre- or post-inversion; a range saves a subarray per call). */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = crc >>> 0;
  let i = start;
  const n = end;
  const T = TABLE;
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
  for (let i = 0; i < count; i++) c = TABLE[c & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}

/** Feeds a little-endian 32-bit integer (ext4 checksums an inode number this way), without allocating. */
export function crc32cLe32(crc: number, v: number): number {
  let c = crc >>> 0;
  for (let i = 0; i < 4; i++) c = TABLE[(c ^ ((v >>> (8 * i)) & 0xff)) & 0xff]! ^ (c >>> 8);
  return c >>> 0;
}
