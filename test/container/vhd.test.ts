/**
 * VHD: qemu-made fixed and dynamic disks against qemu-img convert; test-writer differencing
 * disks (every parent locator kind) against libvhdi's vhdimount and the writer's expected
 * bytes; the real-world pair from ../shared/corpus against vhdimount; parent safety.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedImage, corpusFile, sha256, sha256File } from '../helpers/tools.js';
import { buildVhdSet, vhdimountRaw } from '../../scripts/images/vhd.js';
import { diskpickSha, expectOneLineError, qemuSha } from './readback.js';

const dir = cachedImage('container-vhd-set', (d) => void buildVhdSet(d));
const p = (n: string) => join(dir, n);
const inputs = ['dynamic.vhd', 'fixed.vhd', 'parent.vhd', 'diff-w2ru.vhd', 'diff-w2ku.vhd', 'diff-macx.vhd', 'diff-mac.vhd', 'diff-nameonly.vhd', 'diff-level3.vhd', 'sub/child.vhd'];
const before = new Map<string, string>();
beforeAll(async () => {
  for (const v of inputs) before.set(v, await sha256File(p(v)));
});
afterAll(async () => {
  for (const [v, h] of before) expect(await sha256File(p(v)), `${v} changed`).toBe(h);
});

describe('vhd written by qemu-img', () => {
  for (const [name, variant] of [['dynamic.vhd', 'dynamic'], ['fixed.vhd', 'fixed']] as const) {
    it(`${name}: full read equals qemu-img convert -f vpc -O raw`, async () => {
      const oracle = await qemuSha(p(name), 'vpc');
      const got = await diskpickSha(p(name));
      expect(got.container.format).toBe('vhd');
      expect(got.container.variant).toBe(variant);
      expect(got.size).toBe(oracle.size);
      expect(got.sha256).toBe(oracle.sha256);
    });
  }
});

describe('vhd differencing (test writer from the spec)', () => {
  // libvhdi finds a parent only by ParentUnicodeName; the locator-only images (whose
  // ParentUnicodeName is deliberately wrong) are checked against the writer's bytes, which
  // vhdimount confirms on the same writes in diff-w2ru.vhd.
  const byName = ['diff-w2ru.vhd', 'diff-nameonly.vhd', 'diff-level3.vhd'];
  for (const name of ['diff-w2ru.vhd', 'diff-w2ku.vhd', 'diff-macx.vhd', 'diff-mac.vhd', 'diff-nameonly.vhd', 'diff-level3.vhd']) {
    it(`${name}: equals the writer's expected bytes${byName.includes(name) ? ' and vhdimount (libvhdi)' : ''}`, async () => {
      const got = await diskpickSha(p(name));
      expect(got.container.variant).toBe('differencing');
      expect(got.sha256).toBe(await sha256File(p(`${name}.expected`)));
      if (byName.includes(name)) expect(got.sha256).toBe(sha256(vhdimountRaw(p(name))));
      expect(got.container.chain.length).toBe(name === 'diff-level3.vhd' ? 3 : 2);
      expect(got.container.chain.at(-1)!.file).toBe(p('parent.vhd'));
    });
  }

  it('a parent outside the folder needs --parent-dir, then reads', async () => {
    await expectOneLineError(p('sub/child.vhd'), 'image', /outside the image's folder; allow it with --parent-dir/);
    const got = await diskpickSha(p('sub/child.vhd'), { parentDirs: [dir] });
    expect(got.sha256).toBe(await sha256File(p('diff-nameonly.vhd.expected')));
  });

  it('a missing parent names the file', async () => {
    await expectOneLineError(p('diff-missing.vhd'), 'image', /parent image not found: .*nothere\.vhd/);
  });

  it('a parent loop is detected', async () => {
    await expectOneLineError(p('loop-a.vhd'), 'image', /loops back|refers back/);
  });
});

describe('vhd real-world pair (bad checksums, libvhdi reads it)', () => {
  it('image.vhd and image-differential.vhd equal vhdimount, with a checksum warning', async () => {
    const child = corpusFile('image-differential.vhd');
    const base = corpusFile('image.vhd');
    if (!child || !base) return;
    const h = [await sha256File(child), await sha256File(base)];
    for (const f of [base, child]) {
      const got = await diskpickSha(f);
      expect(got.sha256).toBe(sha256(vhdimountRaw(f)));
      expect(got.container.warnings.join('\n')).toMatch(/checksum is wrong/);
    }
    expect((await diskpickSha(child)).container.chain.map((l) => l.variant)).toEqual(['differencing', 'dynamic']);
    expect([await sha256File(child), await sha256File(base)]).toEqual(h);
  });
});

describe('vhd damaged', () => {
  const hostile = (name: string, from: string, edit: (b: Buffer) => Buffer) =>
    cachedImage(`container-vhd-hostile-${name}.vhd`, (out) => writeFileSync(out, edit(Buffer.from(readFileSync(p(from))))));

  it('truncated dynamic VHD (footer copy at the start still identifies it)', async () => {
    const t = cachedImage('container-vhd-hostile-trunc.vhd', (out) => {
      copyFileSync(p('dynamic.vhd'), out);
      truncateSync(out, 600 * 1024);
    });
    await expectOneLineError(t, 'image', /past the end of the file|truncated/);
  });

  it('BAT entry past the end, absurd block size, absurd size', async () => {
    const tableOffset = (b: Buffer) => Number(b.readBigUInt64BE(512 + 16));
    await expectOneLineError(hostile('batpast', 'dynamic.vhd', (b) => (b.writeUInt32BE(0x7fffffff, tableOffset(b) + 4), b)), 'image', /past the end of the file/);
    await expectOneLineError(hostile('blocksize', 'dynamic.vhd', (b) => (b.writeUInt32BE(3, 512 + 32), b)), 'image', /block size/);
    await expectOneLineError(hostile('bigsize', 'dynamic.vhd', (b) => (b.writeBigUInt64BE(1n << 60n, 48), b.writeBigUInt64BE(1n << 60n, b.length - 512 + 48), b)), 'image', /absurd/);
  });
});
