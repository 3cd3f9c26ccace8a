/**
 * FUSE: reads through `diskpick mount` (diskpick's libfuse3 binding) against `diskpick cat` of
 * the same file, the raw image file read directly, and the issue's fixed 1 GB/s target, with the
 * same read through fuse-native (libfuse2) and a fuse-native mount that reads nothing for scale;
 * `find MOUNTPOINT | wc -l` over 100 000 files against the kernel's own ext4 driver on a loop
 * mount of the same image (the first walk after mounting, and later walks once the mount
 * process has listed the folders); for NTFS against the kernel walking the same tree from ext4
 * and against ntfs-3g, with both serving processes' CPU.
 * Every read is cold: `echo 3 > /proc/sys/vm/drop_caches` before each run (root only); the
 * `find` walks evict only the image's pages and are timed inside the shell (walkTime).
 * The mount is made once per image and is not inside the timings.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_CACHE, CLI, ROOT, diskpickCmd, run as sh, throughputRow, timeRow, type BenchRow } from './harness.js';
import { buildFatWithLargeFile } from '../scripts/images/fat.js';
import { EXT_BENCH, buildExtBenchImage, buildExtLikeNtfsManyFiles } from '../scripts/images/ext.js';
import { buildNtfsBigFile, buildNtfsManyFiles } from '../scripts/images/ntfs.js';
import { buildExfatBenchImage } from '../scripts/images/exfat.js';

/** First walks per mount kind (bench rows of issue 27 item 3): alternating, medians. */
const FIRST_WALKS = 5;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)]!;
}

function dropCaches(): void {
  sh('sync; echo 3 > /proc/sys/vm/drop_caches');
}

/** Best of `runs` cold runs, in seconds. */
function coldTime(cmd: string, runs = 2): number {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    dropCaches();
    const t0 = process.hrtime.bigint();
    sh(cmd);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

/**
 * Seconds of `find DIR | wc -l` as the shell running it times it (bash's EPOCHREALTIME, no
 * process in between), with `image`'s pages evicted from the page cache first (`dd
 * iflag=nocache count=0`; see walkRows for why not drop_caches). Fails where find sees fewer
 * than `files` entries: a walk that stopped early is not a fast one.
 */
function walkTime(image: string, dir: string, files: number): number {
  const out = sh(`dd if=${image} iflag=nocache count=0 status=none; a=$EPOCHREALTIME; n=$(find ${dir} | wc -l); b=$EPOCHREALTIME; echo "$a $b $n"`);
  const [a, b, n] = out.trim().replace(/,/g, '.').split(' ').map(Number);
  if (!(n! >= files)) throw new Error(`find ${dir} saw ${n} entries, fewer than the ${files} files the image holds`);
  // A shell without EPOCHREALTIME (bash before 5) gives no times: fail rather than report NaN.
  if (!(b! > a!)) throw new Error(`bench: no walk time from the shell (bash 5's EPOCHREALTIME): "${out.trim()}"`);
  return b! - a!;
}

/** CPU seconds every thread of process `pid` has run (the first field of each task's schedstat, in ns). */
function processCpu(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
  return ns / 1e9;
}

/**
 * A `diskpick mount` of `image` for `body` (given the mount point and the serving process's pid);
 * `binding`: DISKPICK_FUSE (libfuse3 is diskpick's own binding, the default).
 */
function withMount<T>(image: string, body: (mnt: string, pid: number) => T, binding: 'libfuse3' | 'libfuse2' = 'libfuse3'): T {
  const mnt = mkdtempSync(join(tmpdir(), 'diskpick-bench-fuse-'));
  const env = { ...process.env, DISKPICK_FUSE: binding };
  const r = spawnSync(process.execPath, [CLI, 'mount', '--daemon', '--log', `${mnt}.log`, image, mnt], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`mount failed: ${r.stderr}`);
  const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1] ?? 0);
  try {
    return body(mnt, pid);
  } finally {
    spawnSync('fusermount', ['-uz', mnt]);
    for (let i = 0; i < 50 && pid && spawnSync('kill', ['-0', String(pid)]).status === 0; i++) spawnSync('sleep', ['0.1']);
    rmSync(mnt, { recursive: true, force: true });
    rmSync(`${mnt}.log`, { force: true });
  }
}

/** bench/fuse-zero.cjs mounted on a fresh folder, with the kernel readahead diskpick mount sets. */
function withZeroMount<T>(size: number, body: (mnt: string) => T): T {
  const mnt = mkdtempSync(join(tmpdir(), 'diskpick-bench-zero-'));
  const child = spawn(process.execPath, [join(ROOT, 'bench', 'fuse-zero.cjs'), mnt, String(size)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    for (let i = 0; i < 100 && spawnSync('mountpoint', ['-q', mnt]).status !== 0; i++) spawnSync('sleep', ['0.1']);
    const dev = sh(`mountpoint -d ${mnt}`).trim();
    sh(`echo 4096 > /sys/class/bdi/${dev}/read_ahead_kb`);
    return body(mnt);
  } finally {
    child.kill('SIGTERM');
    spawnSync('fusermount', ['-uz', mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

export async function run(): Promise<BenchRow[]> {
  if (process.getuid?.() !== 0) throw new Error('needs root (FUSE mounts, loop mounts, drop_caches)');
  const rows: BenchRow[] = [];

  // 1 GiB file on a raw FAT32 image: mount against the raw file and against diskpick cat.
  const fat1g = join(BENCH_CACHE, 'fat32-1g.img');
  if (!existsSync(fat1g)) buildFatWithLargeFile(fat1g, 1 << 30);
  const GiB = 1 << 30;
  withMount(fat1g, (mnt) => {
    const ours = coldTime(`dd if=${mnt}/p0/big.bin of=/dev/null bs=1M status=none`);
    const cat = coldTime(`${diskpickCmd(`cat ${fat1g} /p0/big.bin`)} > /dev/null`);
    const raw = coldTime(`dd if=${fat1g} of=/dev/null bs=1M count=1024 status=none`);
    rows.push(throughputRow('fuse', 'cold dd 1 GiB file (FAT32 raw)', GiB, ours, 'fixed target 1 GB/s', GiB / 1e9, 1.0));
    rows.push(throughputRow('fuse', 'cold dd 1 GiB file (FAT32 raw)', GiB, ours, 'diskpick cat', cat, 0.8));
    // The issue asks for this comparison without a target.
    const vsRaw = throughputRow('fuse', 'cold dd 1 GiB file (FAT32 raw)', GiB, ours, 'dd of the raw image file', raw, 0.5);
    rows.push({ ...vsRaw, target: 'for scale', met: true });
    // Why diskpick has its own libfuse3 binding (docs/fuse.md): the same mount through
    // fuse-native (libfuse2, what a machine without the binding uses), and a fuse-native mount
    // that reads nothing — the best anything behind fuse-native can do here.
    const native2 = withMount(fat1g, (m2) => coldTime(`dd if=${m2}/p0/big.bin of=/dev/null bs=1M status=none`), 'libfuse2');
    const viaFuseNative = throughputRow('fuse', 'cold dd 1 GiB: the same mount through fuse-native (libfuse2)', GiB, native2, 'diskpick cat', cat, 0.8);
    rows.push({ ...viaFuseNative, target: 'for scale', met: true });
    const zero = withZeroMount(GiB, (zmnt) => coldTime(`dd if=${zmnt}/zero of=/dev/null bs=1M status=none`));
    const floor = throughputRow('fuse', 'cold dd 1 GiB: a fuse-native mount that reads nothing', GiB, zero, 'diskpick cat', cat, 0.8);
    rows.push({ ...floor, target: 'for scale', met: true });
  });

  // 256 MiB files on each filesystem: through the mount against diskpick cat.
  const MiB256 = 256 << 20;
  const perFs: Array<[string, string, string, () => void]> = [
    ['ext4', join(BENCH_CACHE, 'ext-bench.img'), `/p0${EXT_BENCH.file}`, () => buildExtBenchImage(join(BENCH_CACHE, 'ext-bench.img'))],
    ['NTFS', join(BENCH_CACHE, 'ntfs-256MiB.img'), '/p0/big.bin', () => buildNtfsBigFile(join(BENCH_CACHE, 'ntfs-256MiB.img'), 256)],
    ['exFAT', join(BENCH_CACHE, 'exfat-256MiB.img'), '/p0/seeded-256MiB.bin', () => buildExfatBenchImage(join(BENCH_CACHE, 'exfat-256MiB.img'))],
  ];
  for (const [fs, image, path, build] of perFs) {
    if (!existsSync(image)) build();
    withMount(image, (mnt) => {
      const size = statSync(`${mnt}${path}`).size;
      if (size !== MiB256) throw new Error(`${path} is ${size} bytes`);
      const ours = coldTime(`dd if=${mnt}${path} of=/dev/null bs=1M status=none`);
      const cat = coldTime(`${diskpickCmd(`cat ${image} ${path}`)} > /dev/null`);
      rows.push(throughputRow('fuse', `cold dd 256 MiB file (${fs})`, MiB256, ours, 'diskpick cat', cat, 0.8));
    });
  }

  rows.push(...containerRows());
  rows.push(...walkRows());
  return rows;
}

/**
 * The 1 GiB FAT32 file inside the same disk converted to QCOW2 and VHDX by qemu-img: the
 * binding preads the stored clusters/blocks from their host runs (issue 21), against
 * `diskpick cat` of the same file (`npx tsx -e "import('./bench/fuse.ts').then((m) => console.table(m.containerRows()))"`).
 */
export function containerRows(): BenchRow[] {
  const rows: BenchRow[] = [];
  const fat1g = join(BENCH_CACHE, 'fat32-1g.img');
  if (!existsSync(fat1g)) buildFatWithLargeFile(fat1g, 1 << 30);
  for (const [fmt, ext] of [['qcow2', 'qcow2'], ['vhdx', 'vhdx']] as const) {
    const image = join(BENCH_CACHE, `fat32-1g.${ext}`);
    if (!existsSync(image)) sh(`qemu-img convert -f raw -O ${fmt} ${fat1g} ${image}.tmp && mv ${image}.tmp ${image}`);
    withMount(image, (mnt) => {
      const ours = coldTime(`dd if=${mnt}/p0/big.bin of=/dev/null bs=1M status=none`);
      const cat = coldTime(`${diskpickCmd(`cat ${image} /p0/big.bin`)} > /dev/null`);
      rows.push(throughputRow('fuse', `cold dd 1 GiB file (FAT32 in ${fmt.toUpperCase()})`, 1 << 30, ours, 'diskpick cat', cat, 0.8));
    });
  }
  return rows;
}

/** The `find` rows alone (`npx tsx -e "import('./bench/fuse.ts').then((m) => console.table(m.walkRows()))"`). */
export function walkRows(): BenchRow[] {
  const rows: BenchRow[] = [];
  // find over 100 000 files (100 folders of 1000): our mount against a kernel loop mount of the
  // same image (ext4), and for NTFS (this kernel has no NTFS driver) against the kernel walking
  // the same tree from ext4 and against ntfs-3g, the mount Linux users have; each the first walk
  // after mounting (the mount process has read nothing yet: it lists every folder from the
  // image) — issue 27's target >= 1.0x — and for ext4 later walks too (the image evicted again,
  // the process keeps its listings).
  // First walks alternate ours and the reference, FIRST_WALKS times each, medians: the machine
  // is shared, and one run of either can be several times its median.
  // How a walk is timed (walkTime): inside the shell that runs `find`, after evicting only the
  // image's pages. Both matter (2026-12-04, alternated walks, medians; NTFS ours / ntfs-3g, ext4
  // ours / kernel):
  // - Timed around spawnSync, as this bench did before, each walk also paid Node's spawn of a
  //   shell: ~20-25 ms added to both sides (ntfs-3g from bash 75 ms, from a Node spawnSync 99 ms),
  //   which pulled every ratio towards 1: NTFS read 0.98-1.03x here against 0.67-0.71x from a
  //   shell.
  // - drop_caches evicts /usr/bin/node too. The mount process keeps the pages it has mapped, but
  //   the optimizing compiler's code, first run in the walk, is read back from disk in it (an
  //   18 ms stall traced; 19 major faults). A Node parent that has run long (this bench) keeps
  //   those pages mapped and hides it; a user's shell does not. With everything dropped, timed
  //   in bash: NTFS 128 / 89 ms (0.69x), ext4 107 / 106 ms (0.99x). Only the image evicted (a
  //   fresh mount of an image not in the page cache): NTFS 95 / 80 ms, ext4 72 / 99 ms.
  // The second is what this row measures: a fresh mount of a backup not yet read, on a machine
  // that has run Node before.
  const ext = join(BENCH_CACHE, 'ext-bench.img');
  if (!existsSync(ext)) buildExtBenchImage(ext);
  // `cpu`: where to add the CPU the serving process (ntfs-3g) spent in the walk.
  const kernelWalk = (image: string, sub: string, how: string, files: number, cpu?: number[]) => {
    const kmnt = mkdtempSync(join(tmpdir(), 'diskpick-bench-loop-'));
    try {
      sh(`${how} ${image} ${kmnt}`);
      try {
        if (!cpu) return walkTime(image, `${kmnt}${sub}`, files);
        const pid = Number(sh(`pgrep -n -x ${how.split(' ')[0]}`).trim());
        const before = processCpu(pid);
        const wall = walkTime(image, `${kmnt}${sub}`, files);
        cpu.push(processCpu(pid) - before);
        return wall;
      } finally {
        sh(`umount ${kmnt}`);
      }
    } finally {
      rmSync(kmnt, { recursive: true, force: true });
    }
  };
  const firstWalks = (image: string, sub: string, how: string, files: number): [number, number] => {
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < FIRST_WALKS; i++) {
      ours.push(withMount(image, (mnt) => walkTime(image, `${mnt}/p0${sub}`, files)));
      theirs.push(kernelWalk(image, sub, how, files));
    }
    return [median(ours), median(theirs)];
  };
  const [first, kernelFirst] = firstWalks(ext, EXT_BENCH.tree, 'mount -o loop,ro,noload', EXT_BENCH.files);
  const ours = withMount(ext, (mnt) => {
    const tree = `${mnt}/p0${EXT_BENCH.tree}`;
    // The first walk lists every folder; the best of the two after it is the row.
    walkTime(ext, tree, EXT_BENCH.files);
    return Math.min(walkTime(ext, tree, EXT_BENCH.files), walkTime(ext, tree, EXT_BENCH.files));
  });
  const kernel = kernelWalk(ext, EXT_BENCH.tree, 'mount -o loop,ro,noload', EXT_BENCH.files);
  rows.push(timeRow('fuse', `find | wc -l, ${EXT_BENCH.files} files (ext4), first walk, median of ${FIRST_WALKS}`, first, 'kernel ext4 loop mount', kernelFirst, 1.0));
  rows.push(timeRow('fuse', `find | wc -l, ${EXT_BENCH.files} files (ext4), later walks`, ours, 'kernel ext4 loop mount', kernel, 0.5));
  // NTFS: this kernel has no NTFS driver, so the kernel's own walk of the same tree is ext4
  // holding the NTFS image's names (bench/ntfs.ts uses it for ls -R too); ntfs-3g, the NTFS mount
  // Linux users have, is the second reference. Both serving processes' CPU in the walk is a row
  // for scale: on a 2-core machine where `find` itself takes one core, that CPU decides the walk
  // (docs/fuse.md, "The first NTFS walk against ntfs-3g").
  const ntfs = join(BENCH_CACHE, 'ntfs-100k.img');
  if (!existsSync(ntfs)) buildNtfsManyFiles(ntfs, 100_000);
  const extSame = join(BENCH_CACHE, 'ext-like-ntfs-100k.img');
  if (!existsSync(extSame)) buildExtLikeNtfsManyFiles(extSame, 100_000);
  const ntfsFirst: number[] = [];
  const ntfs3g: number[] = [];
  const kernelSame: number[] = [];
  const oursCpu: number[] = [];
  const ntfs3gCpu: number[] = [];
  for (let i = 0; i < FIRST_WALKS; i++) {
    ntfsFirst.push(withMount(ntfs, (mnt, pid) => {
      if (!pid) throw new Error('bench: diskpick mount --daemon printed no pid');
      const before = processCpu(pid);
      const wall = walkTime(ntfs, `${mnt}/p0`, 100_000);
      oursCpu.push(processCpu(pid) - before);
      return wall;
    }));
    ntfs3g.push(kernelWalk(ntfs, '', 'ntfs-3g -o ro', 100_000, ntfs3gCpu));
    kernelSame.push(kernelWalk(extSame, '', 'mount -o loop,ro,noload', 100_000));
  }
  const what = `find | wc -l, 100000 files (NTFS), first walk, median of ${FIRST_WALKS}`;
  rows.push(timeRow('fuse', what, median(ntfsFirst), 'kernel ext4 loop mount of the same tree (no kernel NTFS here)', median(kernelSame), 1.0));
  rows.push(timeRow('fuse', what, median(ntfsFirst), 'ntfs-3g mount', median(ntfs3g), 1.0));
  const cpu = timeRow('fuse', `${what}: CPU of the serving process in the walk`, median(oursCpu), 'ntfs-3g', median(ntfs3gCpu), 1.0);
  rows.push({ ...cpu, target: 'for scale', met: true });
  return rows;
}
