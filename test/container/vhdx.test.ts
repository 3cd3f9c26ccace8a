/**
 * VHDX: qemu-made fixed/dynamic images against qemu-img convert; test-writer images
 * ([MS-VHDX]) for 4096-byte logical sectors, a log with updates not yet applied (oracle:
 * qemu-img after `qemu-img check -r all` replays it on a copy), and differencing disks with
 * sector bitmaps (oracle: vhdimount, and the writer's expected bytes).
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedImage, sha256, sha256File } from '../helpers/tools.js';
import { buildVhdxSet, qemuReplayedRaw } from '../../scripts/images/vhdx.js';
import { vhdimountRaw } from '../../scripts/images/vhd.js';
import { crc32c } from '../../src/container/vhdx.js';
import { diskpickSha, expectOneLineError, qemuSha } from './readback.js';

const dir = cachedImage('container-vhdx-set', (d) => void buildVhdxSet(d));
const p = (n: string) => join(dir, n);
const inputs = ['dynamic.vhdx', 'fixed.vhdx', 'block1m.vhdx', 'parent.vhdx', 'lss4096.vhdx', 'dirty-log.vhdx', 'diff.vhdx', 'diff-bs4m.vhdx'];
const before = new Map<string, string>();
beforeAll(async () => {
  for (const v of inputs) before.set(v, await sha256File(p(v)));
});
afterAll(async () => {
  for (const [v, h] of before) expect(await sha256File(p(v)), `${v} changed`).toBe(h);
});

describe('vhdx written by qemu-img', () => {
  for (const [name, variant] of [['dynamic.vhdx', 'dynamic'], ['fixed.vhdx', 'fixed'], ['block1m.vhdx', 'dynamic']] as const) {
    it(`${name}: full read equals qemu-img convert -O raw`, async () => {
      const oracle = await qemuSha(p(name), 'vhdx');
      const got = await diskpickSha(p(name));
      expect(got.container.format).toBe('vhdx');
      expect(got.container.variant).toBe(variant);
      expect(got.size).toBe(oracle.size);
      expect(got.sha256).toBe(oracle.sha256);
    });
  }
});

describe('vhdx from the spec writer', () => {
  it('4096-byte logical sectors: sectorSize 4096, equals vhdimount and the expected bytes', async () => {
    const got = await diskpickSha(p('lss4096.vhdx'));
    expect(got.container.sectorSize).toBe(4096);
    expect(got.sha256).toBe(await sha256File(p('lss4096.vhdx.expected')));
    // qemu 7.2 refuses 4096-byte logical sectors ("Operation not supported"); libvhdi reads them.
    expect(got.sha256).toBe(sha256(vhdimountRaw(p('lss4096.vhdx'))));
  });

  it('dirty log: replayed in memory (warning), equals qemu after its own replay on a copy; file unchanged', async () => {
    const h0 = await sha256File(p('dirty-log.vhdx'));
    const got = await diskpickSha(p('dirty-log.vhdx'));
    expect(got.container.warnings.join('\n')).toMatch(/log held 2 entries .* replayed in memory/);
    expect(got.sha256).toBe(await sha256File(p('dirty-log.vhdx.expected')));
    expect(got.sha256).toBe(sha256(qemuReplayedRaw(p('dirty-log.vhdx'))));
    expect(await sha256File(p('dirty-log.vhdx'))).toBe(h0);
  });

  // diff-bs4m.vhdx has a ZERO block, which libvhdi 20210425 reads from the parent against
  // [MS-VHDX] 2.5.1.1 ("implementations MUST return zeros"): checked against the writer only.
  for (const name of ['diff.vhdx', 'diff-bs4m.vhdx']) {
    it(`${name}: differencing with sector bitmaps equals the expected bytes${name === 'diff.vhdx' ? ' and vhdimount' : ''}`, async () => {
      const got = await diskpickSha(p(name));
      expect(got.container.variant).toBe('differencing');
      expect(got.container.chain.map((l) => l.file)).toEqual([p(name), p('parent.vhdx')]);
      expect(got.sha256).toBe(await sha256File(p(`${name}.expected`)));
      if (name === 'diff.vhdx') expect(got.sha256).toBe(sha256(vhdimountRaw(p(name))));
    });
  }

  it('parent_linkage must match the parent DataWriteGuid', async () => {
    await expectOneLineError(p('diff-stale.vhdx'), 'image', /does not match: its DataWriteGuid is/);
  });

  it('parent outside the folder needs --parent-dir; a missing parent names the file', async () => {
    await expectOneLineError(p('sub/child.vhdx'), 'image', /allow it with --parent-dir/);
    expect((await diskpickSha(p('sub/child.vhdx'), { parentDirs: [dir] })).sha256).toBe(await sha256File(p('diff.vhdx.expected')));
    await expectOneLineError(p('diff-missing.vhdx'), 'image', /parent image not found: .*gone\.vhdx/);
  });
});

describe('vhdx damaged', () => {
  const hostile = (name: string, from: string, edit: (b: Buffer) => Buffer) =>
    cachedImage(`container-vhdx-hostile-${name}.vhdx`, (out) => writeFileSync(out, edit(Buffer.from(readFileSync(p(from))))));
  const fixHeader = (b: Buffer, at: number) => (b.writeUInt32LE(0, at + 4), b.writeUInt32LE(crc32c(b.subarray(at, at + 4096), 4), at + 4), b);

  it('one damaged header: the other one is used, with a warning', async () => {
    const img = hostile('onehdr', 'dynamic.vhdx', (b) => (b[128 * 1024 + 100]! ^= 0xff, b[64 * 1024 + 100]! ^= 0xff, b));
    await expectOneLineError(img, 'image', /neither VHDX header is valid/);
    const one = hostile('onehdr2', 'dynamic.vhdx', (b) => (b[64 * 1024 + 200]! ^= 0xff, b));
    const got = await diskpickSha(one);
    expect(got.sha256).toBe((await qemuSha(p('dynamic.vhdx'), 'vhdx')).sha256);
    expect(got.container.warnings.join('\n')).toMatch(/one VHDX header is damaged/);
  });

  it('truncated file; BAT entry past the end; absurd log', async () => {
    const t = cachedImage('container-vhdx-hostile-trunc.vhdx', (out) => {
      copyFileSync(p('dynamic.vhdx'), out);
      truncateSync(out, 3 * 1024 * 1024);
    });
    await expectOneLineError(t, 'image', /truncated|past the end/);
    const batPast = hostile('batpast', 'lss4096.vhdx', (b) => (b.writeBigUInt64LE(6n | (1000000n << 20n), 3 * 1024 * 1024), b));
    await expectOneLineError(batPast, 'image', /past the end of the file/);
    const badLog = hostile('badlog', 'dirty-log.vhdx', (b) => {
      for (const at of [64 * 1024, 128 * 1024]) {
        b.writeUInt32LE(0xfff00000, at + 68); // LogLength far past the end
        fixHeader(b, at);
      }
      return b;
    });
    await expectOneLineError(badLog, 'image', /log/);
  });
});
