/**
 * Btrfs: `diskpick cat` of a 256 MiB file, stored plainly and zstd-compressed, cold (page
 * cache dropped before every run), against the kernel reading the same file from a read-only
 * loop mount (mount + cat + umount: what a user without diskpick runs); and `diskpick extract`
 * of the plain file against `btrfs restore` of it (btrfs-progs, userspace), both writing it to
 * a folder. Needs root (loop mounts, drop_caches).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, run as sh, throughputRow, type BenchRow } from './harness.js';
import { BTRFS_BENCH, buildBtrfsBenchImage } from '../scripts/images/btrfs.js';

function dropCaches(): void {
  sh('sync; echo 3 > /proc/sys/vm/drop_caches');
}

/** Best of `runs` cold runs, in seconds; `before` runs untimed after the caches are dropped. */
function coldTime(cmd: string, runs = 3, before = ''): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    if (before) sh(before);
    dropCaches();
    const t0 = process.hrtime.bigint();
    sh(cmd);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

export async function run(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) throw new Error('needs root (loop mounts, drop_caches)');
  const image = join(BENCH_CACHE, 'btrfs-bench.img');
  if (!existsSync(image)) buildBtrfsBenchImage(image);
  const mnt = mkdtempSync(join(tmpdir(), 'dp-bench-btrfs-'));
  const out = mkdtempSync(join(tmpdir(), 'dp-bench-btrfs-out-'));
  const rows: BenchRow[] = [];
  try {
    for (const [file, what, target] of [
      [BTRFS_BENCH.plain, 'cold cat 256 MiB file (Btrfs)', 0.8],
      [BTRFS_BENCH.zstd, 'cold cat 256 MiB zstd file (Btrfs)', 0.5],
    ] as const) {
      const ours = coldTime(`${diskpickCmd(`cat ${image} /p0${file}`)} > /dev/null`);
      const kernel = coldTime(`mount -o ro,loop ${image} ${mnt} && cat ${mnt}${file} > /dev/null; umount ${mnt}`);
      rows.push(throughputRow('btrfs', what, BTRFS_BENCH.size, ours, 'kernel ro loop mount + cat', kernel, target));
    }
    const clean = `rm -rf ${out} && mkdir -p ${out}`;
    const ours = coldTime(`${diskpickCmd(`extract ${image} /p0${BTRFS_BENCH.plain} -o ${out}`)} > /dev/null`, 3, clean);
    const restore = coldTime(`btrfs restore --path-regex '^/(|${BTRFS_BENCH.plain.slice(1).replace('.', '\\.')})$' ${image} ${out} > /dev/null`, 3, clean);
    rows.push(throughputRow('btrfs', 'cold extract 256 MiB file (Btrfs)', BTRFS_BENCH.size, ours, 'btrfs restore', restore, 1.0));
  } finally {
    rmSync(mnt, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    mkdirSync(BENCH_CACHE, { recursive: true });
  }
  return rows;
}
