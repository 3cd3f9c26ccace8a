/**
 * Issue 26 item 10: full and read-only targets (tmpfs mounts: root is allowed loop and tmpfs
 * mounts here, as on CI). The first ENOSPC stops an extract with one line and exit 7, and no
 * cut file stays under a final name (every file left equals its source); dd on a full disk
 * leaves no file behind; a read-only target is named as such (it said "no such file").
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildManyFiles } from '../../scripts/images/hostile2.js';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { expectCleanOutput } from './common.js';

const img = cachedImage('h2-many-files.img', (p) => void buildManyFiles(p));
const tree = `${img}.tree`;
let base: string;
let full: string;
let ro: string;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), 'dp-h2-full-'));
  full = join(base, 'full');
  ro = join(base, 'ro');
  mkdirSync(full);
  mkdirSync(ro);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', ro]);
});
afterAll(() => {
  for (const m of [full, ro]) spawnSync('umount', [m]);
  rmSync(base, { recursive: true, force: true });
});

describe('full and read-only targets (issue 26 item 10)', () => {
  it('extract into a full filesystem: one line, exit 7, every file left is whole', async () => {
    const before = await sha256File(img);
    const r = diskpick(['extract', img, '/p0/many', '-o', join(full, 'x')]);
    expect(r.status, r.stderr).toBe(7);
    expectCleanOutput(r, 'extract');
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => /no space left/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => l.startsWith('diskpick: '))).toHaveLength(1);
    expect(r.stderr).toMatch(/stopped after extracting/);
    const left = readdirSync(join(full, 'x', 'many'));
    expect(left.length).toBeLessThan(24);
    for (const f of left) expect(readFileSync(join(full, 'x', 'many', f)).equals(readFileSync(join(tree, 'many', f))), f).toBe(true);
    const j = diskpick(['extract', '--json', '--force', img, '/p0/many', '-o', join(full, 'x')]);
    expect(j.status).toBe(7);
    expect((JSON.parse(j.stdout.toString()) as { stopped: string }).stopped).toMatch(/no space left/);
    rmSync(join(full, 'x'), { recursive: true, force: true });
    expect(await sha256File(img)).toBe(before);
  });

  it('dd onto a full filesystem: exit 7, no cut file left', () => {
    const r = diskpick(['dd', '-q', img, '-o', join(full, 'disk.raw')]);
    expect(r.status).toBe(7);
    expectCleanOutput(r, 'dd');
    expect(r.stderr).toMatch(/disk\.raw: no space left on the device/);
    expect(existsSync(join(full, 'disk.raw'))).toBe(false);
  });

  it('a read-only target is named read-only, for a new folder and for an existing one', () => {
    for (const out of [join(ro, 'new', 'deeper'), ro]) {
      const r = diskpick(['extract', img, '/p0/many', '-o', out]);
      expect(r.status, r.stderr).toBe(7);
      expectCleanOutput(r, 'extract ro');
      expect(r.stderr.trim().split('\n').filter((l) => l.startsWith('diskpick: '))).toHaveLength(1);
      expect(r.stderr).toMatch(/read-only file system/);
      const d = diskpick(['dd', '-q', img, '-o', join(out, 'disk.raw')]);
      expect(d.status).toBe(7);
      expect(d.stderr).toMatch(/read-only file system|no such file/);
    }
  });
});
