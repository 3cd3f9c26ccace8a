/**
 * The names-only listing (`ls -R`): entries typed by their folder entry come back partial,
 * without an inode read. Names, types and inode numbers are checked against TSK `fls -r`,
 * the completed stat against debugfs `stat`, and the CLI output against fls's paths.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { displayName } from '../../src/cli/entry-format.js';
import { cachedImage, diskpick, sha256File, tool } from '../helpers/tools.js';
import { EXT_SPECIAL as S, EXT_VARIANTS, buildExtImage } from '../../scripts/images/ext.js';
import { debugfsBatch, statField, statTime } from './helpers.js';

/** fls's name-type letter (from the folder entry) as a FileType. */
const FLS_TYPE: Record<string, string> = { r: 'file', d: 'dir', l: 'symlink', c: 'chardev', b: 'blockdev', p: 'fifo', s: 'socket' };

/** `fls -r -p -u`: path → (type, inode) of every allocated name, TSK's virtual $OrphanFiles left out. */
function fls(img: string): Map<string, { type: string; ino: number }> {
  const out = new Map<string, { type: string; ino: number }>();
  for (const line of tool('fls', ['-r', '-p', '-u', img]).split('\n')) {
    const m = /^(\S)\/\S (\d+):\t(.*)$/.exec(line);
    if (!m || m[1] === 'V') continue;
    out.set(`/${m[3]}`, { type: FLS_TYPE[m[1]!] ?? 'other', ino: Number(m[2]) });
  }
  return out;
}

async function walkNamesOnly(vfs: Vfs, start = '/p0'): Promise<Map<string, VfsNode>> {
  const out = new Map<string, VfsNode>();
  const stack = [await vfs.lookup(start)];
  while (stack.length) {
    const d = stack.pop()!;
    for (const k of await vfs.readdir(d, { namesOnly: true })) {
      out.set(k.path.slice(start.length), k);
      if (k.stat.type === 'dir') stack.push(k);
    }
  }
  return out;
}

describe.each(EXT_VARIANTS)('names-only listing of $name', (v) => {
  let img: string;
  let vfs: Vfs;
  let nodes: Map<string, VfsNode>;
  let sha: string;

  beforeAll(async () => {
    img = cachedImage(`${v.name}.img`, (p) => void buildExtImage(p, v));
    sha = await sha256File(img);
    vfs = await Vfs.open(img);
    nodes = await walkNamesOnly(vfs);
  });
  afterAll(async () => {
    await vfs?.close();
    // The image is read-only to us: listing, completing and opening never change it.
    expect(await sha256File(img)).toBe(sha);
  });

  it('lists the names, types and inode numbers fls -r lists', () => {
    const theirs = fls(img);
    expect(new Set(nodes.keys())).toEqual(new Set(theirs.keys()));
    for (const [p, t] of theirs) {
      const n = nodes.get(p)!;
      expect({ type: n.stat.type, ino: n.stat.ino }, p).toEqual(t);
    }
    // Files come back without an inode read; folders are always complete.
    const partial = [...nodes.values()].filter((n) => n.partial);
    expect(partial.length).toBeGreaterThan(v.many);
    expect(partial.every((n) => n.stat.type !== 'dir')).toBe(true);
    expect([...nodes.values()].filter((n) => n.stat.type === 'dir').every((n) => !n.partial)).toBe(true);
  });

  it('by column (Vfs.readdirNames): the same names, types and inode numbers as fls -r, nodes for exactly the folders', async () => {
    const theirs = fls(img);
    const seen = new Map<string, { type: string; ino: number }>();
    const stack = [await vfs.lookup('/p0')];
    while (stack.length) {
      const d = stack.pop()!;
      const l = await vfs.readdirNames(d);
      expect(l.types.length, d.path).toBe(l.names.length);
      expect(l.inos.length, d.path).toBe(l.names.length);
      for (let i = 0; i < l.names.length; i++) {
        const p = `${d.path === '/p0' ? '' : d.path.slice(3)}/${l.names[i]}`;
        seen.set(p, { type: l.types[i]!, ino: l.inos[i]! });
        const node = l.nodes[i];
        // A node for every folder (walked into next), none for a file its folder entry types.
        expect(node !== undefined, p).toBe(l.types[i] === 'dir');
        if (node) {
          expect([node.name, node.path, node.stat.ino], p).toEqual([l.names[i], `/p0${p}`, l.inos[i]]);
          stack.push(node);
        }
      }
    }
    expect(new Set(seen.keys())).toEqual(new Set(theirs.keys()));
    for (const [p, t] of theirs) expect(seen.get(p), p).toEqual(t);
  });

  it('completes a partial node to what debugfs stat shows, and reads hard links and symlinks', async () => {
    const paths = [...nodes.keys()].filter((p) => nodes.get(p)!.partial && !p.startsWith(S.manyDir + '/'));
    const outs = debugfsBatch(img, paths.map((p) => `stat "${p}"`));
    for (const [i, p] of paths.entries()) {
      const t = outs[i]!;
      const n = await vfs.complete(nodes.get(p)!);
      expect(n.partial, p).toBeUndefined();
      expect(n.stat.nlink, p).toBe(Number(statField(t, 'Links')));
      expect(n.stat.allocated, p).toBe(Number(statField(t, 'Blockcount')) * 512);
      expect(n.stat.uid, p).toBe(Number(statField(t, 'User')));
      expect(n.stat.gid, p).toBe(Number(statField(t, 'Group')));
      expect(n.stat.mode, p).toBe(parseInt(statField(t, 'Mode')!, 8));
      if (n.stat.type === 'file') expect(n.stat.size, p).toBe(Number(statField(t, 'Size')));
      expect(n.stat.mtime!.sec, p).toBe(statTime(t, 'mtime'));
    }
    const a = nodes.get(S.hardA)!;
    const b = nodes.get(S.hardB)!;
    expect(a.stat.ino).toBe(b.stat.ino);
    expect((await vfs.complete(a)).stat.nlink).toBe(2);
  });

  it('reads a partial node without completing it first', async () => {
    const p = [...nodes.keys()].find((k) => nodes.get(k)!.partial && nodes.get(k)!.stat.type === 'file' && k.startsWith(S.manyDir + '/'))!;
    const fresh = (await vfs.readdir(await vfs.lookup(`/p0${p.slice(0, p.lastIndexOf('/'))}`), { namesOnly: true })).find((n) => n.path === `/p0${p}`)!;
    expect(fresh.partial).toBe(true);
    const src = await vfs.openFile(fresh);
    const want = debugfsBatch(img, [`stat "${p}"`])[0]!;
    expect(src.size).toBe(Number(statField(want, 'Size')));
    await src.close();
  });
});

describe('ls -R through the CLI (names only)', () => {
  it('prints the paths fls -r prints, and ls -l -R still shows full stats', () => {
    const v = EXT_VARIANTS[0]!;
    const img = cachedImage(`${v.name}.img`, (p) => void buildExtImage(p, v));
    const ours = diskpick(['ls', '-R', img, '/p0']).stdout.toString().split('\n').filter(Boolean);
    expect(ours.length).toBe(new Set(ours).size);
    expect(new Set(ours)).toEqual(new Set([...fls(img).keys()].map((p) => displayName(`/p0${p}`))));
    const long = diskpick(['ls', '-l', '-R', img, '/p0']).stdout.toString().split('\n').filter(Boolean);
    expect(long.length).toBe(ours.length);
    const hard = long.find((l) => l.endsWith(`/p0${S.hardA}`))!;
    expect(hard.split(/\s+/)[1]).toBe('2');
  });

  it('find --type with names only finds what fls types so', () => {
    const v = EXT_VARIANTS[0]!;
    const img = cachedImage(`${v.name}.img`, (p) => void buildExtImage(p, v));
    const theirs = fls(img);
    for (const [flag, type] of [['f', 'file'], ['l', 'symlink'], ['d', 'dir']] as const) {
      const ours = diskpick(['find', img, '/p0', '--type', flag, '--min-depth', '1', '--print0']).stdout.toString().split('\0').filter(Boolean);
      expect(new Set(ours), flag).toEqual(new Set([...theirs].filter(([, t]) => t.type === type).map(([p]) => `/p0${p}`)));
    }
  });
});
