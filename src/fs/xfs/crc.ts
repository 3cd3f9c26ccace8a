/**
 * XFS metadata checksums: CRC32C of the whole structure with its 4-byte checksum field counted
 * as zeros, inverted at the end, stored little-endian (the one little-endian field in an
 * otherwise big-endian format). Uses the shared CRC32C of the ext reader.
 */
import { crc32cUpdate, crc32cZeros } from '../ext/crc32c.js';

/** True when `b`'s checksum at `at` matches the CRC32C of `b` with that field as zeros. */
export function xfsCrcOk(b: Buffer, at: number): boolean {
  if (at + 4 > b.length) return false;
  let c = crc32cUpdate(0xffffffff, b, 0, at);
  c = crc32cZeros(c, 4);
  c = crc32cUpdate(c, b, at + 4, b.length);
  return (~c >>> 0) === b.readUInt32LE(at);
}
