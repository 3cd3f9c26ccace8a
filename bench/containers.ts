/**
 * Containers: full sequential read of a 1 GiB virtual disk in each format, diskpick against
 * qemu-img in the same run, and the time to open a 2 TB sparse image.
 *
 * The disk: 1 GiB in 1 MiB stripes, 40% random bytes, 20% compressible text, 40% zeros
 * (seeded), behind an MBR. The brief asked for ~60% random: a fifth of that is text here so
 * that the compressed formats have something to decompress (random data is stored raw). Each format is made from it by `qemu-img convert`.
 *
 * diskpick side: `diskpick dd IMAGE -o /dev/null` (Node start-up included) when the CLI has
 * `dd`, else bench/container-read.mjs (the container layer read as dd reads it, in-process).
 * The two tools run alternately, best of three each, the image read into the page cache
 * before every run.
 * qemu side: `qemu-img convert -O raw IMAGE /dev/shm/…` then delete the target. This is the
 * fairest qemu-img full read available: it must open a target, and a tmpfs target costs a
 * memory copy of the data and nothing for zeros (qemu detects them and leaves holes), while
 * diskpick hands every byte, zeros included, to the reader. `qemu-img dd` was not used: it
 * cannot write to /dev/null as raw.
 */
import { existsSync, mkdirSync, openSync, writeSync, closeSync, rmSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_CACHE, CLI, ROOT, diskpickCmd, run as sh, throughputRow, timeShell, type BenchRow } from './harness.js';
import { seededBytes, seededText } from '../scripts/images/tree.js';

const SIZE = 1024 * 1024 * 1024;
const DIR = join(BENCH_CACHE, 'containers');

/**
 * The first MiB: an MBR with one partition (type 0x83) over the rest of the disk, so that
 * `diskpick dd`, which opens the disk through the volume layer, accepts it.
 */
function mbr(): Buffer {
  const b = Buffer.alloc(1024 * 1024);
  const e = 446;
  b[e + 4] = 0x83;
  b.writeUInt32LE(2048, e + 8);
  b.writeUInt32LE(SIZE / 512 - 2048, e + 12);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
}

/** The seeded 1 GiB raw disk. */
function buildRaw(path: string): void {
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w');
  const MiB = 1024 * 1024;
  for (let i = 0; i < SIZE / MiB; i++) {
    const k = (i * 7) % 10;
    if (i === 0) writeSync(fd, mbr());
    else if (k < 4) writeSync(fd, seededBytes(1000 + i, MiB));
    else if (k < 6) writeSync(fd, seededText(1000 + i, MiB));
    else writeSync(fd, Buffer.alloc(MiB));
  }
  closeSync(fd);
  renameSync(tmp, path);
}

const FORMATS: Array<{ what: string; file: string; args: string[]; target: number }> = [
  { what: 'raw', file: 'disk.raw', args: [], target: 1.0 },
  { what: 'vmdk monolithicSparse', file: 'disk-sparse.vmdk', args: ['-O', 'vmdk'], target: 1.0 },
  { what: 'vhd dynamic', file: 'disk.vhd', args: ['-O', 'vpc'], target: 1.0 },
  { what: 'vhdx dynamic', file: 'disk.vhdx', args: ['-O', 'vhdx'], target: 1.0 },
  { what: 'qcow2', file: 'disk.qcow2', args: ['-O', 'qcow2'], target: 1.0 },
  { what: 'qcow2 compressed (zlib)', file: 'disk-c.qcow2', args: ['-O', 'qcow2', '-c'], target: 0.7 },
  { what: 'vmdk streamOptimized', file: 'disk-stream.vmdk', args: ['-O', 'vmdk', '-o', 'subformat=streamOptimized'], target: 0.7 },
];

function hasDd(): boolean {
  try {
    return /^\s+dd\b/m.test(sh(`node ${CLI} --help`));
  } catch {
    return false;
  }
}

/**
 * Best wall times of two commands run alternately, each run preceded (untimed) by reading
 * the image into the page cache: on a shared machine the cache is dropped under us (other
 * benchmarks drop it, the kernel reclaims it) and the load changes from second to second,
 * so back-to-back batches of one tool and then the other compared different machines.
 */
function bestInterleaved(image: string, a: string, b: string, runs: number): [number, number] {
  const best = [Infinity, Infinity];
  const cmds = [a, b];
  for (let i = 0; i <= runs; i++) {
    for (let k = 0; k < 2; k++) {
      sh(`cat ${image} > /dev/null`);
      const t0 = process.hrtime.bigint();
      sh(cmds[k]!);
      // The first round warms up both (JIT caches, qemu's libraries).
      if (i > 0) best[k] = Math.min(best[k]!, Number(process.hrtime.bigint() - t0) / 1e9);
    }
  }
  return [best[0]!, best[1]!];
}

export async function run(): Promise<BenchRow[]> {
  mkdirSync(DIR, { recursive: true });
  const raw = join(DIR, 'disk.raw');
  if (!existsSync(raw)) buildRaw(raw);
  for (const f of FORMATS) {
    const p = join(DIR, f.file);
    if (f.args.length && !existsSync(p)) {
      sh(`qemu-img convert -f raw ${f.args.join(' ')} ${raw} ${p}.tmp && mv ${p}.tmp ${p}`);
    }
  }
  const dd = hasDd();
  const reader = join(ROOT, 'bench', 'container-read.mjs');
  const rows: BenchRow[] = [];
  const shm = existsSync('/dev/shm') ? '/dev/shm' : DIR;
  for (const f of FORMATS) {
    const p = join(DIR, f.file);
    const target = join(shm, `diskpick-bench-${process.pid}.raw`);
    const fmt = f.args.length ? '' : '-f raw';
    const [ours, theirs] = bestInterleaved(
      p,
      dd ? diskpickCmd(`dd -q ${p} -o /dev/null`) : `node ${reader} ${p} read`,
      `qemu-img convert ${fmt} -O raw ${p} ${target}; r=$?; rm -f ${target}; exit $r`,
      3,
    );
    rows.push(throughputRow('containers', `read 1 GiB ${f.what}`, SIZE, ours, 'qemu-img convert -O raw (tmpfs)', theirs, f.target));
  }

  // Opening a 2 TB sparse image must read only headers and tables it needs.
  const sparse: Array<[string, string, string]> = [
    ['qcow2', 'sparse-2T.qcow2', '-f qcow2'],
    ['vhdx', 'sparse-2T.vhdx', '-f vhdx'],
    ['vhd', 'sparse-2T.vhd', '-f vpc'],
    ['vdi', 'sparse-2T.vdi', '-f vdi'],
  ];
  for (const [what, file, fmt] of sparse) {
    const p = join(DIR, file);
    if (!existsSync(p)) sh(`qemu-img create ${fmt} ${p} ${what === 'vhd' ? '2000G' : '2T'} > /dev/null`);
    let best = Infinity;
    for (let i = 0; i < 5; i++) best = Math.min(best, JSON.parse(sh(`node ${reader} ${p} open`)).openMs as number);
    const qemuInfo = timeShell(`qemu-img info ${fmt} ${p} > /dev/null`, 3);
    const oursSec = best / 1000;
    rows.push({
      area: 'containers',
      what: `open 2 TB sparse ${what} (in-process)`,
      ours: oursSec,
      reference: 'qemu-img info (whole process)',
      theirs: qemuInfo,
      unit: 's',
      ratio: qemuInfo / oursSec,
      target: '< 0.100 s',
      met: oursSec < 0.1,
    });
  }
  return rows;
}

/** Frees the bench folder (not called by run; for a manual clean). */
export function clean(): void {
  rmSync(DIR, { recursive: true, force: true });
}
