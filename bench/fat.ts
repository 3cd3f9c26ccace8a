/**
 * FAT32: `diskpick cat` of a 256 MiB file against mcopy and TSK icat on the same image, and
 * peak RSS of cat/extract of a 1 GiB file.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { buildFatWithLargeFile } from '../scripts/images/fat.js';
import { BENCH_CACHE, diskpickCmd, floorRow, peakRssMb, run as sh, throughputRow, timeShell, type BenchRow } from './harness.js';

export async function run256(): Promise<BenchRow[]> {
  const img = join(BENCH_CACHE, 'fat32-256m.img');
  if (!existsSync(img)) buildFatWithLargeFile(img, 256 << 20);
  const bytes = 256 << 20;
  const inode = sh(`ifind -n big.bin ${img}`).trim();
  const ours = timeShell(`${diskpickCmd(`cat ${img} /p0/big.bin`)} > /dev/null`);
  const mcopy = timeShell(`MTOOLS_SKIP_CHECK=1 mcopy -n -i ${img} ::/big.bin - > /dev/null`);
  const icat = timeShell(`icat ${img} ${inode} > /dev/null`);
  return [
    throughputRow('fat', 'cat 256 MiB file (FAT32)', bytes, ours, 'mcopy', mcopy, 1.0),
    throughputRow('fat', 'cat 256 MiB file (FAT32)', bytes, ours, 'icat', icat, 1.0),
    floorRow('fat', 'cat 256 MiB file (FAT32)', 'mcopy', mcopy),
  ];
}

export async function runMemory(): Promise<BenchRow[]> {
  const img = join(BENCH_CACHE, 'fat32-1g.img');
  if (!existsSync(img)) buildFatWithLargeFile(img, 1 << 30);
  const cat = peakRssMb(`${diskpickCmd(`cat ${img} /p0/big.bin`)} > /dev/null`);
  const out = join(BENCH_CACHE, 'extract-out');
  sh(`rm -rf ${out}`);
  const extract = peakRssMb(diskpickCmd(`extract -q ${img} /p0/big.bin -o ${out}`));
  sh(`rm -rf ${out}`);
  const mcopy = peakRssMb(`MTOOLS_SKIP_CHECK=1 mcopy -n -i ${img} ::/big.bin - > /dev/null`);
  const row = (what: string, mb: number) => ({
    area: 'memory', what, ours: mb, reference: 'limit 150 MB', theirs: 150, unit: 'MB' as const,
    ratio: 150 / mb, target: '<= 150 MB', met: mb <= 150,
  });
  return [row('peak RSS, cat of a 1 GiB file', cat), row('peak RSS, extract of a 1 GiB file', extract),
    { area: 'memory', what: 'peak RSS, mcopy of the same file (for scale)', ours: mcopy, reference: '-', theirs: mcopy, unit: 'MB', ratio: 1, target: '-', met: true }];
}

export async function run(): Promise<BenchRow[]> {
  return [...(await run256()), ...(await runMemory())];
}
