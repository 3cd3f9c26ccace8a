/**
 * The FUSE read and listing paths against the bytes and stats real tools give: reads at odd
 * offsets and lengths (across cluster runs, holes, compression units, the end of the file),
 * in-process through FuseFs.read (offsets the kernel never sends) and through a mount with
 * dd after dropping the page cache; parallel reads; stats from readdir's kept listing and from
 * single lookups against lstat of the tree the image was built from.
 * Oracles: mcopy (FAT), debugfs dump (ext4), ntfscat (NTFS), the exFAT builder's host tree.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedImage, sha256File, tool, toolBytes } from '../helpers/tools.js';
import { buildGptFatDisk } from '../../scripts/images/fat.js';
import { buildExtImage, EXT_SPECIAL, treeOf } from '../../scripts/images/ext.js';
import { buildNtfsImage } from '../../scripts/images/ntfs.js';
import { exfatImages } from '../../scripts/images/exfat.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { FuseFs } from '../../src/fuse/ops.js';
import { statLikeOf } from '../../src/fuse/stat-words.js';
import { namesOf } from '../../src/fuse/listing.js';
import { FUSE_EXT, mountDaemon, newMountpoint, q, releaseAll, sh } from './mounts.js';

const tmp = mkdtempSync(join(tmpdir(), 'dp-fuse-reads-'));
afterAll(() => {
  releaseAll();
  rmSync(tmp, { recursive: true, force: true });
});

interface Case {
  fs: string;
  image: () => string;
  /** Path in the mount ("/p1/big.bin") and the oracle's bytes of it. */
  files: Array<{ path: string; oracle: (image: string) => Buffer }>;
}

function partitionOffset(image: string, n: number): number {
  return Number(/First sector: (\d+)/.exec(tool('sgdisk', ['-i', String(n), image]))![1]) * 512;
}

const mcopy = (vol: number, p: string) => (image: string) => toolBytes('mcopy', ['-n', '-i', `${image}@@${partitionOffset(image, vol)}`, `::${p}`, '-']);
const debugfsDump = (p: string) => (image: string) => {
  const out = join(tmp, `dump-${p.replace(/\W/g, '_')}`);
  tool('debugfs', ['-R', `dump "${p}" ${out}`, image]);
  return readFileSync(out);
};
const ntfscat = (p: string) => (image: string) => toolBytes('ntfscat', [image, p]);
const hostFile = (p: string) => (image: string) => readFileSync(`${image}.tree${p}`);

const cases: Case[] = [
  {
    fs: 'FAT32/FAT16',
    image: () => cachedImage('fuse-fat-gpt.img', buildGptFatDisk),
    files: [
      { path: '/p1/big.bin', oracle: mcopy(1, '/big.bin') },
      { path: '/p2/fragmented.bin', oracle: mcopy(2, '/fragmented.bin') },
      { path: '/p1/docs/report.docx', oracle: mcopy(1, '/docs/report.docx') },
    ],
  },
  {
    fs: 'ext4',
    image: () => cachedImage('fuse-ext4.img', (p) => buildExtImage(p, FUSE_EXT)),
    files: [
      { path: `/p0${EXT_SPECIAL.bigFile}`, oracle: debugfsDump(EXT_SPECIAL.bigFile) },
      { path: `/p0${EXT_SPECIAL.sparseFile}`, oracle: debugfsDump(EXT_SPECIAL.sparseFile) },
    ],
  },
  {
    fs: 'NTFS',
    image: () => cachedImage('fuse-ntfs.img', (p) => buildNtfsImage(p, { content: 'small', sizeMiB: 48 })),
    files: [
      { path: '/p0/compressed/mixed.bin', oracle: ntfscat('/compressed/mixed.bin') },
      { path: '/p0/compressed/random.bin', oracle: ntfscat('/compressed/random.bin') },
      { path: '/p0/sparse/holes.bin', oracle: ntfscat('/sparse/holes.bin') },
      { path: '/p0/docs/report.bin', oracle: ntfscat('/docs/report.bin') },
    ],
  },
  {
    fs: 'exFAT',
    image: () => cachedImage('fuse-exfat.img', exfatImages.small),
    files: [
      { path: '/p0/contiguous-2MiB.bin', oracle: hostFile('/contiguous-2MiB.bin') },
      { path: '/p0/frag/fragmented.bin', oracle: hostFile('/frag/fragmented.bin') },
    ],
  },
];

/** (offset, length) pairs around block, cluster, request and file boundaries. */
function windows(size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const pos of [0, 1, 511, 4095, 4097, 65535, 131071, 131072 + 3, 1_000_003, size >> 1, size - 131073, size - 4097, size - 1]) {
    for (const len of [1, 3, 4096, 131072, 131073, 200_001, (1 << 20) + 7]) {
      if (pos >= 0 && pos < size) out.push([pos, len]);
    }
  }
  return out;
}

for (const c of cases) {
  describe(`${c.fs}: reads through FuseFs and through the mount equal the oracle's bytes`, () => {
    let image: string;
    let vfs: Vfs;
    let fsys: FuseFs;
    const oracle = new Map<string, Buffer>();
    let sha: string;
    beforeAll(async () => {
      image = c.image();
      sha = await sha256File(image);
      for (const f of c.files) oracle.set(f.path, f.oracle(image));
      vfs = await Vfs.open(image);
      fsys = new FuseFs(vfs, { uid: 0, gid: 0, umask: null, log: () => undefined });
    });
    afterAll(async () => {
      await fsys?.closeAll();
      await vfs?.close();
      // Reads through FuseFs and the mount never change the image.
      expect(await sha256File(image)).toBe(sha);
    });

    it('odd offsets and lengths, the end of the file, nothing written past what was read', async () => {
      for (const f of c.files) {
        const want = oracle.get(f.path)!;
        const fh = await fsys.open(f.path, 0);
        expect(fh, f.path).toBeGreaterThan(0);
        expect((await fsys.getattr(f.path)).size, f.path).toBe(want.length);
        for (const [pos, len] of windows(want.length)) {
          // Larger than asked, filled with a marker: bytes past the answer must stay untouched.
          const buf = Buffer.alloc(len + 16, 0xee);
          const n = await fsys.read(fh, buf, len, pos);
          const expected = want.subarray(pos, pos + len);
          expect(n, `${f.path} @${pos}+${len}`).toBe(expected.length);
          expect(buf.subarray(0, n).equals(expected), `${f.path} @${pos}+${len}`).toBe(true);
          expect(buf.subarray(n).every((b) => b === 0xee), `${f.path} @${pos}+${len} wrote past ${n}`).toBe(true);
        }
        const end = Buffer.alloc(8);
        expect(await fsys.read(fh, end, 8, want.length)).toBe(0);
        expect(await fsys.read(fh, end, 8, want.length + 12345)).toBe(0);
        await fsys.release(fh);
      }
    });

    it('64 parallel 128 KiB reads at scattered offsets, as kernel readahead sends them', async () => {
      for (const f of c.files) {
        const want = oracle.get(f.path)!;
        // A fresh handle: the first reads of a file race its lazy set-up (cluster chains, runs).
        const fh = await fsys.open(f.path, 0);
        const offsets = Array.from({ length: 64 }, (_, i) => Math.floor((want.length * ((i * 37) % 64)) / 64 / 4096) * 4096);
        const bufs = offsets.map(() => Buffer.alloc(131072));
        const ns = await Promise.all(offsets.map((o, i) => fsys.read(fh, bufs[i]!, 131072, o)));
        offsets.forEach((o, i) => {
          const expected = want.subarray(o, o + 131072);
          expect(ns[i], `${f.path} @${o}`).toBe(expected.length);
          expect(bufs[i]!.subarray(0, ns[i]).equals(expected), `${f.path} @${o}`).toBe(true);
        });
        await fsys.release(fh);
      }
    });

    it('through the mount (cold page cache): dd at odd offsets and whole-file sha256', () => {
      const mnt = newMountpoint('reads');
      mountDaemon(image, mnt);
      sh('sync; echo 3 > /proc/sys/vm/drop_caches');
      for (const f of c.files) {
        const want = oracle.get(f.path)!;
        for (const [pos, len] of [[0, 1], [4097, 131073], [want.length - 4097, 200_001], [(want.length >> 1) + 1, (1 << 20) + 7]] as const) {
          if (pos < 0) continue;
          const got = toolBytes('dd', [`if=${join(mnt, f.path)}`, 'iflag=skip_bytes,count_bytes', `skip=${pos}`, `count=${len}`, 'bs=65536', 'status=none']);
          expect(got.equals(want.subarray(pos, pos + len)), `${f.path} @${pos}+${len}`).toBe(true);
        }
        const sum = sh(`sha256sum < ${q(join(mnt, f.path))}`).slice(0, 64);
        expect(sum, f.path).toBe(createHash('sha256').update(want).digest('hex'));
      }
    });
  });
}

/**
 * A folder as the kernel gets it: the mount's readdir answer, decoded when the binding would
 * read it (the stat arrays are shared views, valid only during the reply).
 */
function answered(fsys: FuseFs, path: string): Promise<{ names: string[]; stats: ReturnType<typeof statLikeOf>[] }> {
  return new Promise((resolve, reject) => {
    fsys.answerReaddir(path, (err, names, stats) => {
      if (err) reject(new Error(`readdir ${path}: errno ${err}`));
      else resolve({ names: [...names], stats: stats.map(statLikeOf) });
    });
  });
}

describe('ext4: stats from a kept listing and from single lookups both equal lstat of the tree', () => {
  it('mode, owner, size, nlink and ino agree; readdir types and inode numbers match getattr', async () => {
    const image = cachedImage('fuse-ext4.img', (p) => buildExtImage(p, FUSE_EXT));
    const tree = treeOf(image);
    const sha = await sha256File(image);
    const vfs = await Vfs.open(image);
    try {
      const opts = { uid: 0, gid: 0, umask: null, log: () => undefined };
      for (const dir of ['', '/docs', EXT_SPECIAL.manyDir, '/links', '/hard', '/dev']) {
        const names = readdirSync(join(tree, dir)).sort();
        expect(names.length, dir).toBeGreaterThan(0);
        // Looked up one by one in a fresh FuseFs (no listing yet) …
        const single = new FuseFs(vfs, opts);
        const bySingle = new Map<string, Awaited<ReturnType<FuseFs['getattr']>>>();
        for (const n of names) bySingle.set(n, await single.getattr(`/p0${dir}/${n}`));
        // … and through a listing, which later lookups are answered from.
        const listed = new FuseFs(vfs, opts);
        const l = await answered(listed, `/p0${dir}`);
        expect(l.names.slice(0, 2)).toEqual(['.', '..']);
        expect(l.names.slice(2).filter((n) => dir !== '' || n !== 'lost+found').sort()).toEqual(names);
        for (const n of names) {
          const h = lstatSync(join(tree, dir, n));
          const fromList = await listed.getattr(`/p0${dir}/${n}`);
          const dirent = l.stats[l.names.indexOf(n)]!;
          for (const st of [bySingle.get(n)!, fromList]) {
            const where = `${dir}/${n}`;
            expect(st.mode, where).toBe(h.mode);
            expect([st.uid, st.gid], where).toEqual([h.uid, h.gid]);
            if (!h.isDirectory()) {
              expect(st.size, where).toBe(h.size);
              expect(st.nlink, where).toBe(h.nlink);
            }
            expect(st.ino, where).toBe(dirent.ino);
          }
          expect(dirent.mode & 0o170000, `${dir}/${n} type`).toBe(h.mode & 0o170000);
          if (h.isSymbolicLink()) expect(await listed.readlink(`/p0${dir}/${n}`)).toBe(await single.readlink(`/p0${dir}/${n}`));
        }
      }
      // Listings and paths over tiny bounds: folders are dropped and listed again, same answers.
      const small = new FuseFs(vfs, { ...opts, listingEntries: 8, cacheEntries: 4 });
      for (let pass = 0; pass < 2; pass++) {
        for (const dir of ['', '/docs', EXT_SPECIAL.manyDir, '/links', '/hard', '/dev']) {
          const names = readdirSync(join(tree, dir)).sort();
          const l = await small.readdir(`/p0${dir}`);
          expect(namesOf(l).slice(2).filter((n) => dir !== '' || n !== 'lost+found').sort(), `${dir} pass ${pass}`).toEqual(names);
          for (const n of names.slice(0, 40)) {
            const h = lstatSync(join(tree, dir, n));
            const st = await small.getattr(`/p0${dir}/${n}`);
            expect([st.mode, h.isDirectory() ? 0 : st.size], `${dir}/${n} pass ${pass}`).toEqual([h.mode, h.isDirectory() ? 0 : h.size]);
          }
        }
      }
    } finally {
      await vfs.close();
      // Listing, answering and completing never change the image.
      expect(await sha256File(image)).toBe(sha);
    }
  });
});

describe('a listed file is opened as itself even when a lookup of its name answers with another entry', () => {
  it('open and read of a listed file reach the entry with its inode, not the lookup\'s answer (FAT: mcopy bytes)', async () => {
    const image = cachedImage('fuse-fat-gpt.img', buildGptFatDisk);
    const sha = await sha256File(image);
    const vfs = await Vfs.open(image);
    try {
      const fsys = new FuseFs(vfs, { uid: 0, gid: 0, umask: null, log: () => undefined });
      const l = await answered(fsys, '/p1/docs');
      const names = l.names.slice(2).filter((n) => l.stats[l.names.indexOf(n)]!.mode & 0o100000);
      expect(names.length).toBeGreaterThanOrEqual(2);
      const [a, b] = names as [string, string];
      // A case-insensitive lookup can answer a name with a sibling (two names folding to one):
      // the lookup of `a` here answers with `b`'s node.
      const child = vfs.child.bind(vfs);
      vfs.child = async (dir, name) => child(dir, name === a ? b : name);
      const fh = await fsys.open(`/p1/docs/${a}`, 0);
      const want = mcopy(1, `/docs/${a}`)(image);
      const buf = Buffer.alloc(want.length + 1);
      expect(await fsys.read(fh, buf, buf.length, 0)).toBe(want.length);
      expect(buf.subarray(0, want.length).equals(want)).toBe(true);
      expect((await fsys.getattr(`/p1/docs/${a}`)).size).toBe(want.length);
      await fsys.release(fh);
    } finally {
      await vfs.close();
      expect(await sha256File(image)).toBe(sha);
    }
  });
});
