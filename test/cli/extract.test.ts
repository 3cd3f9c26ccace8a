/**
 * extract options against the host tree the ext image was made from (content, mtimes, modes,
 * owners, symlink targets, hard links, sparse holes, xattrs via getfattr), the NTFS builder's
 * record of the streams it wrote, and the FAT manifests; JSON summaries against
 * docs/schema/extract-summary.schema.json; exit codes.
 */
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXT_SPECIAL as S } from '../../scripts/images/ext.js';
import { diskpick, sha256, sha256File, tool, toolBytes } from '../helpers/tools.js';
import { fatImages, manifests } from '../fat/images.js';
import { cliExt, hostileExt, loadSchema, ntfsSmall, validate, walkHost } from './helpers.js';

interface Summary {
  written: { source: string; target: string; type: string; size: number }[];
  skipped: { source: string; target: string; reason: string }[];
  failed: { source: string; target: string | null; error: string }[];
  renamed: { source: string; target: string; reason: string }[];
  bytes: number;
  cancelled: boolean;
  dryRun: boolean;
}

const summarySchema = loadSchema('extract-summary.schema.json');

function summaryOf(stdout: Buffer): Summary {
  const s = JSON.parse(stdout.toString('utf8')) as Summary;
  expect(validate(summarySchema, s)).toEqual([]);
  return s;
}

const tmp = (p = 'dp-x-') => mkdtempSync(join(tmpdir(), p));
const isRoot = process.getuid?.() === 0;

let img: string;
let tree: string;
beforeAll(() => {
  ({ img, tree } = cliExt());
});

describe('extract of a whole ext volume is faithful to the source tree', () => {
  let out: string;
  let summary: Summary;
  beforeAll(() => {
    out = join(tmp(), 'out');
    const r = diskpick(['extract', '--json', '--xattrs', img, '/p0', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    summary = summaryOf(r.stdout);
  });

  it('every file, folder and link of the tree is there, with content and mtime', () => {
    const host = walkHost(tree);
    for (const h of host) {
      const p = join(out, 'p0', h.rel);
      const src = join(tree, h.rel);
      const want = lstatSync(src);
      if (h.type === 'other') continue; // devices and FIFOs: see below
      const got = lstatSync(p);
      expect(got.isSymbolicLink(), h.rel).toBe(want.isSymbolicLink());
      if (h.type === 'file') {
        expect(got.size, h.rel).toBe(want.size);
        // Multi-GiB sparse files: size and holes here; their content is the ext tests' job.
        if (want.size < 1 << 30) expect(sha256(readFileSync(p)), h.rel).toBe(sha256(readFileSync(src)));
        else expect(got.blocks, h.rel).toBeLessThanOrEqual(want.blocks + 64);
      }
      if (h.type === 'symlink') expect(readlinkSync(p), h.rel).toBe(h.target);
      if (h.type !== 'symlink') expect(Math.floor(got.mtimeMs / 1000), h.rel).toBe(Math.floor(want.mtimeMs / 1000));
    }
  });

  it('modes, and owners when running as root', () => {
    for (const h of walkHost(tree).filter((x) => x.type === 'file' || x.type === 'dir')) {
      const want = lstatSync(join(tree, h.rel));
      const got = lstatSync(join(out, 'p0', h.rel));
      expect(got.mode & 0o7777, h.rel).toBe(want.mode & 0o7777);
      if (isRoot) expect([got.uid, got.gid], h.rel).toEqual([want.uid, want.gid]);
    }
    if (isRoot) expect(lstatSync(join(out, 'p0', S.owned)).uid).toBe(S.ownedUid);
  });

  it('hard links are restored as links, sparse files keep their holes', () => {
    const a = lstatSync(join(out, 'p0', S.hardA));
    const b = lstatSync(join(out, 'p0', S.hardB));
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
    const sp = lstatSync(join(out, 'p0', S.sparseFile));
    expect(sp.size).toBe(S.sparseSize);
    expect(sp.blocks * 512).toBeLessThan(1 << 20);
  });

  it('devices and FIFOs are listed as skipped, not created', () => {
    for (const p of [S.fifo, S.chardev, S.blockdev]) {
      expect(summary.skipped.some((s) => s.source === `/p0${p}`), p).toBe(true);
      expect(existsSync(join(out, 'p0', p))).toBe(false);
    }
  });

  it('--xattrs: user.* attributes as getfattr shows them on the tree', () => {
    const dump = (f: string) => tool('getfattr', ['--absolute-names', '-d', '-e', 'base64', '-m', '^user\\.', f]).split('\n').filter((l) => l.startsWith('user.')).sort();
    expect(dump(join(out, 'p0', S.xattrFile))).toEqual(dump(join(tree, S.xattrFile)));
    expect(dump(join(out, 'p0', 'docs'))).toEqual(dump(join(tree, 'docs')));
  });

  it('the JSON summary lists what was written', () => {
    const files = walkHost(tree).filter((h) => h.type === 'file').map((h) => `/p0${h.rel}`);
    const written = new Set(summary.written.filter((w) => w.type === 'file').map((w) => w.source));
    for (const f of files) expect(written.has(f), f).toBe(true);
    expect(summary.failed).toEqual([]);
    expect(summary.dryRun).toBe(false);
    for (const w of summary.written) expect(w.target.startsWith(out + '/')).toBe(true);
  });
});

describe('extract options', () => {
  it('--no-preserve leaves times as written now', () => {
    const out = tmp();
    expect(diskpick(['extract', '-q', '--no-preserve', img, '/p0/hello.txt', '-o', out]).status).toBe(0);
    expect(Math.abs(lstatSync(join(out, 'hello.txt')).mtimeMs - Date.now())).toBeLessThan(120_000);
    expect(diskpick(['extract', '-q', '--preserve', img, '/p0/small/tiny.txt', '-o', out]).status).toBe(0);
    expect(Math.floor(lstatSync(join(out, 'tiny.txt')).mtimeMs / 1000)).toBe(Math.floor(lstatSync(join(tree, 'small/tiny.txt')).mtimeMs / 1000));
  });

  it('--flatten puts files directly in the folder, renaming clashes', () => {
    const gpt = fatImages.gpt();
    const m = manifests(gpt);
    const out = tmp();
    const r = diskpick(['extract', '--json', '--flatten', gpt, '/p1/docs', '/p2/docs', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const s = summaryOf(r.stdout);
    const want = [...m.p1!, ...m.p2!].filter((e) => e.type === 'file' && e.path.startsWith('/docs/'));
    const names = readdirSync(out).sort();
    expect(names.length).toBe(want.length);
    for (const n of names) expect(lstatSync(join(out, n)).isFile()).toBe(true);
    expect(names).toContain('report.docx');
    expect(names).toContain('report~2.docx');
    expect(s.renamed.some((x) => /name already taken/.test(x.reason))).toBe(true);
    const shas = new Set(want.map((e) => e.sha256));
    for (const n of names) expect(shas.has(sha256(readFileSync(join(out, n)))), n).toBe(true);
  });

  it('--dry-run writes nothing and prints what would be written', () => {
    const parent = tmp();
    const out = join(parent, 'out');
    const r = diskpick(['extract', '--dry-run', img, '/p0/docs', '-o', out]);
    expect(r.status).toBe(0);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(parent)).toEqual([]);
    const lines = r.stdout.toString().trim().split('\n');
    const want = tool('find', [join(tree, 'docs')]).trim().split('\n').map((p) => join(out, 'docs', p.slice(join(tree, 'docs').length))).map((p) => p.replace(/\/$/, ''));
    expect(lines.map((l) => l.replace(/^would write \S+\s+/, '')).sort()).toEqual(want.sort());
    const j = diskpick(['extract', '--dry-run', '--json', img, '/p0/docs', '-o', out]);
    const s = summaryOf(j.stdout);
    expect(s.dryRun).toBe(true);
    expect(existsSync(out)).toBe(false);
  });

  it('--force and --skip-existing, reported in the JSON summary', () => {
    const out = tmp();
    writeFileSync(join(out, 'hello.txt'), 'mine');
    const clash = diskpick(['extract', '--json', img, '/p0/hello.txt', '/p0/small', '-o', out]);
    expect(clash.status).toBe(1);
    const s1 = summaryOf(clash.stdout);
    expect(s1.failed.map((f) => f.source)).toEqual(['/p0/hello.txt']);
    expect(readFileSync(join(out, 'hello.txt'), 'utf8')).toBe('mine');
    // --skip-existing skips only a complete file: one of another size than the image's is
    // reported (failed, left alone), never taken for the restored file (issue 20).
    const differs = summaryOf(diskpick(['extract', '--json', '--skip-existing', img, '/p0/hello.txt', '-o', out]).stdout);
    expect(differs.skipped).toEqual([]);
    expect(differs.failed.map((x) => x.error)).toEqual([`exists with 4 bytes, the image's file has ${lstatSync(join(tree, 'hello.txt')).size}: not complete or not the same file; not skipped, not overwritten (--force replaces it)`]);
    expect(readFileSync(join(out, 'hello.txt'), 'utf8')).toBe('mine');
    const same = 'm'.repeat(lstatSync(join(tree, 'hello.txt')).size);
    writeFileSync(join(out, 'hello.txt'), same);
    const skip = summaryOf(diskpick(['extract', '--json', '--skip-existing', img, '/p0/hello.txt', '-o', out]).stdout);
    expect(skip.skipped.map((x) => x.source)).toEqual(['/p0/hello.txt']);
    expect(readFileSync(join(out, 'hello.txt'), 'utf8')).toBe(same);
    expect(diskpick(['extract', '-q', '--force', img, '/p0/hello.txt', '-o', out]).status).toBe(0);
    expect(readFileSync(join(out, 'hello.txt'))).toEqual(readFileSync(join(tree, 'hello.txt')));
    expect(diskpick(['extract', '--force', '--skip-existing', img, '/p0/hello.txt', '-o', out]).status).toBe(2);
  });

  it('--quiet prints nothing; the default summary goes to stderr only', () => {
    const q = diskpick(['extract', '-q', img, '/p0/docs', '-o', tmp()]);
    expect(q.status).toBe(0);
    expect(q.stdout.length).toBe(0);
    expect(q.stderr).toBe('');
    const d = diskpick(['extract', img, '/p0/docs', '-o', tmp()]);
    expect(d.stdout.length).toBe(0);
    expect(d.stderr).toMatch(/^extracted \d+ files/);
    expect(d.stderr).not.toContain('\r');
  });

  it('exit codes: 4 not found, 1 partial, 7 output, 5 wrong type', () => {
    expect(diskpick(['extract', img, '/p0/nope', '-o', tmp()]).status).toBe(4);
    expect(diskpick(['extract', img, '/p0/nope*', '-o', tmp()]).status).toBe(4);
    const part = diskpick(['extract', img, '/p0/nope', '/p0/hello.txt', '-o', tmp()]);
    expect(part.status).toBe(1);
    expect(part.stderr).toMatch(/\/p0\/nope/);
    const file = join(tmp(), 'a-file');
    writeFileSync(file, '');
    expect(diskpick(['extract', img, '/p0/hello.txt', '-o', file]).status).toBe(7);
    expect(diskpick(['cat', img, '/p0/docs']).status).toBe(5);
  });
});

describe('named streams (NTFS)', () => {
  it('siblings by default, as xattrs with --streams=xattr, none with --no-streams', async () => {
    const { img: ntfs, extra } = ntfsSmall();
    const [file, streams] = Object.entries(extra.streams).find(([p]) => p === '/hello.txt')!;
    const sib = tmp();
    expect(diskpick(['extract', '-q', ntfs, `/p0${file}`, '-o', sib]).status).toBe(0);
    for (const [name, info] of Object.entries(streams)) {
      expect(await sha256File(join(sib, `hello.txt:${name}`)), name).toBe(info.sha256);
    }
    const none = tmp();
    expect(diskpick(['extract', '-q', '--no-streams', ntfs, `/p0${file}`, '-o', none]).status).toBe(0);
    expect(readdirSync(none)).toEqual(['hello.txt']);
    const xa = tmp();
    const r = diskpick(['extract', '-q', '--streams=xattr', ntfs, `/p0${file}`, '-o', xa]);
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(xa)).toEqual(['hello.txt']);
    for (const [name, info] of Object.entries(streams)) {
      // getfattr --only-values prints the raw value.
      const v = toolBytes('getfattr', ['--absolute-names', '--only-values', '-n', `user.${name}`, join(xa, 'hello.txt')]);
      expect(sha256(v), name).toBe(info.sha256);
    }
    const one = tmp();
    expect(diskpick(['extract', '-q', ntfs, `/p0${file}:Zone.Identifier`, '-o', one]).status).toBe(0);
    expect(await sha256File(join(one, 'hello.txt:Zone.Identifier'))).toBe(streams['Zone.Identifier']!.sha256);
  });
});

describe('NTFS hard links', () => {
  it('names sharing one MFT record are restored as hard links', () => {
    const { img: ntfs, extra } = ntfsSmall();
    const group = extra.hardLinks[0]!;
    expect(group.length).toBeGreaterThan(1);
    const out = tmp();
    const r = diskpick(['extract', '-q', '--flatten', ntfs, ...group.map((p) => `/p0${p}`), '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const inodes = new Set(readdirSync(out).map((n) => lstatSync(join(out, n)).ino));
    expect(readdirSync(out)).toHaveLength(group.length);
    expect(inodes.size).toBe(1);
  });
});

describe('names that are not safe on Windows', () => {
  it('kept on Linux by default; renamed and listed with --windows-names', () => {
    const { img: h, plan } = hostileExt();
    const winish = ['CON', 'aux.txt', 'what?.txt', 'trailing.'];
    for (const n of winish) expect(plan.storedNames).toContain(n);
    const plain = tmp();
    const r1 = summaryOf(diskpick(['extract', '--json', h, ...winish.map((n) => `/p0/evil/${n}`), '-o', plain]).stdout);
    expect(readdirSync(plain).sort()).toEqual([...winish].sort());
    expect(r1.renamed).toEqual([]);
    const win = tmp();
    const r2 = summaryOf(diskpick(['extract', '--json', '--windows-names', h, ...winish.map((n) => `/p0/evil/${n}`), '-o', win]).stdout);
    const names = readdirSync(win).sort();
    expect(names).toEqual(['_CON', '_aux.txt', 'trailing_', 'what_.txt']);
    expect(r2.renamed.map((x) => x.source).sort()).toEqual(winish.map((n) => `/p0/evil/${n}`).sort());
    for (const x of r2.renamed) expect(readFileSync(x.target, 'utf8')).toBe(plan.contents[x.source.slice('/p0/evil/'.length)]);
  });
});
