/**
 * Btrfs test plumbing: images from scripts/images/btrfs.ts (cached), and the comparison of
 * what diskpick shows with what the kernel's read-only mount showed (the image's manifest).
 */
import { expect } from 'vitest';
import type { Vfs, VfsNode } from '../../src/vfs/vfs.js';
import type { Timespec } from '../../src/fs/types.js';
import { BTRFS_IMAGES, readKernelManifest, type KernelEntry, type KernelManifest } from '../../scripts/images/btrfs.js';
import { cachedImage } from '../helpers/tools.js';
import { existsSync } from 'node:fs';
import { readAll, sha } from '../ext/helpers.js';

export function btrfsImage(which: keyof typeof BTRFS_IMAGES): { img: string; manifest: KernelManifest } {
  const { name, build } = BTRFS_IMAGES[which];
  const img = cachedImage(name, build);
  if (!existsSync(`${img}.manifest.json`)) build(img);
  return { img, manifest: readKernelManifest(img) };
}

export function ns(t: Timespec | undefined): string {
  return t ? String(BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec)) : 'none';
}

/** Every entry below `start`, by path relative to it. */
export async function walk(vfs: Vfs, start: string): Promise<Map<string, VfsNode>> {
  const out = new Map<string, VfsNode>();
  const stack = [await vfs.lookup(start)];
  while (stack.length) {
    const d = stack.pop()!;
    for (const k of await vfs.readdir(d)) {
      out.set(k.path.slice(start.length), k);
      if (k.stat.type === 'dir') stack.push(k);
    }
  }
  return out;
}

/**
 * The tree below `start` against the kernel's walk of the same subvolume: names, types, sizes,
 * contents, targets, modes, owners, link counts, device numbers, all four times (ns), xattrs,
 * and hard links sharing an inode number exactly where the kernel's do. Returns how many
 * file contents were compared.
 */
export async function compareWithKernel(vfs: Vfs, start: string, kernel: KernelEntry[]): Promise<number> {
  const ours = await walk(vfs, start);
  expect([...ours.keys()].sort()).toEqual(kernel.map((k) => k.path).sort());
  const inoPairs = new Map<string, number>();
  let contents = 0;
  for (const k of kernel) {
    const n = ours.get(k.path)!;
    const s = n.stat;
    const p = k.path;
    expect(s.type, p).toBe(k.type);
    // An empty placeholder folder (a nested subvolume inside a snapshot, kernel inode 2) has
    // no inode on disk: the kernel makes one up with the current time.
    const placeholder = k.type === 'dir' && k.ino === '2';
    expect({ mode: s.mode, uid: s.uid, gid: s.gid, nlink: s.nlink }, p).toEqual({ mode: k.mode, uid: k.uid, gid: k.gid, nlink: k.nlink });
    if (k.type !== 'dir' || !placeholder) expect(s.size, p).toBe(k.size);
    if (!placeholder) {
      expect({ atime: ns(s.atime), mtime: ns(s.mtime), ctime: ns(s.ctime) }, p).toEqual({ atime: k.atimeNs, mtime: k.mtimeNs, ctime: k.ctimeNs });
      if (k.birthtimeNs) expect(ns(s.birthtime), p).toBe(k.birthtimeNs);
    }
    if (k.type === 'symlink') expect(s.symlinkTarget, p).toBe(k.target);
    if (k.type === 'chardev' || k.type === 'blockdev') expect(s.rdev, p).toBe(k.rdev);
    if (k.type === 'file' && k.sha256) {
      expect(sha(await readAll(vfs, n)), p).toBe(k.sha256);
      contents++;
    }
    const x = await vfs.xattrs(n);
    const theirs = Object.fromEntries(Object.entries(k.xattrs));
    expect(Object.fromEntries([...x].map(([name, v]) => [name, v.toString('hex')])), p).toEqual(theirs);
    if (k.type !== 'dir') {
      // Same kernel inode (device and number: each subvolume is its own device) ⇔ same diskpick inode.
      const id = `${k.dev}:${k.ino}`;
      const seen = inoPairs.get(id);
      if (seen === undefined) inoPairs.set(id, s.ino);
      else expect(s.ino, `${p} hard link`).toBe(seen);
    }
  }
  const distinct = new Set([...inoPairs.values()]);
  expect(distinct.size).toBe(inoPairs.size);
  return contents;
}
