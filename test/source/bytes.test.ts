import { describe, expect, it } from 'vitest';
import { crc32c, crc32cUpdate, formatGuid, guidBytes, isZeroGuid, u64beSafe, u64le, u64leAtMost, u64leSafe } from '../../src/source/bytes.js';
import { readIntoSpan, readSpan } from '../../src/source/source.js';

describe('CRC-32C', () => {
  // Check values from RFC 3720 (iSCSI) appendix B.4 and the CRC catalogue's "123456789".
  it('gives the published check values', () => {
    expect(crc32c(Buffer.from('123456789'))).toBe(0xe3069283);
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.alloc(32, 0xff))).toBe(0x62a8ab43);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => i)))).toBe(0x46dd794e);
    expect(crc32c(Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i)))).toBe(0x113fdb5c);
  });

  it('is the same on every alignment and length (the word path and the byte path agree)', () => {
    const big = Buffer.from(Array.from({ length: 4096 + 16 }, (_, i) => (i * 131 + 7) & 0xff));
    const want = (b: Buffer) => {
      let c = 0xffffffff;
      for (const x of b) {
        c ^= x;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    for (const start of [0, 1, 3, 4, 8]) for (const len of [0, 7, 63, 64, 65, 1000, 4096]) {
      const b = big.subarray(start, start + len);
      expect(crc32c(b)).toBe(want(b));
    }
  });

  it('takes the stored checksum field as zeros (VHDX headers), also where it is cut by the end', () => {
    const b = Buffer.from(Array.from({ length: 100 }, (_, i) => i + 1));
    for (const at of [0, 4, 50, 96, 98]) {
      const z = Buffer.from(b);
      z.fill(0, at, Math.min(z.length, at + 4));
      expect(crc32c(b, at)).toBe(crc32c(z));
    }
    expect((crc32cUpdate(0xffffffff, Buffer.from('123456789')) ^ 0xffffffff) >>> 0).toBe(0xe3069283);
  });
});

describe('GUIDs', () => {
  // The EFI system partition type as UEFI 2.x names it, and its bytes on disk (GPT entries).
  const esp = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex');
  it('formats the on-disk mixed-endian form as sgdisk prints it, and parses it back', () => {
    expect(formatGuid(esp)).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(formatGuid(Buffer.concat([Buffer.alloc(3), esp]), 3)).toBe('C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
    expect(guidBytes('{c12a7328-f81f-11d2-ba4b-00a0c93ec93b}').equals(esp)).toBe(true);
    expect(isZeroGuid(Buffer.alloc(16))).toBe(true);
    expect(isZeroGuid(esp)).toBe(false);
  });
});

describe('64-bit integers', () => {
  const b = Buffer.alloc(8);
  it('reads exact values below 2^53 and clamps or refuses larger ones', () => {
    b.writeBigUInt64LE(2n ** 53n - 1n);
    expect(u64le(b, 0)).toBe(Number.MAX_SAFE_INTEGER);
    expect(u64leSafe(b, 0)).toBe(Number.MAX_SAFE_INTEGER);
    b.writeBigUInt64LE(0x123456789abcn);
    expect(u64leSafe(b, 0)).toBe(0x123456789abc);
    expect(u64leAtMost(b, 0, 2 ** 48, 'x.img', 'absurd size')).toBe(0x123456789abc);
    expect(() => u64leAtMost(b, 0, 1000, 'x.img', 'absurd size')).toThrow(`absurd size ${0x123456789abc}`);
    b.writeBigUInt64LE(2n ** 64n - 1n);
    expect(u64leSafe(b, 0)).toBe(Number.MAX_SAFE_INTEGER);
    expect(() => u64leAtMost(b, 0, Number.MAX_SAFE_INTEGER, 'x.img', 'absurd size')).toThrow('absurd size 18446744073709551615');
    b.writeBigUInt64BE(2n ** 53n);
    expect(u64beSafe(b, 0)).toBe(Number.MAX_SAFE_INTEGER);
    b.writeBigUInt64BE(0xfedcba987654n);
    expect(u64beSafe(b, 0)).toBe(0xfedcba987654);
  });
});

describe('the read clamp every source starts with', () => {
  it('gives nothing at or past the end and for empty requests, else up to the end and the target', () => {
    expect(readSpan(100, 100, 10)).toBe(0);
    expect(readSpan(100, 0, 0)).toBe(0);
    expect(readSpan(100, 95, 10)).toBe(5);
    expect(readSpan(100, 10, 10)).toBe(10);
    expect(readIntoSpan(100, 10, 50, Buffer.alloc(20), 5)).toBe(15);
    expect(readIntoSpan(100, 150, 50, Buffer.alloc(20), 5)).toBe(0);
  });
});
