/**
 * exFAT test images: `mkfs.exfat` (exfatprogs) formats, and the files go in through a real
 * exFAT driver — a kernel loop mount when the kernel has exfat, else exfat-fuse on a loop
 * device — from a seeded host tree whose manifest (manifestOf) is the oracle.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, utimesSync, writeFileSync, ftruncateSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededBytes, seededText, writeLargeSeeded, writeTree, type TreeFile } from './tree.js';

const ENV = { ...process.env, PATH: `${process.env.PATH}:/usr/sbin:/sbin`, TZ: 'UTC', LC_ALL: 'C.UTF-8' };

function sh(cmd: string, args: string[], env: NodeJS.ProcessEnv = ENV): string {
  return execFileSync(cmd, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

/**
 * A name of `units` UTF-16 code units. The host tree's filesystem takes 255 UTF-8 bytes per
 * name, so long names are mostly ASCII with a few umlauts and one CJK character.
 */
export function longUnicodeName(units: number, ext = '.txt', prefix = 'Läöüß 漢 '): string {
  let s = prefix;
  const fill = 'long-name-';
  while (s.length + ext.length < units) s += fill[s.length % fill.length];
  return s.slice(0, units - ext.length) + ext;
}

export interface ExfatTreeOptions {
  /** The 50 MiB seeded file. */
  big?: boolean;
  /** The 3000-file folder. */
  many?: number;
  /** Instead of the standard files, only these. */
  only?: TreeFile[];
  /** One large seeded file, written without holding it in memory. */
  large?: { path: string; size: number; seed: number };
}

/** The seeded tree every exFAT image is filled from (the fragmented folder is added separately). */
export function exfatTreeFiles(opts: ExfatTreeOptions = {}): TreeFile[] {
  const files: TreeFile[] = [
    { path: 'README.txt', content: seededText(1, 3000) },
    // An odd second: exFAT keeps 2 s in the Timestamp and the odd one in 10msIncrement.
    { path: 'odd-second.txt', content: 'odd\n', mtime: 1_600_000_001 },
    { path: 'old-1999.txt', content: 'y2k\n', mtime: 946_684_799 },
    { path: 'empty.bin', content: '' },
    { path: 'Ünïcödé Grüße.txt', content: seededText(2, 700) },
    { path: '日本語のファイル名.txt', content: seededText(3, 100) },
    { path: 'emoji 😀🎉 party.txt', content: 'party\n' },
    { path: longUnicodeName(220), content: seededText(4, 1234) },
    // The longest name exFAT stores: 255 UTF-16 units in 17 File Name entries.
    { path: longUnicodeName(255, '.bin', 'L'), content: 'longest\n' },
    { path: 'nested/level1/level2/level3/deep.txt', content: 'deep\n' },
    { path: 'nested/level1/sibling.bin', size: 100_000, seed: 5 },
    { path: 'Mixed Case Folder/MiXeD.TxT', content: 'case\n' },
    { path: 'three-clusters.bin', size: 3 * 4096 + 17, seed: 6 },
    { path: 'contiguous-2MiB.bin', size: 2 * 1024 * 1024, seed: 7 },
  ];
  if (opts.many) {
    for (let i = 0; i < opts.many; i++) files.push({ path: `many/file-${String(i).padStart(5, '0')}.txt`, content: `file ${i}\n` + seededText(100 + i, i % 97) });
  }
  return files;
}

/** Mounts an exFAT volume (a loop device over `image` at `offset`) read-write, runs `fill`, unmounts. */
export function withMountedExfat(image: string, offset: number, size: number, fill: (mnt: string) => void, tz = 'UTC', sectorSize = 512): void {
  const mnt = mkdtempSync(join(tmpdir(), 'diskpick-exfat-mnt-'));
  const loop = sh('losetup', ['-f', '--show', '-b', String(sectorSize), '-o', String(offset), '--sizelimit', String(size), image]).trim();
  let mounted = false;
  try {
    const kernel = readFileSync('/proc/filesystems', 'utf8').split('\n').some((l) => l.trim() === 'exfat');
    if (kernel) sh('mount', ['-t', 'exfat', loop, mnt]);
    else sh('mount.exfat-fuse', [loop, mnt], { ...ENV, TZ: tz });
    mounted = true;
    fill(mnt);
  } finally {
    if (mounted) {
      sh('sync', []);
      sh('umount', [mnt]);
    }
    sh('losetup', ['-d', loop]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** Copies a host tree into a mounted folder (content first, then every mtime), but not the top-level names in `skip`. */
export function copyTreeInto(src: string, dst: string, skip: string[] = []): void {
  for (const name of readdirSync(src)) {
    if (!skip.includes(name)) sh('cp', ['-r', '--no-preserve=all', join(src, name), dst]);
  }
  applyTimes(src, dst);
}

/** Sets the mtime (and atime) of each path under `dst` to that of the same path under `src`. */
export function applyTimes(src: string, dst: string): void {
  const walk = (rel: string) => {
    for (const name of readdirSync(join(src, rel))) {
      const r = join(rel, name);
      const st = statSync(join(src, r));
      if (st.isDirectory()) walk(r);
      utimesSync(join(dst, r), st.atime, st.mtime);
    }
  };
  walk('');
}

/**
 * Writes a fragmented file the way real volumes get one: many small files, every other one
 * deleted, then a big file that has to fill the holes. The host tree gets the same final
 * state (kept small files + the big file), so the manifest stays the oracle.
 */
export function fragmentInto(host: string, mnt: string, count = 200, bigSize = 1_500_000): void {
  mkdirSync(join(host, 'frag'), { recursive: true });
  mkdirSync(join(mnt, 'frag'), { recursive: true });
  for (let i = 0; i < count; i++) {
    const data = seededBytes(1000 + i, 5000);
    const name = `small-${String(i).padStart(4, '0')}.bin`;
    writeFileSync(join(mnt, 'frag', name), data);
    if (i % 2 === 0) writeFileSync(join(host, 'frag', name), data);
  }
  for (let i = 1; i < count; i += 2) unlinkSync(join(mnt, 'frag', `small-${String(i).padStart(4, '0')}.bin`));
  const big = seededBytes(4242, bigSize);
  writeFileSync(join(mnt, 'frag', 'fragmented.bin'), big);
  writeFileSync(join(host, 'frag', 'fragmented.bin'), big);
  const t = 1_600_000_000;
  for (const name of readdirSync(join(host, 'frag'))) utimesSync(join(host, 'frag', name), t, t);
  utimesSync(join(host, 'frag'), t, t);
}

export interface ExfatImageOptions {
  /** Image size in bytes. */
  size: number;
  /** mkfs.exfat -c (e.g. "4K", "128K"). */
  clusterSize?: string;
  label?: string;
  /** Put the volume in an MBR partition starting at 1 MiB (sfdisk) instead of bare. */
  mbr?: boolean;
  tree: ExfatTreeOptions;
  fragment?: boolean;
  /** Time zone the driver runs in (exFAT stores local time plus its UTC offset). */
  tz?: string;
  /** Logical sector size of the loop device mkfs.exfat formats (4096 gives BytesPerSectorShift 12). */
  sectorSize?: number;
}

/**
 * Builds `path` (the image) and `path + '.tree'` (the host tree it was filled from, whose
 * manifestOf() is the oracle). Nothing is written to `path` unless every step worked.
 */
export function buildExfatImage(path: string, opts: ExfatImageOptions): void {
  const host = `${path}.tree`;
  const tmp = `${path}.tmp`;
  rmSync(tmp, { force: true });
  writeTree(host, opts.tree.only ?? exfatTreeFiles(opts.tree));
  if (opts.tree.large) writeLargeSeeded(join(host, opts.tree.large.path), opts.tree.large.size, opts.tree.large.seed);
  if (opts.tree.big) {
    writeLargeSeeded(join(host, 'big', 'seeded-50MiB.bin'), 50 * 1024 * 1024, 50);
    utimesSync(join(host, 'big'), 1_600_000_000, 1_600_000_000);
  }
  const fd = openSync(tmp, 'w');
  ftruncateSync(fd, opts.size);
  closeSync(fd);
  let offset = 0;
  let size = opts.size;
  if (opts.mbr) {
    offset = 1024 * 1024;
    size = opts.size - offset;
    execFileSync('sfdisk', ['--quiet', tmp], { input: `label: dos\nlabel-id: 0x1234abcd\nstart=2048, type=7\n`, env: ENV, stdio: ['pipe', 'pipe', 'pipe'] });
  }
  const loop = sh('losetup', ['-f', '--show', '-b', String(opts.sectorSize ?? 512), '-o', String(offset), '--sizelimit', String(size), tmp]).trim();
  try {
    const args: string[] = [];
    if (opts.clusterSize) args.push('-c', opts.clusterSize);
    if (opts.label) args.push('-L', opts.label);
    sh('mkfs.exfat', [...args, loop]);
  } finally {
    sh('losetup', ['-d', loop]);
  }
  withMountedExfat(tmp, offset, size, (mnt) => {
    // Fragment first, on the fresh volume, so the big file has to use the holes.
    if (opts.fragment) fragmentInto(host, mnt);
    copyTreeInto(host, mnt, ['frag']);
  }, opts.tz, opts.sectorSize);
  // fsck must call the result clean before a test trusts it.
  if (opts.mbr) {
    const vol = `${tmp}.vol`;
    sh('dd', [`if=${tmp}`, `of=${vol}`, 'bs=1M', `skip=${offset / 1024 / 1024}`, 'status=none']);
    try {
      sh('fsck.exfat', ['-n', vol]);
    } finally {
      rmSync(vol, { force: true });
    }
  } else {
    sh('fsck.exfat', ['-n', tmp]);
  }
  copyFileSync(tmp, path);
  rmSync(tmp, { force: true });
}

export const exfatImages = {
  /** 4 KiB clusters, label, 50 MiB file, 3000-file folder, fragmented file. */
  main: (path: string) => buildExfatImage(path, { size: 160 * 1024 * 1024, clusterSize: '4K', label: 'DISKPICK', tree: { big: true, many: 3000 }, fragment: true }),
  /** 128 KiB clusters, written by a driver in UTC+05:30. */
  c128k: (path: string) => buildExfatImage(path, { size: 96 * 1024 * 1024, clusterSize: '128K', label: 'Groß', tree: {}, fragment: false, tz: 'Asia/Kolkata' }),
  /** The small tree, bare, 4 KiB clusters: the base of the damaged copies. */
  small: (path: string) => buildExfatImage(path, { size: 24 * 1024 * 1024, clusterSize: '4K', label: 'SMALL', tree: { many: 60 }, fragment: true }),
  /** 4096-byte sectors (BytesPerSectorShift 12), 32 KiB clusters. */
  s4k: (path: string) => buildExfatImage(path, { size: 40 * 1024 * 1024, clusterSize: '32K', label: 'SECTOR4K', tree: {}, fragment: true, sectorSize: 4096 }),
  /** The same small tree inside an MBR partition at 1 MiB. */
  mbr: (path: string) => buildExfatImage(path, { size: 48 * 1024 * 1024, tree: {}, mbr: true, fragment: true }),
};

/** The benchmark image: one 256 MiB seeded file (contiguous, as the driver writes it). */
export function buildExfatBenchImage(path: string): void {
  buildExfatImage(path, { size: 300 * 1024 * 1024, clusterSize: '128K', tree: { only: [] , large: { path: 'seeded-256MiB.bin', size: 256 * 1024 * 1024, seed: 256 } } });
}

export function exfatImageExists(path: string): boolean {
  return existsSync(path) && existsSync(`${path}.tree`);
}
