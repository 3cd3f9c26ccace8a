/**
 * Second oracle, without a mount: `btrfs restore` (btrfs-progs' userspace reader) extracts
 * the top level and, by root id, each subvolume and snapshot; every regular file it wrote must have diskpick's
 * bytes. Also the >4 GiB sparse file, read at its written pieces.
 */
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { BTRFS_SPECIAL as S, type KernelManifest } from '../../scripts/images/btrfs.js';
import { seededBytes } from '../../scripts/images/tree.js';
import { sha256, sha256File, tool } from '../helpers/tools.js';
import { readAll, sha } from '../ext/helpers.js';
import { btrfsImage } from './helpers.js';

describe.each(['kernel', 'rootdir'] as const)('btrfs restore (%s)', (which) => {
  let img: string;
  let manifest: KernelManifest;
  let out: string;
  let vfs: Vfs;
  let before: string;
  beforeAll(async () => {
    ({ img, manifest } = btrfsImage(which));
    before = await sha256File(img);
    out = mkdtempSync(join(tmpdir(), 'dp-btrfs-restore-'));
    // The 5 GiB sparse file would be written out in full: leave it to the piecewise test.
    // The top level without -s (restore -s follows a snapshot's copy of the entry that leads
    // to itself, endlessly), then each subvolume by its root id into its place.
    const skipHuge = ['--path-regex', '^/(|[^h].*|h[^u].*)$'];
    tool('btrfs', ['restore', '-S', '-x', '-i', ...skipHuge, img, out]);
    for (const s of manifest.list) {
      rmSync(join(out, s.path), { recursive: true, force: true });
      mkdirSync(join(out, s.path), { recursive: true });
      tool('btrfs', ['restore', '-S', '-x', '-i', '-r', String(s.id), ...skipHuge, img, join(out, s.path)]);
    }
    vfs = await Vfs.open(img);
  });
  afterAll(async () => {
    await vfs?.close();
    rmSync(out, { recursive: true, force: true });
    expect(await sha256File(img)).toBe(before);
  });

  it('every file btrfs restore extracts has the same bytes in diskpick', async () => {
    let n = 0;
    const kernel = manifest.subvolumes['5']!;
    const kernelPaths = new Set(kernel.map((e) => e.path));
    const placeholders = kernel.filter((e) => e.type === 'dir' && e.ino === '2').map((e) => e.path);
    const walk = async (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        const st = lstatSync(p);
        if (st.isDirectory()) await walk(p);
        else if (st.isFile()) {
          const rel = '/' + relative(out, p);
          // restore follows a snapshot's entries for nested subvolumes into them; the kernel
          // shows those as empty folders (inode 2), and so does diskpick.
          if (!kernelPaths.has(rel)) {
            expect(placeholders.some((d) => rel.startsWith(d + '/')), rel).toBe(true);
            continue;
          }
          const node = await vfs.lookup('/p0' + rel);
          expect(node.stat.size, p).toBe(st.size);
          expect(sha(await readAll(vfs, node)), p).toBe(sha256(readFileSync(p)));
          n++;
        }
      }
    };
    await walk(out);
    expect(n).toBeGreaterThan(which === 'rootdir' ? 300 : 150);
  });

  if (which !== 'rootdir') {
    it('the 5 GiB sparse file: its written pieces around and past 4 GiB, zeros between', async () => {
      const node = await vfs.lookup('/p0' + S.hugeFile);
      expect(node.stat.size).toBe(S.hugeSize);
      const src = await vfs.openFile(node);
      for (const [i, at] of S.hugeWrites.entries()) {
        expect((await src.read(at, 4096)).equals(seededBytes(80 + i, 4096)), `piece at ${at}`).toBe(true);
      }
      expect((await src.read(3 * 1024 ** 3, 1 << 20)).equals(Buffer.alloc(1 << 20))).toBe(true);
      expect((await src.read(S.hugeSize - 10, 100)).length).toBe(10);
    });
  }
});
