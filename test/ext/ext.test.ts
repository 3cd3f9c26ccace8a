/**
 * ext2/3/4 images made by mkfs -d from seeded trees, read through the Vfs and checked against
 * the host tree (lstat, sha256, getfattr) and debugfs (ls -l, stat, dump) on the same image.
 */
import { closeSync, lstatSync, mkdtempSync, openSync, readFileSync, readSync, readdirSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { CLI, cachedImage, diskpick, sha256, sha256File, tool } from '../helpers/tools.js';
import { EXT_SPECIAL as S, EXT_VARIANTS, buildExtImage, treeOf } from '../../scripts/images/ext.js';
import { debugfsBatch, hostManifest, hostXattrs, parseDebugfsLs, readAll, sha, statField, statTime, walkVfs, type HostEntry } from './helpers.js';
import { existsSync } from 'node:fs';

describe.each(EXT_VARIANTS)('$name', (v) => {
  let img: string;
  let tree: string;
  let host: HostEntry[];
  let before: string;
  let vfs: Vfs;

  beforeAll(async () => {
    img = cachedImage(`${v.name}.img`, (p) => void buildExtImage(p, v));
    tree = treeOf(img);
    host = hostManifest(tree);
    before = await sha256File(img);
    vfs = await Vfs.open(img);
  });
  afterAll(async () => {
    await vfs?.close();
  });

  it('lists every folder exactly as the source tree (plus lost+found)', async () => {
    const all = await walkVfs(vfs);
    const ours = [...all.keys()].filter((p) => !p.startsWith('/lost+found')).sort();
    expect(ours).toEqual(host.map((h) => h.path).sort());
  });

  it('every entry has the type, size, content, target, owner and mode of the source tree', async () => {
    for (const h of host) {
      const n = await vfs.lookup('/p0' + h.path);
      expect(n.stat.type, h.path).toBe(h.type);
      expect(n.stat.hasOwnership).toBe(true);
      expect(n.stat.uid, h.path).toBe(h.uid);
      expect(n.stat.gid, h.path).toBe(h.gid);
      if (h.type !== 'symlink') expect(n.stat.mode, h.path).toBe(h.mode);
      if (h.type === 'file') {
        expect(n.stat.size, h.path).toBe(h.size);
        if (h.sha256) expect(sha(await readAll(vfs, n)), h.path).toBe(h.sha256);
      }
      if (h.type === 'symlink') {
        expect(n.stat.symlinkTarget, h.path).toBe(h.target);
        expect(n.stat.size, h.path).toBe(Buffer.byteLength(h.target!));
      }
      if (h.type === 'chardev' || h.type === 'blockdev') expect(n.stat.rdev, h.path).toBe(h.rdev);
      if (h.type !== 'dir' && h.path !== S.old && h.path !== S.future) {
        expect(n.stat.mtime!.sec, h.path).toBe(Math.floor(Number(h.mtimeNs) / 1e9));
      }
    }
  });

  it('hard links share one inode number and count their links', async () => {
    const a = await vfs.lookup('/p0' + S.hardA);
    const b = await vfs.lookup('/p0' + S.hardB);
    expect(a.stat.ino).toBe(b.stat.ino);
    expect(a.stat.nlink).toBe(host.find((h) => h.path === S.hardA)!.nlink);
    expect(a.stat.nlink).toBe(2);
  });

  it('matches debugfs ls -l in every folder: inode, mode, uid, gid, size', async () => {
    const dirs = ['/', ...host.filter((h) => h.type === 'dir').map((h) => h.path)];
    const outs = debugfsBatch(img, dirs.map((d) => `ls -l "${d}"`));
    let compared = 0;
    for (const [i, d] of dirs.entries()) {
      const theirs = parseDebugfsLs(outs[i]!);
      const node = await vfs.lookup('/p0' + d);
      const ours = await vfs.readdir(node);
      expect(ours.length, d).toBe(theirs.length);
      const byName = new Map(ours.map((o) => [o.name, o]));
      for (const t of theirs) {
        const o = byName.get(t.name);
        expect(o, `${d}/${t.name}`).toBeDefined();
        const typeBits = { file: 0o100000, dir: 0o40000, symlink: 0o120000, chardev: 0o20000, blockdev: 0o60000, fifo: 0o10000, socket: 0o140000, other: 0 }[o!.stat.type];
        expect({ ino: o!.stat.ino, mode: typeBits | o!.stat.mode, uid: o!.stat.uid, gid: o!.stat.gid }, `${d}/${t.name}`).toEqual({ ino: t.ino, mode: t.mode, uid: t.uid, gid: t.gid });
        if (o!.stat.type !== 'chardev' && o!.stat.type !== 'blockdev') expect(o!.stat.size, `${d}/${t.name}`).toBe(t.size);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(v.many);
  });

  it('matches debugfs stat: allocated blocks, links and times (1969, 2040, nanoseconds, crtime)', async () => {
    const paths = host.filter((h) => !h.path.startsWith(S.manyDir + '/')).map((h) => h.path);
    const outs = debugfsBatch(img, paths.map((p) => `stat "${p}"`));
    for (const [i, p] of paths.entries()) {
      const t = outs[i]!;
      const n = await vfs.lookup('/p0' + p);
      expect(n.stat.nlink, p).toBe(Number(statField(t, 'Links')));
      const blockcount = Number(statField(t, 'Blockcount'));
      // debugfs prints i_blocks in 512-byte units (fs blocks for EXT4_HUGE_FILE_FL inodes; none here).
      expect(n.stat.allocated, p).toBe(blockcount * 512);
      for (const [f, key] of [['mtime', 'mtime'], ['atime', 'atime'], ['ctime', 'ctime']] as const) {
        expect(n.stat[key]!.sec, `${p} ${f}`).toBe(statTime(t, f));
      }
      if (!v.smallInodes) expect(n.stat.birthtime?.sec, `${p} crtime`).toBe(statTime(t, 'crtime'));
      else expect(n.stat.birthtime, p).toBeUndefined();
    }
    // The two dated files against the host tree, nanoseconds included where the inode holds them.
    for (const p of [S.old, S.future]) {
      const h = host.find((x) => x.path === p)!;
      const n = await vfs.lookup('/p0' + p);
      // Floor division: 1969 is negative seconds with positive nanoseconds.
      const ns = h.mtimeNs;
      const hostSec = Number((ns - (((ns % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n)) / 1_000_000_000n);
      if (v.smallInodes && p === S.future) {
        // 128-byte inodes have no epoch bits: the kernel clamped to the last 32-bit second.
        expect(n.stat.mtime!.sec).toBe(2 ** 31 - 1);
      } else {
        expect(n.stat.mtime!.sec, p).toBe(hostSec);
      }
      if (v.kernelDates && !v.smallInodes) expect(n.stat.mtime!.nsec, p).toBe(Number(((h.mtimeNs % 1_000_000_000n) + 1_000_000_000n) % 1_000_000_000n));
    }
    expect((await vfs.lookup('/p0' + S.old)).stat.mtime!.sec).toBeLessThan(0);
  });

  it('special files: FIFO, character and block devices with their device numbers', async () => {
    expect((await vfs.lookup('/p0' + S.fifo)).stat.type).toBe('fifo');
    const c = await vfs.lookup('/p0' + S.chardev);
    expect(c.stat.type).toBe('chardev');
    const b = await vfs.lookup('/p0' + S.blockdev);
    expect(b.stat.type).toBe('blockdev');
    // debugfs: "Device major/minor number: 07:300 (hex 07:12c)".
    const [ct, bt] = debugfsBatch(img, [`stat ${S.chardev}`, `stat ${S.blockdev}`]);
    const dev = (t: string) => /Device major\/minor number: (\d+):(\d+)/.exec(t)!.slice(1).map(Number);
    const enc = ([maj, min]: number[]) => (min! & 0xff) | (maj! << 8) | ((min! & ~0xff) << 12);
    expect(c.stat.rdev).toBe(enc(dev(ct!)));
    expect(b.stat.rdev).toBe(enc(dev(bt!)));
    await expect(vfs.openFile(c)).rejects.toThrow(/character device/);
  });

  it('xattrs (inode body, external block, ACL) equal getfattr on the source tree', async () => {
    for (const p of [S.xattrFile, '/docs']) {
      const ours = await vfs.xattrs(await vfs.lookup('/p0' + p));
      const theirs = hostXattrs(join(tree, p));
      expect([...ours.keys()].sort(), p).toEqual([...theirs.keys()].sort());
      for (const [k, val] of theirs) expect(ours.get(k)?.toString('hex'), `${p} ${k}`).toBe(val.toString('hex'));
    }
    expect((await vfs.xattrs(await vfs.lookup('/p0/hello.txt'))).size).toBe(0);
  });

  it('sparse file: holes read as zeros, allocation below size, dump equals debugfs dump', async () => {
    const out = mkdtempSync(join(tmpdir(), 'diskpick-ext-dump-'));
    try {
      const files = [S.sparseFile, '/mid/1m.bin', S.unicode, ...(v.big ? [S.bigFile] : [])];
      debugfsBatch(img, files.map((f, i) => `dump "${f}" ${join(out, String(i))}`));
      for (const [i, f] of files.entries()) {
        const n = await vfs.lookup('/p0' + f);
        // debugfs dumps an inline-data file as its whole 60-byte inline area; the file is its first i_size bytes.
        const dumped = readFileSync(join(out, String(i)));
        expect(dumped.length, f).toBeGreaterThanOrEqual(n.stat.size);
        expect(sha(await readAll(vfs, n)), f).toBe(sha256(dumped.subarray(0, n.stat.size)));
      }
      const sp = await vfs.lookup('/p0' + S.sparseFile);
      expect(sp.stat.size).toBe(S.sparseSize);
      expect(sp.stat.allocated).toBeLessThan(S.sparseSize / 8);
      // A random window that is all hole.
      const src = await vfs.openFile(sp);
      const hole = await src.read(10 << 20, 1 << 20);
      expect(hole.length).toBe(1 << 20);
      expect(hole.every((x) => x === 0)).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it.skipIf(!v.huge)('a 5 GiB sparse file: data around and past 4 GiB equals the host file', async () => {
    const n = await vfs.lookup('/p0' + S.hugeFile);
    expect(n.stat.size).toBe(S.hugeSize);
    const src = await vfs.openFile(n);
    const fd = openSync(join(tree, S.hugeFile), 'r');
    try {
      for (const at of [...S.hugeWrites, 3 * 1024 ** 3]) {
        const start = Math.max(0, at - 4096);
        const len = Math.min(16384, S.hugeSize - start);
        const want = Buffer.alloc(len);
        readSync(fd, want, 0, len, start);
        expect(sha(await src.read(start, len)), `offset ${start}`).toBe(sha(want));
      }
    } finally {
      closeSync(fd);
    }
  });

  it('big folder: htree-indexed (debugfs htree), every name listed, lookups by name', async () => {
    const [ht] = debugfsBatch(img, [`htree ${S.manyDir}`]);
    expect(ht).toMatch(/Root node dump/);
    const dir = await vfs.lookup('/p0' + S.manyDir);
    const kids = await vfs.readdir(dir);
    expect(kids.length).toBe(v.many);
    expect(kids.map((k) => k.name).sort()).toEqual(readdirSync(join(tree, S.manyDir)).sort());
    for (let i = 0; i < v.many; i += 997) {
      const n = await vfs.lookup(`/p0${S.manyDir}/file-${String(i).padStart(5, '0')}.txt`);
      expect(n.stat.size).toBe(i % 50 === 0 ? `entry ${i}\n`.length : 0);
    }
    await expect(vfs.lookup(`/p0${S.manyDir}/absent.txt`)).rejects.toThrow(/no such file/);
  });

  it('info: type, label and UUID as blkid prints them; clean volume has no warnings', () => {
    const info = vfs.info().volumes[0]!.filesystem!;
    const blk = (tag: string) => tool('blkid', ['-p', '-o', 'value', '-s', tag, img]).trim();
    expect(info.type).toBe(blk('TYPE'));
    expect(info.label).toBe(blk('LABEL'));
    expect(info.uuid).toBe(blk('UUID'));
    const dump = tool('dumpe2fs', ['-h', img]);
    expect(info.blockSize).toBe(Number(/^Block size:\s+(\d+)/m.exec(dump)![1]));
    expect(info.details.blockCount).toBe(Number(/^Block count:\s+(\d+)/m.exec(dump)![1]));
    expect(info.details.inodeCount).toBe(Number(/^Inode count:\s+(\d+)/m.exec(dump)![1]));
    expect(String(info.details.features).split(' ').length).toBeGreaterThan(3);
    expect(info.warnings).toEqual([]);
  });

  it('leaves the image unchanged', async () => {
    expect(await sha256File(img)).toBe(before);
  });
});

const built = existsSync(CLI);
describe.skipIf(!built)('ext through the diskpick CLI', () => {
  it('cat and info work on an ext4 image', () => {
    const v = EXT_VARIANTS[0]!;
    const img = cachedImage(`${v.name}.img`, (p) => void buildExtImage(p, v));
    const r = diskpick(['cat', img, '/p0/docs/report.txt']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(r.stdout)).toBe(sha256(readFileSync(join(treeOf(img), 'docs/report.txt'))));
    const info = diskpick(['info', img]);
    expect(info.status, info.stderr).toBe(0);
    expect(info.stdout.toString()).toMatch(/ext4/);
  });

  it('ls -l shows device numbers as stat(1) does on the source tree (12-bit major, 20-bit minor)', () => {
    const v = EXT_VARIANTS[0]!;
    const img = cachedImage(`${v.name}.img`, (p) => void buildExtImage(p, v));
    const tree = treeOf(img);
    const lines = diskpick(['ls', '-l', img, '/p0/dev']).stdout.toString().trim().split('\n');
    let devices = 0;
    for (const name of readdirSync(join(tree, 'dev'))) {
      const st = lstatSync(join(tree, 'dev', name));
      if (!st.isCharacterDevice() && !st.isBlockDevice()) continue;
      const [major, minor] = execFileSync('stat', ['-c', '%t %T', join(tree, 'dev', name)], { encoding: 'utf8' }).trim().split(' ').map((h) => parseInt(h, 16));
      const line = lines.find((l) => l.endsWith(` ${name}`));
      expect(line, name).toContain(`${major}, ${minor} `);
      devices++;
    }
    expect(devices).toBeGreaterThan(0);
  });
});
