/**
 * A hostile image restores only inside -o DIR: names with "\", control characters, "..",
 * "/" and NUL; symlinks to /etc, ../../.. and deeper; a second pass with --force over the
 * links the first pass made; a target folder that already holds a symlink. The engine is
 * also driven directly with a tree whose names no filesystem reader would hand out.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Stat } from '../../src/fs/types.js';
import { restore } from '../../src/restore/restore.js';
import type { Vfs, VfsNode } from '../../src/vfs/vfs.js';
import { BufferSource } from '../../src/source/source.js';
import { diskpick, sha256File } from '../helpers/tools.js';
import { hostileExt, loadSchema, validate, walkHost } from './helpers.js';

/** Every entry under `parent` must be inside `out`; links are listed, never followed. */
function assertContained(parent: string, out: string): void {
  for (const h of walkHost(parent)) {
    const p = join(parent, h.rel);
    expect(p === out || p.startsWith(out + '/'), p).toBe(true);
  }
}

describe('hostile ext image', () => {
  it('restores only inside -o, links recreated as stored and never followed', async () => {
    const { img, plan } = hostileExt();
    const before = await sha256File(img);
    const parent = mkdtempSync(join(tmpdir(), 'dp-hostile-'));
    const out = join(parent, 'out');
    const r = diskpick(['extract', '--json', img, '/p0', '-o', out]);
    expect([0, 1]).toContain(r.status);
    const s = JSON.parse(r.stdout.toString()) as { written: { target: string; type: string; source: string }[]; renamed: { source: string; target: string; reason: string }[] };
    expect(validate(loadSchema('extract-summary.schema.json'), s)).toEqual([]);
    expect(readdirSync(parent)).toEqual(['out']);
    assertContained(parent, out);
    for (const w of s.written) expect(w.target.startsWith(out + '/'), w.target).toBe(true);
    // Links are links with the stored target; nothing was written through them.
    for (const [p, target] of Object.entries(plan.symlinks)) {
      const got = join(out, 'p0', p);
      expect(lstatSync(got).isSymbolicLink(), p).toBe(true);
      expect(readlinkSync(got)).toBe(target);
    }
    expect(existsSync('/etc/pwnd')).toBe(false);
    expect(existsSync('/tmp/dp-escape')).toBe(false);
    // Backslash and control characters: renamed, listed, content intact.
    for (const n of ['back\\slash.txt', 'ctl\x01\x1b[31mred\x07.txt', 'new\nline.txt']) {
      const ren = s.renamed.find((x) => x.source === `/p0/evil/${n}`);
      expect(ren, JSON.stringify(n)).toBeDefined();
      expect(ren!.target.startsWith(join(out, 'p0', 'evil') + '/')).toBe(true);
      expect(/[\x00-\x1f\\]/.test(ren!.target.slice(out.length))).toBe(false);
      expect(readFileSync(ren!.target, 'utf8')).toBe(plan.contents[n]);
    }
    // Names with "/", NUL or ".." are in the folder (debugfs lists them); whatever diskpick
    // makes of them stays inside, and nothing appears outside.
    for (const h of walkHost(out)) expect(h.rel.includes('/../')).toBe(false);
    // The image never changes.
    expect(await sha256File(img)).toBe(before);

    // A second pass with --force replaces the links it made; it never writes through them.
    const again = diskpick(['extract', '--force', '-q', img, '/p0', '-o', out]);
    expect([0, 1]).toContain(again.status);
    assertContained(parent, out);
    expect(existsSync('/etc/pwnd')).toBe(false);
    expect(lstatSync(join(out, 'p0/evil/etc-link')).isSymbolicLink()).toBe(true);
  });

  it('a symlink already in the target folder is not followed', () => {
    const { img } = hostileExt();
    const parent = mkdtempSync(join(tmpdir(), 'dp-hostile-'));
    const out = join(parent, 'out');
    const victim = join(parent, 'victim');
    mkdirSync(victim);
    mkdirSync(join(out, 'p0'), { recursive: true });
    symlinkSync(victim, join(out, 'p0', 'evil'));
    const r = diskpick(['extract', '--force', img, '/p0', '-o', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/symbolic link/);
    expect(readdirSync(victim)).toEqual([]);
  });

  it('a path through a symlink in the image is not followed', () => {
    const { img } = hostileExt();
    const out = mkdtempSync(join(tmpdir(), 'dp-hostile-'));
    const r = diskpick(['extract', img, '/p0/evil/etc-link/passwd', '-o', out]);
    expect(r.status).not.toBe(0);
    expect([4, 5]).toContain(r.status);
    expect(readdirSync(out)).toEqual([]);
  });
});

// ---- the engine with names no reader hands out ----

function st(type: Stat['type'], extra: Partial<Stat> = {}): Stat {
  return { type, size: 0, allocated: 0, mode: type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, nlink: 1, ino: 0, hasOwnership: false, mtime: { sec: 1_600_000_000, nsec: 0 }, ...extra };
}

interface FakeEntry { name: string; stat: Stat; content?: Buffer; kids?: FakeEntry[] }

/** Just enough of a Vfs for restore(): readdir, openFile, streams, xattrs. */
function fakeVfs(root: FakeEntry): { vfs: Vfs; rootNode: VfsNode } {
  const nodes = new Map<VfsNode, FakeEntry>();
  const nodeOf = (e: FakeEntry, dirPath: string): VfsNode => {
    const n = { path: `${dirPath}/${e.name}`, name: e.name, stat: e.stat, place: { kind: 'fs', vol: { name: 'p0' } } } as unknown as VfsNode;
    nodes.set(n, e);
    return n;
  };
  const vfs = {
    readdir: async (d: VfsNode) => (nodes.get(d)!.kids ?? []).map((k) => nodeOf(k, d.path)),
    openFile: async (n: VfsNode) => new BufferSource(nodes.get(n)!.content ?? Buffer.alloc(0), n.name),
    streams: async () => [],
    xattrs: async () => new Map(),
  } as unknown as Vfs;
  return { vfs, rootNode: nodeOf(root, '') };
}

describe('restore engine with impossible names', () => {
  it('"..", ".", "", "/abs", "a/../../b", NUL, "\\" and escaping links stay inside outDir', async () => {
    const file = (name: string) => ({ name, stat: st('file', { size: 5 }), content: Buffer.from('hello') });
    const tree: FakeEntry = {
      name: 'p0',
      stat: st('dir'),
      kids: [
        file('..'), file('.'), file(''), file('/etc/passwd'), file('a/../../b'), file('nul\0byte'), file('back\\slash'),
        file('x'.repeat(300)),
        { name: '..', stat: st('dir'), kids: [file('inside-dotdot'), { name: '..', stat: st('dir'), kids: [file('deeper')] }] },
        { name: 'up', stat: st('symlink', { symlinkTarget: '../../../../../..' }) },
        { name: 'etc', stat: st('symlink', { symlinkTarget: '/etc' }) },
      ],
    };
    const { vfs, rootNode } = fakeVfs(tree);
    const parent = mkdtempSync(join(tmpdir(), 'dp-engine-'));
    const out = join(parent, 'out');
    const s = await restore(vfs, [{ node: rootNode }, { node: rootNode, under: ['..', '..', 'escape'] }], { outDir: out });
    expect(s.failed).toEqual([]);
    expect(readdirSync(parent)).toEqual(['out']);
    assertContained(parent, out);
    for (const w of s.written) expect(w.target.startsWith(out + '/'), w.target).toBe(true);
    const files = walkHost(out).filter((h) => h.type === 'file');
    // 9 files in the first copy (7 plain + inside-dotdot + deeper) + long name = 10, twice.
    expect(files.length).toBe(20);
    for (const f of files) expect(readFileSync(join(out, f.rel), 'utf8')).toBe('hello');
    for (const f of walkHost(out)) for (const c of f.rel.split('/').slice(1)) {
      expect(c === '.' || c === '..' || c === '' || c.includes('\\') || c.includes('\0'), JSON.stringify(f.rel)).toBe(false);
      expect(Buffer.byteLength(c)).toBeLessThanOrEqual(255);
    }
    expect(s.renamed.length).toBeGreaterThanOrEqual(9);
  });
});
