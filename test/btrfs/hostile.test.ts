/**
 * Hostile and unreadable Btrfs images: one line naming the file and the problem, the
 * documented exit code, no hang. RAID5 (made by mkfs.btrfs over two image files) is named and
 * refused with exit 6; each half of a RAID1 pair alone reads as the kernel mount of both; a tree node pointing at itself (checksum made valid again) cannot make a
 * walk endless; an image cut short says so.
 */
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc32cUpdate } from '../../src/fs/ext/crc32c.js';
import { diskpick, sha256File, tool } from '../helpers/tools.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { secondDevice } from '../../scripts/images/btrfs.js';
import { btrfsImage, compareWithKernel } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dp-btrfs-hostile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function oneLine(r: { status: number; stderr: string }, code: number, pattern: RegExp): void {
  expect(r.status, r.stderr).toBe(code);
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/internal error|    at /);
}

describe('hostile Btrfs', () => {
  it('RAID5 data chunks: named, exit 6', () => {
    const a = join(dir, 'r5a.img');
    const b = join(dir, 'r5b.img');
    for (const p of [a, b]) closeSync(openSync(p, 'w')), truncateSync(p, 300 << 20);
    tool('mkfs.btrfs', ['-q', '-f', '-d', 'raid5', '-m', 'raid1', a, b]);
    oneLine(diskpick(['ls', a, '/p0/']), 6, /RAID5 chunks .* not supported/);
  });

  it('a tree node whose first pointer leads back to itself: one line, exit 3, no hang', () => {
    const { img } = btrfsImage('rootdir');
    const copy = join(dir, 'loop.img');
    copyFileSync(img, copy);
    const dump = tool('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', copy]);
    const m = /^node (\d+) level 1 items/m.exec(dump);
    expect(m, 'the fs tree of the rootdir image has an interior node').not.toBeNull();
    const bytenr = Number(m![1]);
    const phys = [...tool('btrfs-map-logical', ['-l', String(bytenr), copy]).matchAll(/physical (\d+)/g)].map((x) => Number(x[1]));
    const fd = openSync(copy, 'r+');
    for (const p of phys) {
      const node = Buffer.alloc(16384);
      readSync(fd, node, 0, node.length, p);
      node.writeBigUInt64LE(BigInt(bytenr), 0x65 + 17);
      node.writeUInt32LE((crc32cUpdate(0xffffffff, node, 32, node.length) ^ 0xffffffff) >>> 0, 0);
      writeSync(fd, node, 0, node.length, p);
    }
    closeSync(fd);
    oneLine(diskpick(['ls', '-R', copy, '/p0/']), 3, /tree block \d+ \(tree fs\) is level 1 where its parent expects 0/);
  });

  it('an image cut short: one line, exit 3', () => {
    const { img } = btrfsImage('rootdir');
    const copy = join(dir, 'short.img');
    copyFileSync(img, copy);
    truncateSync(copy, 20 << 20);
    oneLine(diskpick(['ls', copy, '/p0/']), 3, /truncated|past the end/);
  });
});

describe('RAID1 across two images (made and mounted by the kernel)', () => {
  it.each([0, 1])('device %i alone holds a full copy: every file as the kernel mount of both shows it, with a warning', async (i) => {
    const { img, manifest } = btrfsImage('raid1');
    const dev = i === 0 ? img : secondDevice(img);
    const before = await sha256File(dev);
    const vfs = await Vfs.open(dev);
    try {
      const fs = vfs.info().volumes[0]!.filesystem!;
      expect(fs.details.dataProfile).toBe('RAID1');
      expect(fs.details.deviceId).toBe(i + 1);
      expect(fs.warnings.join('\n')).toMatch(/spans 2 devices/);
      expect(await compareWithKernel(vfs, '/p0', manifest.subvolumes['5']!)).toBeGreaterThan(300);
    } finally {
      await vfs.close();
    }
    expect(await sha256File(dev)).toBe(before);
  });
});
