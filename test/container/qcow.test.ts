/**
 * QCOW version 1 (#24.11): images written by qemu-img / qemu-io (plain, compressed clusters, an
 * overlay over a backing file written with qemu-io) against
 * `qemu-img convert -O raw`; a cut-short image is a one-line error.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { join } from 'node:path';
import { cachedImage, diskpick, sha256, sha256File } from '../helpers/tools.js';
import { buildQcowSet } from '../../scripts/images/qcow.js';
import { diskpickSha, expectOneLineError, qemuSha } from './readback.js';

const dir = cachedImage('container-qcow1-set', (d) => void buildQcowSet(d));
const p = (n: string) => join(dir, n);
const inputs = ['plain.qcow', 'compressed.qcow', 'overlay.qcow'];
const before = new Map<string, string>();
beforeAll(async () => {
  for (const v of [...inputs, 'cut.qcow']) before.set(v, await sha256File(p(v)));
});
afterAll(async () => {
  for (const [v, h] of before) expect(await sha256File(p(v)), `${v} changed`).toBe(h);
});

describe('qcow version 1 written by qemu-img', () => {
  for (const name of inputs) {
    it(`${name}: full read equals qemu-img convert -O raw`, async () => {
      const oracle = await qemuSha(p(name), 'qcow');
      const got = await diskpickSha(p(name));
      expect(got.container.format).toBe('qcow');
      expect(got.container.variant).toBe('v1');
      expect(got.size).toBe(oracle.size);
      expect(got.sha256).toBe(oracle.sha256);
    });
  }

  it('the overlay lists its backing file in the chain and differs from it', async () => {
    const o = await diskpickSha(p('overlay.qcow'));
    expect(o.container.chain.map((l) => [l.format, l.file])).toEqual([['qcow', p('overlay.qcow')], ['qcow', p('compressed.qcow')]]);
    expect(o.sha256).not.toBe((await diskpickSha(p('compressed.qcow'))).sha256);
  });

  it('the CLI reads it (dd equals qemu-img); a cut-short image is a one-line error, exit 3', async () => {
    const r = diskpick(['dd', p('compressed.qcow'), '-o', '-']);
    expect(r.status).toBe(0);
    expect(sha256(r.stdout)).toBe((await qemuSha(p('compressed.qcow'), 'qcow')).sha256);
    await expectOneLineError(p('cut.qcow'), 'image', /past the end of the file|outside the file|truncated/);
    const cut = diskpick(['dd', p('cut.qcow'), '-o', '-']);
    expect(cut.status).toBe(3);
    expect(cut.stderr.trim().split('\n')).toHaveLength(1);
  });
});
