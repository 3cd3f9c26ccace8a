/**
 * NTFS images made by mkntfs and filled through an ntfs-3g mount, read through the Vfs and
 * compared with the manifest of the host tree that was copied in, with what the builder
 * wrote (streams, reparse links, sparse files), and with ntfsls/ntfscat and TSK fls/icat.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedImage, diskpick, sha256, sha256File, tool, toolBytes, readManifest, type ManifestEntry } from '../helpers/tools.js';
import { buildNtfsImage, buildNtfsFragmented, type NtfsExtra, type NtfsImageOptions } from '../../scripts/images/ntfs.js';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import type { ByteSource } from '../../src/source/source.js';
import { DiskpickError } from '../../src/errors.js';

async function readAll(src: ByteSource, chunk = 1 << 20): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let o = 0; o < src.size; o += chunk) parts.push(Buffer.from(await src.read(o, Math.min(chunk, src.size - o))));
  const b = Buffer.concat(parts);
  expect(b.length).toBe(src.size);
  return b;
}

/** Every node under `root`, keyed by its path inside the volume ("/docs/a.txt"). */
async function walk(vfs: Vfs, root: VfsNode, opts: { system?: boolean } = {}): Promise<Map<string, VfsNode>> {
  const out = new Map<string, VfsNode>();
  const prefix = root.path;
  const go = async (d: VfsNode) => {
    for (const k of await vfs.readdir(d, opts)) {
      out.set(k.path.slice(prefix.length), k);
      if (k.stat.type === 'dir') await go(k);
    }
  };
  await go(root);
  return out;
}

/** fls -r -p: path → inode for every name, and the named streams per path. */
function flsListing(img: string, offsetSectors = 0): { names: Map<string, { type: string; inode: number }>; streams: Map<string, string[]> } {
  const args = ['-r', '-p'];
  if (offsetSectors) args.push('-o', String(offsetSectors));
  const out = tool('fls', [...args, img]);
  const names = new Map<string, { type: string; inode: number }>();
  const streams = new Map<string, string[]>();
  for (const line of out.split('\n')) {
    const m = /^(\S+) (?:\* )?(\d+)-(\d+)-(\d+):\t(.*)$/.exec(line);
    if (!m) continue;
    const path = '/' + m[5]!;
    const colon = path.indexOf(':');
    if (colon >= 0) {
      const base = path.slice(0, colon);
      if (base.endsWith('/.')) continue;
      (streams.get(base) ?? streams.set(base, []).get(base)!).push(path.slice(colon + 1));
      continue;
    }
    names.set(path, { type: m[1]!, inode: Number(m[2]) });
  }
  return { names, streams };
}

interface Built {
  img: string;
  manifest: ManifestEntry[];
  extra: NtfsExtra;
}

function build(name: string, o: NtfsImageOptions, builder = buildNtfsImage): Built {
  const img = cachedImage(name, (p) => builder(p, o));
  return { img, manifest: readManifest(`${img}.manifest.json`), extra: JSON.parse(readFileSync(`${img}.extra.json`, 'utf8')) as NtfsExtra };
}

const VARIANTS: [string, NtfsImageOptions][] = [
  ['ntfs-main.img', {}],
  ['ntfs-c512.img', { clusterSize: 512, content: 'small', sizeMiB: 64 }],
  ['ntfs-c64k.img', { clusterSize: 65536, content: 'small', sizeMiB: 64 }],
  ['ntfs-s4096.img', { sectorSize: 4096, clusterSize: 4096, content: 'small', sizeMiB: 64 }],
  ['ntfs-c2m.img', { clusterSize: 2 * 1024 * 1024, content: 'small', sizeMiB: 512 }],
  ['ntfs-gpt.img', { gpt: true, content: 'small', sizeMiB: 48 }],
];

for (const [imgName, opts] of VARIANTS) {
  describe(`NTFS ${imgName}`, () => {
    let b: Built;
    let vfs: Vfs;
    let vol: VfsNode;
    let nodes: Map<string, VfsNode>;
    let before: string;

    beforeAll(async () => {
      b = build(imgName, opts);
      before = await sha256File(b.img);
      vfs = await Vfs.open(b.img);
      vol = await vfs.lookup(opts.gpt ? '/p1' : '/p0');
      nodes = await walk(vfs, vol);
    });

    afterAll(async () => {
      await vfs?.close?.();
      expect(await sha256File(b.img)).toBe(before);
    });

    it('reports the volume as mkntfs made it', () => {
      const v = vfs.info().volumes.find((x) => `/${x.name}` === vol.path)!;
      const fs = v.filesystem!;
      expect(fs.type).toBe('NTFS');
      expect(fs.label).toBe(b.extra.label);
      expect(fs.blockSize).toBe(opts.clusterSize ?? 4096);
      expect(fs.details.sectorSize).toBe(opts.sectorSize ?? 512);
      expect(fs.details.mftRecordSize).toBe((opts.sectorSize ?? 512) > 1024 ? opts.sectorSize : 1024);
      // blkid prints the serial number the way NTFS tools show it.
      const blkid = tool('blkid', ['-p', '-O', String(b.extra.volumeOffset), '-s', 'UUID', '-o', 'value', b.img]).trim();
      expect(fs.uuid).toBe(blkid);
      expect(fs.warnings).toEqual([]);
    });

    it('lists, sizes, dates and reads every file of the manifest', async () => {
      for (const m of b.manifest) {
        const n = nodes.get(m.path);
        expect(n, m.path).toBeDefined();
        expect(n!.stat.type, m.path).toBe(m.type);
        if (m.type !== 'dir') expect(n!.stat.mtime!.sec + n!.stat.mtime!.nsec / 1e9, m.path).toBeCloseTo(m.mtime, 6);
        if (m.type === 'file') {
          expect(n!.stat.size, m.path).toBe(m.size);
          expect(sha256(await readAll(await vfs.openFile(n!))), m.path).toBe(m.sha256);
        }
        if (m.type === 'symlink') expect(n!.stat.symlinkTarget, m.path).toBe(m.target);
      }
      // Nothing listed that was not written (besides what the builder added on the mount).
      const known = new Set([...b.manifest.map((m) => m.path), ...Object.keys(b.extra.reparseLinks), '/compressed']);
      for (const p of nodes.keys()) expect(known.has(p), p).toBe(true);
    });

    it('lists the same names as ntfsls -R and reads what ntfscat reads', async () => {
      if (opts.gpt) return; // ntfsls and ntfscat take no offset: the p0 images cover them
      const out = tool('ntfsls', ['-R', '-p', '/', b.img]);
      const theirs = new Set<string>();
      let dir = '/';
      for (const line of out.split('\n')) {
        if (!line) continue;
        if (line.startsWith('/') && line.endsWith(':')) {
          // In -R mode a subfolder shows as its own header, not as a name in its parent.
          dir = line.slice(0, -1);
          if (dir !== '/') theirs.add(dir);
        } else if (line !== '.' && line !== '..') theirs.add(dir === '/' ? `/${line}` : `${dir}/${line}`);
      }
      expect(theirs).toEqual(new Set(nodes.keys()));
      for (const [p, n] of nodes) {
        if (n.stat.type !== 'file' || p.startsWith('/many/') || n.stat.size > 8 << 20) continue;
        expect(sha256(await readAll(await vfs.openFile(n))), p).toBe(sha256(toolBytes('ntfscat', [b.img, p])));
      }
    });

    it('lists the same names as fls, and reads what icat reads', async () => {
      // The Sleuth Kit does not open volumes with clusters above 64 KiB.
      if ((opts.clusterSize ?? 4096) > 65536) return;
      const fls = flsListing(b.img, b.extra.volumeOffset / 512);
      const user = [...fls.names.keys()].filter((p) => !p.startsWith('/$'));
      expect(new Set(user)).toEqual(new Set(nodes.keys()));
      for (const [p, f] of fls.names) {
        if (p.startsWith('/$') || p.startsWith('/many/')) continue;
        const n = nodes.get(p)!;
        expect(n.stat.ino, p).toBe(f.inode);
        if (n.stat.type === 'file') {
          const theirs = toolBytes('icat', ['-o', String(b.extra.volumeOffset / 512), b.img, String(f.inode)]);
          expect(sha256(await readAll(await vfs.openFile(n))), p).toBe(sha256(theirs));
        }
      }
    });

    it('reads alternate data streams as written and as ntfscat reads them', async () => {
      for (const [p, streams] of Object.entries(b.extra.streams)) {
        const n = nodes.get(p)!;
        const listed = await vfs.streams(n);
        expect(listed.map((s) => s.name).sort(), p).toEqual(Object.keys(streams).sort());
        for (const [s, want] of Object.entries(streams)) {
          expect(listed.find((x) => x.name === s)!.size).toBe(want.size);
          const ours = await readAll(await vfs.openFile(n, s));
          expect(sha256(ours), `${p}:${s}`).toBe(want.sha256);
          if (!opts.gpt) expect(sha256(toolBytes('ntfscat', ['-a', '128', '-n', s, b.img, p]))).toBe(want.sha256);
        }
      }
      await expect(vfs.openFile(nodes.get('/hello.txt')!, 'nope')).rejects.toMatchObject({ kind: 'notFound' });
    });

    it('shows reparse symlinks and junctions with volume-relative targets', () => {
      for (const [p, target] of Object.entries(b.extra.reparseLinks)) {
        const n = nodes.get(p)!;
        expect(n.stat.type, p).toBe('symlink');
        expect(n.stat.symlinkTarget, p).toBe(target);
        expect(n.stat.attributes).toContain('reparse');
      }
    });

    it('reads sparse files as zeros in the holes and reports what is allocated', async () => {
      for (const [p, written] of Object.entries(b.extra.sparse)) {
        const n = nodes.get(p)!;
        expect(n.stat.allocated, p).toBeLessThan(n.stat.size);
        expect(n.stat.allocated, p).toBeGreaterThanOrEqual(written);
        expect(n.stat.attributes, p).toContain('sparse');
      }
      expect(nodes.get('/sparse/all-hole.bin')!.stat.allocated).toBe(0);
    });

    it('reads LZNT1-compressed files', async () => {
      // NTFS compresses only with clusters up to 4 KiB; with larger ones the folder flag is ignored.
      if ((opts.clusterSize ?? 4096) > 4096) {
        expect(nodes.get('/compressed/text.txt')!.stat.attributes).not.toContain('compressed');
        return;
      }
      for (const p of b.extra.compressed) {
        const n = nodes.get(p)!;
        expect(n.stat.attributes, p).toContain('compressed');
      }
      const text = nodes.get('/compressed/text.txt')!;
      expect(text.stat.allocated).toBeLessThan(text.stat.size / 2);
    });

    it('reads a file whose attributes spread over extension records ($ATTRIBUTE_LIST)', async () => {
      const t = nodes.get('/hardlinks/target.txt')!;
      if ((opts.clusterSize ?? 4096) <= 65536) {
        const istat = tool('istat', ['-o', String(b.extra.volumeOffset / 512), b.img, String(t.stat.ino)]);
        expect(istat).toMatch(/\$ATTRIBUTE_LIST/);
      } else {
        expect(tool('ntfsinfo', ['-i', String(t.stat.ino), b.img])).toMatch(/\$ATTRIBUTE_LIST/);
      }
      expect((await vfs.streams(t)).length).toBe(30);
    });

    it('lists hard links under every name with one inode and the link count', () => {
      for (const group of b.extra.hardLinks) {
        const ns = group.map((p) => nodes.get(p)!);
        for (const n of ns) {
          expect(n.stat.ino).toBe(ns[0]!.stat.ino);
          expect(n.stat.nlink).toBe(group.length);
        }
      }
    });

    it('looks names up case-insensitively through $UpCase, showing them as stored', async () => {
      const base = vol.path;
      expect((await vfs.lookup(`${base}/case/mixedcase.txt`)).name).toBe('MixedCase.TXT');
      expect((await vfs.lookup(`${base}/ÜMLÄUTE/grüße.TXT`)).path).toBe(`${base}/Ümläute/Grüße.txt`);
      expect((await vfs.lookup(`${base}/cjk/日本語のファイル.TXT`)).name).toBe('日本語のファイル.txt');
      await expect(vfs.lookup(`${base}/docs/missing.txt`)).rejects.toMatchObject({ kind: 'notFound' });
      if (nodes.has('/many/file09999.txt')) {
        for (const i of [0, 1, 4321, 9999]) {
          const name = `file${String(i).padStart(5, '0')}.txt`;
          const n = await vfs.lookup(`${base}/MANY/${name.toUpperCase()}`);
          expect(n.name).toBe(name);
          expect((await readAll(await vfs.openFile(n))).toString()).toBe(`file number ${i}\n`);
        }
      }
    });

    it('lists a file with a DOS 8.3 alias once, and finds it by either name', async () => {
      for (const [p, short] of Object.entries(b.extra.dosNames)) {
        const dir = p.slice(0, p.lastIndexOf('/'));
        const names = (await vfs.readdir(nodes.get(dir)!)).map((n) => n.name);
        expect(names).toContain(p.slice(dir.length + 1));
        expect(names).not.toContain(short);
        const n = await vfs.lookup(`${vol.path}${dir}/${short.toLowerCase()}`);
        expect(n.path).toBe(`${vol.path}${p}`);
        expect(n.stat.nlink).toBe(1);
      }
      expect(Object.keys(b.extra.dosNames).length).toBeGreaterThan(0);
    });

    it('marks system files and hides them unless asked', async () => {
      const all = await vfs.readdir(vol, { system: true });
      const names = all.filter((n) => n.system).map((n) => n.name);
      for (const s of ['$MFT', '$MFTMirr', '$LogFile', '$Volume', '$AttrDef', '$Bitmap', '$Boot', '$BadClus', '$Secure', '$UpCase', '$Extend']) expect(names).toContain(s);
      expect((await vfs.readdir(vol)).some((n) => n.name.startsWith('$'))).toBe(false);
      const mft = all.find((n) => n.name === '$MFT')!;
      expect(mft.stat.ino).toBe(0);
      const ours = await readAll(await vfs.openFile(mft));
      // ntfscat would show the $MFT with fixups applied (from its in-memory records): TSK reads it raw.
      if ((opts.clusterSize ?? 4096) <= 65536) {
        expect(sha256(ours)).toBe(sha256(toolBytes('icat', ['-o', String(b.extra.volumeOffset / 512), b.img, '0'])));
      }
      if (!opts.gpt) {
        const upcase = all.find((n) => n.name === '$UpCase')!;
        expect(sha256(await readAll(await vfs.openFile(upcase)))).toBe(sha256(toolBytes('ntfscat', [b.img, '/$UpCase'])));
      }
    });

    it('refuses folders as files and files as folders', async () => {
      await expect(vfs.openFile(nodes.get('/docs')!)).rejects.toBeInstanceOf(DiskpickError);
      await expect(vfs.lookup(`${vol.path}/hello.txt/x`)).rejects.toMatchObject({ kind: 'wrongType' });
    });
  });
}

describe('NTFS fragmented file and $MFT', () => {
  it('reads a file and an $MFT fragmented across the volume', async () => {
    const img = cachedImage('ntfs-frag.img', (p) => buildNtfsFragmented(p));
    const extra = JSON.parse(readFileSync(`${img}.extra.json`, 'utf8')) as { files: { path: string; size: number; sha256: string }[] };
    // The oracles say it is fragmented: TSK lists the clusters of both.
    const fragRuns = tool('istat', [img, String(Number(tool('ifind', ['-n', '/fragmented.bin', img]).trim()))]);
    const mftRuns = tool('istat', [img, '0']);
    const extents = (s: string) => {
      const nums = s.slice(s.indexOf('$DATA')).split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number);
      let n = 0;
      for (let i = 1; i < nums.length; i++) if (nums[i] !== nums[i - 1]! + 1) n++;
      return n;
    };
    expect(extents(fragRuns)).toBeGreaterThan(10);
    expect(extents(mftRuns)).toBeGreaterThan(2);
    const vfs = await Vfs.open(img);
    for (const f of extra.files) {
      const n = await vfs.lookup(`/p0${f.path}`);
      expect(n.stat.size, f.path).toBe(f.size);
      expect(sha256(await readAll(await vfs.openFile(n), 3 << 20)), f.path).toBe(f.sha256);
    }
    // Unaligned reads across run boundaries.
    const n = await vfs.lookup('/p0/fragmented.bin');
    const src = await vfs.openFile(n);
    const whole = await readAll(src);
    for (const [o, l] of [[1, 5000], [16383, 2], [100_000, 300_001], [src.size - 7, 100]] as const) {
      expect((await src.read(o, l)).equals(whole.subarray(o, Math.min(src.size, o + l)))).toBe(true);
    }
  });
});

describe('NTFS through the diskpick CLI', () => {
  it('ls -l --json, cat PATH:STREAM and extract give what was written', async () => {
    const b = build('ntfs-main.img', {});
    const ls = diskpick(['ls', '-l', '--json', b.img, '/p0/links']);
    expect(ls.status, ls.stderr).toBe(0);
    const rows = ls.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; type: string; target?: string; mtime: string });
    for (const m of b.manifest.filter((x) => x.path.startsWith('/links/'))) {
      const r = rows.find((x) => x.path === `/p0${m.path}`)!;
      expect(r.type, m.path).toBe(m.type);
      if (m.target) expect(r.target).toBe(m.target);
      expect(Date.parse(r.mtime) / 1000).toBeCloseTo(m.mtime, 3);
    }
    const cat = diskpick(['cat', b.img, '/p0/hello.txt:second']);
    expect(cat.status, cat.stderr).toBe(0);
    expect(sha256(cat.stdout)).toBe(sha256(toolBytes('ntfscat', ['-a', '128', '-n', 'second', b.img, '/hello.txt'])));
    const out = mkdtempSync(join(tmpdir(), 'dp-ntfs-x-'));
    try {
      const x = diskpick(['extract', b.img, '/p0/docs', '-o', out]);
      expect(x.status, x.stderr).toBe(0);
      for (const m of b.manifest.filter((e) => e.path.startsWith('/docs/') && e.type === 'file')) {
        expect(sha256(readFileSync(join(out, 'docs', m.path.slice('/docs/'.length)))), m.path).toBe(m.sha256);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    const missing = diskpick(['cat', b.img, '/p0/no/such/file']);
    expect(missing.status).toBe(4);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
  });
});
