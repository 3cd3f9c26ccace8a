/**
 * exFAT against real tools: images formatted by mkfs.exfat and filled through exfat-fuse (or
 * the kernel) from a seeded tree. Oracles: the host tree's manifest, TSK (fls/icat/istat),
 * blkid, dump.exfat and fsck.exfat. 7-Zip has no exFAT handler (`7zz i` lists FAT and NTFS
 * only), so it cannot serve here.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { fileEntry, fixSetChecksum, hashOf, walk } from './helpers.js';
import { DiskpickError } from '../../src/errors.js';
import { CACHE, cachedImage, sha256File, tool, toolBytes, sha256 } from '../helpers/tools.js';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exfatImages } from '../../scripts/images/exfat.js';
import { manifestOf, type ManifestEntry } from '../../scripts/images/tree.js';

interface FlsEntry {
  inode: string;
  type: string;
  size: number;
  atime: number;
  mtime: number;
  crtime: number;
}

/** `fls -r -p -m /`: TSK's body-file listing (path → inode, type, size, mtime), metadata files left out. */
function fls(image: string, offsetSectors = 0): Map<string, FlsEntry> {
  const args = ['-r', '-p', '-m', '/', '-f', 'exfat'];
  if (offsetSectors) args.push('-o', String(offsetSectors));
  const out = new Map<string, FlsEntry>();
  for (const line of tool('fls', [...args, image]).split('\n')) {
    const f = line.split('|');
    if (f.length < 11) continue;
    const path = f[1]!;
    const mode = f[3]!;
    if (path.startsWith('/$') || path.endsWith('(Volume Label Entry)') || path.endsWith(' (deleted)') || mode.startsWith('v/') || mode.startsWith('V/')) continue;
    out.set(path, { inode: f[2]!, type: mode.startsWith('d/') ? 'dir' : 'file', size: Number(f[6]), atime: Number(f[7]), mtime: Number(f[8]), crtime: Number(f[10]) });
  }
  return out;
}

function blkid(image: string, offset = 0): Record<string, string> {
  const args = ['-p', '-o', 'export'];
  if (offset) args.push('-O', String(offset));
  const out: Record<string, string> = {};
  for (const line of tool('blkid', [...args, image]).split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

/** The label as exfatprogs' exfatlabel prints it (blkid's export format escapes non-ASCII). */
function exfatlabel(image: string): string {
  return /^label: (.*)$/m.exec(tool('exfatlabel', [image]))![1]!;
}

/** The fields dump.exfat (exfatprogs) prints for a volume. */
function dumpExfat(image: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of tool('dump.exfat', [image]).split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line.trim());
    if (m) out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

/** Compares the whole volume with the manifest: paths, types, sizes, mtimes and every file's bytes. */
async function expectMatchesManifest(vfs: Vfs, vol: string, manifest: ManifestEntry[]): Promise<void> {
  const nodes = await walk(vfs, vol);
  expect([...nodes.keys()].sort()).toEqual(manifest.map((m) => m.path).sort());
  for (const m of manifest) {
    const n = nodes.get(m.path)!;
    expect(n.stat.type, m.path).toBe(m.type);
    expect(n.name, m.path).toBe(m.path.split('/').pop());
    // The trees are written with whole-second mtimes; exFAT keeps them exactly (2 s + 10 ms steps).
    expect(n.stat.mtime, m.path).toEqual({ sec: m.mtime, nsec: 0 });
    if (m.type === 'file') {
      expect(n.stat.size, m.path).toBe(m.size);
      expect(await hashOf(vfs, n), m.path).toBe(m.sha256);
    }
  }
}

describe('exFAT, 4 KiB clusters: Unicode names, 50 MiB file, 3000-file folder, fragmented file', () => {
  let image: string;
  let before: string;
  let manifest: ManifestEntry[];
  let vfs: Vfs;

  beforeAll(async () => {
    image = cachedImage('exfat-main.img', exfatImages.main);
    manifest = manifestOf(`${image}.tree`);
    before = await sha256File(image);
    vfs = await Vfs.open(image);
  });

  it('fsck.exfat calls the image clean (the oracle image is sound)', () => {
    expect(tool('fsck.exfat', ['-n', image])).toMatch(/clean/);
  });

  it('lists and reads every file and folder exactly as the manifest has them', async () => {
    expect(vfs.info().volumes.map((v) => v.name)).toEqual(['p0']);
    await expectMatchesManifest(vfs, '/p0', manifest);
    expect(manifest.filter((m) => m.path.startsWith('/many/')).length).toBe(3000);
    expect(vfs.info().volumes[0]!.filesystem!.warnings).toEqual([]);
  });

  it('agrees with TSK fls on every name, type and size', async () => {
    const theirs = fls(image);
    const ours = await walk(vfs, '/p0');
    expect([...ours.keys()].sort()).toEqual([...theirs.keys()].sort());
    for (const [p, t] of theirs) {
      const n = ours.get(p)!;
      expect(n.stat.type, p).toBe(t.type);
      if (t.type === 'file') expect(n.stat.size, p).toBe(t.size);
      // TSK drops 10msIncrement (and the UTC offset, 0 here): its times are ours floored to 2 s.
      const floor2 = (x: { sec: number } | undefined) => (x ? x.sec - (x.sec % 2) : 0);
      expect(t.mtime, p).toBe(floor2(n.stat.mtime));
      expect(t.atime, p).toBe(floor2(n.stat.atime));
      expect(t.crtime, p).toBe(floor2(n.stat.birthtime));
    }
  });

  it('reads the big, fragmented and Unicode-named files as TSK icat does', async () => {
    const theirs = fls(image);
    const wanted = ['/big/seeded-50MiB.bin', '/frag/fragmented.bin', '/Ünïcödé Grüße.txt', '/日本語のファイル名.txt', '/emoji 😀🎉 party.txt', '/many/file-02999.txt', '/empty.bin'];
    for (const p of wanted) {
      const icat = sha256(toolBytes('icat', ['-f', 'exfat', image, theirs.get(p)!.inode]));
      expect(await hashOf(vfs, await vfs.lookup(`/p0${p}`)), p).toBe(icat);
    }
  });

  it('the fragmented file really is in many pieces (TSK istat) and reads right', async () => {
    const ino = fls(image).get('/frag/fragmented.bin')!.inode;
    const sectors = tool('istat', ['-f', 'exfat', image, ino]).split('Sectors:')[1]!.trim().split(/\s+/).map(Number);
    let pieces = 1;
    for (let i = 1; i < sectors.length; i++) if (sectors[i] !== sectors[i - 1]! + 1) pieces++;
    expect(pieces).toBeGreaterThan(50);
    const m = manifest.find((e) => e.path === '/frag/fragmented.bin')!;
    const node = await vfs.lookup('/p0/frag/fragmented.bin');
    // Read at odd offsets that straddle cluster and fragment boundaries.
    const src = await vfs.openFile(node);
    const parts: Buffer[] = [];
    for (let off = 0; off < src.size; off += 12_345) parts.push(await src.read(off, 12_345));
    expect(sha256(Buffer.concat(parts))).toBe(m.sha256);
  });

  it('info: type, label and UUID as blkid prints them, geometry as dump.exfat prints it', () => {
    const fs = vfs.info().volumes[0]!.filesystem!;
    const b = blkid(image);
    const d = dumpExfat(image);
    expect(fs.type).toBe('exFAT');
    expect(b.TYPE).toBe('exfat');
    expect(fs.label).toBe(exfatlabel(image));
    expect(fs.label).toBe(b.LABEL);
    expect(fs.uuid).toBe(b.UUID);
    expect(fs.blockSize).toBe(Number(d['Cluster size']));
    expect(fs.details.clusterCount).toBe(Number(d['Cluster Count']));
    expect(fs.size).toBe(Number(d['Volume Length(sectors)']) * 512);
  });

  it('looks names up case-insensitively through the up-case table and shows them as stored', async () => {
    const names = ['/Mixed Case Folder/MiXeD.TxT', '/Ünïcödé Grüße.txt', '/README.txt', '/many/file-00042.txt'];
    for (const p of names) {
      const stored = await vfs.lookup(`/p0${p}`);
      // Up-case letter by letter where Unicode has a one-letter capital (ß has none).
      const upper = [...p].map((c) => (c.toUpperCase().length === 1 ? c.toUpperCase() : c)).join('');
      const lower = p.toLowerCase();
      for (const q of [upper, lower]) {
        const n = await vfs.lookup(`/p0${q}`);
        expect(n.stat.ino, q).toBe(stored.stat.ino);
        expect(n.name, q).toBe(p.split('/').pop());
      }
    }
    await expect(vfs.lookup('/p0/README.txt.nope')).rejects.toMatchObject({ kind: 'notFound' });
  });

  it('stat: default modes, no ownership, distinct stable inode numbers, attributes', async () => {
    const nodes = await walk(vfs, '/p0');
    const inos = new Set<number>();
    for (const [p, n] of nodes) {
      expect(n.stat.hasOwnership).toBe(false);
      expect(n.stat.mode, p).toBe(n.stat.type === 'dir' ? 0o755 : 0o644);
      expect(n.stat.ctime, p).toEqual(n.stat.mtime);
      inos.add(n.stat.ino);
    }
    expect(inos.size).toBe(nodes.size);
    const again = await Vfs.open(image);
    expect((await again.lookup('/p0/many/file-01234.txt')).stat.ino).toBe((await vfs.lookup('/p0/many/file-01234.txt')).stat.ino);
    await again.close();
    // exfat-fuse sets Archive on files it writes, as Windows does.
    expect((await vfs.lookup('/p0/README.txt')).stat.attributes).toContain('archive');
    const big = await vfs.lookup('/p0/big/seeded-50MiB.bin');
    expect(big.stat.allocated).toBe(50 * 1024 * 1024);
  });

  it('reading a file past its end gives nothing, a folder is not a file', async () => {
    const src = await vfs.openFile(await vfs.lookup('/p0/README.txt'));
    expect((await src.read(src.size, 10)).length).toBe(0);
    expect((await src.read(src.size - 3, 10)).length).toBe(3);
    await expect(vfs.openFile(await vfs.lookup('/p0/many'))).rejects.toBeInstanceOf(DiskpickError);
  });

  it('never changes the image', async () => {
    await vfs.close();
    expect(await sha256File(image)).toBe(before);
  });
});

describe('exFAT, 128 KiB clusters, written by a driver in UTC+05:30', () => {
  let image: string;
  let vfs: Vfs;
  let before: string;

  beforeAll(async () => {
    image = cachedImage('exfat-c128k.img', exfatImages.c128k);
    before = await sha256File(image);
    vfs = await Vfs.open(image);
  });

  it('reads everything as the manifest has it, times corrected by the stored UTC offset', async () => {
    await expectMatchesManifest(vfs, '/p0', manifestOf(`${image}.tree`));
  });

  it('TSK, which ignores UtcOffset, sees the local times 5 h 30 min ahead', async () => {
    const theirs = fls(image);
    const n = await vfs.lookup('/p0/README.txt');
    expect(theirs.get('/README.txt')!.mtime).toBe(n.stat.mtime!.sec + 5.5 * 3600);
  });

  it('a time without a valid UTC offset is taken as UTC; 10msIncrement adds to the seconds', async () => {
    // A copy with README.txt's LastModifiedUtcOffset cleared (OffsetValid 0) and 1.23 s in
    // LastModified10msIncrement, SetChecksum recomputed as §6.3.3 says.
    const copy = join(CACHE, 'exfat-c128k-times.img');
    const b = readFileSync(image);
    const at = fileEntry(b, 'README.txt');
    expect(b[at + 23]! & 0x80).toBe(0x80); // the driver did record an offset
    b[at + 23] = 0;
    b[at + 21] = 123;
    fixSetChecksum(b, at);
    writeFileSync(copy, b);
    const m = manifestOf(`${image}.tree`).find((e) => e.path === '/README.txt')!;
    const v = await Vfs.open(copy);
    const n = await v.lookup('/p0/README.txt');
    // The driver wrote local time (UTC+05:30): read as UTC it is 5.5 h ahead of the true time.
    expect(n.stat.mtime).toEqual({ sec: m.mtime + 5.5 * 3600 + 1, nsec: 230_000_000 });
    await v.close();
    rmSync(copy, { force: true });
  });

  it('info: 128 KiB clusters (dump.exfat), label and UUID (blkid)', () => {
    const fs = vfs.info().volumes[0]!.filesystem!;
    const b = blkid(image);
    expect(fs.blockSize).toBe(131072);
    expect(fs.blockSize).toBe(Number(dumpExfat(image)['Cluster size']));
    expect(fs.label).toBe(exfatlabel(image));
    expect(fs.uuid).toBe(b.UUID);
  });

  it('never changes the image', async () => {
    await vfs.close();
    expect(await sha256File(image)).toBe(before);
  });
});

describe('exFAT with 4096-byte sectors', () => {
  it('reads as the manifest and TSK have it; geometry as dump.exfat prints it', async () => {
    const image = cachedImage('exfat-s4k.img', exfatImages.s4k);
    const before = await sha256File(image);
    const vfs = await Vfs.open(image);
    const fs = vfs.info().volumes[0]!.filesystem!;
    const d = dumpExfat(image);
    expect(2 ** Number(d['Sector Size Bits'])).toBe(4096);
    expect(fs.details.sectorSize).toBe(4096);
    expect(fs.blockSize).toBe(4096 * 2 ** Number(d['Sector per Cluster bits']));
    expect(fs.label).toBe(exfatlabel(image));
    await expectMatchesManifest(vfs, '/p0', manifestOf(`${image}.tree`));
    expect([...(await walk(vfs, '/p0')).keys()].sort()).toEqual([...fls(image).keys()].sort());
    await vfs.close();
    expect(await sha256File(image)).toBe(before);
  });
});

describe('exFAT inside an MBR partition', () => {
  it('is /p1 at the partition offset (sfdisk) and reads as the manifest has it', async () => {
    const image = cachedImage('exfat-mbr.img', exfatImages.mbr);
    const before = await sha256File(image);
    const parts = JSON.parse(tool('sfdisk', ['-J', image])) as { partitiontable: { partitions: { start: number; type: string }[] } };
    const start = parts.partitiontable.partitions[0]!.start * 512;
    const vfs = await Vfs.open(image);
    const info = vfs.info();
    expect(info.volumes.map((v) => v.name)).toEqual(['p1']);
    expect(info.volumes[0]!.start).toBe(start);
    expect(info.volumes[0]!.filesystem!.uuid).toBe(blkid(image, start).UUID);
    // mkfs.exfat was given no label: no Volume Label entry, and blkid shows none.
    expect(info.volumes[0]!.filesystem!.label).toBe(blkid(image, start).LABEL ?? null);
    await expectMatchesManifest(vfs, '/p1', manifestOf(`${image}.tree`));
    const theirs = fls(image, start / 512);
    expect([...(await walk(vfs, '/p1')).keys()].sort()).toEqual([...theirs.keys()].sort());
    await vfs.close();
    expect(await sha256File(image)).toBe(before);
  });
});
