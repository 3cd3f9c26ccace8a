/**
 * QCOW2 against qemu-img: every variant qemu writes, read whole through openContainer, must
 * hash the same as `qemu-img convert -O raw`. Inputs are hashed before and after.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { copyFileSync, readFileSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { cachedImage, sha256File } from '../helpers/tools.js';
import { buildQcow2Encrypted, buildQcow2Set } from '../../scripts/images/qcow2.js';
import { diskpickSha, expectOneLineError, qemuSha } from './readback.js';
import { openContainer } from '../../src/container/open.js';

const set = cachedImage('container-qcow2-set', (dir) => buildQcow2Set(dir));
const enc = cachedImage('container-qcow2-enc', (dir) => buildQcow2Encrypted(dir));
const variants = ['plain.qcow2', 'v2.qcow2', 'zlib.qcow2', 'zstd.qcow2', 'extl2.qcow2', 'small-clusters.qcow2', 'big-clusters.qcow2', 'datafile.qcow2', 'zeroed.qcow2', 'extl2-overlay.qcow2'];

const before = new Map<string, string>();
beforeAll(async () => {
  for (const v of [...variants, 'base.raw', 'data.bin']) before.set(v, await sha256File(join(set, v)));
});
afterAll(async () => {
  for (const [v, h] of before) expect(await sha256File(join(set, v)), `${v} changed`).toBe(h);
});

describe('qcow2 variants written by qemu-img', () => {
  for (const v of variants) {
    it(`${v}: full read equals qemu-img convert -O raw`, async () => {
      const oracle = await qemuSha(join(set, v), 'qcow2');
      const got = await diskpickSha(join(set, v));
      expect(got.container.format).toBe('qcow2');
      expect(got.size).toBe(oracle.size);
      expect(got.sha256).toBe(oracle.sha256);
    });
  }

  it('reports version, compression and features as the variant', async () => {
    expect((await diskpickSha(join(set, 'v2.qcow2'))).container.variant).toMatch(/^v2/);
    expect((await diskpickSha(join(set, 'zstd.qcow2'))).container.variant).toContain('zstd');
    expect((await diskpickSha(join(set, 'extl2.qcow2'))).container.variant).toContain('extended L2');
    const df = await diskpickSha(join(set, 'datafile.qcow2'));
    expect(df.container.chain[0]!.extraFiles?.[0]).toMatch(/data\.bin$/);
  });

  it('random 4 KiB reads of a compressed image match the raw base (decoded clusters cached)', async () => {
    const raw = readFileSync(join(set, 'base.raw'));
    const c = await openContainer(join(set, 'zlib.qcow2'));
    try {
      let x = 12345;
      for (let i = 0; i < 300; i++) {
        x = (x * 1103515245 + 12345) >>> 0;
        const off = (x % (raw.length / 512)) * 512;
        const b = await c.read(off, 4096);
        expect(b.equals(raw.subarray(off, off + 4096))).toBe(true);
      }
    } finally {
      await c.close();
    }
  });
});

describe('qcow2 refused or damaged', () => {
  it('AES and LUKS encrypted images: one-line unsupported error', async () => {
    await expectOneLineError(join(enc, 'aes.qcow2'), 'unsupported', /encrypted \(qcow2 AES\), not supported/);
    await expectOneLineError(join(enc, 'luks.qcow2'), 'unsupported', /encrypted \(qcow2 LUKS\), not supported/);
  });

  const hostile = (name: string, edit: (b: Buffer) => Buffer) =>
    cachedImage(`container-qcow2-hostile-${name}.qcow2`, (p) => writeFileSync(p, edit(Buffer.from(readFileSync(join(set, 'plain.qcow2'))))));
  const l1Offset = (b: Buffer) => Number(b.readBigUInt64BE(40));
  const l2Offset = (b: Buffer) => Number(b.readBigUInt64BE(l1Offset(b)) & 0x00fffffffffffe00n);

  it('truncated file: the L2 table or data past the end', async () => {
    const p = cachedImage('container-qcow2-hostile-trunc.qcow2', (p) => {
      copyFileSync(join(set, 'plain.qcow2'), p);
      truncateSync(p, 300 * 1024);
    });
    await expectOneLineError(p, 'image', /past the end of the file/);
  });

  it('L2 entry pointing at its own L2 table', async () => {
    const p = hostile('selfref', (b) => {
      const l2 = l2Offset(b);
      b.writeBigUInt64BE(BigInt(l2) | (1n << 63n), l2 + 8);
      return b;
    });
    await expectOneLineError(p, 'image', /points at its own L2 table/);
  });

  it('L1 entry pointing past the end and at the header', async () => {
    const past = hostile('l1past', (b) => {
      b.writeBigUInt64BE((1n << 40n) | (1n << 63n), l1Offset(b));
      return b;
    });
    await expectOneLineError(past, 'image', /past the end of the file/);
    const header = hostile('l1header', (b) => {
      // The first L2 table "is" the L1 table itself.
      b.writeBigUInt64BE(BigInt(l1Offset(b)) | (1n << 63n), l1Offset(b));
      return b;
    });
    await expectOneLineError(header, 'image', /inside the header or the L1\/refcount tables/);
  });

  it('a compressed cluster whose deflate data is garbage', async () => {
    const p = cachedImage('container-qcow2-hostile-badzlib.qcow2', (out) => {
      const b = Buffer.from(readFileSync(join(set, 'zlib.qcow2')));
      const l2 = Number(b.readBigUInt64BE(Number(b.readBigUInt64BE(40))) & 0x00fffffffffffe00n);
      for (let i = 0; i < 8192; i++) {
        const e = b.readBigUInt64BE(l2 + i * 8);
        if (!(e & (1n << 62n))) continue;
        const host = Number(e & ((1n << 54n) - 1n)); // x = 62 - (cluster_bits 16 - 8)
        b.fill(0xff, host, host + 64);
        break;
      }
      writeFileSync(out, b);
    });
    await expectOneLineError(p, 'image', /compressed cluster \d+ at \d+ does not decompress/);
  });

  it('absurd sizes: virtual size, L1 size, cluster bits', async () => {
    await expectOneLineError(hostile('bigsize', (b) => (b.writeBigUInt64BE(1n << 62n, 24), b)), 'image', /absurd/);
    await expectOneLineError(hostile('bigl1', (b) => (b.writeUInt32BE(0xffffffff, 36), b)), 'image', /absurd|past the end/);
    await expectOneLineError(hostile('bits', (b) => (b.writeUInt32BE(40, 20), b)), 'image', /cluster_bits/);
    await expectOneLineError(hostile('feature', (b) => (b.writeBigUInt64BE(1n << 40n, 72), b)), 'unsupported', /incompatible feature/);
  });
});
