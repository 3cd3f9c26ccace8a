/**
 * The sector ciphers (native binding and JavaScript form) against node:crypto with one context
 * per sector (the obviously right form): AES-128/256-XTS and AES-CBC with plain64 and ESSIV IVs,
 * 512/4096-byte sectors, IVs counting sectors or 512-byte units, unaligned buffers.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeSectorCipher } from '../../src/volume/crypt/cipher-spec.js';
import { DecryptedSource } from '../../src/volume/crypt/decrypted-source.js';
import { decryptSectorsOneByOne, nativeAfMerge, nativeCryptoInUse, useNativeCrypto } from '../../src/volume/crypt/sector-cipher.js';
import { afMerge, afMergeJs } from '../../src/volume/luks/af.js';
import { FileSource } from '../../src/source/file.js';

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

describe('read and decrypt in one pool job (readDecryptAsync, native; issue 22)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'diskpick-fused-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const [spec, keyBytes, alg, bits] of [['aes-xts-plain64', 64, 'aes-256-xts', 64], ['aes-xts-plain', 32, 'aes-128-xts', 32]] as const) {
    it(`${spec}: a host file's bytes at an offset, IVs counted in C (past 2^32), the same as one context per sector`, async () => {
      useNativeCrypto(true);
      const key = randomBytes(keyBytes);
      const ss = 4096;
      const first = 2 ** 32 - 16; // IV numbers cross 2^32: plain cuts them, plain64 does not
      const data = randomBytes(1 << 20);
      const path = join(dir, `${spec}.bin`);
      writeFileSync(path, Buffer.concat([Buffer.alloc(8192, 0xee), data]));
      const ivOf = (i: number) => {
        const n = first + i * 8;
        return le64(bits === 32 ? n % 2 ** 32 : n);
      };
      const want = decryptSectorsOneByOne(alg, key, data, ss, ivOf, 0);
      const cipher = makeSectorCipher(spec, key, ss, 'test', 8);
      const fd = openSync(path, 'r');
      try {
        const buf = Buffer.alloc(data.length + 5);
        await cipher.readDecryptAsync!(fd, 8192, buf, 5, data.length, first);
        expect(buf.subarray(5).equals(want)).toBe(true);
        // Past the end of the file: rejected as "short", never half-decrypted silently.
        await expect(cipher.readDecryptAsync!(fd, 8192 + data.length - ss, Buffer.alloc(2 * ss), 0, 2 * ss, 0)).rejects.toThrow('short');
      } finally {
        closeSync(fd);
      }
    });
  }

  it('a DecryptedSource over a host file (fused jobs) reads what one over a source without host runs (pread, then decrypt) reads', async () => {
    useNativeCrypto(true);
    const key = randomBytes(64);
    const path = join(dir, 'volume.bin');
    const payload = randomBytes(3 << 20);
    writeFileSync(path, Buffer.concat([Buffer.alloc(4096, 1), payload]));
    const file = await FileSource.open(path);
    try {
      const seg = { start: 0, length: payload.length, sourceOffset: 4096, cipher: makeSectorCipher('aes-xts-plain64', key, 4096, 'test', 8), firstIv: 3 };
      const fused = new DecryptedSource(file, [seg], 'fused');
      const plainBase = { name: file.name, size: file.size, read: (o: number, l: number) => file.read(o, l), close: async () => {} };
      const slow = new DecryptedSource(plainBase, [seg], 'slow');
      const want = decryptSectorsOneByOne('aes-256-xts', key, payload, 4096, (s) => le64(3 + s * 8), 0);
      // The aligned 3 MiB read never goes through the file's own reads: it is all fused jobs.
      let fileReads = 0;
      const own = file.readInto.bind(file);
      file.readInto = (...a) => (fileReads++, own(...a));
      expect((await fused.read(0, 3 << 20)).equals(want)).toBe(true);
      expect(fileReads).toBe(0);
      for (const [off, len] of [[0, 3 << 20], [4096, 1 << 20], [12345, (1 << 20) + 777], [(2 << 20) + 100, 1 << 20]] as const) {
        const a = await fused.read(off, len);
        const b = await slow.read(off, len);
        expect(a.equals(want.subarray(off, off + len))).toBe(true);
        expect(b.equals(a)).toBe(true);
      }
    } finally {
      await file.close();
    }
  });
});

describe('the AF merge (LUKS): the binding and the JavaScript form agree', () => {
  for (const [hash, keyBytes, stripes] of [['sha256', 64, 4000], ['sha1', 32, 4000], ['sha512', 40, 17], ['sha256', 33, 2]] as const) {
    it(`${hash}, ${keyBytes}-byte key, ${stripes} stripes`, () => {
      useNativeCrypto(true);
      const material = randomBytes(keyBytes * stripes);
      const js = afMergeJs(material, keyBytes, stripes, hash);
      expect(nativeAfMerge(hash, material, keyBytes, stripes)!.equals(js)).toBe(true);
      expect(afMerge(material, keyBytes, stripes, hash).equals(js)).toBe(true);
    });
  }
});
