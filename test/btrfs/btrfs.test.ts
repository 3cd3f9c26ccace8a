/**
 * Btrfs images made by mkfs.btrfs --rootdir and by the kernel, read through the Vfs and
 * compared with the kernel's own read-only loop mount of the same image (walked when the image
 * was built, once per subvolume with subvolid=).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { partialStat } from '../../src/fs/types.js';
import { sha256File, tool } from '../helpers/tools.js';
import { btrfsImage, compareWithKernel } from './helpers.js';
import type { KernelManifest } from '../../scripts/images/btrfs.js';

describe('mkfs.btrfs --rootdir', () => {
  let img: string;
  let manifest: KernelManifest;
  let before: string;
  let vfs: Vfs;
  beforeAll(async () => {
    ({ img, manifest } = btrfsImage('rootdir'));
    before = await sha256File(img);
    vfs = await Vfs.open(img);
  });
  afterAll(async () => {
    await vfs?.close();
    expect(await sha256File(img)).toBe(before);
  });

  it('shows what the kernel mount shows: names, types, sizes, contents, times, modes, owners, xattrs, links', async () => {
    const n = await compareWithKernel(vfs, '/p0', manifest.subvolumes['5']!);
    expect(n).toBeGreaterThan(300);
  });

  it('info: btrfs, label, crc32c, no subvolumes', async () => {
    const fs = vfs.info().volumes[0]!.filesystem!;
    expect(fs.type).toBe('btrfs');
    expect(fs.label).toBe('dp-crc32c');
    expect(fs.details.checksum).toBe('crc32c');
    expect(fs.subvolumes).toEqual([]);
  });
});

describe.each(['kernel', 'holes'] as const)('made by the kernel (%s)', (which) => {
  let img: string;
  let manifest: KernelManifest;
  let before: string;
  let vfs: Vfs;
  beforeAll(async () => {
    ({ img, manifest } = btrfsImage(which));
    before = await sha256File(img);
    vfs = await Vfs.open(img);
  });
  afterAll(async () => {
    await vfs?.close();
    expect(await sha256File(img)).toBe(before);
  });

  it('the top level shows what the kernel mount shows, every subvolume and snapshot at its place', async () => {
    const n = await compareWithKernel(vfs, '/p0', manifest.subvolumes['5']!);
    expect(n).toBeGreaterThan(30);
  });

  it('each subvolume shows what a subvolid= mount of it shows', async () => {
    expect(manifest.list.length).toBe(6);
    for (const s of manifest.list) await compareWithKernel(vfs, `/p0/${s.path}`, manifest.subvolumes[String(s.id)]!);
  });

  it('info lists the subvolumes as btrfs subvolume list does: id, path, generation, read-only, snapshot', async () => {
    const subs = vfs.info().volumes[0]!.filesystem!.subvolumes!;
    expect(subs.map((s) => ({ id: s.id, gen: s.generation, path: s.path, readOnly: s.readOnly, parentUuid: s.parentUuid }))).toEqual(manifest.list);
    const snap = await vfs.lookup('/p0/.snapshots/1/snapshot');
    expect(snap.stat.attributes).toEqual(['subvolume', 'snapshot', 'readonly']);
    expect((await vfs.lookup('/p0/home')).stat.attributes).toEqual(['subvolume']);
  });

  it('the read-only snapshot keeps the earlier version of a changed file', async () => {
    const src = await vfs.openFile(await vfs.lookup('/p0/.snapshots/1/snapshot/hello.txt'));
    expect((await src.read(0, 100)).toString()).toBe('hello, first version\n');
    const now = await vfs.openFile(await vfs.lookup('/p0/hello.txt'));
    expect((await now.read(0, 100)).toString()).toBe('hello, second version (after the snapshot)\n');
  });
});

describe('the test images hold every kind of extent and reference (btrfs inspect-internal dump-tree)', () => {
  it.each(['kernel', 'holes'] as const)('%s', (which) => {
    const { img } = btrfsImage(which);
    const dump = tool('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', img]);
    for (const c of ['zlib', 'lzo', 'zstd']) {
      expect(dump, c).toMatch(new RegExp(`extent data disk byte \\d+ nr \\d+\\s+extent data offset \\d+ nr \\d+ ram \\d+\\s+extent compression \\d \\(${c}\\)`));
      expect(dump, `inline ${c}`).toMatch(new RegExp(`inline extent data size \\d+ ram_bytes \\d+ compression \\d \\(${c}\\)`));
    }
    expect(dump).toMatch(/type 2 \(prealloc\)/);
    expect(dump).toMatch(/INODE_EXTREF/);
    // Explicit hole items only without NO_HOLES.
    if (which === 'holes') expect(dump).toMatch(/extent data disk byte 0 nr 0/);
    else expect(dump).not.toMatch(/extent data disk byte 0 nr 0/);
  });
});

describe('names-only listings (ls -R, the FUSE mount)', () => {
  it('readdirNames and namesOnly readdir give the kernel names and types; partial nodes complete to full ones', async () => {
    const { img, manifest } = btrfsImage('kernel');
    const vfs = await Vfs.open(img);
    try {
      const kernel = new Map(manifest.subvolumes['5']!.map((e) => [e.path, e]));
      const seen: string[] = [];
      const stack = ['/p0'];
      while (stack.length) {
        const d = stack.pop()!;
        const dir = await vfs.lookup(d);
        const l = await vfs.readdirNames(dir);
        const partial = await vfs.readdir(dir, { namesOnly: true });
        expect(partial.map((p) => p.name)).toEqual([...l.names]);
        for (const [i, name] of l.names.entries()) {
          const path = (d === '/p0' ? '' : d.slice(3)) + '/' + name;
          seen.push(path);
          expect(l.types[i], path).toBe(kernel.get(path)?.type);
          const full = await vfs.complete(partial[i]!);
          expect(full.stat.size, path).toBe(kernel.get(path)!.size);
          expect(full.stat.nlink, path).toBe(kernel.get(path)!.nlink);
          // A partial node made from the columns alone (as the FUSE layer keeps them).
          const fs = vfs.volumes[0]!.fs!;
          const bare = await fs.complete!({ name, stat: partialStat(l.types[i]!, l.inos[i]!, true), partial: true });
          expect(bare.stat.size, path).toBe(kernel.get(path)!.size);
          if (l.types[i] === 'dir') stack.push(`${d}/${name}`);
        }
      }
      expect(seen.sort()).toEqual([...kernel.keys()].sort());
    } finally {
      await vfs.close();
    }
  });
});
