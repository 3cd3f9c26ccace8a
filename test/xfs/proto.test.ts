/**
 * XFS variants this kernel cannot mount (v4 without CONFIG_XFS_SUPPORT_V4; 64 KiB blocks over
 * 4 KiB pages), made by `mkfs.xfs -p protofile` from a host tree. Oracles: the host tree (what
 * was written: names, types, sizes, sha256, modes, owners, device numbers, symlink targets),
 * `xfs_db -r` (every folder's names, inode numbers and name hashes) and libfsxfs's fsxfsinfo
 * (times in ns, as a second opinion).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { daHashName } from '../../src/fs/xfs/dir.js';
import { cachedImage, diskpick, sha256File, tool } from '../helpers/tools.js';
import { XFS_VARIANTS, buildXfsImage, treeOf } from '../../scripts/images/xfs.js';
import { readAll, sha } from '../ext/helpers.js';
import { kernelWalk, ns, type KernelEntry } from './helpers.js';
import { spawnSync } from 'node:child_process';

const protoVariants = XFS_VARIANTS.filter((v) => !v.kernel);
const LONG_LINK = '/links/long';

/** xfs_db `ls` of many folders in one run: folder → name → [inode, hash]. */
function dbListing(img: string, dirs: string[]): Map<string, Map<string, [number, number]>> {
  const r = spawnSync('xfs_db', ['-r', ...dirs.flatMap((d) => ['-c', `ls ${d}`]), img], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`xfs_db failed: ${r.stderr}`);
  const out = new Map<string, Map<string, [number, number]>>();
  let cur: Map<string, [number, number]> | null = null;
  for (const line of r.stdout.split('\n')) {
    const h = /^(\/.*):$/.exec(line);
    if (h) {
      cur = new Map();
      out.set(h[1] === '/' ? '' : h[1]!, cur);
      continue;
    }
    const m = /^\d+\s+(\d+)\s+\S+\s+0x([0-9a-f]+)\s+(\d+)\s(.*) \((good|bad)\)$/.exec(line);
    if (m && cur && m[4] !== '.' && m[4] !== '..') cur.set(m[4]!, [Number(m[1]), parseInt(m[2]!, 16)]);
  }
  return out;
}

describe.each(protoVariants)('XFS $name (protofile) against the host tree, xfs_db and fsxfsinfo', (v) => {
  let img: string;
  let before: string;
  let vfs: Vfs;
  let host: KernelEntry[];
  const ours = new Map<string, VfsNode>();

  beforeAll(async () => {
    img = cachedImage(`${v.name}.img`, (p) => buildXfsImage(p, v));
    before = await sha256File(img);
    host = kernelWalk(treeOf(img));
    vfs = await Vfs.open(img);
    const stack = [await vfs.lookup('/p0')];
    while (stack.length) {
      const d = stack.pop()!;
      for (const k of await vfs.readdir(d)) {
        ours.set(k.path.slice(3), k);
        if (k.stat.type === 'dir') stack.push(k);
      }
    }
  }, 300_000);
  afterAll(async () => {
    await vfs?.close();
    if (img) expect(await sha256File(img)).toBe(before);
  });

  it('info: version and block size as xfs_db shows them', () => {
    const fs = vfs.info().volumes[0]!.filesystem!;
    const sb = tool('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p blocksize', '-c', 'p versionnum', img]);
    expect(fs.blockSize).toBe(Number(/blocksize = (\d+)/.exec(sb)![1]));
    expect(fs.details.version).toBe(parseInt(/versionnum = 0x([0-9a-f]+)/.exec(sb)![1]!, 16) & 0xf);
    expect(fs.details.log).toBe('clean');
  });

  it('every entry equals the source tree: names, types, sizes, sha256, modes, owners, device numbers, symlink targets', async () => {
    expect([...ours.keys()].sort()).toEqual(host.map((h) => h.path).sort());
    for (const h of host) {
      if (v.name === 'xfs-v5-64k' && h.path === LONG_LINK) continue;
      const o = ours.get(h.path)!.stat;
      const got = { type: o.type, mode: o.mode, uid: o.uid, gid: o.gid, rdev: o.rdev ?? 0, target: o.symlinkTarget, size: h.type === 'dir' ? 0 : o.size };
      expect(got, h.path).toEqual({ type: h.type, mode: h.mode, uid: h.uid, gid: h.gid, rdev: h.rdev, target: h.target, size: h.type === 'dir' ? 0 : h.size });
      if (h.type === 'file' && h.size > 0) expect(sha(await readAll(vfs, ours.get(h.path)!)), h.path).toBe(h.sha256);
    }
  }, 120_000);

  it('every folder lists the names and inode numbers xfs_db lists, and xfs_db\'s name hash is ours', async () => {
    const dirs = ['/', ...host.filter((h) => h.type === 'dir').map((h) => h.path)];
    const db = dbListing(img, dirs);
    let names = 0;
    for (const d of dirs) {
      const theirs = db.get(d === '/' ? '' : d)!;
      const mine = await vfs.readdir(await vfs.lookup('/p0' + (d === '/' ? '' : d)));
      expect(mine.map((k) => k.name).sort(), d).toEqual([...theirs.keys()].sort());
      for (const k of mine) {
        const [ino, hash] = theirs.get(k.name)!;
        expect(k.stat.ino, `${d}/${k.name}`).toBe(ino);
        expect(daHashName(Buffer.from(k.name)), `${d}/${k.name}`).toBe(hash);
        names++;
      }
    }
    expect(names).toBeGreaterThan(v.many);
    // Lookups by name through the hash index of the biggest folders.
    for (const name of ['file-000000', `file-${String(v.many - 1).padStart(6, '0')}`]) {
      expect((await vfs.lookup('/p0/many/' + name)).stat.ino).toBe(db.get('/many')!.get(name)![0]);
    }
  }, 120_000);

  it('a remote symlink mkfs -p wrote without its v5 block header is an error, as for xfs_db and the kernel', async () => {
    if (v.name !== 'xfs-v5-64k') return;
    // xfsprogs 6.1's protofile code writes a long target as raw bytes even on v5, where each
    // symlink block starts with a "XSLM" header: the kernel's verifier rejects such a block.
    const n = ours.get(LONG_LINK)!;
    expect(n.stat.mode).toBe(0);
    const dump = tool('xfs_db', ['-r', '-c', `path ${LONG_LINK}`, '-c', 'p core.format', img]);
    expect(dump).toMatch(/core.format = 2/);
    expect(n.stat.nlink).toBe(0);
    const raw = tool('xfs_db', ['-r', '-c', `path ${LONG_LINK}`, '-c', 'bmap', img]);
    const fsb = Number(/startblock (\d+)/.exec(raw)![1]);
    const block = tool('xfs_db', ['-r', '-c', `fsblock ${fsb}`, '-c', 'type text', '-c', 'p', img]);
    expect(block).not.toMatch(/XSLM/);
  });

  it.skipIf(v.bigtime)('times in ns equal fsxfsinfo (libfsxfs; its 2020 release predates bigtime)', async () => {
    for (const p of ['/hello.txt', '/dates/1969.txt', '/links/long', '/dirs/node']) {
      const text = tool('fsxfsinfo', ['-F', p, img]);
      const t = (label: string) => /^\s*(.*)Z$/.exec(new RegExp(`${label}\\s*: (.*)$`, 'm').exec(text)![1]!)?.[1];
      const o = (await vfs.lookup('/p0' + p)).stat;
      const iso = (x: bigint) => {
        const sec = x / 1_000_000_000n - (x < 0n && x % 1_000_000_000n !== 0n ? 1n : 0n);
        const nsec = x - sec * 1_000_000_000n;
        return new Date(Number(sec) * 1000).toISOString().slice(0, 19) + '.' + String(nsec).padStart(9, '0');
      };
      expect(iso(ns(o.mtime)), `${p} mtime`).toBe(t('Modification time'));
      expect(iso(ns(o.ctime)), `${p} ctime`).toBe(t('Inode change time'));
    }
  });

  it('times in ns equal xfs_db', async () => {
    for (const p of ['/hello.txt', '/dates/1969.txt', '/dates/2040.txt', '/dirs/node', ...(v.bigtime ? ['/dates/2200.txt'] : [])]) {
      const f = tool('xfs_db', ['-r', '-c', `path ${p}`, '-c', 'p core.mtime.sec', '-c', 'p core.mtime.nsec', '-c', 'p core.ctime.sec', '-c', 'p core.ctime.nsec', img]);
      const o = (await vfs.lookup('/p0' + p)).stat;
      for (const k of ['mtime', 'ctime'] as const) {
        const sec = Date.parse(new RegExp(`core.${k}.sec = (.*)$`, 'm').exec(f)![1]! + ' UTC') / 1000;
        const nsec = Number(new RegExp(`core.${k}.nsec = (\\d+)`).exec(f)![1]);
        expect({ sec: o[k]!.sec, nsec: o[k]!.nsec }, `${p} ${k}`).toEqual({ sec, nsec });
      }
    }
  });

  it('CLI: ls -R and cat; the image is unchanged', () => {
    const r = diskpick(['ls', '-R', img, '/p0/dirs']);
    expect(r.status).toBe(0);
    expect(r.stdout.toString().split('\n').filter(Boolean).length).toBe(host.filter((h) => h.path.startsWith('/dirs/')).length);
    const cat = diskpick(['cat', img, '/p0/big.bin']);
    expect(sha(cat.stdout)).toBe(host.find((h) => h.path === '/big.bin')!.sha256);
  });
});
