/**
 * Globs: matches compared with the FAT manifests (expected sets computed here with
 * hand-written regular expressions, not picomatch) and GNU find on the ext source tree;
 * case rules per filesystem; only reachable folders are listed; extract places matches
 * below the pattern's fixed part; `--` ends option parsing.
 */
import { copyFileSync, mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { expandGlob } from '../../src/restore/glob.js';
import type { VolumeManifests } from '../../scripts/images/fat.js';
import { diskpick, sha256, tool } from '../helpers/tools.js';
import { fatImages, manifests } from '../fat/images.js';
import { cliExt, hostileExt, walkHost } from './helpers.js';

let gpt: string;
let man: VolumeManifests;

beforeAll(() => {
  gpt = fatImages.gpt();
  man = manifests(gpt);
});

/** Manifest paths (as /pN/...) whose path matches `re`, over every volume. */
function fromManifest(re: RegExp, types: string[] = ['file', 'dir']): string[] {
  const out: string[] = [];
  for (const [vol, entries] of Object.entries(man)) {
    for (const e of entries) if (types.includes(e.type) && re.test(`/${vol}${e.path}`)) out.push(`/${vol}${e.path}`);
  }
  return out.sort();
}

async function matches(vfs: Vfs, pattern: string): Promise<string[]> {
  const out: string[] = [];
  for await (const n of expandGlob(vfs, pattern)) out.push(n.path);
  return out.sort();
}

describe('glob expansion (in process, FAT GPT image)', () => {
  let vfs: Vfs;
  const listed: string[] = [];
  beforeAll(async () => {
    vfs = await Vfs.open(gpt);
    // Record every folder listing the walk asks for.
    const readdir = vfs.readdir.bind(vfs);
    vfs.readdir = (dir: VfsNode, o?: { system?: boolean }) => {
      listed.push(dir.path);
      return readdir(dir, o);
    };
  });
  afterAll(async () => {
    await vfs.close();
  });

  it('one wildcard folder: only that folder is listed', async () => {
    listed.length = 0;
    expect(await matches(vfs, '/p1/docs/*.txt')).toEqual(fromManifest(/^\/p1\/docs\/[^/]*\.txt$/));
    expect(listed).toEqual(['/p1/docs']);
  });

  it('FAT ignores case: /P1/DOCS/*.TXT finds the .txt files', async () => {
    listed.length = 0;
    const got = (await matches(vfs, '/P1/DOCS/*.TXT'));
    expect(got).toEqual(fromManifest(/^\/p1\/docs\/[^/]*\.txt$/i));
    expect(got.length).toBeGreaterThan(0);
  });

  it('across volumes and folders with **: only folders on the way are listed', async () => {
    listed.length = 0;
    const got = await matches(vfs, '/p*/deep/**/*.txt');
    expect(got).toEqual(fromManifest(/^\/p\d+\/deep\/(.*\/)?[^/]*\.txt$/i, ['file']));
    expect(got.length).toBe(Object.keys(man).length);
    // The root (to match p*), then only folders below /pN/deep.
    for (const p of listed) expect(p === '/' || /^\/p\d+\/deep(\/|$)/.test(p), p).toBe(true);
  });

  it('? [..] {a,b} and ** over everything', async () => {
    expect(await matches(vfs, '/p2/{docs,deep}')).toEqual(['/p2/deep', '/p2/docs']);
    expect(await matches(vfs, '/p1/[lu]*.txt')).toEqual(fromManifest(/^\/p1\/[lu][^/]*\.txt$/i, ['file']));
    expect(await matches(vfs, '/p1/cluster.bi?')).toEqual(['/p1/cluster.bin']);
    expect(await matches(vfs, '/p2/**')).toEqual(fromManifest(/^\/p2\/.+/));
  });

  it('no match and a missing fixed part yield nothing', async () => {
    expect(await matches(vfs, '/p1/nothing-here-*')).toEqual([]);
    expect(await matches(vfs, '/p9/docs/*')).toEqual([]);
  });
});

describe('glob case rules on ext (case-sensitive)', () => {
  it('*.TXT matches nothing where *.txt matches what GNU find -name does', () => {
    const { img, tree } = cliExt();
    const want = tool('find', [join(tree, 'docs'), '-maxdepth', '1', '-name', '*.txt']).trim().split('\n').map((p) => `/p0${p.slice(tree.length)}`).sort();
    const r = diskpick(['ls', img, '/p0/docs/*.txt']);
    expect(r.status).toBe(0);
    expect(r.stdout.toString().trim().split('\n').sort()).toEqual(want);
    const upper = diskpick(['ls', img, '/p0/docs/*.TXT']);
    expect(upper.status).toBe(4);
    expect(upper.stderr).toMatch(/no match/);
  });
});

describe('globs in commands', () => {
  it('extract keeps the folders below the pattern\'s fixed part, across volumes', () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-g-'));
    const r = diskpick(['extract', '-q', gpt, '/p*/docs/**', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const want = fromManifest(/^\/p\d+\/docs\/.+/, ['file']);
    const got = walkHost(out).filter((h) => h.type === 'file').map((h) => h.rel).sort();
    expect(got).toEqual(want);
    for (const p of want) {
      const [, vol, rest] = /^\/(p\d+)(\/.*)$/.exec(p)!;
      expect(sha256(readFileSync(join(out, p))), p).toBe(man[vol!]!.find((e) => e.path === rest)!.sha256);
    }
  });

  it('extract of several globs restores each item once', () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-g-'));
    const r = diskpick(['extract', '--json', gpt, '/p1/docs', '/p1/d*/*', '/p1/docs/report.docx', '-o', out]);
    expect(r.status, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout.toString()) as { written: { source: string }[]; renamed: unknown[] };
    const sources = s.written.map((w) => w.source);
    expect(new Set(sources).size).toBe(sources.length);
    expect(s.renamed).toEqual([]);
    // /p1/deep/a came from the glob, below its fixed part /p1: out/deep/a
    expect(existsSync(join(out, 'deep', 'a'))).toBe(true);
  });

  it('cat of a glob writes every matching file in turn', () => {
    const { img, tree } = cliExt();
    const r = diskpick(['cat', img, '/p0/small/*.txt']);
    expect(r.status).toBe(0);
    const a = readFileSync(join(tree, 'small/tiny.txt'));
    const b = readFileSync(join(tree, 'small/forty.txt'));
    expect([sha256(Buffer.concat([a, b])), sha256(Buffer.concat([b, a]))]).toContain(sha256(r.stdout));
    expect(diskpick(['cat', img, '/p0/small/t*']).stdout.equals(a)).toBe(true);
  });

  it('a literal name containing glob characters wins over the glob', () => {
    const { img, plan } = hostileExt();
    expect(plan.storedNames).toContain('what?.txt');
    const r = diskpick(['cat', img, '/p0/evil/what?.txt']);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toBe(plan.contents['what?.txt']);
  });

  it('-- ends option parsing: an image named like an option', () => {
    const { img, plan } = hostileExt();
    const dir = mkdtempSync(join(tmpdir(), 'dp-dash-'));
    copyFileSync(img, join(dir, '-x.img'));
    const r = diskpick(['cat', '--', '-x.img', '/p0/evil/-rf'], { cwd: dir });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString()).toBe(plan.contents['-rf']);
    expect(diskpick(['cat', '-x.img', '/p0/evil/-rf'], { cwd: dir }).status).toBe(2);
    const out = join(dir, 'out');
    const x = diskpick(['extract', '-o', out, '--', '-x.img', '/p0/evil/-rf'], { cwd: dir });
    expect(x.status, x.stderr).toBe(0);
    expect(readFileSync(join(out, '-rf'), 'utf8')).toBe(plan.contents['-rf']);
  });
});
