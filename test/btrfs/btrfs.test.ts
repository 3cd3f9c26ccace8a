/**
 * Btrfs images made by mkfs.btrfs --rootdir and by the kernel, read through the Vfs and
 * compared with the kernel's own read-only loop mount of the same image (walked when the image
 * was built, once per subvolume with subvolid=).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { sha256File } from '../helpers/tools.js';
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
