/**
 * The anti-forensic splitter's merge (LUKS1 On-Disk Format Specification §2.4, "AF-merge"): the
 * key material is `stripes` blocks s_0 … s_{n-1} of the key's size;
 *   d_0 = 0,  d_{i+1} = H(d_i ⊕ s_i) for i < n − 1,  key = d_{n-1} ⊕ s_{n-1},
 * where H ("diffuse") hashes the block in digest-sized pieces, piece i prefixed by i as a
 * big-endian 32-bit number, and a last short piece keeps only as many bytes of its hash.
 */
import { createHash } from 'node:crypto';
import { nativeAfMerge } from '../crypt/sector-cipher.js';

function diffuse(d: Buffer, hash: string, digestSize: number): Buffer {
  const out = Buffer.alloc(d.length);
  const iv = Buffer.alloc(4);
  for (let i = 0, at = 0; at < d.length; i++, at += digestSize) {
    iv.writeUInt32BE(i);
    const piece = d.subarray(at, Math.min(at + digestSize, d.length));
    createHash(hash).update(iv).update(piece).digest().copy(out, at, 0, piece.length);
  }
  return out;
}

export function afMerge(material: Buffer, keyBytes: number, stripes: number, hash: string): Buffer {
  // The binding where built (one OpenSSL digest context instead of one Hash object per piece).
  // A hash OpenSSL does not know by Node's name, or odd sizes: the JavaScript form decides.
  let fast: Buffer | null = null;
  try {
    fast = nativeAfMerge(hash, material, keyBytes, stripes);
  } catch {
    fast = null;
  }
  if (fast) return fast;
  return afMergeJs(material, keyBytes, stripes, hash);
}

/** The same in JavaScript (without the binding; the tests check both agree). */
export function afMergeJs(material: Buffer, keyBytes: number, stripes: number, hash: string): Buffer {
  const digestSize = createHash(hash).digest().length;
  let d: Buffer = Buffer.alloc(keyBytes);
  for (let i = 0; i < stripes - 1; i++) {
    const s = material.subarray(i * keyBytes, (i + 1) * keyBytes);
    for (let j = 0; j < keyBytes; j++) d[j]! ^= s[j]!;
    d = diffuse(d, hash, digestSize);
  }
  const last = material.subarray((stripes - 1) * keyBytes, stripes * keyBytes);
  for (let j = 0; j < keyBytes; j++) d[j]! ^= last[j]!;
  return d;
}
