/** Helpers shared by the LVM2 test files: info --json, files against their trees, lvs rows. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { LvsRow } from '../../scripts/images/lvm.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { diskpick, sha256 } from '../helpers/tools.js';

export interface InfoJson {
  warnings: string[];
  findings: string[];
  volumes: Array<{ name: string; start: number | null; size: number; what: string; parent: string | null; members: string[] | null;
    system: { name: string; describe: string; details?: Record<string, unknown> } | null; content: { type: string; uuid?: string; label?: string } | null;
    filesystem: { type: string; label: string | null } | null; error: string | null }>;
}

export function info(args: string[]): InfoJson {
  const r = diskpick(['info', '--json', ...args]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString()) as InfoJson;
}

/**
 * Every file of a tree compared with the same path under `prefix` in the image, restored in one
 * `extract` run (one process, not one per file); the first file also through `cat`.
 */
export function expectTreeMatches(args: string[], prefix: string, tree: string): void {
  const files = manifestOf(tree).filter((e) => e.type === 'file');
  expect(files.length).toBeGreaterThan(3);
  const out = mkdtempSync(join(tmpdir(), 'dp-lvm-'));
  try {
    const r = diskpick(['extract', ...args, prefix, '-o', out, '-q']);
    expect(r.status, `extract ${prefix}: ${r.stderr}`).toBe(0);
    const base = join(out, prefix.slice(prefix.lastIndexOf('/') + 1));
    for (const f of files) expect(sha256(readFileSync(join(base, f.path))), `${prefix}${f.path}`).toBe(f.sha256);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const c = diskpick(['cat', ...args, `${prefix}${files[0]!.path}`]);
  expect(c.status, c.stderr).toBe(0);
  expect(sha256(c.stdout)).toBe(files[0]!.sha256);
}

export function lvsRows(img: string): LvsRow[] {
  return JSON.parse(readFileSync(`${img}.lvs.json`, 'utf8')) as LvsRow[];
}

