/**
 * `versions` and `diff` over three nightly images of one seeded tree with known edits: each
 * night's ext4 image is built by mkfs.ext4 -d from a folder the test writes, and the
 * expectations come from what the test changed between nights (the change manifest), never
 * from diskpick's own earlier output.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskpick, sha256File, tool } from '../helpers/tools.js';

const T0 = 1_700_000_000;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const v1 = Buffer.from('report, first draft\n'.repeat(400));
const v2 = Buffer.from('report, second draft, longer\n'.repeat(500));
const aOld = Buffer.from('a'.repeat(1000));
const aNew = Buffer.from('b'.repeat(1000)); // same size, other bytes

interface Night {
  files: Record<string, { data: Buffer; mtime: number; mode?: number }>;
}

const nights: Night[] = [
  { files: { 'a.txt': { data: aOld, mtime: T0 }, 'docs/report.docx': { data: v1, mtime: T0 + 10 }, 'docs/keep.txt': { data: Buffer.from('keep\n'), mtime: T0 }, 'old.txt': { data: Buffer.from('old\n'), mtime: T0 }, 'sub/deep/x.bin': { data: Buffer.alloc(5000, 7), mtime: T0 } } },
  // night 2: report edited (longer), old.txt deleted, new.txt added, keep.txt chmod 600, x.bin renamed to y.bin
  { files: { 'a.txt': { data: aOld, mtime: T0 }, 'docs/report.docx': { data: v2, mtime: T0 + 86400 }, 'docs/keep.txt': { data: Buffer.from('keep\n'), mtime: T0, mode: 0o600 }, 'new.txt': { data: Buffer.from('new\n'), mtime: T0 + 86400 }, 'sub/deep/y.bin': { data: Buffer.alloc(5000, 7), mtime: T0 } } },
  // night 3: report back to the first draft's bytes (a later mtime), a.txt same size other bytes, same mtime
  { files: { 'a.txt': { data: aNew, mtime: T0 }, 'docs/report.docx': { data: v1, mtime: T0 + 2 * 86400 }, 'docs/keep.txt': { data: Buffer.from('keep\n'), mtime: T0, mode: 0o600 }, 'new.txt': { data: Buffer.from('new\n'), mtime: T0 + 86400 }, 'sub/deep/y.bin': { data: Buffer.alloc(5000, 7), mtime: T0 } } },
];

describe('versions and diff across nightly images', () => {
  let dir: string;
  const images: string[] = [];
  const before: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dp-points-'));
    for (const [i, n] of nights.entries()) {
      const tree = join(dir, `tree${i + 1}`);
      for (const [p, f] of Object.entries(n.files)) {
        const full = join(tree, p);
        mkdirSync(join(full, '..'), { recursive: true });
        writeFileSync(full, f.data);
        if (f.mode) chmodSync(full, f.mode);
        utimesSync(full, f.mtime, f.mtime);
      }
      // Listed in reverse on purpose: rows come in time order, not argument order.
      const img = join(dir, `night-${i + 1}.img`);
      tool('truncate', ['-s', '16M', img]);
      tool('mkfs.ext4', ['-q', '-F', '-d', tree, img]);
      utimesSync(img, T0 + (i + 1) * 86400 + 3600, T0 + (i + 1) * 86400 + 3600);
      images.push(img);
    }
    // The last night also as QCOW2: points may be of any container format.
    tool('qemu-img', ['convert', '-O', 'qcow2', images[2]!, `${images[2]}.qcow2`]);
    utimesSync(`${images[2]}.qcow2`, T0 + 3 * 86400 + 3600, T0 + 3 * 86400 + 3600);
    images[2] = `${images[2]}.qcow2`;
    for (const i of images) before.push(await sha256File(i));
  });
  afterAll(async () => {
    for (const [k, i] of images.entries()) expect(await sha256File(i)).toBe(before[k]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('versions: one row per point in time order, hashes, SAME AS and (deleted)', () => {
    const r = diskpick(['versions', '--json', images[2]!, images[0]!, images[1]!, '/p0/docs/report.docx']);
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { point: string; sha256: string; size: number; sameAs: string | null; mtime: string; exists: boolean });
    expect(rows.map((x) => x.point)).toEqual(images);
    expect(rows.map((x) => x.sha256)).toEqual([sha(v1), sha(v2), sha(v1)]);
    expect(rows.map((x) => x.size)).toEqual([v1.length, v2.length, v1.length]);
    expect(rows.map((x) => x.sameAs)).toEqual([null, null, images[0]]);
    expect(rows.map((x) => Date.parse(x.mtime) / 1000)).toEqual([T0 + 10, T0 + 86400, T0 + 2 * 86400]);

    const gone = diskpick(['versions', '--json', ...images, '/p0/old.txt']);
    expect(gone.status, gone.stderr).toBe(0);
    expect(gone.stdout.toString().trim().split('\n').map((l) => (JSON.parse(l) as { exists: boolean }).exists)).toEqual([true, false, false]);

    const text = diskpick(['versions', ...images, '/p0/old.txt']);
    expect(text.stdout.toString()).toMatch(/^POINT\s+MODIFIED\s+SIZE\s+SHA-256\s+SAME AS$/m);
    expect(text.stdout.toString().split('\n').filter((l) => l.includes('(deleted)'))).toHaveLength(2);

    const none = diskpick(['versions', ...images, '/p0/never.txt']);
    expect(none.status).toBe(4);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('diff: added, removed and changed entries as the test made them', () => {
    const r = diskpick(['diff', '--json', images[0]!, images[1]!, '/p0']);
    expect(r.status, r.stderr).toBe(0);
    const got = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; change: string; what: string[] });
    const byPath = new Map(got.map((c) => [c.path, c]));
    expect(byPath.get('/p0/old.txt')?.change).toBe('removed');
    expect(byPath.get('/p0/new.txt')?.change).toBe('added');
    expect(byPath.get('/p0/sub/deep/x.bin')?.change).toBe('removed');
    expect(byPath.get('/p0/sub/deep/y.bin')?.change).toBe('added');
    expect(byPath.get('/p0/docs/report.docx')?.what.sort()).toEqual(['content', 'mtime', 'size']);
    expect(byPath.get('/p0/docs/keep.txt')?.what).toEqual(['mode']);
    // Nothing else: a.txt and every folder are unchanged.
    expect([...byPath.keys()].sort()).toEqual(['/p0/docs/keep.txt', '/p0/docs/report.docx', '/p0/new.txt', '/p0/old.txt', '/p0/sub/deep/x.bin', '/p0/sub/deep/y.bin']);

    const text = diskpick(['diff', images[0]!, images[1]!, '/p0']);
    expect(text.stdout.toString()).toContain('- /p0/old.txt\n');
    expect(text.stdout.toString()).toContain('+ /p0/new.txt\n');
    expect(text.stdout.toString()).toContain('M /p0/docs/keep.txt (mode)\n');
  });

  it('diff: a same-size edit with the same mtime shows with --content', () => {
    const r = diskpick(['diff', '--json', '--content', images[1]!, images[2]!, '/p0']);
    expect(r.status, r.stderr).toBe(0);
    const got = new Map(r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; what: string[] }).map((c) => [c.path, c.what]));
    expect(got.get('/p0/a.txt')).toEqual(['content']);
    expect(got.get('/p0/docs/report.docx')?.sort()).toEqual(['content', 'mtime', 'size']);
    expect([...got.keys()].sort()).toEqual(['/p0/a.txt', '/p0/docs/report.docx']);
    // One file against another.
    const one = diskpick(['diff', images[0]!, images[2]!, '/p0/docs/report.docx']);
    expect(one.stdout.toString()).toBe('M /p0/docs/report.docx (mtime)\n');
  });
});
