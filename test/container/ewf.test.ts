/**
 * EWF (E01) against libewf's own tools: ewfacquire makes the images (from the FAT tests' GPT
 * disk, several compression levels and segment sizes), ewfexport turns them back into raw
 * bytes, ewfinfo prints what they store. Files inside are compared with the disk's manifest.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { openContainer } from '../../src/container/open.js';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { DiskpickError } from '../../src/errors.js';
import { CACHE, diskpick, sha256File, tool } from '../helpers/tools.js';
import { EWF_VARIANTS, ewfImage, ewfSegments, ewfSourceDisk } from '../../scripts/images/ewf.js';
import { segmentName } from '../../src/container/ewf/ewf.js';
import type { ManifestEntry } from '../../scripts/images/tree.js';

const images = new Map<string, string>();
const hashes = new Map<string, string>();
const work = mkdtempSync(join(tmpdir(), 'dp-ewf-'));

beforeAll(async () => {
  for (const v of EWF_VARIANTS) {
    const p = ewfImage(CACHE, v);
    images.set(v.name, p);
    for (const s of ewfSegments(p)) hashes.set(s, await sha256File(s));
  }
}, 180_000);

afterAll(async () => {
  for (const [s, h] of hashes) expect(await sha256File(s), s).toBe(h);
  rmSync(work, { recursive: true, force: true });
});

async function containerSha(path: string): Promise<{ sha: string; size: number }> {
  const c = await openContainer(path);
  try {
    const h = createHash('sha256');
    // Odd-sized reads, so reads start and end inside chunks and cross segment files.
    const step = 3 * 65536 + 4097;
    for (let off = 0; off < c.size; off += step) h.update(await c.read(off, step));
    return { sha: h.digest('hex'), size: c.size };
  } finally {
    await c.close();
  }
}

function ewfinfo(e01: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of tool('ewfinfo', [e01]).split('\n')) {
    const m = /^\t([^:]+):\t+(.*)$/.exec(l);
    if (m) out[m[1]!.trim()] = m[2]!.trim();
  }
  return out;
}

describe('EWF images from ewfacquire', () => {
  for (const v of EWF_VARIANTS) {
    it(`${v.name}: the virtual disk is byte for byte what ewfexport writes back (and the source disk)`, async () => {
      const e01 = images.get(v.name)!;
      const out = join(work, `${v.name}-export`);
      tool('ewfexport', ['-u', '-q', '-t', out, '-f', 'raw', e01]);
      const ours = await containerSha(e01);
      expect(ours.size).toBe(Number(ewfinfo(e01)['Number of sectors']) * 512);
      expect(ours.sha).toBe(await sha256File(`${out}.raw`));
      expect(ours.sha).toBe(await sha256File(ewfSourceDisk(CACHE)));
      unlinkSync(`${out}.raw`);
    });
  }

  it('the files of both partitions match the source disk manifest (ewf-fast-split: 3 segment files)', async () => {
    const manifests = JSON.parse(readFileSync(`${ewfSourceDisk(CACHE)}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    const vfs = await Vfs.open(images.get('ewf-fast-split')!);
    try {
      for (const [vol, entries] of Object.entries(manifests)) {
        for (const m of entries) {
          if (m.type !== 'file') continue;
          const n = await vfs.lookup(`/${vol}${m.path}`);
          const s = await vfs.openFile(n);
          const h = createHash('sha256').update(await s.read(0, s.size)).digest('hex');
          expect({ size: n.stat.size, sha: h }, m.path).toEqual({ size: m.size, sha: m.sha256 });
        }
      }
    } finally {
      await vfs.close();
    }
  });

  it('info shows the acquiry metadata and stored hashes as ewfinfo does; --verify recomputes them', () => {
    const e01 = images.get('ewf-best')!;
    const ei = ewfinfo(e01);
    const r = diskpick(['info', '--json', '--verify', e01]);
    expect(r.status, r.stderr).toBe(0);
    const info = JSON.parse(r.stdout.toString());
    expect(info.container.format).toBe('ewf');
    const d = info.container.details;
    expect(d['case number']).toBe(ei['Case number']);
    expect(d.examiner).toBe(ei['Examiner name']);
    expect(d.description).toBe(ei['Description']);
    expect(d['stored MD5']).toBe(ei['MD5']);
    expect(d['stored SHA1']).toBe(ei['SHA1']);
    expect(info.verified).toEqual({ MD5: ei['MD5'], SHA1: ei['SHA1'] });
    const text = diskpick(['info', '--verify', images.get('ewf-fast-split')!]);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.toString()).toMatch(/^verified: +MD5 [0-9a-f]{32} matches/m);
    expect(text.stdout.toString()).toMatch(/^chain:\n.*\n.*disk\.E02\n.*disk\.E03$/m);
  });

  it('segment names past .E99 follow EnCase: .EAA … .EZZ, .FAA', () => {
    expect(['x.E01', 'x.E99', 'x.EAA', 'x.EAZ', 'x.EBA', 'x.EZZ', 'x.FAA'].map((_, i) => segmentName('x.E01', [1, 99, 100, 125, 126, 775, 776][i]!))).toEqual(['x.E01', 'x.E99', 'x.EAA', 'x.EAZ', 'x.EBA', 'x.EZZ', 'x.FAA']);
    expect(segmentName('y.e01', 2)).toBe('y.e02');
  });
});

describe('damaged EWF images', () => {
  function copyOf(variant: string, label: string): string {
    const dir = join(work, label);
    rmSync(dir, { recursive: true, force: true });
    tool('mkdir', ['-p', dir]);
    for (const s of ewfSegments(images.get(variant)!)) copyFileSync(s, join(dir, basename(s)));
    return join(dir, 'disk.E01');
  }

  it('a changed byte in stored chunk data: --verify names the MD5 mismatch (exit 3, one line)', () => {
    const e01 = copyOf('ewf-none-split', 'flip');
    const b = readFileSync(e01);
    // The sectors section's data: chunks stored as they are; flip one byte deep inside.
    const at = b.indexOf(Buffer.from('sectors\0', 'latin1')) + 76 + 300_000;
    b[at] ^= 0xff;
    writeFileSync(e01, b);
    const r = diskpick(['info', '--verify', e01]);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/MD5 mismatch: the image stores [0-9a-f]{32}, its content hashes to [0-9a-f]{32}/);
  });

  it('a damaged compressed chunk, a missing segment, the second segment given: one-line errors', async () => {
    const e01 = copyOf('ewf-best', 'zlib');
    const b = readFileSync(e01);
    const sectors = b.indexOf(Buffer.from('sectors\0', 'latin1'));
    // A zlib stream starts 0x78: spoil the first one's deflate data.
    const z = b.indexOf(0x78, sectors + 76);
    b.fill(0xff, z + 2, z + 40);
    writeFileSync(e01, b);
    const c = await openContainer(e01);
    await expect(c.read(0, 1 << 20)).rejects.toThrow(/chunk \d+ (does not decompress|decompresses to)/);
    await c.close();

    const split = copyOf('ewf-fast-split', 'missing');
    rmSync(split.replace(/E01$/, 'E02'));
    const err = await openContainer(split).catch((e) => e);
    expect(err).toBeInstanceOf(DiskpickError);
    expect(err.message).toMatch(/EWF segment file not found: .*disk\.E02/);
    const second = await openContainer(images.get('ewf-fast-split')!.replace(/E01$/, 'E02')).catch((e) => e);
    expect(second.message).toMatch(/segment 2; open the first segment file/);
  });

  it('an EWF2 signature with an unknown version, and logical evidence (.L01): one-line "not supported" (exit 6)', () => {
    // The 8-byte signatures from the libewf documentation, each followed by zeros (EWF2 itself
    // is read since #23: test/container/ewf2.test.ts; version 0.0 is not one it knows).
    for (const [name, sig] of [['x.Ex01', 'EVF2\r\n\x81\x00'], ['x.L01', 'LVF\x09\r\n\xff\x00']] as const) {
      const p = join(work, name);
      writeFileSync(p, Buffer.concat([Buffer.from(sig, 'latin1'), Buffer.alloc(4096)]));
      const r = diskpick(['info', p]);
      expect(r.status, name).toBe(6);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/not supported/);
    }
  });

  it('--verify on an image that stores no hash: exit 6, one line', () => {
    const r = diskpick(['info', '--verify', ewfSourceDisk(CACHE)]);
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/stores no hash/);
  });
});
