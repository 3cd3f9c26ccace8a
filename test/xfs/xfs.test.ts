/**
 * XFS against the kernel: images populated through a root loop mount (v5 variants), walked by
 * diskpick and by the kernel's read-only mount of the same image (names, types, sizes, sha256,
 * times in ns, modes, owners, link counts, device numbers, symlink targets, xattrs). xfs_db -r
 * confirms that each on-disk form the tests name is really there.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { cachedImage, diskpick, sha256, sha256File } from '../helpers/tools.js';
import { XFS_SPECIAL as S, XFS_VARIANTS, buildXfsImage } from '../../scripts/images/xfs.js';
import { readAll, sha } from '../ext/helpers.js';
import { dbFields, getfattrTree, kernelWalk, ns, withKernelMount, xfsDb, type KernelEntry } from './helpers.js';
import { join } from 'node:path';

const kernelVariants = XFS_VARIANTS.filter((v) => v.kernel);

describe.each(kernelVariants)('XFS $name against the kernel', (v) => {
  let img: string;
  let before: string;
  let vfs: Vfs;
  let kernel: KernelEntry[];
  let kernelX: Map<string, Map<string, Buffer>>;
  const ours = new Map<string, VfsNode>();

  beforeAll(async () => {
    img = cachedImage(`${v.name}.img`, (p) => buildXfsImage(p, v));
    before = await sha256File(img);
    ({ kernel, kernelX } = withKernelMount(img, '', (mnt) => ({ kernel: kernelWalk(mnt), kernelX: getfattrTree(join(mnt, 'xattr'), mnt) })));
    vfs = await Vfs.open(img);
    const stack = [await vfs.lookup('/p0')];
    while (stack.length) {
      const d = stack.pop()!;
      for (const k of await vfs.readdir(d)) {
        ours.set(k.path.slice(3), k);
        if (k.stat.type === 'dir') stack.push(k);
      }
    }
  }, 600_000);
  afterAll(async () => {
    await vfs?.close();
    if (img) expect(await sha256File(img)).toBe(before);
  });

  it('info: XFS v5 with its features, a clean log', () => {
    const fs = vfs.info().volumes[0]!.filesystem!;
    expect(fs.type).toBe('XFS');
    expect(fs.details.version).toBe(5);
    expect(fs.details.log).toBe('clean');
    expect(fs.warnings).toEqual([]);
    const sb = dbFields(xfsDb(img, ['sb 0', 'p uuid blocksize dirblklog sectsize']));
    expect(fs.details.sectorSize).toBe(Number(sb.get('sectsize')));
    expect(fs.uuid).toBe(sb.get('uuid'));
    expect(fs.blockSize).toBe(Number(sb.get('blocksize')));
    expect(fs.details.directoryBlockSize).toBe(Number(sb.get('blocksize')) << Number(sb.get('dirblklog')));
  });

  it('every entry equals the kernel mount: names, types, sizes, modes, owners, links, inodes, device numbers, symlink targets, times (ns)', () => {
    expect([...ours.keys()].sort()).toEqual(kernel.map((k) => k.path).sort());
    for (const k of kernel) {
      const o = ours.get(k.path)!.stat;
      const got = {
        type: o.type, size: o.size, mode: o.mode, uid: o.uid, gid: o.gid, nlink: o.nlink, ino: o.ino,
        rdev: o.rdev ?? 0, atime: ns(o.atime), mtime: ns(o.mtime), ctime: ns(o.ctime), target: o.symlinkTarget,
      };
      const want = { type: k.type, size: k.size, mode: k.mode, uid: k.uid, gid: k.gid, nlink: k.nlink, ino: k.ino, rdev: k.rdev, atime: k.atimeNs, mtime: k.mtimeNs, ctime: k.ctimeNs, target: k.target };
      expect(got, k.path).toEqual(want);
    }
    expect(kernel.length).toBeGreaterThan(v.many);
  });

  it('every file with data reads back with the kernel\'s sha256', async () => {
    let n = 0;
    for (const k of kernel) {
      if (k.type !== 'file' || !k.sha256 || k.size === 0) continue;
      expect(sha(await readAll(vfs, ours.get(k.path)!)), k.path).toBe(k.sha256);
      n++;
    }
    expect(n).toBeGreaterThan(20);
  }, 120_000);

  it('a 5 GiB sparse file: data around and past 4 GiB equals the kernel\'s', async () => {
    const node = await vfs.lookup('/p0' + S.huge);
    expect(node.stat.size).toBe(S.hugeSize);
    expect(node.stat.attributes).toContain('sparse');
    const src = await vfs.openFile(node);
    const offsets = [...S.hugeWrites, 3 * 1024 ** 3].map((at) => Math.max(0, at - 4096));
    const want = withKernelMount(img, '', (mnt) => {
      const fd = openSync(join(mnt, S.huge), 'r');
      try {
        return offsets.map((at) => {
          const b = Buffer.alloc(16384);
          readSync(fd, b, 0, 16384, at);
          return sha(b);
        });
      } finally {
        closeSync(fd);
      }
    });
    for (const [i, at] of offsets.entries()) expect(sha(await src.read(at, 16384)), `offset ${at}`).toBe(want[i]);
  });

  it('xattrs in every form (short form, leaf, node, remote value, POSIX ACLs) equal getfattr on the kernel mount', async () => {
    expect(kernelX.size).toBeGreaterThanOrEqual(6);
    for (const [p, theirs] of kernelX) {
      const mine = await vfs.xattrs(await vfs.lookup('/p0' + p));
      expect([...mine.keys()].sort(), p).toEqual([...theirs.keys()].sort());
      for (const [name, val] of theirs) expect(mine.get(name)?.toString('hex'), `${p} ${name}`).toBe(val.toString('hex'));
    }
    expect((await vfs.xattrs(await vfs.lookup('/p0/hello.txt'))).size).toBe(0);
    // xfs_db: the forms really are short form (1), leaf (block 0 a leaf) and node (block 0 a da node).
    const form = (p: string) => dbFields(xfsDb(img, [`path ${p}`, 'p core.aformat']));
    expect(form(S.xattrSf).get('core.aformat')).toMatch(/^1 /);
    const magic = (p: string) => /hdr\.info\.(?:hdr\.)?magic = (0x[0-9a-f]+)/.exec(xfsDb(img, [`path ${p}`, 'ablock 0', 'p']))?.[1];
    expect(magic(S.xattrLeaf)).toBe('0x3bee');
    expect(magic(S.xattrNode)).toBe('0x3ebe');
  });

  it('folders in every form: short form, block, leaf, node and B+tree, as xfs_db shows them', async () => {
    for (const [d, count] of Object.entries(S.dirs)) {
      const kids = await vfs.readdir(await vfs.lookup(`/p0/dirs/${d}`));
      expect(kids.length, d).toBe(count);
    }
    const f = (p: string) => dbFields(xfsDb(img, [`path ${p}`, 'p core.format']));
    expect(f('/dirs/sf').get('core.format')).toMatch(/^1 /);
    expect(f(S.many).get('core.format')).toMatch(v.many >= 100_000 ? /^3 / : /^[23] /);
    // Leaf/node forms: the data fork maps blocks at the 32 GiB leaf offset.
    // The hash index's root at the leaf offset (32 GiB = file block 2^35 / blocksize): a
    // single leaf (0x3df1) or a node (0x3ebe) above leaves. With 64 KiB directory blocks the
    // 400-name folder fits one block and 3000 names one leaf.
    const leafDb = 2 ** 35 / Number(dbFields(xfsDb(img, ['sb 0', 'p blocksize'])).get('blocksize'));
    const rootMagic = (d: string) => /hdr\.info\.hdr\.magic = (0x[0-9a-f]+)/.exec(xfsDb(img, [`path ${d}`, `dblock ${leafDb}`, 'p']))?.[1];
    const want = v.name === 'xfs-v5' ? { '/dirs/leaf': '0x3df1', '/dirs/node': '0x3ebe', [S.many]: '0x3ebe' } : { '/dirs/node': '0x3df1', [S.many]: '0x3df1' };
    for (const [d, m] of Object.entries(want)) expect(rootMagic(d), d).toBe(m);
    if (v.name === 'xfs-v5') expect(/magic = (0x[0-9a-f]+)/.exec(xfsDb(img, ['path /dirs/block', 'dblock 0', 'p']))?.[1]).toBe('0x58444233');
  });

  it('single names are found through the hash index, in every folder form', async () => {
    for (const [d, count] of Object.entries({ ...S.dirs, many: v.many })) {
      const dir = d === 'many' ? S.many : `/dirs/${d}`;
      for (const i of [0, Math.floor(count / 2), count - 1]) {
        const name = d === 'many' ? `file-${String(i).padStart(6, '0')}` : `entry-with-a-longer-name-${String(i).padStart(5, '0')}.txt`;
        const k = kernel.find((e) => e.path === `${dir}/${name}`)!;
        const n = await vfs.lookup(`/p0${dir}/${name}`);
        expect(n.stat.ino, `${dir}/${name}`).toBe(k.ino);
      }
      await expect(vfs.lookup(`/p0${dir}/absent-name`)).rejects.toThrow(/no such|not found|does not exist/i);
    }
    // A name that is not UTF-8, by its listed (U+FFFD) form.
    const bad = [...ours.keys()].find((p) => p.includes('\ufffd'))!;
    expect((await vfs.lookup('/p0' + bad)).stat.ino).toBe(kernel.find((e) => e.path === bad)!.ino);
  });

  it('a file of 10 000 extents (bmbt), shared (reflinked) extents, unwritten extents and holes read as the kernel reads them', async () => {
    const f = dbFields(xfsDb(img, [`path ${S.fragmented}`, 'p core.format', 'p core.nextents']));
    expect(f.get('core.format')).toMatch(/^3 /);
    // The written blocks, and unwritten extents (speculative preallocation) between them.
    expect(Number(f.get('core.nextents'))).toBeGreaterThanOrEqual(S.fragmentedExtents);
    // Shared (reflinked) extents: the copy maps the same blocks as the original, read as data.
    const first = (p: string) => /startblock (\d+)/.exec(xfsDb(img, [`path ${p}`, 'bmap']))?.[1];
    expect(first('/reflinked.bin')).toBe(first(S.big));
    expect(sha(await readAll(vfs, await vfs.lookup('/p0/reflinked.bin')))).toBe(kernel.find((k) => k.path === S.big)!.sha256);
    const pre = xfsDb(img, [`path ${S.prealloc}`, 'bmap']);
    expect(pre).toMatch(/flag 1/);
    const node = await vfs.lookup('/p0' + S.prealloc);
    const data = await readAll(vfs, node);
    expect(data.subarray(0, 1 << 20).every((b) => b === 0)).toBe(true);
    expect(data.subarray(1 << 20, (1 << 20) + 65536).every((b) => b === 0x5a)).toBe(true);
  });

  it('CLI: ls, cat, and a missing path (exit 4); the image is unchanged', () => {
    const ls = diskpick(['ls', img, '/p0/links']);
    expect(ls.status).toBe(0);
    expect(ls.stdout.toString().split('\n').filter(Boolean).sort()).toEqual(['long', 'short', 'target.txt']);
    const cat = diskpick(['cat', img, '/p0' + S.big]);
    expect(cat.status).toBe(0);
    expect(sha256(cat.stdout)).toBe(kernel.find((k) => k.path === S.big)!.sha256);
    const miss = diskpick(['cat', img, '/p0/no/such/file']);
    expect(miss.status).toBe(4);
    expect(miss.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('XFS dirty log', () => {
  it('is replayed in memory: the tree equals the kernel\'s own recovery of a copy, and differs from the un-replayed state', async () => {
    const { buildXfsDirtyImage } = await import('../../scripts/images/xfs.js');
    const img = cachedImage('xfs-dirty.img', (p) => buildXfsDirtyImage(p));
    const before = await sha256File(img);
    // The oracle: a copy recovered by the kernel (a read-write mount replays the log).
    const dir = mkdtempSync(join(tmpdir(), 'diskpick-xfs-rec-'));
    const recovered = join(dir, 'recovered.img');
    copyFileSync(img, recovered);
    withKernelMount(recovered, 'rw', () => undefined);
    const kernel = withKernelMount(recovered, '', (mnt) => ({ walk: kernelWalk(mnt), x: getfattrTree(join(mnt, 'kept'), mnt) }));
    const unreplayed = withKernelMount(img, 'norecovery', (mnt) => kernelWalk(mnt));
    const vfs = await Vfs.open(img);
    try {
      const fs = vfs.info().volumes[0]!.filesystem!;
      expect(fs.details.log).toBe('replayed in memory');
      expect(fs.warnings.join('\n')).toMatch(/not cleanly unmounted.*replayed in memory.*the image was not changed/);
      expect(Number(fs.details.logTransactions)).toBeGreaterThan(10);
      // xfs_logprint: "log tail: 15 head: 460 state: <DIRTY>"; ours walks the same blocks.
      const lp = execFileSync('xfs_logprint', ['-t', img], { encoding: 'utf8' });
      const m = /log tail: (\d+) head: (\d+) state: <DIRTY>/.exec(lp)!;
      expect(m).not.toBeNull();
      expect(fs.details.logBlocks).toBe(Number(m[2]) - Number(m[1]));
      expect(unreplayed.map((k) => k.path).sort()).not.toEqual(kernel.walk.map((k) => k.path).sort());
      const ours = new Map<string, VfsNode>();
      const stack = [await vfs.lookup('/p0')];
      while (stack.length) {
        const d = stack.pop()!;
        for (const k of await vfs.readdir(d)) {
          ours.set(k.path.slice(3), k);
          if (k.stat.type === 'dir') stack.push(k);
        }
      }
      expect([...ours.keys()].sort()).toEqual(kernel.walk.map((k) => k.path).sort());
      for (const k of kernel.walk) {
        const n = ours.get(k.path)!;
        const o = n.stat;
        expect({ type: o.type, size: o.size, mode: o.mode, nlink: o.nlink, ino: o.ino, mtime: ns(o.mtime), ctime: ns(o.ctime) }, k.path)
          .toEqual({ type: k.type, size: k.size, mode: k.mode, nlink: k.nlink, ino: k.ino, mtime: k.mtimeNs, ctime: k.ctimeNs });
        if (k.type === 'file') expect(sha(await readAll(vfs, n)), k.path).toBe(k.sha256);
      }
      for (const [p, theirs] of kernel.x) {
        const mine = await vfs.xattrs(await vfs.lookup('/p0' + p));
        expect(Object.fromEntries([...mine].map(([a, b]) => [a, b.toString('hex')])), p).toEqual(Object.fromEntries([...theirs].map(([a, b]) => [a, b.toString('hex')])));
      }
      expect(kernel.x.get('/kept/old-0.txt')?.get('user.logged')?.toString()).toBe('in the log');
    } finally {
      await vfs.close();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  }, 180_000);
});
