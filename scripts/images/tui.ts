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
