/**
 * Issue 26 item 1: ext folder entries that point back at their own folder or one above it.
 * Entries stay name+inode pairs (the listing equals debugfs ls minus the loop entries), every
 * loop entry is reported once and never followed, and every file's bytes equal debugfs cat.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildExtLoopEntries, type LoopPlan } from '../../scripts/images/hostile2.js';
import { cachedImage, diskpick, sha256File, toolBytes } from '../helpers/tools.js';
import { debugfsBatch, parseDebugfsLs } from '../ext/helpers.js';
import { expectCleanOutput } from './common.js';

const img = cachedImage('h2-ext-loops.img', (p) => void buildExtLoopEntries(p));
const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as LoopPlan;

/** debugfs's entries of each folder, without "." "..", and without the planted loop entries. */
function oracle(): Map<string, { ino: number; dir: boolean; size: number }> {
  const out = new Map<string, { ino: number; dir: boolean; size: number }>();
  const todo = ['/'];
  while (todo.length) {
    const d = todo.pop()!;
    const [text] = debugfsBatch(img, [`ls -l ${d}`]);
    for (const e of parseDebugfsLs(text!)) {
      if (e.name === 'lost+found') continue;
      if ((plan.loops[d] ?? []).includes(e.name)) continue;
      const p = d === '/' ? `/${e.name}` : `${d}/${e.name}`;
      const dir = (e.mode & 0o170000) === 0o040000;
      out.set(p, { ino: e.ino, dir, size: e.size });
      if (dir) todo.push(p);
    }
  }
  return out;
}

describe('ext folder entries pointing back up (issue 26 item 1)', () => {
  it('debugfs shows the planted entries (the damage is real)', () => {
    const [d, z] = debugfsBatch(img, ['ls -l /d', 'ls -l /d/zsub']);
    const names = (t: string) => parseDebugfsLs(t).map((e) => e.name);
    expect(names(d!)).toEqual(expect.arrayContaining(['a.txt', 'b.txt', 'zsub', 'zz.txt', 'self']));
    expect(names(z!)).toEqual(expect.arrayContaining(['c.txt', 'rootup', 'parentup']));
  });

  it('ls -R (names only), ls -l -R and --json list exactly debugfs minus the loop entries, each loop reported', async () => {
    const before = await sha256File(img);
    const want = oracle();
    const expected = [...want.keys()].map((p) => `/p0${p}`).sort();
    for (const args of [['ls', '-R'], ['ls', '-l', '-R'], ['ls', '-R', '--json']]) {
      const r = diskpick([...args, img, '/p0']);
      expect(r.status, r.stderr).toBe(0);
      expectCleanOutput(r, args.join(' '));
      let paths: string[];
      if (args.includes('--json')) {
        const rows = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; ino: number; type: string; size: number });
        for (const row of rows) {
          const o = want.get(row.path.slice(3));
          if (!o) continue;
          expect(row.ino, row.path).toBe(o.ino);
          expect(row.type === 'dir', row.path).toBe(o.dir);
          if (!o.dir) expect(row.size, row.path).toBe(o.size);
        }
        paths = rows.map((x) => x.path);
      } else {
        paths = r.stdout.toString().trim().split('\n').map((l) => (args.includes('-l') ? l.slice(l.indexOf(' /p0') + 1) : l));
      }
      paths = paths.filter((p) => !p.startsWith('/p0/lost+found'));
      // Each entry once: no folder twice, no real entry lost.
      expect([...paths].sort(), args.join(' ')).toEqual(expected);
      for (const [d, names] of Object.entries(plan.loops)) {
        for (const n of names) expect(r.stderr, `${d}/${n} reported`).toMatch(new RegExp(`\\b${n}\\b.*(loop|own parents)`));
      }
    }
    expect(await sha256File(img)).toBe(before);
  });

  it('extract restores every file once with the bytes debugfs cat gives, nothing renamed', async () => {
    const before = await sha256File(img);
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-loops-'));
    try {
      const r = diskpick(['extract', '--json', img, '/p0/d', '-o', out]);
      expect(r.status, r.stderr).toBe(0);
      expectCleanOutput(r, 'extract');
      const s = JSON.parse(r.stdout.toString()) as { renamed: unknown[]; written: { source: string; target: string; type: string }[] };
      expect(s.renamed).toEqual([]);
      expect(readdirSync(join(out, 'd')).sort()).toEqual(['a.txt', 'b.txt', 'zsub', 'zz.txt']);
      expect(readdirSync(join(out, 'd', 'zsub')).sort()).toEqual(['c.txt']);
      for (const f of ['a.txt', 'b.txt', 'zz.txt', 'zsub/c.txt']) {
        expect(readFileSync(join(out, 'd', f)).equals(toolBytes('debugfs', ['-R', `cat /d/${f}`, img])), f).toBe(true);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });
});
