/**
 * Before a restore: which targets already exist in the chosen folder, so the TUI can ask
 * before anything is overwritten. The restore engine itself is the planner (dry run), so
 * the names checked are exactly the names it will write.
 */
import { lstat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { restore } from '../restore/restore.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';

export interface Conflicts {
  outDir: string;
  /** Host paths of files that exist already. */
  existing: string[];
}

/** `~` and relative paths are taken from the user's home and the current folder. */
export function resolveTarget(input: string, cwd: string, home = process.env.HOME ?? cwd): string {
  const t = input.trim() || cwd;
  if (t === '~') return home;
  if (t.startsWith('~/')) return resolve(home, t.slice(2));
  return resolve(cwd, t);
}

export async function findConflicts(vfs: Vfs, nodes: VfsNode[], outDir: string, signal?: AbortSignal): Promise<Conflicts> {
  const plan = await restore(vfs, nodes.map((node) => ({ node })), { outDir, dryRun: true, signal });
  const existing: string[] = [];
  for (const w of plan.written) {
    if (w.type === 'dir') continue;
    try {
      await lstat(w.target);
      existing.push(w.target);
    } catch {
      // absent: nothing to ask about
    }
  }
  return { outDir, existing };
}
