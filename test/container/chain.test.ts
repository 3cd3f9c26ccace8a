/**
 * Chains of any length and mixed formats, built with `qemu-img create -b … -F …` and made
 * to differ level by level with qemu-io writes. Every level is checked against
 * `qemu-img convert -O raw` (which follows the same backing chain); Container.chain lists
 * each level; loops, missing and out-of-folder parents are one-line errors.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { openContainer } from '../../src/container/open.js';
import { cachedImage, sha256File } from '../helpers/tools.js';
import { buildQcow2Chains } from '../../scripts/images/qcow2.js';
import { diskpickSha, expectOneLineError, qemuSha } from './readback.js';

const dir = cachedImage('container-chains', (d) => void buildQcow2Chains(d));
const p = (n: string) => join(dir, n);
const levels = ['base.qcow2', 'mid.qcow2', 'top.qcow2', 'm0.vhd', 'm1.qcow2', 'm2.qcow2', 'x1.qcow2', 'v1.qcow2'];
const before = new Map<string, string>();
beforeAll(async () => {
  for (const v of [...levels, 'base.raw', 'sub/over-raw.qcow2', 'x0.vhdx', 'v0.vdi']) before.set(v, await sha256File(p(v)));
});
afterAll(async () => {
  for (const [v, h] of before) expect(await sha256File(p(v)), `${v} changed`).toBe(h);
});

describe('backing chains against qemu-img', () => {
  for (const name of levels) {
    it(`${name}: full read equals qemu-img convert -O raw`, async () => {
      const oracle = await qemuSha(p(name));
      const got = await diskpickSha(p(name));
      expect(got.size).toBe(oracle.size);
      expect(got.sha256).toBe(oracle.sha256);
    });
  }

  it('the overlays really differ from their bases', async () => {
    const shas = await Promise.all(['base.qcow2', 'mid.qcow2', 'top.qcow2'].map(async (n) => (await diskpickSha(p(n))).sha256));
    expect(new Set(shas).size).toBe(3);
  });

  it('Container.chain lists every level, top first, with format and variant', async () => {
    const top = await diskpickSha(p('top.qcow2'));
    expect(top.container.chain.map((l) => [l.format, l.file])).toEqual([['qcow2', p('top.qcow2')], ['qcow2', p('mid.qcow2')], ['qcow2', p('base.qcow2')]]);
    const mixed = await diskpickSha(p('m2.qcow2'));
    expect(mixed.container.chain.map((l) => [l.format, l.variant])).toEqual([['qcow2', 'v3'], ['qcow2', 'v2'], ['vhd', 'dynamic']]);
    expect(mixed.container.chain[0]!.virtualSize).toBe(6 * 1024 * 1024);
    expect((await diskpickSha(p('x1.qcow2'))).container.chain.map((l) => l.format)).toEqual(['qcow2', 'vhdx']);
    expect((await diskpickSha(p('v1.qcow2'))).container.chain.map((l) => l.format)).toEqual(['qcow2', 'vdi']);
  });

  it('a qcow2 over a raw base in the folder above: needs --parent-dir, then equals qemu-img', async () => {
    await expectOneLineError(p('sub/over-raw.qcow2'), 'image', /base\.raw is outside the image's folder; allow it with --parent-dir/);
    const got = await diskpickSha(p('sub/over-raw.qcow2'), { parentDirs: [dir] });
    expect(got.container.chain.map((l) => l.format)).toEqual(['qcow2', 'raw']);
    expect(got.sha256).toBe((await qemuSha(p('sub/over-raw.qcow2'))).sha256);
  });

  it('loops, missing backing files and over-long chains are one-line errors', async () => {
    await expectOneLineError(p('loop-a.qcow2'), 'image', /loops back/);
    await expectOneLineError(p('orphan.qcow2'), 'image', /parent image not found: .*gone\.raw/);
    await expectOneLineError(p('top.qcow2'), 'image', /parent chain longer than 2 levels/, { maxChainLength: 2 });
  });
});

describe('2 TB sparse images open lazily', () => {
  const big = cachedImage('container-sparse-2T', (d) => {
    mkdirSync(d, { recursive: true });
    for (const [fmt, file, size] of [['qcow2', 'a.qcow2', '2T'], ['vhdx', 'a.vhdx', '2T'], ['vpc', 'a.vhd', '2000G'], ['vdi', 'a.vdi', '2T']]) {
      execFileSync('qemu-img', ['create', '-f', fmt!, join(d, file!), size!], { stdio: 'ignore' });
    }
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x77 ${2 * 1024 ** 4 - 65536} 4096`, join(d, 'a.qcow2')], { stdio: 'ignore' });
  });
  for (const [file, fmt] of [['a.qcow2', 'qcow2'], ['a.vhdx', 'vhdx'], ['a.vhd', 'vpc'], ['a.vdi', 'vdi']] as const) {
    it(`${file}: virtual size as qemu-img info says, the last 64 KiB read as qemu-io reads them`, async () => {
      const info = JSON.parse(execFileSync('qemu-img', ['info', '--output=json', '-f', fmt, join(big, file)], { encoding: 'utf8' })) as { 'virtual-size': number };
      const t0 = Date.now();
      const c = await openContainer(join(big, file));
      try {
        expect(Date.now() - t0).toBeLessThan(2000);
        expect(c.size).toBe(info['virtual-size']);
        const tail = await c.read(c.size - 65536, 65536);
        const dump = execFileSync('qemu-io', ['-f', fmt, '-r', '-c', `read -v ${c.size - 65536} 65536`, join(big, file)], { encoding: 'utf8', maxBuffer: 1 << 24 });
        // qemu-io -v prints 16 bytes a line as hex; compare the bytes.
        const bytes = Buffer.from(dump.split('\n').map((l) => /^[0-9a-f]+:\s+((?:[0-9a-f]{2} ){1,16})/.exec(l)?.[1] ?? '').join('').replace(/ /g, ''), 'hex');
        expect(bytes.length).toBe(65536);
        expect(tail.equals(bytes)).toBe(true);
      } finally {
        await c.close();
      }
    });
  }
});
