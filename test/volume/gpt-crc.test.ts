/**
 * The GPT reader's own CRC-32 (src/volume/gpt.ts, which does not load node:zlib at start) against
 * zlib's crc32 as the oracle: random data, data followed by runs of zeros (how an entry array's
 * unused entries are taken in one step), and lengths around the byte and word boundaries.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32 } from '../../src/volume/gpt.js';
import { seededBytes } from '../../scripts/images/tree.js';

describe('GPT CRC-32', () => {
  it('matches zlib on data of every length up to 300 bytes and a 16 KiB array', () => {
    const data = seededBytes(27, 16384);
    for (let n = 0; n <= 300; n++) expect(crc32(data.subarray(0, n))).toBe(zlibCrc32(data.subarray(0, n)) >>> 0);
    expect(crc32(data)).toBe(zlibCrc32(data) >>> 0);
  });

  it('matches zlib on data followed by zeros, the zeros taken in one step', () => {
    const data = seededBytes(28, 1024);
    for (const used of [0, 1, 92, 128, 256, 1000]) {
      for (const zeros of [0, 1, 7, 8, 128, 16384 - used, 100_000]) {
        const whole = Buffer.concat([data.subarray(0, used), Buffer.alloc(zeros)]);
        expect(crc32(whole, used, zeros), `${used} + ${zeros} zeros`).toBe(zlibCrc32(whole) >>> 0);
      }
    }
  });
});
