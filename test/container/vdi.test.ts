/**
 * VDI: qemu-made static and dynamic images against qemu-img convert; differencing images
 * from the test writer (parent found by UUID) against the writer's expected bytes, whose
 * parent part is qemu-img's reading of the parent; parent safety and damaged images.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { copyFileSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cachedImage, sha256File } from '../helpers/tools.js';
import { buildVdiSet } from '../../scripts/images/vdi.js';
import { diskpickSha, expectOneLineError, qemuSha } from './readback.js';

const dir = cachedImage('container-vdi-set', (d) => void buildVdiSet(d));
const p = (n: string) => join(dir, n);
const inputs = ['dynamic.vdi', 'static.vdi', 'parent.vdi', 'child.vdi', 'grandchild.vdi', 'kids/away.vdi'];
const before = new Map<string, string>();
beforeAll(async () => {
  for (const v of inputs) before.set(v, await sha256File(p(v)));
});
afterAll(async () => {
  for (const [v, h] of before) expect(await sha256File(p(v)), `${v} changed`).toBe(h);
});

describe('vdi written by qemu-img', () => {
  for (const [name, variant] of [['dynamic.vdi', 'dynamic'], ['static.vdi', 'fixed']] as const) {
    it(`${name}: full read equals qemu-img convert -O raw`, async () => {
      const oracle = await qemuSha(p(name), 'vdi');
      const got = await diskpickSha(p(name));
      expect(got.container.format).toBe('vdi');
      expect(got.container.variant).toBe(variant);
      expect(got.size).toBe(oracle.size);
      expect(got.sha256).toBe(oracle.sha256);
    });
  }
});

describe('vdi differencing, parent found by UUID', () => {
  it('child and grandchild equal the expected bytes; chain lists every level', async () => {
    const c = await diskpickSha(p('child.vdi'));
    expect(c.sha256).toBe(await sha256File(p('child.vdi.expected')));
    expect(c.container.chain.map((l) => [l.variant, l.file])).toEqual([['differencing', p('child.vdi')], ['dynamic', p('parent.vdi')]]);
    const g = await diskpickSha(p('grandchild.vdi'));
    expect(g.sha256).toBe(await sha256File(p('grandchild.vdi.expected')));
    expect(g.container.chain.length).toBe(3);
  });

  it('a parent in another folder is found with --parent-dir only', async () => {
    await expectOneLineError(p('kids/away.vdi'), 'image', /parent image not found: needs the VDI with UUID .*--parent-dir/);
    const got = await diskpickSha(p('kids/away.vdi'), { parentDirs: [dir] });
    expect(got.sha256).toBe(await sha256File(p('child.vdi.expected')));
  });

  it('no image with the parent UUID; two images naming each other', async () => {
    await expectOneLineError(p('orphan.vdi'), 'image', /parent image not found: needs the VDI with UUID \{[0-9a-f-]+\}/);
    await expectOneLineError(p('loop/a.vdi'), 'image', /loops back|refers back/);
  });
});

describe('vdi damaged', () => {
  const hostile = (name: string, edit: (b: Buffer) => Buffer) =>
    cachedImage(`container-vdi-hostile-${name}.vdi`, (out) => writeFileSync(out, edit(Buffer.from(readFileSync(p('dynamic.vdi'))))));
  it('truncated, block past the end, absurd sizes', async () => {
    const t = cachedImage('container-vdi-hostile-trunc.vdi', (out) => {
      copyFileSync(p('dynamic.vdi'), out);
      truncateSync(out, 1024 * 1024 + 4096);
    });
    await expectOneLineError(t, 'image', /past the end of the file/);
    const offBlocks = (b: Buffer) => b.readUInt32LE(0x154);
    await expectOneLineError(hostile('blockpast', (b) => (b.writeUInt32LE(0x00ffffff, offBlocks(b)), b)), 'image', /past the end of the file/);
    await expectOneLineError(hostile('bigdisk', (b) => (b.writeBigUInt64LE(1n << 62n, 0x170), b)), 'image', /absurd/);
    await expectOneLineError(hostile('blocksize', (b) => (b.writeUInt32LE(1000, 0x178), b)), 'image', /block size/);
    await expectOneLineError(hostile('fewblocks', (b) => (b.writeUInt32LE(1, 0x180), b)), 'image', /block map has 1 entries/);
  });
});
