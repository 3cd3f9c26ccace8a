/**
 * Issue 26 item 9: names that are not names. ext entries whose name holds "/" or NUL are
 * listed (bytes spelled \x2f, \x00) with a warning and restored under a safe name, never
 * dropped; "." and ".." are never entries; two entries with one name (ext, FAT) are both
 * restored, side by side as name~2, with a "renamed" line, through a folder or a glob.
 * Oracles: debugfs ls (ext), fsck.fat -n "Duplicate directory entry" (FAT), the builders' plans.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildDuplicateNames, type DuplicatePlan } from '../../scripts/images/hostile2.js';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { debugfsBatch, parseDebugfsLs } from '../ext/helpers.js';
import { hostileExt } from '../cli/helpers.js';
import { expectCleanOutput } from './common.js';

describe('names with "/" or NUL (ext)', () => {
  it('are listed, warned about once, and restored with their bytes', async () => {
    const { img, plan } = hostileExt();
    const before = await sha256File(img);
    // debugfs lists every stored entry of /evil (names with "/" and NUL included).
    const oracle = parseDebugfsLs(debugfsBatch(img, ['ls -l /evil'])[0]!);
    const r = diskpick(['ls', '--json', img, '/p0/evil']);
    expect(r.status, r.stderr).toBe(0);
    expectCleanOutput(r, 'ls');
    const rows = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { name: string; ino: number });
    // Every entry but "." and "..": the ".." planted by the builder is not an entry either.
    const real = oracle.filter((e) => e.name !== '..' && e.name !== '.');
    expect(rows.map((x) => x.ino).sort()).toEqual(real.map((e) => e.ino).sort());
    expect(rows.some((x) => x.name === '.' || x.name === '..')).toBe(false);
    for (const n of ['../../etc/pwnd', '/tmp/dp-escape', 'nul\0inside.txt']) {
      expect(rows.map((x) => x.name)).toContain(n.replace(/\//g, '\\x2f').replace(/\0/g, '\\x00'));
    }
    expect(r.stderr.match(/"\/" or NUL byte/g)).toHaveLength(1);
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-names-'));
    try {
      const x = diskpick(['extract', '--json', img, '/p0/evil', '-o', out]);
      expect(x.status, x.stderr).toBe(0);
      expectCleanOutput(x, 'extract');
      const s = JSON.parse(x.stdout.toString()) as { renamed: { source: string; target: string }[] };
      for (const n of ['../../etc/pwnd', '/tmp/dp-escape', 'nul\0inside.txt']) {
        const shown = n.replace(/\//g, '\\x2f').replace(/\0/g, '\\x00');
        const ren = s.renamed.find((q) => q.source === `/p0/evil/${shown}`);
        expect(ren, n).toBeDefined();
        expect(ren!.target.startsWith(join(out, 'evil') + '/')).toBe(true);
        expect(readFileSync(ren!.target, 'utf8')).toBe(plan.contents[n]);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });
});

describe('two entries with one name', () => {
  for (const kind of ['ext', 'fat'] as const) {
    it(`${kind}: both restored side by side (folder and glob), each renamed one reported`, async () => {
      const img = cachedImage(`h2-dup-${kind}.img`, (p) => void buildDuplicateNames(p, kind));
      const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as DuplicatePlan;
      const before = await sha256File(img);
      if (kind === 'ext') {
        const l = parseDebugfsLs(debugfsBatch(img, [`ls -l ${plan.folder}`])[0]!).filter((e) => e.name === plan.name);
        expect(l).toHaveLength(2);
        expect(new Set(l.map((e) => e.ino)).size).toBe(2);
      } else {
        expect(spawnSync('fsck.fat', ['-n', img], { encoding: 'utf8' }).stdout).toMatch(/Duplicate directory entry/);
      }
      const dot = plan.name.lastIndexOf('.');
      const second = `${plan.name.slice(0, dot)}~2${plan.name.slice(dot)}`;
      for (const sel of [`/p0${plan.folder}`, `/p0/**/${plan.name.toLowerCase()}`, `/p0${plan.folder}/*`]) {
        const out = mkdtempSync(join(tmpdir(), 'dp-h2-dup-'));
        try {
          const r = diskpick(['extract', img, sel, '-o', out]);
          expect(r.status, `${sel}: ${r.stderr}`).toBe(0);
          expectCleanOutput(r, sel);
          expect(r.stderr.match(/renamed .* \(name already taken by another entry\)/g), sel).toHaveLength(1);
          // A glob's matches sit below its literal prefix: /p0 for **, the folder itself for *.
          const dir = sel.endsWith('/*') ? out : join(out, plan.folder.slice(1));
          const names = readdirSync(dir);
          expect(names, sel).toEqual(expect.arrayContaining([plan.name, second]));
          const got = [readFileSync(join(dir, plan.name), 'utf8'), readFileSync(join(dir, second), 'utf8')].sort();
          expect(got, sel).toEqual([...plan.contents].sort());
        } finally {
          rmSync(out, { recursive: true, force: true });
        }
      }
      expect(await sha256File(img)).toBe(before);
    });
  }
});
