/**
 * Issue 26 item 2: deep trees. Every walk (find, ls -R, globs, extract) is iterative, so a
 * 3 000-level tree costs memory only; extract makes each folder once (strace counts the mkdir
 * calls: one per folder, not one per folder per entry below it).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildExtDeepTree, type DeepPlan } from '../../scripts/images/hostile2.js';
import { CLI, cachedImage, diskpick, sha256File, toolBytes } from '../helpers/tools.js';
import { expectCleanOutput } from './common.js';

const img = cachedImage('h2-ext-deep.img', (p) => void buildExtDeepTree(p));
const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as DeepPlan;
const chain = (n: number) => Array.from({ length: n }, () => 'd').join('/');

describe('deep trees (issue 26 item 2)', () => {
  it('debugfs reads the bottom file of the 3 000-level chain (the oracle)', () => {
    // debugfs takes the path from its command line; it resolves each component itself.
    const bytes = toolBytes('debugfs', ['-R', `cat /deep/${chain(plan.deep)}/bottom.txt`, img]);
    expect(bytes.toString()).toBe(plan.bottom);
  });

  it('find, ls -R and a ** glob walk 3 000 levels: every entry, exit 0, no stack overflow', async () => {
    const before = await sha256File(img);
    const f = diskpick(['find', img, '/p0', '--name', 'bottom.txt']);
    expect(f.status, f.stderr).toBe(0);
    expectCleanOutput(f, 'find');
    expect(f.stdout.toString().trim().split('\n').sort()).toEqual([`/p0/deep/${chain(plan.deep)}/bottom.txt`, `/p0/mid/${chain(plan.mid)}/bottom.txt`]);

    const l = diskpick(['ls', '-R', img, '/p0/deep']);
    expect(l.status, l.stderr).toBe(0);
    expectCleanOutput(l, 'ls -R');
    // plan.deep folders and the bottom file.
    expect(l.stdout.toString().trim().split('\n').length).toBe(plan.deep + 1);

    const lj = diskpick(['ls', '-R', '--json', img, '/p0/mid']);
    expect(lj.status, lj.stderr).toBe(0);
    expect(lj.stdout.toString().trim().split('\n').length).toBe(plan.mid + plan.mid / 100 + 1);

    const g = diskpick(['ls', img, '/p0/deep/**/bottom.txt']);
    expect(g.status, g.stderr).toBe(0);
    expectCleanOutput(g, 'glob');
    expect(g.stdout.toString().trim()).toBe(`/p0/deep/${chain(plan.deep)}/bottom.txt`);
    expect(await sha256File(img)).toBe(before);
  });

  it('extract of 1 000 levels makes each folder once and restores every file', async () => {
    const before = await sha256File(img);
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-deep-'));
    try {
      const r = spawnSync('strace', ['-f', '-c', '-e', 'trace=mkdir,mkdirat', '-o', join(out, 'strace.txt'), process.execPath, CLI, 'extract', '--json', img, '/p0/mid', '-o', join(out, 'x')], { maxBuffer: 1 << 28 });
      expect(r.status, r.stderr.toString()).toBe(0);
      const s = JSON.parse(r.stdout.toString()) as { written: { type: string }[]; failed: unknown[] };
      expect(s.failed).toEqual([]);
      expect(s.written.filter((w) => w.type === 'dir').length).toBe(plan.mid + 1);
      expect(s.written.filter((w) => w.type === 'file').length).toBe(plan.mid / 100 + 1);
      // The output folder, then one call per folder restored.
      const calls = /(\d+)\s+(?:\d+\s+)?mkdir(?:at)?\n/.exec(readFileSync(join(out, 'strace.txt'), 'utf8'));
      expect(Number(calls![1])).toBeLessThanOrEqual(plan.mid + 2);
      let p = join(out, 'x', 'mid');
      for (let i = 1; i <= plan.mid; i++) {
        p = join(p, 'd');
        if (i % 100 === 0) expect(readFileSync(join(p, `level${i}.txt`), 'utf8')).toBe(plan.bottom);
      }
      expect(readdirSync(p).sort()).toEqual(['bottom.txt', `level${plan.mid}.txt`]);
      expect(readFileSync(join(p, 'bottom.txt')).equals(toolBytes('debugfs', ['-R', `cat /mid/${chain(plan.mid)}/bottom.txt`, img]))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });
});
