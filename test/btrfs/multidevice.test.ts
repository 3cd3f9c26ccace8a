/**
 * Multi-device Btrfs opened across the disks of one VM (the image and --disk FILE, as LVM2 takes
 * its PVs): devices found by fsid and devid, chunks mapped to stripes on each device. Images
 * from the kernel (mkfs.btrfs -d raid0/raid10 -m raid1/raid10 on loop devices, filled through
 * a root mount); oracle: the kernel's read-only mount of all devices together (names, types,
 * sizes, sha256, times, modes, owners, xattrs; scripts/images/btrfs.ts). A missing device fails
 * only what needs it; a damaged RAID1 data copy is read from the healthy one, as the kernel does.
 */
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { crc32cUpdate } from '../../src/fs/ext/crc32c.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { deviceImages, secondDevice } from '../../scripts/images/btrfs.js';
import { diskpick, sha256File, tool } from '../helpers/tools.js';
import { readAll, sha } from '../ext/helpers.js';
import { btrfsImage, compareWithKernel } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dp-btrfs-multi-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function hashes(files: string[]): Promise<string[]> {
  return Promise.all(files.map((f) => sha256File(f)));
}

describe('multi-device Btrfs across the disks given together', () => {
  it.each([
    ['raid0', 2, 'RAID0', 'RAID1'],
    ['raid10', 4, 'RAID10', 'RAID10'],
  ] as const)('%s over %i images: every file as the kernel mount of all of them shows it; the other disks are its devices', async (which, count, data, meta) => {
    const { img, manifest } = btrfsImage(which);
    const imgs = deviceImages(img, count);
    const before = await hashes(imgs);
    // Given in another order than devid order: the devices are found by devid all the same.
    const order = [imgs[count - 1]!, ...imgs.slice(0, count - 1)];
    const vfs = await Vfs.open(order[0]!, { disks: order.slice(1) });
    try {
      const vols = vfs.info().volumes;
      const fs = vols[0]!.filesystem!;
      expect(fs.details).toMatchObject({ dataProfile: data, metadataProfile: meta, devices: count, devicesOpened: Array.from({ length: count }, (_, k) => k + 1).join(' ') });
      expect(fs.warnings.join('\n')).not.toMatch(/not among the disks/);
      for (const v of vols.slice(1)) expect(v.error).toBe('is a device of the multi-device filesystem shown at /p0');
      expect(await compareWithKernel(vfs, '/p0', manifest.subvolumes['5']!)).toBeGreaterThan(300);
    } finally {
      await vfs.close();
    }
    // A walk of the whole image passes the member disks by (as LVM PVs), exit 0.
    const r = diskpick(['ls', '-R', order[0]!, ...order.slice(1).flatMap((d) => ['--disk', d]), '/']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toMatch(new RegExp(`^/p0/${which}\\.bin$`, 'm'));
    expect(r.stdout.toString()).not.toMatch(/^\/disk2\/p0\//m);
    expect(await hashes(imgs)).toEqual(before);
  });

  it('RAID0 with its second device missing: RAID1 metadata and inline files read, a striped file fails in one line naming it (exit 3), the rest goes on', async () => {
    const { img, manifest } = btrfsImage('raid0');
    const before = await sha256File(img);
    const vfs = await Vfs.open(img);
    try {
      const fs = vfs.info().volumes[0]!.filesystem!;
      expect(fs.warnings.join('\n')).toMatch(/spans 2 devices; device 2 is not among the disks given/);
      const hello = manifest.subvolumes['5']!.find((e) => e.path === '/hello.txt')!;
      expect(sha(await readAll(vfs, await vfs.lookup('/p0/hello.txt')))).toBe(hello.sha256);
    } finally {
      await vfs.close();
    }
    const r = diskpick(['cat', img, '/p0/raid0.bin']);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/raid0\.bin: Btrfs logical address \d+ lies on device 2 of the filesystem, which is not among the disks given: add its disk with --disk/);
    const out = join(dir, 'out-raid0');
    const x = diskpick(['extract', img, '/p0/', '-o', out]);
    expect(x.status, x.stderr).toBe(1);
    expect(x.stderr).toMatch(/raid0\.bin/);
    expect(await sha256File(join(out, 'p0', 'hello.txt')).catch(() => sha256File(join(out, 'hello.txt')))).toBe(manifest.subvolumes['5']!.find((e) => e.path === '/hello.txt')!.sha256);
    expect(await sha256File(img)).toBe(before);
  });

  it('RAID10 over four images with one missing: every file still reads from the mirrors, with a warning', async () => {
    const { img, manifest } = btrfsImage('raid10');
    const imgs = deviceImages(img, 4);
    const vfs = await Vfs.open(imgs[0]!, { disks: [imgs[1]!, imgs[3]!] });
    try {
      const fs = vfs.info().volumes[0]!.filesystem!;
      expect(fs.warnings.join('\n')).toMatch(/spans 4 devices; device 3 is not among the disks given \(devices 1, 2, 4 are opened\)/);
      expect(await compareWithKernel(vfs, '/p0', manifest.subvolumes['5']!)).toBeGreaterThan(300);
    } finally {
      await vfs.close();
    }
  });

  it('RAID1 together, one data copy damaged: the healthy copy is read (the kernel does the same), the damaged copy alone fails with exit 3', async () => {
    const { img, manifest } = btrfsImage('raid1');
    const a = join(dir, 'r1a.img');
    const b = join(dir, 'r1b.img');
    copyFileSync(img, a);
    copyFileSync(secondDevice(img), b);
    // Where raid1.bin's first data sector lies on device 1 (dump-tree and btrfs-map-logical, not diskpick).
    const dump = tool('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', img]);
    const inode = Number(/key \((\d+) INODE_REF 256\) itemoff \d+ itemsize \d+\s+index \d+ namelen \d+ name: raid1\.bin/.exec(dump)![1]);
    const ext = new RegExp(String.raw`key \(${inode} EXTENT_DATA 0\)[\s\S]*?disk byte (\d+) nr`).exec(dump)!;
    // The first stripe of the chunk (mirror 1, read first) is on device 2: damage that copy, so
    // that the read must go on to the second.
    const map = tool('btrfs-map-logical', ['-l', ext[1]!, '-b', '4096', b]);
    const phys = Number(new RegExp(String.raw`mirror 1 logical \d+ physical (\d+) device ${b.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).exec(map)![1]);
    const fd = openSync(b, 'r+');
    writeSync(fd, Buffer.from('damaged'), 0, 7, phys + 100);
    closeSync(fd);
    const want = manifest.subvolumes['5']!.find((e) => e.path === '/raid1.bin')!.sha256;
    const vfs = await Vfs.open(a, { disks: [b] });
    try {
      expect(sha(await readAll(vfs, await vfs.lookup('/p0/raid1.bin')))).toBe(want);
    } finally {
      await vfs.close();
    }
    const r = diskpick(['cat', b, '/p0/raid1.bin']);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/raid1\.bin: data checksum mismatch at file offset 0/);
  });

  it('a copy of device 1 given as the second disk, and a second device left behind (older generation): warned, not read', async () => {
    const { img } = btrfsImage('raid0');
    const [, dev2] = deviceImages(img, 2);
    const copy = join(dir, 'dev1-copy.img');
    copyFileSync(img, copy);
    let vfs = await Vfs.open(img, { disks: [copy] });
    try {
      expect(vfs.info().volumes[0]!.filesystem!.warnings.join('\n')).toMatch(/dev1-copy\.img also says it is device 1: not read/);
    } finally {
      await vfs.close();
    }
    // Device 2's superblock one generation behind (checksum made valid again).
    const old = join(dir, 'dev2-old.img');
    copyFileSync(dev2!, old);
    const fd = openSync(old, 'r+');
    const sb = Buffer.alloc(4096);
    readSync(fd, sb, 0, 4096, 0x10000);
    sb.writeBigUInt64LE(sb.readBigUInt64LE(0x48) - 1n, 0x48);
    sb.writeUInt32LE((crc32cUpdate(0xffffffff, sb, 0x20, 4096) ^ 0xffffffff) >>> 0, 0);
    writeSync(fd, sb, 0, 4096, 0x10000);
    closeSync(fd);
    vfs = await Vfs.open(img, { disks: [old] });
    try {
      const w = vfs.info().volumes[0]!.filesystem!.warnings.join('\n');
      expect(w).toMatch(/device 2 \(.*dev2-old\.img\) is at generation \d+, the filesystem at \d+: it missed later writes and is not read/);
      await expect(readAll(vfs, await vfs.lookup('/p0/raid0.bin'))).rejects.toThrow(/device 2 of the filesystem, which is not among the disks given/);
    } finally {
      await vfs.close();
    }
  });
});
