/**
 * The names-only listing (`ls -R`) on NTFS: plain files come back partial, from their index
 * entry alone (as ntfsls lists them), without their MFT record. Names are checked against
 * `ntfsls -R`, types against what the builder wrote, inode numbers against TSK `fls`, and the
 * completed stat against the manifest.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedImage, readManifest, sha256File, tool, type ManifestEntry } from '../helpers/tools.js';
import { buildNtfsImage, type NtfsExtra, type NtfsImageOptions } from '../../scripts/images/ntfs.js';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';

const VARIANTS: [string, NtfsImageOptions][] = [
  ['ntfs-main.img', {}],
  ['ntfs-c512.img', { clusterSize: 512, content: 'small', sizeMiB: 64 }],
];

async function walkNamesOnly(vfs: Vfs, root: VfsNode): Promise<Map<string, VfsNode>> {
  const out = new Map<string, VfsNode>();
  const go = async (d: VfsNode) => {
    for (const k of await vfs.readdir(d, { namesOnly: true })) {
      out.set(k.path.slice(root.path.length), k);
      if (k.stat.type === 'dir') await go(k);
    }
  };
  await go(root);
  return out;
}

/** `ntfsls -R -p /`: every path (a subfolder shows as its own "/path:" header). */
function ntfsls(img: string): Set<string> {
  const theirs = new Set<string>();
  let dir = '/';
  for (const line of tool('ntfsls', ['-R', '-p', '/', img]).split('\n')) {
    if (!line) continue;
    if (line.startsWith('/') && line.endsWith(':')) {
      dir = line.slice(0, -1);
      if (dir !== '/') theirs.add(dir);
    } else if (line !== '.' && line !== '..') theirs.add(dir === '/' ? `/${line}` : `${dir}/${line}`);
  }
  return theirs;
}

/** `fls -r -p`: path → MFT record number. */
function flsInodes(img: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of tool('fls', ['-r', '-p', img]).split('\n')) {
    const m = /^\S+ (?:\* )?(\d+)-\d+-\d+:\t(.*)$/.exec(line);
    if (m && !m[2]!.includes(':')) out.set(`/${m[2]}`, Number(m[1]));
  }
  return out;
}

for (const [imgName, opts] of VARIANTS) {
  describe(`names-only listing of NTFS ${imgName}`, () => {
    let img: string;
    let manifest: ManifestEntry[];
    let extra: NtfsExtra;
    let vfs: Vfs;
    let nodes: Map<string, VfsNode>;
    let sha: string;

    beforeAll(async () => {
      img = cachedImage(imgName, (p) => buildNtfsImage(p, opts));
      sha = await sha256File(img);
      manifest = readManifest(`${img}.manifest.json`);
      extra = JSON.parse(readFileSync(`${img}.extra.json`, 'utf8')) as NtfsExtra;
      vfs = await Vfs.open(img);
      nodes = await walkNamesOnly(vfs, await vfs.lookup('/p0'));
    });
    afterAll(async () => {
      await vfs?.close();
      // The image is read-only to us: listing, completing and opening never change it.
      expect(await sha256File(img)).toBe(sha);
    });

    it('lists the names ntfsls -R lists, with the record numbers fls shows', () => {
      expect(new Set(nodes.keys())).toEqual(ntfsls(img));
      const inodes = flsInodes(img);
      for (const [p, n] of nodes) expect(n.stat.ino, p).toBe(inodes.get(p));
      const partial = [...nodes.values()].filter((n) => n.partial);
      expect(partial.length).toBeGreaterThan(0);
      expect(partial.every((n) => n.stat.type === 'file')).toBe(true);
    });

    it('types every entry as written: folders, files, reparse links (never partial)', () => {
      for (const m of manifest) expect(nodes.get(m.path)?.stat.type, m.path).toBe(m.type);
      for (const p of Object.keys(extra.reparseLinks)) {
        expect(nodes.get(p)!.stat.type, p).toBe('symlink');
        expect(nodes.get(p)!.partial, p).toBeUndefined();
      }
    });

    it('completes a partial node to the size, date and attributes written, and reads it without completing', async () => {
      for (const m of manifest) {
        const n = nodes.get(m.path)!;
        if (!n.partial) continue;
        const src = await vfs.openFile(n);
        if (m.type === 'file') expect(src.size, m.path).toBe(m.size);
        await src.close();
        await vfs.complete(n);
        expect(n.partial, m.path).toBeUndefined();
        expect(n.stat.type, m.path).toBe(m.type);
        if (m.type === 'file') expect(n.stat.size, m.path).toBe(m.size);
        expect(n.stat.mtime!.sec + n.stat.mtime!.nsec / 1e9, m.path).toBeCloseTo(m.mtime, 6);
        expect(n.stat.nlink, m.path).toBeGreaterThanOrEqual(1);
      }
      for (const [p, written] of Object.entries(extra.sparse)) {
        const n = await vfs.complete(nodes.get(p)!);
        expect(n.stat.attributes, p).toContain('sparse');
        expect(n.stat.allocated, p).toBeGreaterThanOrEqual(written);
      }
    });

    it('unsorted (ls -U), each folder comes in $I30 collation order: its names compared in upper case', async () => {
      // ASCII names only: there the volume's $UpCase is A-Z for a-z, which toUpperCase matches.
      const byUpper = (a: string, b: string) => {
        const x = a.toUpperCase();
        const y = b.toUpperCase();
        return x < y ? -1 : x > y ? 1 : 0;
      };
      let checked = 0;
      for (const [p, n] of nodes) {
        if (n.stat.type !== 'dir') continue;
        const { names } = await vfs.readdirNames(await vfs.lookup(`/p0${p}`), { unsorted: true });
        if (names.length < 2 || names.some((x) => /[^\x20-\x7e]/.test(x))) continue;
        expect(names, p).toEqual([...names].sort(byUpper));
        checked++;
      }
      expect(checked).toBeGreaterThan(3);
    });
  });
}
