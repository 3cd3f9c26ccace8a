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
