/**
 * The sector ciphers (native binding and JavaScript form) against node:crypto with one context
 * per sector (the obviously right form): AES-128/256-XTS and AES-CBC with plain64 and ESSIV IVs,
 * 512/4096-byte sectors, IVs counting sectors or 512-byte units, unaligned buffers.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { makeSectorCipher } from '../../src/volume/crypt/cipher-spec.js';
import { decryptSectorsOneByOne, nativeCryptoInUse, useNativeCrypto } from '../../src/volume/crypt/sector-cipher.js';

function le64(n: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

const cases = [
  { spec: 'aes-xts-plain64', keyBytes: 64, alg: 'aes-256-xts' },
  { spec: 'aes-xts-plain64', keyBytes: 32, alg: 'aes-128-xts' },
  { spec: 'aes-cbc-essiv:sha256', keyBytes: 32, alg: 'aes-256-cbc' },
  { spec: 'aes-cbc-plain64', keyBytes: 16, alg: 'aes-128-cbc' },
];

afterAll(() => useNativeCrypto(true));

it('the native binding was built and is used', () => {
  useNativeCrypto(true);
  expect(nativeCryptoInUse()).toBe(true);
});

describe.each([true, false])('native %s', (nat) => {
  for (const c of cases) {
    for (const ss of [512, 4096]) {
      for (const step of [1, ss / 512]) {
        it(`${c.spec} ${c.keyBytes * 8}-bit, ${ss}-byte sectors, IV step ${step}`, () => {
          useNativeCrypto(nat);
          const key = randomBytes(c.keyBytes);
          const first = 1_000_003;
          const ivOf = (i: number) => {
            const n = first + i * step;
            if (c.spec.includes('essiv')) {
              const e = createCipheriv('aes-256-ecb', createHash('sha256').update(key).digest(), null).setAutoPadding(false);
              return e.update(le64(n));
            }
            return le64(n);
          };
          const data = randomBytes(ss * 9);
          const want = decryptSectorsOneByOne(c.alg, key, data, ss, (s) => ivOf(s), 0);
          const cipher = makeSectorCipher(c.spec, key, ss, 'test', step);
          // At an odd offset inside a bigger buffer: the JavaScript form must copy to align.
          const buf = Buffer.alloc(data.length + 7);
          data.copy(buf, 3);
          cipher.decrypt(buf, 3, data.length, first);
          expect(buf.subarray(3, 3 + data.length).equals(want)).toBe(true);
          expect(buf.subarray(0, 3).equals(Buffer.alloc(3))).toBe(true);
        });
      }
    }
  }
});

describe('in the thread pool (decryptAsync, native)', () => {
  for (const c of cases) {
    it(`${c.spec} ${c.keyBytes * 8}-bit, 4096-byte sectors, 1 MiB: the same bytes as one context per sector`, async () => {
      useNativeCrypto(true);
      const key = randomBytes(c.keyBytes);
      const ss = 4096;
      const first = 77;
      const ivOf = (i: number) => {
        const n = first + i * 8;
        if (c.spec.includes('essiv')) {
          const e = createCipheriv('aes-256-ecb', createHash('sha256').update(key).digest(), null).setAutoPadding(false);
          return e.update(le64(n));
        }
        return le64(n);
      };
      const data = randomBytes(1 << 20);
      const want = decryptSectorsOneByOne(c.alg, key, data, ss, ivOf, 0);
      const cipher = makeSectorCipher(c.spec, key, ss, 'test', 8);
      const buf = Buffer.from(data);
      // Two at once on halves of one buffer, as the pump's reads ahead do.
      await Promise.all([cipher.decryptAsync!(buf, 0, 1 << 19, first), cipher.decryptAsync!(buf, 1 << 19, 1 << 19, first + (1 << 19) / ss * 8)]);
      expect(buf.equals(want)).toBe(true);
    });
  }
});
