/**
 * MBR disks with 4096-byte logical sectors (issue 24 item 4): the partition table's LBAs count
 * 4 KiB units, written nowhere. Image from the real tools (scripts/images/sector4k.ts: sfdisk on
 * a `losetup -b 4096` loop device, mkfs into the partitions); oracles: sfdisk's own listing and
 * the trees written into each filesystem.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build4knMbrImage, type SfdiskTable } from '../../scripts/images/sector4k.js';
import { convertTo } from '../../scripts/images/lvm.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { CACHE, diskpick, sha256, sha256File } from '../helpers/tools.js';

const IMG = join(CACHE, 'mbr-4kn.img');
let trees: string;
let before: string;
let table: SfdiskTable;

interface Info { partitionTable: { scheme: string; sectorSize: number; details: Record<string, unknown>; warnings: string[] }; volumes: Array<{ name: string; start: number; size: number; filesystem: { type: string; label: string | null } | null }> }

function info(args: string[]): Info {
  const r = diskpick(['info', '--json', ...args]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString()) as Info;
}

beforeAll(async () => {
  trees = build4knMbrImage(IMG);
  convertTo(IMG, join(CACHE, 'mbr-4kn.qcow2'), 'qcow2');
  table = JSON.parse(readFileSync(`${IMG}.sfdisk.json`, 'utf8')) as SfdiskTable;
  before = await sha256File(IMG);
});
afterAll(async () => {
  expect(await sha256File(IMG)).toBe(before);
});

describe('MBR with 4096-byte sectors (4Kn)', () => {
  it('info detects 4096-byte sectors and says so; partitions where sfdisk put them, the extended chain whole', () => {
    for (const img of [IMG, join(CACHE, 'mbr-4kn.qcow2')]) {
      const j = info([img]);
      expect(j.partitionTable).toMatchObject({ scheme: 'mbr', sectorSize: 4096, warnings: [] });
      expect(j.partitionTable.details.sectorSizeBy).toBe('detection');
      const want = table.partitions.filter((p) => p.type !== '5').map((p) => ({ name: `p${/(\d+)$/.exec(p.node)![1]}`, start: p.start * 4096, size: p.size * 4096 }));
      expect(j.volumes.map((v) => ({ name: v.name, start: v.start, size: v.size }))).toEqual(want);
      expect(j.volumes.map((v) => v.filesystem?.type.replace(/^FAT\d+$/, 'FAT'))).toEqual(['ext4', 'FAT', 'ext4', 'FAT']);
      expect(j.volumes.map((v) => v.filesystem?.label)).toEqual(['part1', 'PART2', 'part5', 'PART6']);
    }
    const text = diskpick(['info', IMG]).stdout.toString();
    expect(text).toMatch(/^partitions: MBR, 4096-byte sectors, disk id 4b4b4b4b \(sectorSizeBy detection\)$/m);
  });

  it('every file of p1, p2, p5 and p6 reads as written', () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-4kn-'));
    try {
      for (const n of [1, 2, 5, 6]) {
        const r = diskpick(['extract', IMG, `/p${n}`, '-o', out, '-q']);
        expect(r.status, r.stderr).toBe(0);
        const files = manifestOf(join(trees, `p${n}`)).filter((e) => e.type === 'file');
        expect(files.length).toBeGreaterThan(2);
        for (const f of files) expect(sha256(readFileSync(join(out, `p${n}`, f.path))), `p${n}${f.path}`).toBe(f.sha256);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('--sector-size 512 forces the 512-byte reading (and says so); --sector-size 4096 the right one', () => {
    const wrong = info(['--sector-size', '512', IMG]);
    expect(wrong.partitionTable.sectorSize).toBe(512);
    expect(wrong.partitionTable.details.sectorSizeBy).toBe('--sector-size');
    expect(wrong.volumes[0]!.start).toBe(256 * 512);
    expect(wrong.volumes[0]!.filesystem).toBeNull();
    const right = info(['--sector-size', '4096', IMG]);
    expect(right.partitionTable.sectorSize).toBe(4096);
    expect(right.volumes.map((v) => v.start)).toEqual(info([IMG]).volumes.map((v) => v.start));
    const bad = diskpick(['info', '--sector-size', '1024', IMG]);
    expect(bad.status).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('the same layout at 512-byte sectors stays 512 (control), files read', () => {
    const img = join(CACHE, 'mbr-512-control.img');
    const t = build4knMbrImage(img, 512);
    const sf = JSON.parse(readFileSync(`${img}.sfdisk.json`, 'utf8')) as SfdiskTable;
    const j = info([img]);
    expect(j.partitionTable).toMatchObject({ scheme: 'mbr', sectorSize: 512, warnings: [] });
    expect(j.volumes.map((v) => v.start)).toEqual(sf.partitions.filter((p) => p.type !== '5').map((p) => p.start * 512));
    expect(j.volumes.map((v) => info([IMG]).volumes.find((w) => w.name === v.name)!.start)).toEqual(j.volumes.map((v) => v.start));
    const f = manifestOf(join(t, 'p6')).find((e) => e.type === 'file')!;
    expect(sha256(diskpick(['cat', img, `/p6/${f.path.replace(/^\//, '')}`]).stdout)).toBe(f.sha256);
  });
});
