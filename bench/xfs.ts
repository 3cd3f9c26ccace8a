/**
 * XFS: `diskpick cat` of a 256 MiB file against the kernel (a read-only loop mount + cat +
 * unmount; userspace XFS tools have no file dump to compare with), and `diskpick ls -R` of
 * 100 000 files against `find` on the kernel's mount. Both cold: the page cache, dentries and
 * inodes are dropped (`echo 3 > /proc/sys/vm/drop_caches`, root only) before every run.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, floorRow, run as sh, throughputRow, timeRow, type BenchRow } from './harness.js';
import { XFS_BENCH, buildXfsBenchImage } from '../scripts/images/xfs.js';

/** Best of `runs` cold runs of `cmd` (caches dropped before each, outside the timing). */
function timeCold(cmd: string, runs = 3): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    sh('sync; echo 3 > /proc/sys/vm/drop_caches');
    const t0 = process.hrtime.bigint();
    sh(cmd);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

export async function run(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) throw new Error('needs root (loop mounts, drop_caches)');
  const image = join(BENCH_CACHE, 'xfs-bench.img');
  if (!existsSync(image)) buildXfsBenchImage(image);
  const rows: BenchRow[] = [];
  const mnt = mkdtempSync(join(tmpdir(), 'diskpick-bench-xfs-'));
  try {
    const ours = timeCold(`${diskpickCmd(`cat ${image} /p0${XFS_BENCH.file}`)} > /dev/null`);
    const theirs = timeCold(`mount -o ro,loop ${image} ${mnt} && cat ${mnt}${XFS_BENCH.file} > /dev/null; umount ${mnt}`);
    rows.push(throughputRow('xfs', 'cat 256 MiB file (XFS), cold', XFS_BENCH.size, ours, 'kernel ro loop mount + cat + umount', theirs, 0.8));

    const lsOurs = timeCold(`${diskpickCmd(`ls -R ${image} /p0`)} > /dev/null`);
    sh(`mount -o ro,loop ${image} ${mnt}`);
    let lsTheirs: number;
    try {
      lsTheirs = timeCold(`find ${mnt} > /dev/null`);
    } finally {
      sh(`umount ${mnt}`);
    }
    rows.push(timeRow('xfs', 'ls -R 100 000 files (XFS), cold', lsOurs, 'find on the kernel mount', lsTheirs, 0.5));
    rows.push(floorRow('xfs', 'ls -R 100 000 files (XFS)', 'find on the kernel mount', lsTheirs));
  } finally {
    rmSync(mnt, { recursive: true, force: true });
  }
  return rows;
}
