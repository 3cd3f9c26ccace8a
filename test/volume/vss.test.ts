/**
 * Volume Shadow Copies on a Windows-made NTFS volume (the shared corpus's vsstest.qcow2, made on
 * Windows and imaged by dfvfs's authors), against libvshadow: vshadowinfo for the catalog and
 * each store's identity, vshadowmount (FUSE) for the bytes of the whole volume as of each store.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openContainer } from '../../src/container/open.js';
import { pump } from '../../src/source/chunks.js';
import { readCatalog, readStoreInformation } from '../../src/volume/vss/catalog.js';
import { ShadowCopySource } from '../../src/volume/vss/shadow.js';
import { corpusFile, sha256File, tool } from '../helpers/tools.js';

const image = corpusFile('vsstest.qcow2');

/** vshadowinfo's per-store facts, parsed from its text output. */
function vshadowinfo(raw: string): { identifier: string; setId: string; copyId: string; created: string; flags: number }[] {
  const out = tool('vshadowinfo', [raw]);
  return out.split(/\nStore: \d+\n/).slice(1).map((block) => {
    const field = (name: string) => new RegExp(`${name}\\s*:\\s*(.+)`).exec(block)![1]!.trim();
    return { identifier: field('Identifier'), setId: field('Shadow copy set ID'), copyId: field('Shadow copy ID'), created: field('Creation time'), flags: parseInt(field('Attribute flags'), 16) };
  });
}

describe.skipIf(!image)('Volume Shadow Copies (Windows-made volume, libvshadow as oracle)', () => {
  it('lists the stores and reads the volume as of each store byte for byte as vshadowmount does', async () => {
    const before = await sha256File(image!);
    const work = mkdtempSync(join(tmpdir(), 'dp-vss-'));
    const raw = join(work, 'vss.raw');
    const mnt = join(work, 'mnt');
    tool('qemu-img', ['convert', '-O', 'raw', image!, raw]);
    const want = vshadowinfo(raw);
    expect(want).toHaveLength(2);
    const disk = await openContainer(image!);
    try {
      const stores = await readCatalog(disk);
      expect(stores.map((s) => s.storeIdentifier.toLowerCase())).toEqual(want.map((w) => w.identifier));
      for (const [i, s] of stores.entries()) {
        const info = await readStoreInformation(disk, s);
        expect(info.shadowCopyIdentifier.toLowerCase()).toBe(want[i]!.copyId);
        expect(info.shadowCopySetIdentifier.toLowerCase()).toBe(want[i]!.setId);
        expect(info.attributeFlags).toBe(want[i]!.flags);
        // "Dec 03, 2013 06:35:09.736378700 UTC": to the second and the 100 ns digits.
        const d = new Date(s.creationTime.sec * 1000);
        const m = /(\w{3}) (\d\d), (\d{4}) (\d\d):(\d\d):(\d\d)\.(\d{9}) UTC/.exec(want[i]!.created)!;
        expect(d.toUTCString()).toContain(`${m[2]} ${m[1]} ${m[3]} ${m[4]}:${m[5]}:${m[6]}`);
        expect(String(s.creationTime.nsec).padStart(9, '0')).toBe(m[7]);
      }
      const mounted = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v vshadowmount']).status === 0;
      if (!mounted) {
        console.warn('SKIP: vshadowmount needs FUSE as root; the byte comparison of each store is skipped');
        return;
      }
      spawnSync('mkdir', ['-p', mnt]);
      tool('vshadowmount', [raw, mnt]);
      try {
        for (let i = 0; i < stores.length; i++) {
          const shadow = await ShadowCopySource.open(disk, stores, i, `vss${i + 1}`);
          const h = createHash('sha256');
          await pump(shadow, (c) => void h.update(c));
          expect(h.digest('hex'), `store ${i + 1}`).toBe(await sha256File(join(mnt, `vss${i + 1}`)));
        }
      } finally {
        spawnSync('fusermount', ['-u', mnt]);
      }
    } finally {
      await disk.close();
      rmSync(work, { recursive: true, force: true });
    }
    expect(await sha256File(image!)).toBe(before);
  }, 180_000);
});
