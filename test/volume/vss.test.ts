/**
 * Volume Shadow Copies on a Windows-made NTFS volume (the shared corpus's vsstest.qcow2, made on
 * Windows and imaged by dfvfs's authors), against libvshadow: vshadowinfo for the catalog and
 * each store's identity, vshadowmount (FUSE) for the bytes of the whole volume as of each store.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { openContainer } from '../../src/container/open.js';
import { pump } from '../../src/source/chunks.js';
import { readCatalog, readStoreInformation } from '../../src/volume/vss/catalog.js';
import { ShadowCopySource } from '../../src/volume/vss/shadow.js';
import { corpusFile, diskpick, sha256File, tool } from '../helpers/tools.js';

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
          // The tree shows the store as a volume beside its own: every file there equals the
          // file read from vshadowmount's bytes of that store.
          const inTree = diskpick(['ls', '-R', '--json', '--hash', 'sha256', image!, `/p0@vss${i + 1}`]);
          const fromOracle = diskpick(['ls', '-R', '--json', '--hash', 'sha256', join(mnt, `vss${i + 1}`), '/p0']);
          expect(inTree.status, inTree.stderr).toBe(0);
          const rows = (out: Buffer, prefix: string) => out.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; sha256?: string; size: number }).map((r) => `${r.path.slice(prefix.length)} ${r.size} ${r.sha256 ?? ''}`);
          expect(rows(inTree.stdout, `/p0@vss${i + 1}`)).toEqual(rows(fromOracle.stdout, '/p0'));
          // The point suffix: IMAGE@vss:K reads /p0 as of store K, under its own name.
          const bySuffix = diskpick(['ls', '-R', '--json', '--hash', 'sha256', `${image}@vss:${i + 1}`, '/p0']);
          expect(bySuffix.status, bySuffix.stderr.toString()).toBe(0);
          expect(rows(bySuffix.stdout, '/p0')).toEqual(rows(fromOracle.stdout, '/p0'));
        }
        // info lists each shadow copy as a point with its creation time and store GUID, as vshadowinfo does.
        const info = JSON.parse(diskpick(['info', '--json', image!]).stdout.toString()) as { points: Array<{ kind: string; point: string; id?: string; time: string }> };
        const vss = info.points.filter((x) => x.kind === 'vss');
        expect(vss.map((x) => [x.point, x.id!.toLowerCase()])).toEqual(want.map((w, i) => [`${image}@vss:${i + 1}`, w.identifier]));
        expect(vss.map((x) => x.time.slice(20, 29))).toEqual(want.map((w) => /\.(\d{9}) UTC/.exec(w.created)![1]));
        const none = diskpick(['ls', `${image}@vss:3`]);
        expect(none.status).toBe(4);
        expect(none.stderr.toString()).toContain('no shadow copy 3: p0 has 2');
        // versions: the image and each shadow copy are points; a file is there exactly where the
        // oracle's volume of that store has it, with the oracle's bytes.
        for (const name of ['syslog', 'password.txt', 'another_file']) {
          const v = diskpick(['versions', '--json', image!, `/p0/${name}`]);
          expect(v.status, v.stderr).toBe(0);
          const rows = new Map(v.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { point: string; exists: boolean; sha256: string | null }).map((r) => [r.point, r]));
          for (let i = 0; i < stores.length; i++) {
            const o = diskpick(['ls', '--json', '--hash', 'sha256', join(mnt, `vss${i + 1}`), `/p0/${name}`]);
            const row = rows.get(`${image}@vss:${i + 1}`)!;
            expect(row.exists, `${name} in store ${i + 1}`).toBe(o.status === 0);
            if (o.status === 0) expect(row.sha256).toBe((JSON.parse(o.stdout.toString()) as { sha256: string }).sha256);
          }
        }
        const top = diskpick(['ls', image!]);
        expect(top.stdout.toString()).toBe('p0\np0@vss1\np0@vss2\n');
      } finally {
        // vshadowmount may still hold the mount point for a moment after unmounting.
        spawnSync('fusermount', ['-u', mnt]);
        for (let i = 0; i < 50 && readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `); i++) spawnSync('sleep', ['0.1']);
        if (readFileSync('/proc/mounts', 'utf8').includes(` ${mnt} `)) spawnSync('fusermount', ['-u', '-z', mnt]);
      }
    } finally {
      await disk.close();
      rmSync(work, { recursive: true, force: true, maxRetries: 20, retryDelay: 100 });
    }
    expect(await sha256File(image!)).toBe(before);
  }, 180_000);
});
