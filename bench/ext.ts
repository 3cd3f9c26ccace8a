/**
 * ext4: `diskpick cat` of a 256 MiB seeded file against `debugfs -R 'dump FILE /dev/stdout'`
 * (e2fsprogs, to stdout redirected to /dev/null, so neither side writes a file), and
 * `diskpick ls -R` of 100 000 files against TSK's `fls -r` on the same image.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, floorRow, throughputRow, timeRow, timeShell, type BenchRow } from './harness.js';
import { EXT_BENCH, buildExtBenchImage } from '../scripts/images/ext.js';

export async function run(): Promise<BenchRow[]> {
  const image = join(BENCH_CACHE, 'ext-bench.img');
  if (!existsSync(image)) buildExtBenchImage(image);
  const rows: BenchRow[] = [];

  const ours = timeShell(`${diskpickCmd(`cat ${image} /p0${EXT_BENCH.file}`)} > /dev/null`);
  const theirs = timeShell(`debugfs -R 'dump ${EXT_BENCH.file} /dev/stdout' ${image} > /dev/null 2>&1`);
  rows.push(throughputRow('ext', 'cat 256 MiB file (ext4)', EXT_BENCH.size, ours, 'debugfs dump to stdout', theirs, 1.0));

  const lsOurs = timeShell(`${diskpickCmd(`ls -R ${image} /p0`)} > /dev/null`);
  const lsTheirs = timeShell(`fls -r ${image} > /dev/null`);
  rows.push(timeRow('ext', 'ls -R 100 000 files (ext4)', lsOurs, 'TSK fls -r', lsTheirs, 1.0));
  rows.push(floorRow('ext', 'ls -R 100 000 files (ext4)', 'TSK fls -r', lsTheirs));
  return rows;
}
