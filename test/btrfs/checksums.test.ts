/**
 * Checksums: images made with each of mkfs.btrfs's --csum types against the kernel's mount;
 * a flipped byte in a data block is a one-line error naming the file and offset (exit 3),
 * --no-verify reads it as it is; a damaged primary superblock falls back to a mirror; a
 * damaged tree block is read from its DUP copy. Bytes are located with dump-tree and
 * btrfs-map-logical (btrfs-progs), never with diskpick.
 */
import { copyFileSync, mkdtempSync, openSync, readSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { diskpick, sha256, sha256File, tool } from '../helpers/tools.js';
import { btrfsImage, compareWithKernel } from './helpers.js';

describe.each([
  ['xxhash', 'xxhash64'],
  ['sha256', 'sha256'],
  ['blake2b', 'blake2b'],
] as const)('mkfs.btrfs --csum %s', (which, name) => {
  it('reads the volume as the kernel does and names the checksum type', async () => {
    const { img, manifest } = btrfsImage(which);
    const before = await sha256File(img);
    const vfs = await Vfs.open(img);
    try {
      expect(vfs.info().volumes[0]!.filesystem!.details.checksum).toBe(name);
      expect(await compareWithKernel(vfs, '/p0', manifest.subvolumes['5']!)).toBeGreaterThan(300);
    } finally {
      await vfs.close();
    }
    expect(await sha256File(img)).toBe(before);
  });
});

/** The logical address of a file's first regular extent, from dump-tree. */
function firstExtent(img: string, fileName: string): number {
  const dump = tool('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', img]);
  const ino = new RegExp(`key \\((\\d+) INODE_REF \\d+\\)[^\\n]*\\n\\s+index \\d+ namelen \\d+ name: ${fileName.replace('.', '\\.')}\\n`).exec(dump)![1]!;
  return Number(new RegExp(`key \\(${ino} EXTENT_DATA 0\\)[^\\n]*\\n[^\\n]*\\n\\s+extent data disk byte (\\d+)`).exec(dump)![1]);
}

/** Physical offsets of every copy of a logical address (btrfs-map-logical). */
function physical(img: string, logical: number): number[] {
  const out = tool('btrfs-map-logical', ['-l', String(logical), '-b', '4096', img]);
  return [...out.matchAll(/mirror \d+ logical \d+ physical (\d+)/g)].map((m) => Number(m[1]));
}

function flipByte(file: string, at: number): void {
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, at);
  closeSync(fd);
}

describe('damage', () => {
  let dir: string;
  let img: string;
  let manifest: ReturnType<typeof btrfsImage>['manifest'];
  beforeAll(() => {
    const src = btrfsImage('rootdir');
    manifest = src.manifest;
    dir = mkdtempSync(join(tmpdir(), 'dp-btrfs-'));
    img = join(dir, 'damaged.img');
    copyFileSync(src.img, img);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a flipped byte in a data block: one line naming the file and offset, exit 3; --no-verify reads it; other files go on', async () => {
    const logical = firstExtent(img, '3m.bin');
    const [phys] = physical(img, logical + 8192);
    flipByte(img, phys! + 100);
    const before = await sha256File(img);
    const r = diskpick(['cat', img, '/p0/mid/3m.bin']);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/3m\.bin: data checksum mismatch at file offset 8192 /);
    const nv = diskpick(['--no-verify', 'cat', img, '/p0/mid/3m.bin']);
    expect(nv.status).toBe(0);
    const want = manifest.subvolumes['5']!.find((e) => e.path === '/mid/3m.bin')!;
    expect(nv.stdout.length).toBe(want.size);
    expect(sha256(nv.stdout)).not.toBe(want.sha256);
    // Only the flipped byte differs: everything else is the kernel's content.
    const ok = diskpick(['cat', img, '/p0/docs/report.txt']);
    expect(ok.status).toBe(0);
    expect(sha256(ok.stdout)).toBe(manifest.subvolumes['5']!.find((e) => e.path === '/docs/report.txt')!.sha256);
    const out = join(dir, 'out');
    const x = diskpick(['extract', img, '/p0/mid', '-o', out]);
    expect(x.status).toBe(1);
    expect(x.stderr).toMatch(/\/p0\/mid\/3m\.bin: data checksum mismatch at file offset 8192/);
    expect(await sha256File(join(out, 'mid', '4k-plus-1.bin'))).toBe(manifest.subvolumes['5']!.find((e) => e.path === '/mid/4k-plus-1.bin')!.sha256);
    expect(await sha256File(img)).toBe(before);
  });

  it('a damaged primary superblock falls back to the mirror at 64 MiB with a warning', async () => {
    const copy = join(dir, 'sb.img');
    copyFileSync(img, copy);
    flipByte(copy, 0x10000 + 0x100);
    const r = diskpick(['info', copy]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/btrfs/);
    expect(r.stdout.toString()).toMatch(/primary superblock is unusable .*checksum mismatch.*mirror at 67108864/);
    const c = diskpick(['cat', copy, '/p0/hello.txt']);
    expect(c.stdout.toString()).toBe('hello from diskpick\n');
  });

  it('a damaged tree block is read from its DUP copy; both copies damaged is one line, exit 3', async () => {
    const copy = join(dir, 'tree.img');
    copyFileSync(img, copy);
    const root = Number(/^root\s+(\d+)$/m.exec(tool('btrfs', ['inspect-internal', 'dump-super', copy]))![1]);
    const copies = physical(copy, root);
    expect(copies.length).toBe(2);
    flipByte(copy, copies[0]! + 200);
    const r = diskpick(['cat', copy, '/p0/hello.txt']);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toBe('hello from diskpick\n');
    flipByte(copy, copies[1]! + 200);
    const bad = diskpick(['ls', copy, '/p0/']);
    expect(bad.status).toBe(3);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/tree block \d+ \(tree root\) has a checksum mismatch/);
  });
});
