/**
 * Habits of the command line around extract and dd (issue 20): what a user types and reads.
 * Oracles: the NTFS builder's record of the streams it wrote, the FAT manifest, the exit codes
 * documented in src/errors.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { progressView } from '../../src/tui/progress.js';
import { CLI, diskpick, hasTool, sha256, sha256File, type ManifestEntry } from '../helpers/tools.js';
import { fatImages } from '../fat/images.js';
import { ntfsSmall } from './helpers.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'dp-habit-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('extract', () => {
  it('one file with two named streams says 1 file and 2 streams', async () => {
    const { img, extra } = ntfsSmall();
    const before = await sha256File(img);
    const streams = (extra as unknown as { streams: Record<string, Record<string, { size: number; sha256: string }>> }).streams['/hello.txt']!;
    expect(Object.keys(streams)).toHaveLength(2);
    const out = tmp();
    const r = diskpick(['extract', img, '/p0/hello.txt', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^extracted 1 file and 2 streams \(/);
    for (const [name, s] of Object.entries(streams)) expect(sha256(readFileSync(join(out, `hello.txt:${name}`)))).toBe(s.sha256);
    expect(await sha256File(img)).toBe(before);
  });

  it('without -o, restores into the current folder (as 7zz x does)', () => {
    const gpt = fatImages.gpt();
    const manifest = JSON.parse(readFileSync(`${gpt}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    const want = manifest.p1!.find((e) => e.path === '/lower.txt')!;
    const cwd = tmp();
    const r = diskpick(['extract', gpt, '/p1/lower.txt'], { cwd });
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(cwd)).toEqual(['lower.txt']);
    expect(sha256(readFileSync(join(cwd, 'lower.txt')))).toBe(want.sha256);
  });

  it('-o naming a file says "is not a folder" (exit 7)', () => {
    const gpt = fatImages.gpt();
    const f = join(tmp(), 'afile');
    writeFileSync(f, 'x');
    const r = diskpick(['extract', gpt, '/p1/lower.txt', '-o', f]);
    expect(r.status).toBe(7);
    expect(r.stderr).toBe(`diskpick: ${f}: is not a folder\n`);
  });

  it('into a folder that can never be made (under /proc): one line, exit 7, no wait', () => {
    const gpt = fatImages.gpt();
    for (const target of ['/proc/diskpick-none/out', '/proc/self/diskpick-out', '/proc/sys/diskpick-out']) {
      const t0 = Date.now();
      const r = spawnSync(process.execPath, [CLI, 'extract', gpt, '/p1/docs', '-o', target], { timeout: 20_000 });
      expect(r.status, `${target}: ${r.stderr}`).toBe(7);
      const lines = r.stderr.toString().trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^diskpick: \/proc\/[^:]+: /);
      expect(Date.now() - t0).toBeLessThan(15_000);
    }
  });

  it('a restore where everything was skipped shows no throughput', () => {
    const view = progressView({ filesDone: 3, filesTotal: 3, bytesDone: 0, bytesTotal: 0, current: '' }, 2000, 80);
    expect(view.counts).toBe('3/3 files  0 B of 0 B');
    // The engine takes skipped files out of the total, so nothing copied reads as nothing done.
    const gpt = fatImages.gpt();
    const out = tmp();
    expect(diskpick(['extract', '-q', gpt, '/p1/docs', '-o', out]).status).toBe(0);
    const again = diskpick(['extract', '--skip-existing', gpt, '/p1/docs', '-o', out]);
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(/^extracted 0 files \(0 B\), \d+ folders?, \d+ skipped → /);
    expect(again.stderr).not.toMatch(/\/s/);
  });
});

describe.skipIf(!hasTool('script'))('dd -o - to a terminal', () => {
  it('is refused in one line (exit 2), as gzip refuses; redirected it writes the disk', async () => {
    const gpt = fatImages.gpt();
    // script(1) gives the command a terminal as stdout.
    const r = spawnSync('script', ['-qec', `'${process.execPath}' '${CLI}' dd '${gpt}' -o -; echo "exit=$?"`, '/dev/null'], { encoding: 'utf8', timeout: 30_000 });
    const text = r.stdout.replace(/\r/g, '');
    expect(text).toContain('diskpick: will not write a disk image to a terminal; redirect it (> FILE or | …) or give -o FILE\n');
    expect(text).toContain('exit=2');
    expect(text.length).toBeLessThan(400);
    const piped = diskpick(['dd', gpt, '-o', '-']);
    expect(piped.status).toBe(0);
    expect(sha256(piped.stdout)).toBe(await sha256File(gpt));
  });
});
