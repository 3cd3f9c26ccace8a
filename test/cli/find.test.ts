/**
 * find: every filter checked against GNU find run on the host tree the ext image was made
 * from (mkfs.ext4 -d), the JSON lines against docs/schema/entry.schema.json, hashes against
 * the tree's files, and the exit codes.
 */
import { lstatSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CLI, diskpick, sha256, tool } from '../helpers/tools.js';
import { cliExt, loadSchema, ntfsSmall, validate } from './helpers.js';

let img: string;
let tree: string;

beforeAll(() => {
  ({ img, tree } = cliExt());
});

/** GNU find on the tree, as image paths (/p0/...). */
function gnuFind(start: string, args: string[]): string[] {
  const out = tool('find', [join(tree, start), ...args, '-print0']);
  return out.split('\0').filter(Boolean).map((p) => `/p0${p.slice(tree.length)}`.replace(/\/$/, '')).sort();
}

/** diskpick find, minus the image's lost+found (mkfs makes it; the tree has none). */
function dpFind(start: string, args: string[]): string[] {
  const r = diskpick(['find', img, start, ...args, '--print0']);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.toString('utf8').split('\0').filter((p) => p && !p.startsWith('/p0/lost+found')).sort();
}

describe('find filters agree with GNU find on the source tree', () => {
  const cases: [string, string[], string[]][] = [
    ['everything', [], []],
    ['--name', ['--name', '*.txt'], ['-name', '*.txt']],
    ['--name with brackets and ?', ['--name', 'file-001[0-4]?.txt'], ['-name', 'file-001[0-4]?.txt']],
    ['--iname', ['--iname', '*.TXT'], ['-iname', '*.TXT']],
    ['--type f', ['--type', 'f'], ['-type', 'f']],
    ['--type d', ['--type', 'd'], ['-type', 'd']],
    ['--type l', ['--type', 'l'], ['-type', 'l']],
    ['--type c,b,p', ['--type', 'c,b,p'], ['-type', 'c,b,p']],
    // Folder sizes depend on the filesystem holding them (host vs image): files and links only.
    ['--size +N', ['--size', '+4096', '--type', 'f,l'], ['-size', '+4096c', '-type', 'f,l']],
    ['--size +Nk', ['--size', '+4k', '--type', 'f'], ['-size', '+4096c', '-type', 'f']],
    ['--size -N', ['--size', '-5', '--type', 'f'], ['-size', '-5c', '-type', 'f']],
    ['--size N (exact, M suffix)', ['--size', '1M', '--type', 'f'], ['-size', '1048576c', '-type', 'f']],
    ['--newer', ['--newer', '@1600000001', '--type', 'f'], ['-newermt', '@1600000001', '-type', 'f']],
    ['--older (ISO date)', ['--older', '2000-01-01', '--type', 'f'], ['!', '-newermt', '@946684800', '-type', 'f']],
    ['--newer and --older', ['--newer', '1999-12-31T23:59:59Z', '--older', '2030-01-01 00:00', '--type', 'f'], ['-newermt', '@946684799', '!', '-newermt', '@1893456000', '-type', 'f']],
    ['name + type + size', ['--iname', '*.BIN', '--type', 'f', '--size', '+100000'], ['-iname', '*.BIN', '-type', 'f', '-size', '+100000c']],
  ];
  for (const [label, ours, theirs] of cases) {
    it(label, () => {
      const want = gnuFind('', theirs);
      expect(want.length, 'the oracle finds something').toBeGreaterThan(0);
      expect(dpFind('/p0', ours)).toEqual(want);
    });
  }

  it('a start folder, --max-depth and --min-depth', () => {
    expect(dpFind('/p0/docs', ['--max-depth', '1'])).toEqual(gnuFind('docs', ['-maxdepth', '1']));
    expect(dpFind('/p0/docs', ['--min-depth', '2'])).toEqual(gnuFind('docs', ['-mindepth', '2']));
    expect(dpFind('/p0', ['--max-depth', '0'])).toEqual(gnuFind('', ['-maxdepth', '0']));
  });

  it('a glob as the start: every match is searched', () => {
    const want = [...gnuFind('docs', ['-type', 'f']), ...gnuFind('small', ['-type', 'f'])].sort();
    expect(dpFind('/p0/{docs,small}', ['--type', 'f'])).toEqual(want);
  });
});

describe('find output', () => {
  it('--json lines fit the schema and agree with lstat on the tree', () => {
    const schema = loadSchema('entry.schema.json');
    const r = diskpick(['find', img, '/p0', '--json']);
    expect(r.status).toBe(0);
    const lines = r.stdout.toString('utf8').trimEnd().split('\n');
    const want = gnuFind('', []);
    const got = lines.map((l) => JSON.parse(l) as { path: string; type: string; size: number; mtime: string; target?: string });
    expect(got.filter((j) => !j.path.startsWith('/p0/lost+found')).map((j) => j.path).sort()).toEqual(want);
    for (const [i, j] of got.entries()) {
      expect(validate(schema, j), lines[i]).toEqual([]);
      if (j.path.startsWith('/p0/lost+found') || j.path === '/p0') continue;
      const st = lstatSync(join(tree, j.path.slice(3)));
      if (j.type === 'file' || j.type === 'symlink') expect(j.size, j.path).toBe(st.size);
      if (j.type === 'file') expect(Math.floor(Date.parse(j.mtime) / 1000), j.path).toBe(Math.floor(st.mtimeMs / 1000));
    }
  });

  it('--hash sha256 matches the files written into the tree (text and JSON)', () => {
    const r = diskpick(['find', img, '/p0/docs', '--type', 'f', '--hash', 'sha256']);
    expect(r.status).toBe(0);
    const lines = r.stdout.toString('utf8').trimEnd().split('\n');
    expect(lines.length).toBe(gnuFind('docs', ['-type', 'f']).length);
    for (const l of lines) {
      const m = /^([0-9a-f]{64}) {2}(.*)$/.exec(l)!;
      expect(m, l).not.toBeNull();
      expect(m[1], m[2]).toBe(sha256(readFileSync(join(tree, m[2]!.slice(3)))));
    }
    const j = diskpick(['find', img, '/p0/small', '--type', 'f', '--hash', 'sha256', '--json']);
    for (const l of j.stdout.toString('utf8').trimEnd().split('\n')) {
      const e = JSON.parse(l) as { path: string; sha256: string };
      expect(e.sha256, e.path).toBe(sha256(readFileSync(join(tree, e.path.slice(3)))));
    }
  });

  it('ls --hash agrees too', () => {
    const r = diskpick(['ls', '--hash', 'sha256', img, '/p0/small']);
    expect(r.status).toBe(0);
    for (const l of r.stdout.toString('utf8').trimEnd().split('\n')) {
      const [h, name] = l.split('  ');
      expect(h, name).toBe(sha256(readFileSync(join(tree, 'small', name!))));
    }
  });

  it('streams: the first matches arrive and a closed pipe ends it quietly with 0', () => {
    const r = spawnSync('bash', ['-c', `node ${JSON.stringify(CLI)} find ${JSON.stringify(img)} /p0 | head -n 3; echo "rc=\${PIPESTATUS[0]}"`], { encoding: 'utf8' });
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 3).every((l) => l.startsWith('/p0')), r.stdout).toBe(true);
    expect(lines[3]).toBe('rc=0');
    expect(r.stderr).toBe('');
  });
});

describe('find errors and exit codes', () => {
  it('usage errors: 2, one line', () => {
    for (const args of [['--size', 'big'], ['--newer', 'yesterday-ish'], ['--type', 'x'], ['--max-depth', '-1'], ['--hash', 'crc7']]) {
      const r = diskpick(['find', img, ...args]);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(diskpick(['find', img, '--bogus']).status).toBe(2);
  });

  it('a missing start path: 4; a glob that matches nothing: 4', () => {
    expect(diskpick(['find', img, '/p0/nope']).status).toBe(4);
    const r = diskpick(['find', img, '/p0/nope*']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/no match/);
  });

  it('not an image: 3', () => {
    const f = join(mkdtempSync(join(tmpdir(), 'dp-find-')), 'junk.img');
    writeFileSync(f, Buffer.alloc(70_000, 0x41));
    const r = diskpick(['find', f]);
    expect(r.status).toBe(3);
    expect(r.stderr).toContain(f);
  });
});

describe('ls --json fits the same schema', () => {
  it('with --hash, --xattr (ext) and --streams (NTFS)', () => {
    const schema = loadSchema('entry.schema.json');
    const { img: ntfs } = ntfsSmall();
    for (const args of [['ls', '-R', '--json', '--hash', 'sha256', '--xattr', img, '/p0/docs'], ['ls', '--json', '--streams', '--xattr', ntfs, '/p0'], ['ls', '--json', img, '/']]) {
      const r = diskpick(args);
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.toString('utf8').trimEnd().split('\n');
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(validate(schema, JSON.parse(l)), l).toEqual([]);
    }
  });
});
