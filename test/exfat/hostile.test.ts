/**
 * Damaged copies of a real exFAT image (mkfs.exfat + exfat-fuse). Each copy breaks one
 * structure; the reader must say what is wrong in one line for that file or folder only, keep
 * the rest readable, and never hang. Structures are located with exfatprogs' dump.exfat (boot
 * fields) and by finding the File Name entries' UTF-16 text in the image bytes.
 */
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DiskpickError } from '../../src/errors.js';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { CACHE, cachedImage, sha256, sha256File, tool } from '../helpers/tools.js';
import { exfatImages } from '../../scripts/images/exfat.js';
import { manifestOf, SeededRandom, type ManifestEntry } from '../../scripts/images/tree.js';
import { fileEntry, fixSetChecksum, hashOf, walk } from './helpers.js';

let base: string;
let manifest: ManifestEntry[];
let geo: { fatOffset: number; heapOffset: number; clusterSize: number; clusterCount: number; rootCluster: number };

beforeAll(async () => {
  base = cachedImage('exfat-small.img', exfatImages.small);
  manifest = manifestOf(`${base}.tree`);
  const d: Record<string, number> = {};
  for (const line of tool('dump.exfat', [base]).split('\n')) {
    const m = /^([^:]+):\s*(\S+)/.exec(line.trim());
    if (m) d[m[1]!.trim()] = Number(m[2]);
  }
  const sector = 2 ** d['Sector Size Bits']!;
  geo = {
    fatOffset: d['FAT Offset(sector offset)']! * sector,
    heapOffset: d['Cluster Heap Offset (sector offset)']! * sector,
    clusterSize: sector * 2 ** d['Sector per Cluster bits']!,
    clusterCount: d['Cluster Count']!,
    rootCluster: d['Root Cluster (cluster offset)']!,
  };
});

const made: string[] = [];
afterEach(() => {
  for (const p of made.splice(0)) rmSync(p, { force: true });
});

/** A damaged copy of the small image (removed after the test). */
function variant(name: string, damage: (img: Buffer) => Buffer | void): string {
  const path = join(CACHE, `exfat-hostile-${name}.img`);
  made.push(path);
  copyFileSync(base, path);
  const img = readFileSync(path);
  const out = damage(img) ?? img;
  writeFileSync(path, out);
  return path;
}

const firstCluster = (img: Buffer, at: number) => img.readUInt32LE(at + 32 + 20);
const fatAt = (c: number) => geo.fatOffset + c * 4;

/** Walks the whole tree and reads every file; every failure must be a one-line DiskpickError. */
async function readEverything(vfs: Vfs, vol = '/p0'): Promise<{ ok: Map<string, string>; failed: Map<string, DiskpickError> }> {
  const ok = new Map<string, string>();
  const failed = new Map<string, DiskpickError>();
  const visit = async (dir: VfsNode) => {
    let kids: VfsNode[];
    try {
      kids = await vfs.readdir(dir);
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      failed.set(dir.path.slice(vol.length), err);
      return;
    }
    for (const k of kids) {
      if (k.stat.type === 'dir') await visit(k);
      else {
        try {
          ok.set(k.path.slice(vol.length), await hashOf(vfs, k));
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          failed.set(k.path.slice(vol.length), err);
        }
      }
    }
  };
  await visit(await vfs.lookup(vol));
  for (const e of failed.values()) expect(e.toLine()).not.toMatch(/\n/);
  return { ok, failed };
}

function expectOthersIntact(ok: Map<string, string>, except: (p: string) => boolean): void {
  for (const m of manifest) {
    if (m.type !== 'file' || except(m.path)) continue;
    expect(ok.get(m.path), m.path).toBe(m.sha256);
  }
}

const warnings = (vfs: Vfs) => vfs.info().volumes[0]!.filesystem!.warnings.join('\n');

describe('exFAT damaged copies', () => {
  it('a bad main boot checksum falls back to the backup boot region, with a warning', async () => {
    const img = variant('boot-main', (b) => {
      b[200] ^= 0xff; // inside BootCode: only the checksum notices
    });
    const vfs = await Vfs.open(img);
    expect(warnings(vfs)).toMatch(/backup boot region/);
    const { ok, failed } = await readEverything(vfs);
    expect(failed.size).toBe(0);
    expectOthersIntact(ok, () => false);
    await vfs.close();
  });

  it('a garbled main boot sector (sector size field) also falls back to the backup', async () => {
    const img = variant('boot-main-shift', (b) => {
      b[108] = 0x33;
    });
    const vfs = await Vfs.open(img);
    expect(warnings(vfs)).toMatch(/backup boot region/);
    expect((await walk(vfs, '/p0')).size).toBe(manifest.length);
    await vfs.close();
  });

  it('both boot regions bad: one-line image error naming the file', async () => {
    const img = variant('boot-both', (b) => {
      b[200] ^= 0xff;
      b[12 * 512 + 200] ^= 0xff;
    });
    const err = await Vfs.open(img).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DiskpickError);
    expect((err as DiskpickError).kind).toBe('image');
    expect((err as DiskpickError).toLine()).toMatch(/boot/);
    expect((err as DiskpickError).toLine()).not.toMatch(/\n/);
  });

  it('an entry set with a wrong SetChecksum is skipped with a warning, the rest is listed', async () => {
    const img = variant('setchecksum', (b) => {
      const at = fileEntry(b, 'README.txt');
      b[at + 64 + 2] = 'X'.charCodeAt(0); // the name changes, the checksum does not
    });
    const vfs = await Vfs.open(img);
    const { ok } = await readEverything(vfs);
    expect(ok.has('/README.txt')).toBe(false);
    expect(ok.has('/XEADME.txt')).toBe(false);
    expect(warnings(vfs)).toMatch(/SetChecksum/);
    expectOthersIntact(ok, (p) => p === '/README.txt');
    await vfs.close();
  });

  it('entry sets with wrong SecondaryCount (too small, past the folder end) are skipped', async () => {
    const img = variant('counts', (b) => {
      const a = fileEntry(b, 'odd-second.txt');
      b[a + 1] = 1;
      fixSetChecksum(b, a);
      const c = fileEntry(b, 'old-1999.txt');
      b[c + 1] = 255;
      const d = fileEntry(b, '日本語のファイル名.txt');
      b[d + 1] = 2; // the set needs 1 stream + 1 name entry: 2 is right; the name entry is made a stream entry
      b[d + 64] = 0xc0;
      fixSetChecksum(b, d);
    });
    const vfs = await Vfs.open(img);
    const { ok, failed } = await readEverything(vfs);
    expect(failed.size).toBe(0);
    for (const gone of ['/odd-second.txt', '/old-1999.txt', '/日本語のファイル名.txt']) expect(ok.has(gone), gone).toBe(false);
    expect(warnings(vfs)).toMatch(/SecondaryCount/);
    expectOthersIntact(ok, (p) => ['/odd-second.txt', '/old-1999.txt', '/日本語のファイル名.txt'].includes(p));
    await vfs.close();
  });

  it('a FAT chain that loops fails that file only', async () => {
    const img = variant('fat-loop', (b) => {
      const first = firstCluster(b, fileEntry(b, 'fragmented.bin'));
      let c = first;
      for (let i = 0; i < 5; i++) c = b.readUInt32LE(fatAt(c));
      b.writeUInt32LE(first, fatAt(c));
    });
    const vfs = await Vfs.open(img);
    const { ok, failed } = await readEverything(vfs);
    expect([...failed.keys()]).toEqual(['/frag/fragmented.bin']);
    expect(failed.get('/frag/fragmented.bin')!.message).toMatch(/loop/);
    expectOthersIntact(ok, (p) => p === '/frag/fragmented.bin');
    await vfs.close();
  });

  it('a FAT chain that leaves the cluster heap, or ends early, fails that file only', async () => {
    const img = variant('fat-past', (b) => {
      let c = firstCluster(b, fileEntry(b, 'fragmented.bin'));
      for (let i = 0; i < 5; i++) c = b.readUInt32LE(fatAt(c));
      b.writeUInt32LE(geo.clusterCount + 1000, fatAt(c));
      const s = firstCluster(b, fileEntry(b, 'small-0000.bin'));
      b.writeUInt32LE(0xffffffff, fatAt(s)); // 5000 bytes need 2 clusters; the chain now has 1
      b[fileEntry(b, 'small-0000.bin') + 32 + 1] &= ~0x02; // and it must use the FAT
      fixSetChecksum(b, fileEntry(b, 'small-0000.bin'));
    });
    const vfs = await Vfs.open(img);
    const { ok, failed } = await readEverything(vfs);
    expect([...failed.keys()].sort()).toEqual(['/frag/fragmented.bin', '/frag/small-0000.bin']);
    expect(failed.get('/frag/fragmented.bin')!.message).toMatch(/leaves the cluster heap/);
    expect(failed.get('/frag/small-0000.bin')!.message).toMatch(/ends after 1/);
    expectOthersIntact(ok, (p) => p === '/frag/fragmented.bin' || p === '/frag/small-0000.bin');
    await vfs.close();
  });

  it('a folder whose cluster chain loops fails that folder only', async () => {
    const img = variant('dir-loop', (b) => {
      const at = fileEntry(b, 'many');
      const first = firstCluster(b, at);
      // Make the folder use its FAT chain, with one entry more than its length needs, looping.
      b.writeUInt32LE(first, fatAt(first));
      b[at + 32 + 1] &= ~0x02;
      fixSetChecksum(b, at);
    });
    const vfs = await Vfs.open(img);
    const { ok, failed } = await readEverything(vfs);
    expect([...failed.keys()]).toEqual(['/many']);
    expect(failed.get('/many')!.message).toMatch(/loop/);
    expectOthersIntact(ok, (p) => p.startsWith('/many/'));
    await vfs.close();
  });

  it('a folder pointing back at the root is skipped with a warning: walks end', async () => {
    const img = variant('dir-cycle', (b) => {
      const at = fileEntry(b, 'nested');
      b.writeUInt32LE(geo.rootCluster, at + 32 + 20);
      b[at + 32 + 1] &= ~0x02;
      fixSetChecksum(b, at);
    });
    const vfs = await Vfs.open(img);
    const { ok } = await readEverything(vfs);
    expect(warnings(vfs)).toMatch(/loops back/);
    expectOthersIntact(ok, (p) => p.startsWith('/nested/'));
    await vfs.close();
  });

  it('an absurd DataLength is listed (size 0, never rounded; one warning with it exactly) but opening it is a one-line error', async () => {
    // 2^60 + 1: a Number would show 1152921504606847000 (issue 26 item 11).
    const img = variant('absurd-size', (b) => {
      const at = fileEntry(b, 'three-clusters.bin');
      b.writeBigUInt64LE((1n << 60n) + 1n, at + 32 + 24);
      b.writeBigUInt64LE((1n << 60n) + 1n, at + 32 + 8);
      fixSetChecksum(b, at);
    });
    const vfs = await Vfs.open(img);
    const node = await vfs.lookup('/p0/three-clusters.bin');
    expect(node.stat.size).toBe(0);
    expect(warnings(vfs)).toContain('/three-clusters.bin: DataLength 1152921504606846977 is larger than the whole cluster heap');
    const { ok, failed } = await readEverything(vfs);
    expect([...failed.keys()]).toEqual(['/three-clusters.bin']);
    expect(failed.get('/three-clusters.bin')!.kind).toBe('image');
    expect(failed.get('/three-clusters.bin')!.message).toContain('1152921504606846977');
    expectOthersIntact(ok, (p) => p === '/three-clusters.bin');
    await vfs.close();
  });

  it('an absurd folder size fails that folder only', async () => {
    const img = variant('absurd-folder', (b) => {
      const at = fileEntry(b, 'nested');
      b.writeBigUInt64LE(1n << 40n, at + 32 + 24);
      b.writeBigUInt64LE(1n << 40n, at + 32 + 8);
      fixSetChecksum(b, at);
    });
    const vfs = await Vfs.open(img);
    const { ok, failed } = await readEverything(vfs);
    expect([...failed.keys()]).toEqual(['/nested']);
    expect(failed.get('/nested')!.message).toMatch(/256 MiB/);
    expectOthersIntact(ok, (p) => p.startsWith('/nested/'));
    await vfs.close();
  });

  it('bytes past ValidDataLength read as zeros', async () => {
    const img = variant('vdl', (b) => {
      const at = fileEntry(b, 'contiguous-2MiB.bin');
      b.writeBigUInt64LE(1000n, at + 32 + 8);
      fixSetChecksum(b, at);
    });
    const vfs = await Vfs.open(img);
    const node = await vfs.lookup('/p0/contiguous-2MiB.bin');
    expect(node.stat.size).toBe(2 * 1024 * 1024);
    const src = await vfs.openFile(node);
    const all = await src.read(0, src.size);
    const host = readFileSync(`${base}.tree/contiguous-2MiB.bin`);
    expect(all.subarray(0, 1000).equals(host.subarray(0, 1000))).toBe(true);
    expect(all.subarray(1000).equals(Buffer.alloc(src.size - 1000))).toBe(true);
    expect((await src.read(999, 2)).equals(Buffer.from([host[999]!, 0]))).toBe(true);
    await vfs.close();
  });

  it('a bad up-case table checksum: warning, ASCII case folding still works', async () => {
    const img = variant('upcase', (b) => {
      const root = geo.heapOffset + (geo.rootCluster - 2) * geo.clusterSize;
      for (let e = root; e < root + geo.clusterSize; e += 32) if (b[e] === 0x82) b[e + 4] ^= 0xff;
    });
    const vfs = await Vfs.open(img);
    expect(warnings(vfs)).toMatch(/up-case table checksum/);
    expect((await vfs.lookup('/p0/MIXED CASE FOLDER/mixed.txt')).name).toBe('MiXeD.TxT');
    expect((await walk(vfs, '/p0')).size).toBe(manifest.length);
    await vfs.close();
  });

  it('a truncated image: what is present reads right, the rest fails in one line each', async () => {
    const img = variant('truncated', (b) => b.subarray(0, 5 * 1024 * 1024));
    const vfs = await Vfs.open(img);
    expect(warnings(vfs)).toMatch(/present/);
    const { ok, failed } = await readEverything(vfs);
    expect(ok.size).toBeGreaterThan(0);
    expect(failed.size).toBeGreaterThan(0);
    for (const [p, h] of ok) expect(h, p).toBe(manifest.find((m) => m.path === p)!.sha256);
    await vfs.close();
  });

  it('random damage to the FAT and folders: only DiskpickErrors, no hang', async () => {
    const r = new SeededRandom(7);
    const clean = readFileSync(base);
    const root = geo.heapOffset + (geo.rootCluster - 2) * geo.clusterSize;
    for (let round = 0; round < 25; round++) {
      const img = variant('fuzz', (b) => {
        for (let i = 0; i < 40; i++) {
          // FAT entries of the first clusters, and the root folder's entries.
          const at = r.int(2) ? geo.fatOffset + r.int(4 * 1400) : root + r.int(geo.clusterSize);
          b[at] = r.int(256);
        }
      });
      try {
        const vfs = await Vfs.open(img);
        await readEverything(vfs);
        await vfs.close();
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
      }
    }
    expect(sha256(readFileSync(base))).toBe(sha256(clean));
  });

  it('the base image is never changed', async () => {
    const before = await sha256File(base);
    const vfs = await Vfs.open(base);
    await readEverything(vfs);
    await vfs.close();
    expect(await sha256File(base)).toBe(before);
  });
});
