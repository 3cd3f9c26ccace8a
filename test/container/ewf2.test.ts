/**
 * EWF2 (.Ex01). No Debian tool writes or reads EWF2 (libewf 20140813: `ewfacquire -f
 * encase7-v2` falls back to encase6; ewfinfo rejects "EVF2"), and no public Ex01 image is
 * reachable here, so the images come from scripts/images/ewf2.ts, a writer made from libyal's
 * EWF2 document alone. The oracle is the raw disk each image was made from: its bytes
 * (sha256), md5sum and sha1sum (for --verify), and the FAT builders' file manifest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { openContainer } from '../../src/container/open.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { CACHE, diskpick, sha256File, tool } from '../helpers/tools.js';
import { EX01_VARIANTS, ex01Image, ex01Source } from '../../scripts/images/ewf2.js';
import { segmentNameV2 } from '../../src/container/ewf/ewf2.js';
import type { ManifestEntry } from '../../scripts/images/tree.js';

const images = new Map<string, string>();
const hashes = new Map<string, string>();
const work = mkdtempSync(join(tmpdir(), 'dp-ex01-'));

function segmentsOf(ex01: string): string[] {
  return readdirSync(dirname(ex01)).filter((f) => /^disk\.Ex\d\d$/.test(f)).sort().map((f) => join(dirname(ex01), f));
}

beforeAll(async () => {
  for (const v of EX01_VARIANTS) {
    const p = ex01Image(CACHE, v);
    images.set(v.name, p);
    for (const s of segmentsOf(p)) hashes.set(s, await sha256File(s));
  }
}, 180_000);

afterAll(async () => {
  for (const [s, h] of hashes) expect(await sha256File(s), s).toBe(h);
  rmSync(work, { recursive: true, force: true });
});

async function containerSha(path: string): Promise<{ sha: string; size: number; variant: string }> {
  const c = await openContainer(path);
  try {
    const h = createHash('sha256');
    // Odd-sized reads: starts and ends inside chunks, across tables and segment files.
    const step = 3 * 65536 + 4097;
    for (let off = 0; off < c.size; off += step) h.update(await c.read(off, Math.min(step, c.size - off)));
    return { sha: h.digest('hex'), size: c.size, variant: c.chain[0]!.variant };
  } finally {
    await c.close();
  }
}

describe('EWF2 (.Ex01) images', () => {
  for (const v of EX01_VARIANTS) {
    it(`${v.name}: the virtual disk is byte for byte the raw disk it was made from`, async () => {
      const ex01 = images.get(v.name)!;
      const raw = ex01Source(CACHE, v);
      const ours = await containerSha(ex01);
      expect(ours.size).toBe(readFileSync(raw).length);
      expect(ours.sha).toBe(await sha256File(raw));
      const n = segmentsOf(ex01).length;
      expect(ours.variant).toBe(n > 1 ? `Ex01, ${n} segments` : 'Ex01');
    });
  }

  it('ex01-split-pattern is several segment files with pattern-filled chunks (the writer did what the test relies on)', () => {
    const ex01 = images.get('ex01-split-pattern')!;
    expect(segmentsOf(ex01).length).toBeGreaterThanOrEqual(3);
    // A sector table entry with flags COMPRESSED | PATTERNFILL (0x5) and size 0.
    const b = readFileSync(ex01);
    expect(b.includes(Buffer.from([0, 0, 0, 0, 5, 0, 0, 0]))).toBe(true);
  });

  it('the files of both partitions match the source disk manifest (ex01-split-pattern)', async () => {
    const raw = ex01Source(CACHE, EX01_VARIANTS[1]!);
    const manifests = JSON.parse(readFileSync(`${raw}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    const vfs = await Vfs.open(images.get('ex01-split-pattern')!);
    try {
      let n = 0;
      for (const [vol, entries] of Object.entries(manifests)) {
        for (const m of entries) {
          if (m.type !== 'file') continue;
          const node = await vfs.lookup(`/${vol}${m.path}`);
          const s = await vfs.openFile(node);
          const h = createHash('sha256').update(await s.read(0, s.size)).digest('hex');
          expect({ size: node.stat.size, sha: h }, m.path).toEqual({ size: m.size, sha: m.sha256 });
          n++;
        }
      }
      expect(n).toBeGreaterThan(50);
    } finally {
      await vfs.close();
    }
  });

  it('info shows the case data; --verify recomputes MD5 and SHA1 and they are md5sum/sha1sum of the raw disk', () => {
    for (const v of EX01_VARIANTS) {
      const raw = ex01Source(CACHE, v);
      const md5 = tool('md5sum', [raw]).split(' ')[0];
      const sha1 = tool('sha1sum', [raw]).split(' ')[0];
      const r = diskpick(['info', '--json', '--verify', images.get(v.name)!]);
      expect(r.status, r.stderr).toBe(0);
      const info = JSON.parse(r.stdout.toString());
      expect(info.container.format).toBe('ewf');
      const d = info.container.details;
      expect(d['case number']).toBe('case 23');
      expect(d.examiner).toBe('diskpick tests');
      expect(d.description).toBe('fat gpt disk (EWF2)');
      expect(d.acquired).toBe(new Date(1_700_000_000_000).toISOString());
      expect(d['serial number']).toBe('DP-SERIAL-23');
      expect(d['stored MD5']).toBe(md5);
      expect(d['stored SHA1']).toBe(sha1);
      expect(info.verified).toEqual({ MD5: md5, SHA1: sha1 });
    }
  });

  it('segment names: .Ex01 … .Ex99, .ExAA … .ExZZ, .EyAA (libewf’s list)', () => {
    expect([1, 2, 99, 100, 125, 126, 775, 776].map((n) => segmentNameV2('x.Ex01', n))).toEqual(['x.Ex01', 'x.Ex02', 'x.Ex99', 'x.ExAA', 'x.ExAZ', 'x.ExBA', 'x.ExZZ', 'x.EyAA']);
    expect(segmentNameV2('y.ex01', 100)).toBe('y.exaa');
  });
});

describe('damaged and unsupported EWF2 images', () => {
  function copyOf(variant: string, label: string): string {
    const dir = join(work, label);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    for (const s of segmentsOf(images.get(variant)!)) copyFileSync(s, join(dir, basename(s)));
    return join(dir, 'disk.Ex01');
  }
  const oneLine = (r: { stderr: Buffer | string }) => expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);

  it('an encrypted section (data flag ENCRYPTED): one-line "not supported", exit 6', () => {
    const ex01 = copyOf('ex01-zlib', 'encrypted');
    const b = readFileSync(ex01);
    // The first section's descriptor: right after the device information data. Set ENCRYPTED, fix its Adler-32.
    const prev = b.length - 64;
    let at = prev;
    while (Number(b.readBigUInt64LE(at + 8)) !== 0) at = Number(b.readBigUInt64LE(at + 8));
    b.writeUInt32LE(b.readUInt32LE(at + 4) | 2, at + 4);
    let a = 1;
    let s = 0;
    for (let i = at; i < at + 60; i++) {
      a = (a + b[i]!) % 65521;
      s = (s + a) % 65521;
    }
    b.writeUInt32LE((s * 65536 + a) >>> 0, at + 60);
    writeFileSync(ex01, b);
    const r = diskpick(['info', ex01]);
    expect(r.status).toBe(6);
    oneLine(r);
    expect(r.stderr.toString()).toMatch(/disk\.Ex01.*encrypted Ex01 images are not supported/);
  });

  it('a changed byte in a stored chunk: --verify names the MD5 mismatch (exit 3)', () => {
    const ex01 = copyOf('ex01-none-odd', 'flip');
    const b = readFileSync(ex01);
    b[100_000] ^= 0xff;
    writeFileSync(ex01, b);
    const r = diskpick(['info', '--verify', ex01]);
    expect(r.status).toBe(3);
    oneLine(r);
    expect(r.stderr.toString()).toMatch(/MD5 mismatch: the image stores [0-9a-f]{32}, its content hashes to [0-9a-f]{32}/);
  });

  it('a missing segment, the second segment given, a cut-short file, a bad descriptor checksum: one-line errors', () => {
    const split = copyOf('ex01-split-pattern', 'missing');
    rmSync(split.replace(/Ex01$/, 'Ex02'));
    let r = diskpick(['info', split]);
    expect(r.status).toBe(3);
    oneLine(r);
    expect(r.stderr.toString()).toMatch(/segment file not found: .*disk\.Ex02/);
    r = diskpick(['info', images.get('ex01-split-pattern')!.replace(/Ex01$/, 'Ex02')]);
    expect(r.status).not.toBe(0);
    expect(r.stderr.toString()).toMatch(/segment 2; open the first segment file/);

    const cut = copyOf('ex01-zlib', 'cut');
    const b = readFileSync(cut);
    writeFileSync(cut, b.subarray(0, b.length - 1000));
    r = diskpick(['info', cut]);
    expect(r.status).toBe(3);
    oneLine(r);
    expect(r.stderr.toString()).toMatch(/EWF2: /);

    const bad = copyOf('ex01-zlib', 'badsum');
    const c = readFileSync(bad);
    c[c.length - 64 - 64 + 20] ^= 1;
    writeFileSync(bad, c);
    r = diskpick(['info', bad]);
    expect(r.status).toBe(3);
    oneLine(r);
    expect(r.stderr.toString()).toMatch(/bad checksum/);
  });
});
