/**
 * The fuzzer's own machinery: mutants are deterministic by seed, and the structure finders aim
 * at the places real tools say the metadata is (dumpe2fs for ext, fsck.fat -v for FAT, debugfs
 * for ext folders, ntfsinfo for the NTFS $MFT, sfdisk for GPT).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildSeeds } from '../../scripts/fuzz/seeds.js';
import { mutate, regionsOf, Rng } from '../../scripts/fuzz/mutate.js';
import { tool } from '../helpers/tools.js';

const seeds = buildSeeds();

describe('fuzz mutations', () => {
  it('the same seed gives the same mutant; another seed a different one; the seed image is untouched', () => {
    const buf = readFileSync(seeds.ext[0]);
    const copy = Buffer.from(buf);
    const regions = regionsOf('ext', buf);
    for (let i = 0; i < 20; i++) {
      const a = mutate('ext', buf, regions, new Rng(1000 + i));
      const b = mutate('ext', buf, regions, new Rng(1000 + i));
      expect(a.data.equals(b.data)).toBe(true);
      expect(a.describe).toEqual(b.describe);
    }
    const differ = [0, 1, 2, 3, 4].filter((i) => !mutate('ext', buf, regions, new Rng(i)).data.equals(mutate('ext', buf, regions, new Rng(i + 100)).data));
    expect(differ.length).toBeGreaterThan(3);
    expect(buf.equals(copy)).toBe(true);
  });

  it('ext: superblock, descriptors and inode tables where dumpe2fs puts them; folder blocks where debugfs does', () => {
    const img = seeds.ext[2];
    const regions = regionsOf('ext', readFileSync(img));
    const dump = tool('dumpe2fs', [img]);
    const bs = Number(/Block size:\s+(\d+)/.exec(dump)![1]);
    const itable = Number(/Inode table at (\d+)-/.exec(dump)![1]);
    expect(regions.find((r) => r.what === 'superblock')?.offset).toBe(1024);
    expect(regions.find((r) => r.what === 'inode table of group 0')?.offset).toBe(itable * bs);
    const docsBlocks = tool('debugfs', ['-R', 'blocks /docs', img]).trim().split(/\s+/).map(Number);
    expect(regions.some((r) => r.what === 'folder block' && r.offset === docsBlocks[0] * bs)).toBe(true);
  });

  it('FAT: boot sector, FAT and root folder where fsck.fat -v says', () => {
    const img = seeds.fat[1];
    const regions = regionsOf('fat', readFileSync(img));
    const v = tool('fsck.fat', ['-nv', img]);
    expect(regions.find((r) => r.what === 'FAT')?.offset).toBe(Number(/First FAT starts at byte (\d+)/.exec(v)![1]));
    expect(regions.find((r) => r.what === 'root folder')?.offset).toBe(Number(/Root directory starts at byte (\d+)/.exec(v)![1]));
  });

  it('NTFS: the MFT records found by scanning start at the $MFT cluster ntfsinfo reports', () => {
    const buf = readFileSync(seeds.ntfs[0]);
    const regions = regionsOf('ntfs', buf);
    const info = tool('ntfsinfo', ['-m', '-f', seeds.ntfs[0]]);
    const lcn = Number(/LCN of Data Attribute for FILE_MFT:\s+(\d+)/.exec(info)![1]);
    const cluster = Number(/Cluster Size:\s+(\d+)/i.exec(info)![1]);
    expect(regions.some((r) => r.what === 'MFT record' && r.offset === lcn * cluster)).toBe(true);
    expect(regions.filter((r) => r.what === 'MFT record').length).toBeGreaterThan(16);
  });

  it('GPT: header and entries at the LBAs sfdisk reports', () => {
    const img = seeds.gpt[0];
    const regions = regionsOf('gpt', readFileSync(img));
    const t = JSON.parse(tool('sfdisk', ['--json', img])) as { partitiontable: { firstlba: number } };
    expect(regions.find((r) => r.what === 'GPT header')?.offset).toBe(512);
    // Entries lie between the header and the first usable LBA.
    const e = regions.find((r) => r.what === 'GPT entries')!;
    expect(e.offset + e.length).toBeLessThanOrEqual(t.partitiontable.firstlba * 512);
  });
});
