/**
 * Hostile images of issue 26 ("hostile images, round two"), each built from an oracle-checked
 * base (mkfs.ext4 -d, mkfs.fat + mcopy) and then damaged with the tools' own editors
 * (debugfs -w) or patched in code at offsets the tools report, with the structure's field
 * names. What was planted is written next to the image as `<image>.plan.json`, from what this
 * builder did, never from diskpick.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTree } from './tree.js';

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
}

/** Runs debugfs -w with one command per line. */
export function debugfsWrite(img: string, cmds: string[]): void {
  run('debugfs', ['-w', '-f', '-', img], cmds.join('\n') + '\n');
}

function finish(tmp: string, imgPath: string, plan: unknown): void {
  writeFileSync(`${imgPath}.plan.json`, JSON.stringify(plan, null, 1));
  renameSync(tmp, imgPath);
}

export interface LoopPlan {
  /** Folder entries planted to point at their own folder or one above it: folder → names. */
  loops: Record<string, string[]>;
}

/**
 * Item 1: /d holds a.txt, b.txt, zsub/ (with c.txt), zz.txt and "self" (a hard link of /d
 * itself, made by debugfs ln); /d/zsub holds "rootup" (→ /) and "parentup" (→ /d).
 */
export function buildExtLoopEntries(imgPath: string): LoopPlan {
  const tree = `${imgPath}.tree`;
  rmSync(tree, { recursive: true, force: true });
  writeTree(tree, [
    { path: 'd/a.txt', content: 'first file\n' },
    { path: 'd/b.txt', content: 'second file\n' },
    { path: 'd/zsub/c.txt', content: 'in the subfolder\n' },
    { path: 'd/zz.txt', content: 'last file\n' },
  ]);
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  run('mkfs.ext4', ['-F', '-q', '-b', '1024', '-E', 'root_owner=0:0', '-d', tree, tmp, '4M']);
  debugfsWrite(tmp, ['ln /d /d/self', 'ln / /d/zsub/rootup', 'ln /d /d/zsub/parentup']);
  const plan: LoopPlan = { loops: { '/d': ['self'], '/d/zsub': ['rootup', 'parentup'] } };
  finish(tmp, imgPath, plan);
  return plan;
}

export interface DeepPlan {
  /** Folder levels below /p0 of each chain: /deep/d/d/… and /mid/d/d/…. */
  deep: number;
  mid: number;
  /** Content of the file at the bottom of each chain (/…/d/bottom.txt). */
  bottom: string;
}

/**
 * Item 2: two chains of folders each named "d", 3 000 and 1 000 levels deep, with a file at
 * the bottom of each and one file beside every 100th level of the shorter one. Made by debugfs
 * mkdir/cd (a host tree that deep passes PATH_MAX, so mkfs -d cannot take one).
 */
export function buildExtDeepTree(imgPath: string, deep = 3000, mid = 1000): DeepPlan {
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  const bottom = `${imgPath}.bottom`;
  const plan: DeepPlan = { deep, mid, bottom: 'at the bottom of the tree\n' };
  writeFileSync(bottom, plan.bottom);
  run('mkfs.ext4', ['-F', '-q', '-b', '1024', '-N', String(deep + mid + 64), '-O', '^metadata_csum', '-E', 'root_owner=0:0', tmp, '16M']);
  const cmds: string[] = [];
  for (const [top, levels] of [['deep', deep], ['mid', mid]] as const) {
    cmds.push('cd /', `mkdir ${top}`, `cd ${top}`);
    for (let i = 1; i <= levels; i++) {
      cmds.push('mkdir d', 'cd d');
      if (top === 'mid' && i % 100 === 0) cmds.push(`write ${bottom} level${i}.txt`);
    }
    cmds.push(`write ${bottom} bottom.txt`);
  }
  debugfsWrite(tmp, cmds);
  rmSync(bottom, { force: true });
  finish(tmp, imgPath, plan);
  return plan;
}
