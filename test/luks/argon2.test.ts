/**
 * diskpick's own Argon2 binding (dist/native/argon2.node, libargon2 compiled in by
 * scripts/native.ts; issue 20) against the reference implementation's published examples (the
 * Argon2 README: "password", salt "somesalt"). Not against the `argon2` npm package: its
 * linux-x64 prebuild crashes on load here (SIGSEGV), and a clean `npm ci` does not build it from
 * source. The cryptsetup-made Argon2i/Argon2id keyslots of luks.test.ts (and package.test.ts,
 * from the installed package) are the end-to-end oracle.
 */
import { describe, expect, it } from 'vitest';
import { argon2Source, deriveKey } from '../../src/volume/luks/kdf.js';

const password = Buffer.from('password');
const salt = Buffer.from('somesalt');

describe('Argon2', () => {
  it('the binding built with diskpick is the one used', () => {
    expect(argon2Source()).toBe('bundled');
  });

  it('the reference README examples: Argon2i t=2 m=64 MiB p=4 (24 bytes), Argon2id t=2 m=64 MiB p=1 (32 bytes)', async () => {
    const i = await deriveKey({ type: 'argon2i', time: 2, memory: 65536, cpus: 4, salt }, password, 24, 'test', 'keyslot 0');
    expect(i.toString('hex')).toBe('45d7ac72e76f242b20b77b9bf9bf9d5915894e669a24e6c6');
    const id = await deriveKey({ type: 'argon2id', time: 2, memory: 65536, cpus: 1, salt }, password, 32, 'test', 'keyslot 0');
    expect(id.toString('hex')).toBe('09316115d5cf24ed5a15a31a3ba326e5cf32edc24702987c02b6566f61913cf7');
  });

  it('parameters Argon2 cannot take are one error naming the keyslot', async () => {
    await expect(deriveKey({ type: 'argon2id', time: 1, memory: 4, cpus: 1, salt }, password, 32, 'img.raw', 'keyslot 3')).rejects.toThrow(/^keyslot 3: Argon2 memory of 4 KiB/);
  });
});
