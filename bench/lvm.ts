/**
 * LVM2: the same ext4 filesystem on a plain partition (p1) and on a logical volume of two
 * segments (bench/root): `cat` of a 256 MiB file and `ls -R` of 3000 files, the LV against the
 * partition in the same run. Target: the LV at least 0.95× the partition (the extent mapping
 * costs one binary search per read, and nothing for reads within a segment).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, throughputRow, timeRow, timeShell, type BenchRow } from './harness.js';
import { buildLvmBenchImage, LVM_BENCH } from '../scripts/images/lvm-more.js';

export async function run(): Promise<BenchRow[]> {
  const image = join(BENCH_CACHE, 'lvm-bench.img');
  if (!existsSync(image)) buildLvmBenchImage(image);
  const rows: BenchRow[] = [];
  const catLv = timeShell(`${diskpickCmd(`cat ${image} /bench/root${LVM_BENCH.file}`)} > /dev/null`, 9);
  const catPart = timeShell(`${diskpickCmd(`cat ${image} /p1${LVM_BENCH.file}`)} > /dev/null`, 9);
  rows.push(throughputRow('lvm', 'cat 256 MiB file, ext4 on an LV (2 segments)', LVM_BENCH.size, catLv, 'same ext4 on a partition', catPart, 0.95));
  const lsLv = timeShell(`${diskpickCmd(`ls -R ${image} /bench/root`)} > /dev/null`, 5);
  const lsPart = timeShell(`${diskpickCmd(`ls -R ${image} /p1`)} > /dev/null`, 5);
  rows.push(timeRow('lvm', 'ls -R 3000 files, ext4 on an LV', lsLv, 'same ext4 on a partition', lsPart, 0.95));
  return rows;
}
