/**
 * MBR (primary and logical partitions), GPT at 512 and 4096-byte sectors, and a disk with no
 * table: the volumes diskpick finds are where TSK's mmls finds them, and where the builder
 * wrote its filesystems (the manifests of test/fat/images.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskpick, sha256File, tool } from '../helpers/tools.js';
import { fatImages, manifests } from '../fat/images.js';

/** mmls: partition starts/lengths in sectors, keyed by start sector. */
function mmlsVolumes(img: string, sectorSize: number): { start: number; size: number }[] {
  const out = tool('mmls', ['-b', String(sectorSize), img]);
  return out.split('\n')
    .filter((l) => /^\d+:\s+(\d+:\d+|\d{3})\s/.test(l))
    .map((l) => l.trim().split(/\s+/))
    .map((c) => ({ start: Number(c[2]) * sectorSize, size: Number(c[4]) * sectorSize }));
}

const cases = [
  { key: 'mbr' as const, sector: 512 },
  { key: 'gpt' as const, sector: 512 },
  { key: 'gpt4k' as const, sector: 4096 },
  { key: 'floppy' as const, sector: 512 },
];

describe.each(cases)('partition table of $key', ({ key, sector }) => {
  let img: string;
  let before: string;
  beforeAll(async () => {
    img = fatImages[key]();
    before = await sha256File(img);
  });
  afterAll(async () => {
    expect(await sha256File(img)).toBe(before);
  });

  it('lists the volumes the manifest was written to, where mmls finds them', () => {
    const r = diskpick(['info', '--json', img]);
    expect(r.stderr).toBe('');
    const info = JSON.parse(r.stdout.toString('utf8')) as { volumes: { name: string; start: number; size: number }[]; partitionTable: { sectorSize: number } | null };
    const m = manifests(img);
    expect(info.volumes.map((v) => v.name).sort()).toEqual(Object.keys(m).sort());
    if (key === 'floppy') {
      expect(info.partitionTable).toBeNull();
      return;
    }
    expect(info.partitionTable!.sectorSize).toBe(sector);
    const mm = mmlsVolumes(img, sector);
    expect(info.volumes.map((v) => ({ start: v.start, size: v.size }))).toEqual(mm);
  });
});
