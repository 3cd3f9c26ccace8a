/**
 * TUI test image: a bare ext4 filesystem (mke2fs -d from a seeded host tree) with a
 * 12 000-entry folder, for "large folders stay fluid", symlinks (shown with their target) and
 * an emoji name. `<image>.manifest.json` is the
 * manifest of the host tree, as for the FAT images.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addSymlink, manifestOf, writeTree, type TreeFile } from './tree.js';

export const TUI_BIG_FOLDER = 'many';
export const TUI_BIG_COUNT = 12_000;

export function buildBigFolderExt(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(tmp, { force: true });
  mkdirSync(work, { recursive: true });
  const tree: TreeFile[] = [{ path: 'readme.txt', content: 'a folder with many files\n' }];
  // Empty files take no blocks: the image stays small.
  for (let i = 0; i < TUI_BIG_COUNT; i++) tree.push({ path: `${TUI_BIG_FOLDER}/entry-${String(i).padStart(5, '0')}.dat`, content: '' });
  tree.push({ path: 'names/Ünïcödé 日本語 🎉.txt', content: 'emoji and CJK\n' }, { path: 'names/plain.txt', content: 'plain\n' });
  const src = join(work, 'tree');
  writeTree(src, tree);
  addSymlink(src, 'names/link-to-readme', '../readme.txt');
  addSymlink(src, 'names/dangling', 'nowhere/at/all');
  execFileSync('mkfs.ext4', ['-F', '-q', '-N', String(TUI_BIG_COUNT + 100), '-L', 'BIGFOLDER', '-d', src, tmp, '32M'], { stdio: ['ignore', 'pipe', 'pipe'] });
  writeFileSync(`${path}.manifest.json`, JSON.stringify({ p0: manifestOf(src) }, null, 1));
  renameSync(tmp, path);
  rmSync(work, { recursive: true, force: true });
}

/**
 * A small ext4 image for sorting, folder sizes and the hex preview: files of distinct sizes
 * and times (name, size and time orders all differ), folders whose sizes add up from nested
 * files, and files with repeated 16-byte rows (zeros, a pattern) that hexdump -C collapses.
 */
export function buildSortHexExt(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(tmp, { force: true });
  mkdirSync(work, { recursive: true });
  const pattern = Buffer.alloc(4096);
  for (let i = 0; i < pattern.length; i++) pattern[i] = i % 16 < 8 ? 0x41 + (i % 8) : 0;
  const mixed = Buffer.concat([Buffer.from('header: not repeated\n'), Buffer.alloc(1000), Buffer.from('middle bytes differ'), Buffer.alloc(500, 0xff), Buffer.from('end')]);
  const tree: TreeFile[] = [
    { path: 'b-medium.txt', content: 'm'.repeat(5000), mtime: 1_600_000_300 },
    { path: 'a-small.txt', content: 'small\n', mtime: 1_600_000_100 },
    { path: 'c-large.bin', size: 70_000, seed: 7, mtime: 1_600_000_200 },
    { path: 'zeros.bin', content: Buffer.alloc(3000), mtime: 1_600_000_050 },
    { path: 'pattern.bin', content: pattern, mtime: 1_600_000_060 },
    { path: 'mixed.bin', content: mixed, mtime: 1_600_000_070 },
    { path: 'dir-big/x/one.bin', size: 40_000, seed: 1, mtime: 1_600_000_000 },
    { path: 'dir-big/two.bin', size: 30_000, seed: 2, mtime: 1_600_000_000 },
    { path: 'dir-small/one.txt', content: 'tiny\n', mtime: 1_600_000_000 },
    { path: 'dir-mid/y/z/deep.bin', size: 20_000, seed: 3, mtime: 1_600_000_000 },
  ];
  const src = join(work, 'tree');
  writeTree(src, tree);
  execFileSync('mkfs.ext4', ['-F', '-q', '-L', 'SORTHEX', '-d', src, tmp, '8M'], { stdio: ['ignore', 'pipe', 'pipe'] });
  writeFileSync(`${path}.manifest.json`, JSON.stringify({ p0: manifestOf(src) }, null, 1));
  renameSync(tmp, path);
  rmSync(work, { recursive: true, force: true });
}
