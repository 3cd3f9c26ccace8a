/**
 * What real images showed (issue #24), end to end through the CLI: each case is an image made
 * by the real tools (or taken from the shared real-world corpus) that reproduces what a user
 * saw, checked against TSK (fls/icat) or what the builder wrote.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildVhdCutPartition, type CutPartitionInfo } from '../../scripts/images/real.js';
import { cachedImage, corpusFile, diskpick, sha256, sha256File, tool, toolBytes } from '../helpers/tools.js';

const cut = cachedImage('real-vhd-cut-partition.img', (p) => void buildVhdCutPartition(p));
const cutInfo = JSON.parse(readFileSync(`${cut}.json`, 'utf8')) as CutPartitionInfo;

const inputs = [cut];
const before = new Map<string, string>();
beforeAll(async () => {
  for (const f of inputs) before.set(f, await sha256File(f));
});
afterAll(async () => {
  for (const [f, h] of before) expect(await sha256File(f), `${f} changed`).toBe(h);
});

/** TSK's names in a folder of a raw NTFS volume (inode numbers for icat). */
function fls(img: string, args: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of tool('fls', [...args, img]).split('\n')) {
    const m = /^\S+ \*? ?([\d-]+):\t(.*)$/.exec(line);
    if (m) out.set(m[2]!, m[1]!);
  }
  return out;
}

describe('#24.1 a raw volume that ends in a VHD footer whose sizes do not fit', () => {
  it('is read as raw, with one warning naming the file once, and equals TSK', () => {
    const r = diskpick(['ls', cut, '/p0']);
    expect(r.status).toBe(0);
    const names = r.stdout.toString().trim().split('\n');
    const tsk = [...fls(cut).keys()].filter((n) => !n.startsWith('$') && !n.includes(':'));
    expect(names.sort()).toEqual(tsk.sort());
    expect(names.sort()).toEqual(Object.keys(cutInfo.files).map((f) => f.slice(1)).sort());
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^diskpick: warning: .*real-vhd-cut-partition\.img: the file ends in a fixed-VHD footer for a 16777216-byte disk.*read as a raw image$/);
    expect(lines[0]!.split(cut).length - 1).toBe(1);
    for (const [path, f] of Object.entries(cutInfo.files)) {
      const c = diskpick(['cat', cut, `/p0${path}`]);
      expect(c.status).toBe(0);
      expect(sha256(c.stdout)).toBe(f.sha256);
      const ino = fls(cut).get(path.slice(1))!;
      expect(sha256(toolBytes('icat', [cut, ino.split('-')[0]!]))).toBe(f.sha256);
    }
  });

  it('info shows it as a raw image holding NTFS', () => {
    const r = diskpick(['info', '--json', cut]);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout.toString()) as { container: { format: string; warnings: string[] }; volumes: { filesystem: { type: string } | null }[] };
    expect(j.container.format).toBe('raw');
    expect(j.container.warnings.join('\n')).toMatch(/fixed-VHD footer/);
    expect(j.volumes[0]!.filesystem!.type).toBe('NTFS');
  });
});

describe('#24.9 warnings name the image once', () => {
  it('a VHD with a wrong footer checksum (real dfvfs sample): every warning line names the file once', () => {
    const img = corpusFile('image.vhd');
    if (!img) return;
    const r = diskpick(['ls', img, '/']);
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) {
      expect(l).toMatch(/^diskpick: warning: /);
      expect(l.split('image.vhd').length - 1, l).toBe(1);
    }
  });
});
