/**
 * Btrfs: `diskpick cat` of a 256 MiB file, stored plainly and zstd-compressed, cold (page
 * cache dropped before every run), against the kernel reading the same file from a read-only
 * loop mount (mount + cat + umount: what a user without diskpick runs); and `diskpick extract`
 * of the plain file against `btrfs restore` of it (btrfs-progs, userspace), both writing it to
 * a folder (and the same with --no-verify, where neither side checks data checksums). Needs root
 * (loop mounts, drop_caches). The machine is shared: each pair runs alternately, cold, and the
 * rows give medians.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, floorRow, run as sh, throughputRow, type BenchRow } from './harness.js';
import { zstdDecoderName } from '../src/source/codecs.js';
import { BTRFS_BENCH, buildBtrfsBenchImage } from '../scripts/images/btrfs.js';

function dropCaches(): void {
  sh('sync; echo 3 > /proc/sys/vm/drop_caches');
}

/** Cold runs per side; the machine is shared with other engineers' work, so medians of several. */
const RUNS = Number(process.env.BENCH_BTRFS_RUNS ?? 5);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Median cold wall times (seconds) of two commands run alternately, `RUNS` times each, page
 * cache dropped before every run (so both see the same load on the shared machine); `before`
 * runs untimed first.
 */
function coldPair(ours: string, theirs: string, before = ''): [number, number] {
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (const [cmd, out] of [[ours, a], [theirs, b]] as const) {
      if (before) sh(before);
      dropCaches();
      const t0 = process.hrtime.bigint();
      sh(cmd);
      out.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  return [median(a), median(b)];
}

export async function run(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) throw new Error('needs root (loop mounts, drop_caches)');
  const image = join(BENCH_CACHE, 'btrfs-bench.img');
  if (!existsSync(image)) buildBtrfsBenchImage(image);
  const mnt = mkdtempSync(join(tmpdir(), 'dp-bench-btrfs-'));
  const out = mkdtempSync(join(tmpdir(), 'dp-bench-btrfs-out-'));
  const rows: BenchRow[] = [];
  const median5 = `median of ${RUNS} cold runs each, alternating`;
  try {
    for (const [file, what, target] of [
      [BTRFS_BENCH.plain, 'cold cat 256 MiB file (Btrfs; data crc32c verified)', 0.8],
      [BTRFS_BENCH.zstd, `cold cat 256 MiB zstd file (Btrfs; ${zstdDecoderName()}, stored bytes crc32c verified)`, 0.5],
    ] as const) {
      const [ours, kernel] = coldPair(`${diskpickCmd(`cat ${image} /p0${file}`)} > /dev/null`, `mount -o ro,loop ${image} ${mnt} && cat ${mnt}${file} > /dev/null; umount ${mnt}`);
      rows.push(throughputRow('btrfs', `${what}, ${median5}`, BTRFS_BENCH.size, ours, 'kernel ro loop mount + cat (kernel checks csums too)', kernel, target));
    }
    const clean = `rm -rf ${out} && mkdir -p ${out}`;
    const restoreCmd = `btrfs restore --path-regex '^/(|${BTRFS_BENCH.plain.slice(1).replace('.', '\\.')})$' ${image} ${out} > /dev/null`;
    const [ours, restore] = coldPair(`${diskpickCmd(`extract ${image} /p0${BTRFS_BENCH.plain} -o ${out}`)} > /dev/null`, restoreCmd, clean);
    rows.push(throughputRow('btrfs', `cold extract 256 MiB file (Btrfs; diskpick verifies every data sector's crc32c, btrfs restore verifies none), ${median5}`, BTRFS_BENCH.size, ours, 'btrfs restore', restore, 1.0));
    const [unchecked, restore2] = coldPair(`${diskpickCmd(`extract --no-verify ${image} /p0${BTRFS_BENCH.plain} -o ${out}`)} > /dev/null`, restoreCmd, clean);
    rows.push(throughputRow('btrfs', `cold extract --no-verify 256 MiB file (Btrfs; neither side checks data), ${median5}`, BTRFS_BENCH.size, unchecked, 'btrfs restore', restore2, 1.0));
    rows.push(floorRow('btrfs', 'extract 256 MiB file (Btrfs)', 'btrfs restore', restore));
  } finally {
    rmSync(mnt, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
    mkdirSync(BENCH_CACHE, { recursive: true });
  }
  return rows;
}
