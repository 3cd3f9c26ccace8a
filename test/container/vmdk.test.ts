/**
 * VMDK container: every variant read through openContainer() must equal what real tools
 * read from the same files — qemu-img convert -O raw (all variants, COWD and SESparse
 * included), qemu-img info (variant, CID, extent files, chain), libvmdk's vmdkinfo and
 * vmdkmount (sizes, COWD data) — and the files must be unchanged afterwards. Hostile and
 * corrupt variants must end in a one-line DiskpickError, fast.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openContainer, type OpenContainerOptions } from '../../src/container/open.js';
import { DiskpickError } from '../../src/errors.js';
import { FileSource } from '../../src/source/file.js';
import type { ByteSource } from '../../src/source/source.js';
import { GrainReader } from '../../src/container/vmdk/grains.js';
import { parseSparseHeader, SparseExtent } from '../../src/container/vmdk/sparse.js';
import {
  buildChain,
  buildConverted,
  buildEsxDeltas,
  buildFatVmdk,
  fatFiles,
  deltaGrains,
  descriptorCid,
  descriptorText,
  overlay,
  type QemuSubformat,
  type SesparseGrain,
} from '../../scripts/images/vmdk.js';
import { CACHE, CLI, corpusFile, diskpick, hasTool, sha256, sha256File, tool } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const TMP = mkdtempSync(join(tmpdir(), 'diskpick-vmdk-'));

/**
 * sha256 of every image file we read, taken before any test opens them. Files over
 * 256 MiB (the 2 GiB flat extents, mostly holes) get size + mtime + ctime instead: hashing
 * them twice costs more than the rest of the suite, and no write can leave those unchanged.
 */
const before = new Map<string, string>();
async function fingerprint(f: string): Promise<string> {
  const st = statSync(f);
  return st.size > 256 * MiB ? `${st.size}:${st.mtimeMs}:${st.ctimeMs}` : sha256File(f);
}
async function remember(...paths: string[]): Promise<void> {
  for (const dir of paths) {
    const files = statSync(dir).isDirectory() ? readdirSync(dir).map((f) => join(dir, f)) : [dir];
    for (const f of files) if (!before.has(f) && statSync(f).isFile()) before.set(f, await fingerprint(f));
  }
}

/** Reads the whole virtual disk through openContainer() in 1 MiB chunks. */
async function diskpickHash(path: string, opts: OpenContainerOptions = {}) {
  const c = await openContainer(path, opts);
  try {
    const h = createHash('sha256');
    for (let off = 0; off < c.size; off += MiB) h.update(await c.read(off, MiB));
    return { hash: h.digest('hex'), size: c.size, chain: c.chain, warnings: [...c.warnings], variant: c.variant, format: c.format };
  } finally {
    await c.close();
  }
}

/** The oracle: qemu-img's own raw conversion of the image. */
async function qemuRaw(path: string, hash = true): Promise<{ hash: string; file: string }> {
  const out = join(TMP, `qemu-${basename(path)}-${Math.random().toString(36).slice(2)}.raw`);
  tool('qemu-img', ['convert', '-O', 'raw', path, out]);
  return { hash: hash ? await sha256File(out) : '', file: out };
}

async function qemuRawHash(path: string): Promise<string> {
  const r = await qemuRaw(path);
  rmSync(r.file);
  return r.hash;
}

interface QemuInfo {
  'virtual-size': number;
  filename: string;
  'backing-filename'?: string;
  'format-specific'?: { data: { cid: number; 'parent-cid': number; 'create-type': string; extents: { filename: string }[] } };
}
function qemuInfo(path: string): QemuInfo[] {
  return JSON.parse(tool('qemu-img', ['info', '--backing-chain', '--output=json', path])) as QemuInfo[];
}

function vmdkinfoSize(path: string): number {
  const m = /Media size:.*\((\d+) bytes\)/.exec(tool('vmdkinfo', [path]));
  if (!m) throw new Error(`vmdkinfo gave no size for ${path}`);
  return Number(m[1]);
}

/** Expects `p` to reject with a one-line DiskpickError within `ms`. */
async function expectDiskpickError(p: () => Promise<unknown>, match?: RegExp, ms = 5000): Promise<DiskpickError> {
  const t0 = Date.now();
  let err: unknown;
  try {
    await p();
  } catch (e) {
    err = e;
  }
  expect(Date.now() - t0).toBeLessThan(ms);
  expect(err, 'expected a DiskpickError').toBeInstanceOf(DiskpickError);
  const e = err as DiskpickError;
  expect(e.toLine()).not.toContain('\n');
  if (match) expect(e.toLine()).toMatch(match);
  return e;
}

const SUBFORMATS: QemuSubformat[] = ['monolithicSparse', 'monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat', 'streamOptimized'];

describe.skipIf(!hasTool('qemu-img'))('VMDK container', () => {
  const images: Record<string, string> = {};
  let esx = '';
  let chainTop = '';

  beforeAll(async () => {
    for (const s of SUBFORMATS) images[s] = buildConverted(join(CACHE, `vmdk-${s}`), s);
    chainTop = buildChain(join(CACHE, 'vmdk-chain'));
    esx = buildEsxDeltas(join(CACHE, 'vmdk-esx'));
    for (const p of Object.values(images)) await remember(join(p, '..'));
    await remember(join(chainTop, '..'), esx);
  });

  afterAll(async () => {
    // The images are opened read-only: not one byte may have changed.
    for (const [f, h] of before) expect(await fingerprint(f), f).toBe(h);
    rmSync(TMP, { recursive: true, force: true });
  });

  describe('qemu-img subformats (64 MiB seeded disk)', () => {
    for (const s of SUBFORMATS) {
      it(`${s}: bytes equal qemu-img convert -O raw; variant, CID and extents equal qemu-img info`, async () => {
        const path = images[s]!;
        const ours = await diskpickHash(path);
        expect(ours.hash).toBe(await qemuRawHash(path));
        const [info] = qemuInfo(path);
        expect(ours.format).toBe('vmdk');
        expect(ours.size).toBe(info!['virtual-size']);
        expect(ours.size).toBe(vmdkinfoSize(path));
        const data = info!['format-specific']!.data;
        expect(ours.variant).toBe(data['create-type']);
        expect(ours.chain).toHaveLength(1);
        // qemu lists the file itself as the extent of a monolithic sparse disk.
        const qemuExtents = data.extents.map((e) => basename(e.filename)).filter((f) => f !== basename(path));
        expect((ours.chain[0]!.extraFiles ?? []).map((f) => basename(f))).toEqual(qemuExtents);
        const c = await openContainer(path);
        expect((c as unknown as { cid: string }).cid).toBe(data.cid.toString(16).padStart(8, '0'));
        await c.close();
      });
    }

    it('a twoGbMaxExtentSparse part opened on its own reads as its extent (qemu-img cannot open it; its descriptor is the oracle)', async () => {
      const part = join(images.twoGbMaxExtentSparse!, '..', 'disk-s001.vmdk');
      const ours = await diskpickHash(part);
      expect(ours.hash).toBe(await qemuRawHash(images.twoGbMaxExtentSparse!));
      expect(ours.variant).toBe('sparse extent');
      expect(ours.warnings.join('\n')).toContain('without a descriptor');
    });

    it('random unaligned reads across grains equal the same ranges of qemu-img raw output', async () => {
      for (const s of ['streamOptimized', 'monolithicSparse', 'twoGbMaxExtentFlat'] as const) {
        const raw = await qemuRaw(images[s]!);
        const expected = readFileSync(raw.file);
        rmSync(raw.file);
        const c = await openContainer(images[s]!);
        let seed = 12345;
        const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
        for (let i = 0; i < 300; i++) {
          const len = i % 3 === 0 ? 1 + rnd(300 * 1024) : 1 + rnd(9000);
          const off = rnd(c.size);
          const got = await c.read(off, len);
          expect(got.equals(expected.subarray(off, Math.min(c.size, off + len))), `${s} read(${off}, ${len})`).toBe(true);
        }
        // Reads at and past the end.
        expect((await c.read(c.size - 10, 100)).length).toBe(10);
        expect((await c.read(c.size, 100)).length).toBe(0);
        await c.close();
      }
    });

    it('streamOptimized as VMware writes it (gdOffset GD_AT_END in the header, real one in the footer) equals qemu-img', async () => {
      const dir = join(TMP, 'gd-at-end');
      mkdirSync(dir);
      // qemu-img keeps its tables up front and writes no footer; VMware appends a footer
      // marker, the header copy with the real gdOffset, and an end-of-stream marker.
      const qemuFile = readFileSync(images.streamOptimized!);
      const footerMarker = Buffer.alloc(512);
      footerMarker.writeUInt32LE(3, 12); // MARKER_FOOTER
      const footer = Buffer.from(qemuFile.subarray(0, 512));
      const head = Buffer.from(qemuFile);
      head.writeBigUInt64LE(0xffffffffffffffffn, 56); // GD_AT_END
      writeFileSync(join(dir, 'ova-disk1.vmdk'), Buffer.concat([head, footerMarker, footer, Buffer.alloc(512)]));
      const ours = await diskpickHash(join(dir, 'ova-disk1.vmdk'));
      expect(ours.hash).toBe(await qemuRawHash(join(dir, 'ova-disk1.vmdk')));
      expect(ours.variant).toBe('streamOptimized');
    });

    it('a grain read twice in a row is decompressed once (decoded grains are cached)', async () => {
      const file = await FileSource.open(images.streamOptimized!);
      let reads = 0;
      const counting: ByteSource = {
        name: file.name,
        size: file.size,
        read: (o, l) => {
          reads++;
          return file.read(o, l);
        },
        close: () => file.close(),
      };
      const map = await SparseExtent.open(counting, parseSparseHeader(await file.read(0, 512), file.name));
      const reader = new GrainReader(map);
      const out = Buffer.alloc(4096);
      await reader.read(4 * MiB + 8192, 4096, out, 0, null); // inside the seeded random region
      const afterFirst = reads;
      expect(afterFirst).toBeGreaterThan(0);
      const copy = Buffer.from(out);
      for (const off of [4 * MiB + 8192, 4 * MiB + 12288, 4 * MiB + 20000]) await reader.read(off, 4096, out, 0, null);
      expect(reads).toBe(afterFirst);
      await reader.read(4 * MiB + 8192, 4096, out, 0, null);
      expect(out.equals(copy)).toBe(true);
      await file.close();
    });
  });

  describe('twoGbMaxExtent with several extents (2112 MiB, data across the 2 GiB split)', () => {
    for (const s of ['twoGbMaxExtentSparse', 'twoGbMaxExtentFlat'] as const) {
      it(`${s}: bytes and extent list equal qemu-img`, async () => {
        const path = buildConverted(join(CACHE, `vmdk-big-${s}`), s, 2112 * MiB);
        await remember(join(path, '..'));
        // The 64 MiB images above are compared whole; here the windows that hold data and
        // the extent split (a 2 GiB full pass of mostly holes costs a minute on a busy CI
        // machine and tests nothing more) are compared with qemu-img's raw output.
        const t0 = performance.now();
        const q = await qemuRaw(path, false);
        const t1 = performance.now();
        const c = await openContainer(path);
        try {
          expect(c.size).toBe(statSync(q.file).size);
          const raw = await FileSource.open(q.file);
          const windows = [
            [0, 72 * MiB],
            [2048 * MiB - 16 * MiB, 32 * MiB],
            [c.size - 72 * MiB, 72 * MiB],
          ] as const;
          for (const [start, len] of windows) {
            for (let off = start; off < start + len; off += 4 * MiB) {
              const [a, b] = await Promise.all([c.read(off, 4 * MiB), raw.read(off, 4 * MiB)]);
              expect(a.equals(b), `${s} bytes at ${off}`).toBe(true);
            }
          }
          // One read across the split between the two extent files.
          const [a, b] = await Promise.all([c.read(2048 * MiB - 5000, 10000), raw.read(2048 * MiB - 5000, 10000)]);
          expect(a.equals(b)).toBe(true);
          expect(a.equals(Buffer.alloc(10000))).toBe(false);
          await raw.close();
          console.log(`${s}: qemu-img convert ${(t1 - t0).toFixed(0)} ms, compare ${(performance.now() - t1).toFixed(0)} ms`);
          const data = qemuInfo(path)[0]!['format-specific']!.data;
          expect(data.extents.length).toBeGreaterThan(1);
          expect((c.chain[0]!.extraFiles ?? []).map((f) => basename(f))).toEqual(data.extents.map((e) => basename(e.filename)));
        } finally {
          await c.close();
          rmSync(q.file);
        }
      }, 300_000);
    }
  });

  describe('snapshot chains (qemu-img create -b, changed with qemu-io)', () => {
    it('every level equals qemu-img convert; the chain lists each level like qemu-img info --backing-chain', async () => {
      const dir = join(chainTop, '..');
      const hashes = new Set<string>();
      for (const f of ['base.vmdk', 'base-000001.vmdk', 'base-000002.vmdk']) {
        const p = join(dir, f);
        const ours = await diskpickHash(p);
        const q = await qemuRawHash(p);
        expect(ours.hash, f).toBe(q);
        hashes.add(q);
        const qchain = qemuInfo(p);
        expect(ours.chain.map((l) => basename(l.file))).toEqual(qchain.map((l) => basename(l.filename)));
        expect(ours.chain.map((l) => l.virtualSize)).toEqual(qchain.map((l) => l['virtual-size']));
        expect(ours.chain.map((l) => l.variant)).toEqual(qchain.map((l) => l['format-specific']!.data['create-type']));
        expect(ours.warnings).toEqual([]);
      }
      // The overlays really differ from their bases.
      expect(hashes.size).toBe(3);
    });

    it('a parentCID that does not match the parent CID is an error naming both files; --ignore-parent-id reads it with a warning', async () => {
      const dir = join(TMP, 'cid');
      mkdirSync(dir);
      const src = join(chainTop, '..');
      copyFileSync(join(src, 'base.vmdk'), join(dir, 'base.vmdk'));
      // qemu-img writes the CID as %x: 6 or 7 digits when it begins with zeros. The new value
      // takes the NUL padding after the embedded descriptor's text, so nothing else moves.
      const child = readFileSync(join(src, 'base-000001.vmdk'));
      const at = child.indexOf('parentCID=');
      const old = /^parentCID=[0-9a-f]+/.exec(child.toString('latin1', at, at + 32))![0];
      const grow = 'parentCID=0badc0de'.length - old.length;
      const textEnd = child.indexOf(0, at);
      expect(child.subarray(textEnd, textEnd + grow).every((b) => b === 0)).toBe(true);
      const edited = Buffer.concat([child.subarray(0, at), Buffer.from('parentCID=0badc0de', 'latin1'), child.subarray(at + old.length, textEnd), child.subarray(textEnd + grow)]);
      expect(edited.length).toBe(child.length);
      writeFileSync(join(dir, 'base-000001.vmdk'), edited);
      // Refused, as VMware does (#24.5): the error names the child, the parent and both CIDs.
      const e = await expectDiskpickError(() => openContainer(join(dir, 'base-000001.vmdk')), /does not match/);
      expect(e.kind).toBe('image');
      expect(e.toLine()).toContain(join(dir, 'base-000001.vmdk'));
      expect(e.toLine()).toContain(join(dir, 'base.vmdk'));
      expect(e.toLine()).toContain('0badc0de');
      expect(e.toLine()).toContain(descriptorCid(join(dir, 'base.vmdk')));
      expect(e.toLine()).toContain('--ignore-parent-id');
      const ours = await diskpickHash(join(dir, 'base-000001.vmdk'), { ignoreParentId: true });
      const w = ours.warnings.join('\n');
      expect(w).toContain('0badc0de');
      expect(w).toContain(descriptorCid(join(dir, 'base.vmdk')));
      expect(w).toContain('base-000001.vmdk');
      expect(w).toContain(join(dir, 'base.vmdk'));
      // Still readable (qemu-img refuses the mismatch): the bytes are those of the unpatched child.
      expect(ours.hash).toBe(await qemuRawHash(join(src, 'base-000001.vmdk')));
    });
  });

  describe('ESX formats: vmfs flat, vmfsSparse (COWD), seSparse, ESX 2 redo logs', () => {
    it('vmfs descriptor over -flat.vmdk equals qemu-img and vmdkinfo', async () => {
      const p = join(esx, 'base.vmdk');
      const ours = await diskpickHash(p);
      expect(ours.hash).toBe(await qemuRawHash(p));
      expect(ours.variant).toBe('vmfs');
      expect(ours.size).toBe(vmdkinfoSize(p));
    });

    it('vmfsSparse COWD delta equals qemu-img, vmdkmount (libvmdk) and the grains written', async () => {
      const p = join(esx, 'delta.vmdk');
      const ours = await diskpickHash(p);
      const q = await qemuRaw(p);
      expect(ours.hash).toBe(q.hash);
      expect(ours.chain.map((l) => l.variant)).toEqual(['vmfsSparse', 'vmfs']);
      expect(ours.size).toBe(vmdkinfoSize(p));
      // What was written: the base with the delta's grains over it.
      const base = await qemuRaw(join(esx, 'base.vmdk'));
      const expected = overlay(readFileSync(base.file), deltaGrains(4096, 400), 4096);
      expect(createHash('sha256').update(expected).digest('hex')).toBe(ours.hash);
      rmSync(base.file);
      rmSync(q.file);
      const mounted = vmdkmountHash(p);
      if (mounted) expect(mounted).toBe(ours.hash);
    });

    it('seSparse delta equals qemu-img and the grains written (zero and unmapped grains read as zeros)', async () => {
      const p = join(esx, 'sesparse.vmdk');
      const ours = await diskpickHash(p);
      expect(ours.hash).toBe(await qemuRawHash(p));
      expect(ours.chain.map((l) => l.variant)).toEqual(['seSparse', 'vmfs']);
      const base = await qemuRaw(join(esx, 'base.vmdk'));
      const grains: SesparseGrain[] = deltaGrains(4096, 500);
      grains.push({ grain: 2, data: Buffer.alloc(0), state: 'zero' }, { grain: 3, data: Buffer.alloc(0), state: 'unmapped' });
      const expected = overlay(readFileSync(base.file), grains, 4096);
      rmSync(base.file);
      expect(createHash('sha256').update(expected).digest('hex')).toBe(ours.hash);
      // The zeroed grains hide non-zero base data.
      expect(expected.subarray(2 * 4096, 4 * 4096).equals(Buffer.alloc(8192))).toBe(true);
    });

    it('an ESX 2 redo log (bare COWD naming its parent) equals qemu-img reading it through a descriptor', async () => {
      const ours = await diskpickHash(join(esx, 'redo.vmdk.REDO'));
      expect(ours.hash).toBe(await qemuRawHash(join(esx, 'redo-desc.vmdk')));
      expect(ours.chain.map((l) => basename(l.file))).toEqual(['redo.vmdk.REDO', 'base.vmdk']);
      const root = await diskpickHash(join(esx, 'root-cowd.vmdk'));
      expect(root.hash).toBe(await qemuRawHash(join(esx, 'root-cowd-desc.vmdk')));
      expect(root.chain).toHaveLength(1);
    });

    it('a hand-written descriptor mixing FLAT with offsets, ZERO, SPARSE and VMFS extents equals qemu-img', async () => {
      const dir = join(TMP, 'mixed');
      mkdirSync(dir);
      copyFileSync(join(images.monolithicFlat!, '..', 'disk-flat.vmdk'), join(dir, 'disk-flat.vmdk'));
      copyFileSync(join(images.twoGbMaxExtentSparse!, '..', 'disk-s001.vmdk'), join(dir, 'disk-s001.vmdk'));
      const text = descriptorText({
        cid: '12345678',
        createType: 'twoGbMaxExtentFlat',
        extents: [
          'RW 20000 FLAT "disk-flat.vmdk" 8000',
          'RW 131072 SPARSE "disk-s001.vmdk"',
          'RW 4096 VMFS "disk-flat.vmdk"',
        ],
      });
      writeFileSync(join(dir, 'mixed.vmdk'), text);
      const ours = await diskpickHash(join(dir, 'mixed.vmdk'));
      const q = await qemuRaw(join(dir, 'mixed.vmdk'));
      const qsize = statSync(q.file).size;
      rmSync(q.file);
      expect(ours.size).toBe(qsize);
      expect(ours.hash).toBe(q.hash);
      expect((ours.chain[0]!.extraFiles ?? []).map((f) => basename(f))).toEqual(['disk-flat.vmdk', 'disk-s001.vmdk']);

      // qemu 7.2 skips ZERO and RDONLY lines, so for those the oracle is the flat file as
      // qemu-img wrote it, cut and joined as the descriptor says.
      writeFileSync(
        join(dir, 'zero.vmdk'),
        descriptorText({ cid: '12345679', createType: 'twoGbMaxExtentFlat', extents: ['RW 20000 FLAT "disk-flat.vmdk" 8000', 'RW 2048 ZERO', 'RDONLY 4096 FLAT "disk-flat.vmdk" 0'] }),
      );
      const flat = readFileSync(join(dir, 'disk-flat.vmdk'));
      const expected = Buffer.concat([flat.subarray(8000 * 512, 28000 * 512), Buffer.alloc(2048 * 512), flat.subarray(0, 4096 * 512)]);
      const zero = await diskpickHash(join(dir, 'zero.vmdk'));
      expect(zero.size).toBe(expected.length);
      expect(zero.hash).toBe(createHash('sha256').update(expected).digest('hex'));
    });
  });

  describe.skipIf(!existsSync(CLI) || !hasTool('mcopy') || !hasTool('sgdisk'))('the CLI reads files through VMDK (GPT + FAT32 made by sgdisk, mkfs.vfat, mcopy)', () => {
    for (const s of ['streamOptimized', 'twoGbMaxExtentSparse'] as const) {
      it(`${s}: diskpick cat gives the files mcopy wrote`, async () => {
        const img = buildFatVmdk(join(CACHE, `vmdk-fat-${s}`), s);
        await remember(join(img, '..'));
        for (const f of fatFiles()) {
          const r = diskpick(['cat', img, `/p1/${f.name}`]);
          expect(r.stderr).toBe('');
          expect(r.status).toBe(0);
          expect(sha256(r.stdout), f.name).toBe(sha256(f.data));
        }
      });
    }
  });

  it('real-world ext2.vmdk (dfvfs) equals qemu-img convert', async () => {
    const p = corpusFile('ext2.vmdk');
    if (!p) return;
    await remember(p);
    const ours = await diskpickHash(p);
    expect(ours.hash).toBe(await qemuRawHash(p));
    expect(ours.size).toBe(vmdkinfoSize(p));
  });

  it('a 2 TB sparse disk opens in under 100 ms (grain tables are read on demand)', async () => {
    const p = join(TMP, 'big2t.vmdk');
    tool('qemu-img', ['create', '-f', 'vmdk', p, '2T']);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const c = await openContainer(p);
      times.push(performance.now() - t0);
      expect(c.size).toBe(2 * 1024 ** 4);
      expect((await c.read(c.size - 4096, 4096)).equals(Buffer.alloc(4096))).toBe(true);
      await c.close();
    }
    console.log(`2 TB monolithicSparse open: ${times.map((t) => t.toFixed(1)).join(', ')} ms`);
    expect(Math.min(...times)).toBeLessThan(100);
  });

  describe('parents: missing, outside the folder, loops', () => {
    it('a missing parent is an error naming the missing file', async () => {
      const dir = join(TMP, 'missing');
      mkdirSync(dir);
      copyFileSync(join(chainTop, '..', 'base-000001.vmdk'), join(dir, 'child.vmdk'));
      await expectDiskpickError(() => openContainer(join(dir, 'child.vmdk')), /base\.vmdk/);
    });

    it('a parent outside the image folder needs --parent-dir, and reads once allowed', async () => {
      const a = join(TMP, 'outside', 'a');
      const b = join(TMP, 'outside', 'b');
      mkdirSync(a, { recursive: true });
      mkdirSync(b, { recursive: true });
      copyFileSync(join(chainTop, '..', 'base.vmdk'), join(b, 'base.vmdk'));
      const child = readFileSync(join(chainTop, '..', 'base-000001.vmdk'));
      // Point the hint at the absolute path of b/base.vmdk (the embedded descriptor has room).
      const text = child.subarray(512, 512 + 20 * 512).toString('latin1');
      const hint = /parentFileNameHint="[^"]*"/.exec(text)![0];
      const patched = Buffer.from(text.replace(hint, `parentFileNameHint="${join(b, 'base.vmdk')}"`).padEnd(text.length, '\0').slice(0, text.length), 'latin1');
      patched.copy(child, 512);
      writeFileSync(join(a, 'child.vmdk'), child);
      const e = await expectDiskpickError(() => openContainer(join(a, 'child.vmdk')), /--parent-dir/);
      expect(e.toLine()).toContain(join(b, 'base.vmdk'));
      const ours = await diskpickHash(join(a, 'child.vmdk'), { parentDirs: [b] });
      expect(ours.hash).toBe(await qemuRawHash(join(a, 'child.vmdk')));
    });

    it('a parent hint with a foreign absolute path falls back to the same name next to the child, with a warning', async () => {
      const dir = join(TMP, 'foreign');
      mkdirSync(dir);
      copyFileSync(join(chainTop, '..', 'base.vmdk'), join(dir, 'base.vmdk'));
      const child = readFileSync(join(chainTop, '..', 'base-000001.vmdk'));
      const text = child.subarray(512, 512 + 20 * 512).toString('latin1');
      const hint = /parentFileNameHint="[^"]*"/.exec(text)![0];
      const esxPath = '/vmfs/volumes/datastore1/vm/base.vmdk';
      const patched = Buffer.from(text.replace(hint, `parentFileNameHint="${esxPath}"`).padEnd(text.length, '\0').slice(0, text.length), 'latin1');
      patched.copy(child, 512);
      writeFileSync(join(dir, 'child.vmdk'), child);
      const ours = await diskpickHash(join(dir, 'child.vmdk'));
      // qemu-img cannot follow the ESX path; the bytes are those of the unmodified child.
      expect(ours.hash).toBe(await qemuRawHash(join(chainTop, '..', 'base-000001.vmdk')));
      expect(ours.warnings.join('\n')).toContain(esxPath);
      expect(ours.chain.map((l) => l.file)).toEqual([join(dir, 'child.vmdk'), join(dir, 'base.vmdk')]);
    });

    it('a parent loop is an error', async () => {
      const dir = join(TMP, 'loop');
      mkdirSync(dir);
      const d = (self: string, other: string) =>
        descriptorText({ cid: '11111111', parentCid: '11111111', createType: 'monolithicFlat', parentHint: other, extents: [`RW 2048 FLAT "${self}-flat.vmdk" 0`] });
      writeFileSync(join(dir, 'a-flat.vmdk'), Buffer.alloc(2048 * 512));
      writeFileSync(join(dir, 'b-flat.vmdk'), Buffer.alloc(2048 * 512));
      writeFileSync(join(dir, 'a.vmdk'), d('a', 'b.vmdk'));
      writeFileSync(join(dir, 'b.vmdk'), d('b', 'a.vmdk'));
      await expectDiskpickError(() => openContainer(join(dir, 'a.vmdk')), /loop/);
      writeFileSync(join(dir, 'self.vmdk'), d('a', 'self.vmdk'));
      await expectDiskpickError(() => openContainer(join(dir, 'self.vmdk')), /loop/);
    });
  });

  describe('hostile and corrupt images: one-line errors, fast, bounded memory', () => {
    let dir = '';
    let sparse: Buffer;
    let stream: Buffer;
    beforeAll(() => {
      dir = join(TMP, 'hostile');
      mkdirSync(dir);
      sparse = readFileSync(images.monolithicSparse!);
      stream = readFileSync(images.streamOptimized!);
    });

    /** Writes a variant, then opens and fully reads it: that must fail with a DiskpickError. */
    async function rejects(name: string, data: Buffer | string, match?: RegExp): Promise<void> {
      const p = join(dir, name);
      writeFileSync(p, data);
      const heap0 = process.memoryUsage().rss;
      await expectDiskpickError(() => diskpickHash(p), match);
      expect(process.memoryUsage().rss - heap0).toBeLessThan(512 * MiB);
    }
    const patched = (b: Buffer, f: (c: Buffer) => void): Buffer => {
      const c = Buffer.from(b);
      f(c);
      return c;
    };
    const gdSector = (b: Buffer) => Number(b.readBigUInt64LE(56));

    it('truncated sparse files', async () => {
      await rejects('trunc-half.vmdk', sparse.subarray(0, sparse.length >> 1), /past the end|truncated/);
      await rejects('trunc-header.vmdk', sparse.subarray(0, 300), /truncated/);
      await rejects('trunc-stream.vmdk', stream.subarray(0, stream.length - 1024), /footer|truncated/);
      await rejects('trunc-stream-half.vmdk', stream.subarray(0, stream.length >> 1), /footer|truncated|past the end/);
      // VMware layout (GD_AT_END) cut short: the footer is gone.
      const marker = Buffer.alloc(512);
      marker.writeUInt32LE(3, 12);
      const vmw = Buffer.concat([patched(stream, (c) => c.writeBigUInt64LE(0xffffffffffffffffn, 56)), marker, stream.subarray(0, 512), Buffer.alloc(512)]);
      await rejects('trunc-footer.vmdk', vmw.subarray(0, vmw.length - 2048), /no footer/);
    });

    it('grain tables pointing past the end, grain directories pointing at themselves', async () => {
      await rejects('gt-past-end.vmdk', patched(sparse, (c) => {
        const gt = c.readUInt32LE(gdSector(c) * 512);
        c.writeUInt32LE(0x7fffffff, gt * 512);
      }), /past the end/);
      await rejects('gd-self.vmdk', patched(sparse, (c) => c.writeUInt32LE(gdSector(c), gdSector(c) * 512)), /grain directory itself/);
      await rejects('gd-past-end.vmdk', patched(sparse, (c) => c.writeUInt32LE(0xfffffff0, gdSector(c) * 512)), /past the end/);
      await rejects('gd-offset.vmdk', patched(sparse, (c) => c.writeBigUInt64LE(0xfffffffffffn, 56)), /outside the file/);
    });

    it('absurd capacities, grain sizes and table sizes', async () => {
      await rejects('capacity.vmdk', patched(sparse, (c) => c.writeBigUInt64LE(1n << 60n, 12)), /capacity/);
      await rejects('capacity-fit.vmdk', patched(sparse, (c) => c.writeBigUInt64LE(1n << 40n, 12)), /does not fit|capacity/);
      await rejects('grain-huge.vmdk', patched(sparse, (c) => c.writeBigUInt64LE(1n << 40n, 20)), /grain size/);
      await rejects('grain-odd.vmdk', patched(sparse, (c) => c.writeBigUInt64LE(3n, 20)), /grain size/);
      await rejects('gtes.vmdk', patched(sparse, (c) => c.writeUInt32LE(0xffffffff, 44)), /grain table entries/);
      await rejects('desc-size.vmdk', patched(sparse, (c) => c.writeBigUInt64LE(1n << 30n, 36)), /descriptor/);
    });

    it('corrupt compressed grains', async () => {
      // qemu writes the real gdOffset in the header too; VMware only in the footer.
      const gd = (c: Buffer) => {
        const h = c.readBigUInt64LE(56);
        return Number(h === 0xffffffffffffffffn ? c.readBigUInt64LE(c.length - 1024 + 56) : h);
      };
      const firstGrain = (c: Buffer) => {
        const gt = c.readUInt32LE(gd(c) * 512);
        return c.readUInt32LE(gt * 512) * 512;
      };
      await rejects('stream-size.vmdk', patched(stream, (c) => c.writeUInt32LE(0x7fffffff, firstGrain(c) + 8)), /invalid size/);
      await rejects('stream-garbage.vmdk', patched(stream, (c) => c.fill(0x55, firstGrain(c) + 12, firstGrain(c) + 200)), /decompress/);
    });

    it('hostile descriptors: self-referencing extents, extents that are not sparse files, absurd counts and sizes', async () => {
      await rejects('self.vmdk', descriptorText({ cid: '1', createType: 'monolithicFlat', extents: ['RW 1 FLAT "self.vmdk" 0'] }), /refers back/);
      writeFileSync(join(dir, 'other.vmdk'), descriptorText({ cid: '2', createType: 'monolithicFlat', extents: ['RW 1 SPARSE "loop.vmdk"'] }));
      await rejects('loop.vmdk', descriptorText({ cid: '1', createType: 'twoGbMaxExtentSparse', extents: ['RW 1 SPARSE "other.vmdk"'] }), /no KDMV/);
      await rejects('many.vmdk', descriptorText({ cid: '1', createType: 'monolithicFlat', extents: Array.from({ length: 50000 }, () => 'RW 1 ZERO') }), /extents/);
      await rejects('huge.vmdk', descriptorText({ cid: '1', createType: 'monolithicFlat', extents: ['RW 99999999999999999999 ZERO'] }), /absurd/);
      await rejects('sum.vmdk', descriptorText({ cid: '1', createType: 'monolithicFlat', extents: Array.from({ length: 300 }, () => 'RW 2000000000000 ZERO') }), /more than/);
      writeFileSync(join(dir, 'short-flat.vmdk'), Buffer.alloc(4096));
      await rejects('short.vmdk', descriptorText({ cid: '1', createType: 'monolithicFlat', extents: ['RW 2048 FLAT "short-flat.vmdk" 0'] }), /truncated/);
      await rejects('missing-extent.vmdk', descriptorText({ cid: '1', createType: 'monolithicFlat', extents: ['RW 2048 FLAT "nowhere-flat.vmdk" 0'] }), /nowhere-flat\.vmdk/);
      const enc = '# Disk DescriptorFile\nversion=1\nencoding="UTF-8"\nencryption.keySafe = "vmware:key/list/(pair/(null/vmware-vmx-key))"\nencryption.data = "AAAA"\ncreateType="monolithicSparse"\n';
      writeFileSync(join(dir, 'encrypted.vmdk'), enc);
      const e = await expectDiskpickError(() => openContainer(join(dir, 'encrypted.vmdk')), /encrypted/);
      expect(e.kind).toBe('unsupported');
      await rejects('nohint.vmdk', descriptorText({ cid: '1', parentCid: '12345678', createType: 'monolithicFlat', extents: ['RW 1 ZERO'] }), /parentFileNameHint/);
    });

    it('hostile COWD and SESparse headers', async () => {
      const cowd = readFileSync(join(esx, 'root-cowd.vmdk'));
      await rejects('cowd-gd.vmdk', patched(cowd, (c) => c.writeUInt32LE(0x40000000, 24)), /does not fit/);
      await rejects('cowd-gt.vmdk', patched(cowd, (c) => c.writeUInt32LE(2, 4 * 512)), /header or the grain directory/);
      await rejects('cowd-grain.vmdk', patched(cowd, (c) => c.writeUInt32LE(0x7ffffff0, c.readUInt32LE(4 * 512) * 512)), /past the end/);
      const se = readFileSync(join(esx, 'sesparse-sesparse.vmdk'));
      const gdAt = Number(se.readBigUInt64LE(128)) * 512;
      await rejects('se-gd.vmdk', patched(se, (c) => c.writeBigUInt64LE(0x2000000000000005n, gdAt)), /invalid/);
      await rejects('se-gd-index.vmdk', patched(se, (c) => c.writeBigUInt64LE(0x1000000000001000n, gdAt)), /past the/);
      const gtAt = Number(se.readBigUInt64LE(144)) * 512;
      await rejects('se-gt.vmdk', patched(se, (c) => c.writeBigUInt64LE(0x3000000fffffffffn, gtAt)), /past the end/);
      await rejects('se-journal.vmdk', patched(se, (c) => c.writeBigUInt64LE(1n, 512 + 24)), /journal/);
    });
  });
});

/** Hash of the top layer as libvmdk's vmdkmount (FUSE) exposes it, or null when FUSE is unavailable. */
function vmdkmountHash(path: string): string | null {
  if (!hasTool('vmdkmount') || !existsSync('/dev/fuse')) {
    console.warn('SKIP: vmdkmount or /dev/fuse unavailable; libvmdk cross-check skipped');
    return null;
  }
  const mnt = mkdtempSync(join(TMP, 'mnt-'));
  const r = spawnSync('vmdkmount', [path, mnt], { timeout: 30_000 });
  if (r.status !== 0) {
    console.warn(`SKIP: vmdkmount failed (${r.stderr?.toString().trim()}); libvmdk cross-check skipped`);
    return null;
  }
  try {
    const layers = readdirSync(mnt).filter((f) => /^vmdk\d+$/.test(f)).sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
    return createHash('sha256').update(readFileSync(join(mnt, layers[layers.length - 1]!))).digest('hex');
  } finally {
    spawnSync('fusermount', ['-u', mnt]);
    spawnSync('umount', [mnt]);
  }
}

describe('VMDK descriptor content IDs', () => {
  it('reads CID and parentCID as 32-bit numbers whatever their zero padding', async () => {
    const { parseDescriptor } = await import('../../src/container/vmdk/descriptor.js');
    const text = (cid: string, parent: string) => Buffer.from(
      `# Disk DescriptorFile\nversion=1\nCID=${cid}\nparentCID=${parent}\ncreateType="monolithicSparse"\n\nRW 2048 SPARSE "x.vmdk"\n`);
    const a = parseDescriptor(text('87adc4', 'ffffffff'), 'a.vmdk');
    const b = parseDescriptor(text('0087ADC4', '0087adc4'), 'b.vmdk');
    expect(a.cid).toBe(b.cid);
    expect(b.parentCid).toBe(a.cid);
    expect(a.cid).toBe((0x87adc4).toString(16).padStart(8, '0'));
  });
});
