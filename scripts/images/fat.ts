/**
 * FAT test images, made with the real tools: sfdisk/sgdisk for the partition tables,
 * mkfs.vfat for the filesystems, mtools (mcopy -s -m, mdel) for the content. Each image gets
 * `<image>.manifest.json`: per volume, the manifest of the host tree it was filled from.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, existsSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { manifestOf, seededBytes, writeLargeSeeded, writeTree, type ManifestEntry, type TreeFile } from './tree.js';

const ENV = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8', MTOOLS_SKIP_CHECK: '1' };

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { env: ENV, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

export type VolumeManifests = Record<string, ManifestEntry[]>;

export interface FatVolumeSpec {
  /** Volume folder name diskpick should show (p1, p5, p0 …). */
  name: string;
  bits: 12 | 16 | 32;
  sizeMiB: number;
  label: string;
  tree: TreeFile[];
  sectorSize?: number;
  clusterSectors?: number;
  /** Adds a fragmented file written into the gaps left by deleted files. */
  fragmented?: boolean;
  /** Adds a 20 MiB seeded file. */
  bigFile?: boolean;
}

/** The content most FAT volumes get: long, Unicode and 8.3 names, deep folders, empty file. */
export function standardTree(seed: number, opts: { manyFiles?: number } = {}): TreeFile[] {
  const files: TreeFile[] = [
    { path: 'docs/report.docx', size: 100_000, seed: seed + 1 },
    { path: 'docs/Long File Name with Spaces.txt', content: `long name ${seed}\n` },
    { path: 'Grüße aus München.txt', content: 'Umlaute\n' },
    { path: '日本語のファイル.txt', content: 'CJK\n', mtime: 1_500_000_000 },
    // No emoji: mtools stores only the low 16 bits of a character outside the BMP.
    { path: 'lower.txt', content: 'lower case 8.3 name\n' },
    { path: 'UPPER.TXT', content: 'upper case 8.3 name\n' },
    { path: 'MixedCase.Txt', content: 'mixed case\n' },
    { path: 'empty.txt', content: '' },
    { path: 'deep/a/b/c/d/e/f/g/h/i/deep.txt', content: 'deep\n', mtime: 1_234_567_890 },
    { path: 'cluster.bin', size: 4096, seed: seed + 2 },
    { path: 'odd size.bin', size: 12_345, seed: seed + 3 },
  ];
  for (let i = 0; i < (opts.manyFiles ?? 0); i++) {
    files.push({ path: `many/F${String(i).padStart(4, '0')}.TXT`, content: `file ${i} of the big folder\n` });
  }
  return files;
}

/** Makes one FAT filesystem in `fsPath` and fills it; returns the manifest of its content. */
export function buildFatVolume(fsPath: string, spec: FatVolumeSpec, work: string): ManifestEntry[] {
  const src = join(work, `${spec.name}-tree`);
  writeTree(src, spec.tree);
  if (spec.bigFile) writeLargeSeeded(join(src, 'big.bin'), 20 << 20, 4242);
  rmSync(fsPath, { force: true });
  const sectorSize = spec.sectorSize ?? 512;
  sh('truncate', ['-s', String(Math.round(spec.sizeMiB * 1048576)), fsPath]);
  const mkfsArgs = ['-F', String(spec.bits), '-n', spec.label, '-S', String(sectorSize), '-i', '1234ABCD'];
  if (spec.clusterSectors) mkfsArgs.push('-s', String(spec.clusterSectors));
  sh('mkfs.vfat', [...mkfsArgs, fsPath]);
  const img = fsPath;
  const entries = execFileSync('ls', ['-A', src], { encoding: 'utf8' }).split('\n').filter(Boolean);
  sh('mcopy', ['-s', '-m', '-i', img, ...entries.map((e) => join(src, e)), '::/']);
  if (spec.fragmented) {
    // Small files, then every other one deleted: the next big file fills the gaps.
    const gaps = join(work, `${spec.name}-gaps`);
    rmSync(gaps, { recursive: true, force: true });
    mkdirSync(gaps, { recursive: true });
    const names: string[] = [];
    for (let i = 0; i < 64; i++) {
      const n = join(gaps, `gap${String(i).padStart(3, '0')}.bin`);
      writeFileSync(n, seededBytes(900 + i, 2048));
      names.push(n);
    }
    sh('mmd', ['-i', img, '::/gaps']);
    sh('mcopy', ['-m', '-i', img, ...names, '::/gaps/']);
    const keep: string[] = [];
    for (let i = 0; i < names.length; i++) {
      if (i % 2 === 0) sh('mdel', ['-i', img, `::/gaps/gap${String(i).padStart(3, '0')}.bin`]);
      else keep.push(names[i]!);
    }
    mkdirSync(join(src, 'gaps'), { recursive: true });
    for (const k of keep) renameSync(k, join(src, 'gaps', k.slice(gaps.length + 1)));
    writeLargeSeeded(join(src, 'fragmented.bin'), 200_000, 777);
    sh('mcopy', ['-m', '-i', img, join(src, 'fragmented.bin'), '::/']);
    // Folder mtimes of the host tree are not what mtools wrote; the manifest is about files.
  }
  return manifestOf(src);
}

export interface DiskPartition {
  spec: FatVolumeSpec;
  /** Start in MiB from the start of the disk. */
  startMiB: number;
  /** MBR only: logical partition inside the extended one. */
  logical?: boolean;
  mbrType?: string;
}

function assemble(disk: string, parts: DiskPartition[], work: string): VolumeManifests {
  const manifests: VolumeManifests = {};
  for (const p of parts) {
    const fsPath = join(work, `${p.spec.name}.fs`);
    manifests[p.spec.name] = buildFatVolume(fsPath, p.spec, work);
    sh('dd', [`if=${fsPath}`, `of=${disk}`, 'bs=1M', `seek=${p.startMiB}`, 'conv=notrunc,sparse', 'status=none']);
    rmSync(fsPath);
  }
  return manifests;
}

function finish(path: string, tmp: string, manifests: VolumeManifests, work: string): void {
  writeFileSync(`${path}.manifest.json`, JSON.stringify(manifests, null, 1));
  renameSync(tmp, path);
  rmSync(work, { recursive: true, force: true });
}

/**
 * MBR disk: p1 FAT12, p2 FAT16, an extended partition with logical p5 (FAT32, the big one:
 * 3000-file folder, 20 MiB file, fragmented file) and p6 (FAT16).
 */
export function buildMbrFatDisk(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '120M', tmp]);
  sh('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', tmp], [
    'label: dos',
    'label-id: 0x1234abcd',
    'start=1MiB, size=2MiB, type=1, bootable',
    'start=3MiB, size=20MiB, type=6',
    'start=23MiB, size=96MiB, type=5',
    'start=24MiB, size=72MiB, type=c',
    'start=97MiB, size=20MiB, type=e',
    '',
  ].join('\n'));
  const manifests = assemble(tmp, [
    { startMiB: 1, spec: { name: 'p1', bits: 12, sizeMiB: 2, label: 'SMALL12', tree: standardTree(10) } },
    { startMiB: 3, spec: { name: 'p2', bits: 16, sizeMiB: 20, label: 'MEDIUM16', tree: standardTree(20), fragmented: true } },
    { startMiB: 24, logical: true, spec: { name: 'p5', bits: 32, sizeMiB: 72, label: 'BIG32', tree: standardTree(50, { manyFiles: 3000 }), bigFile: true, fragmented: true } },
    { startMiB: 97, logical: true, spec: { name: 'p6', bits: 16, sizeMiB: 20, label: 'LOGICAL16', tree: standardTree(60) } },
  ], work);
  finish(path, tmp, manifests, work);
}

/** GPT disk (sgdisk): p1 FAT32 (with a 20 MiB file), p2 FAT16. */
export function buildGptFatDisk(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '100M', tmp]);
  sh('sgdisk', ['-o', '-U', '11111111-2222-3333-4444-555555555555',
    '-n', '1:1M:+40M', '-t', '1:0700', '-c', '1:Data One',
    '-n', '2:41M:+40M', '-t', '2:8300', '-c', '2:Second', tmp]);
  const manifests = assemble(tmp, [
    { startMiB: 1, spec: { name: 'p1', bits: 32, sizeMiB: 40, label: 'GPTDATA', tree: standardTree(70), bigFile: true } },
    { startMiB: 41, spec: { name: 'p2', bits: 16, sizeMiB: 40, label: 'GPTSECOND', tree: standardTree(80), fragmented: true } },
  ], work);
  finish(path, tmp, manifests, work);
}

/** GPT with 4096-byte sectors and a FAT32 volume with 4096-byte sectors. */
export function buildGpt4kFatDisk(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '300M', tmp]);
  // sgdisk takes the sector size from the device: a loop device with 4096-byte blocks (root).
  const loop = sh('losetup', ['-f', '--show', '-b', '4096', tmp]).trim();
  try {
    sh('sgdisk', ['-o', '-U', '44444444-4444-4444-4444-444444444444', '-n', '1:256:+284M', '-t', '1:0700', '-c', '1:four k', loop]);
  } finally {
    sh('losetup', ['-d', loop]);
  }
  const manifests = assemble(tmp, [
    { startMiB: 1, spec: { name: 'p1', bits: 32, sizeMiB: 284, label: 'FOURK', tree: standardTree(90), sectorSize: 4096, clusterSectors: 1 } },
  ], work);
  finish(path, tmp, manifests, work);
}

/** A bare FAT12 floppy: no partition table (diskpick shows it as p0). */
export function buildBareFloppy(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const manifests = { p0: buildFatVolume(tmp, { name: 'p0', bits: 12, sizeMiB: 1474560 / 1048576, label: 'FLOPPY', tree: standardTree(5) }, work) };
  finish(path, tmp, manifests, work);
}

/** The committed demo: a GPT disk with one FAT32 volume holding a handful of ordinary files. */
export function buildDemoDisk(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '36M', tmp]);
  sh('sgdisk', ['-o', '-U', 'D15C0000-0000-4000-8000-000000000001', '-n', '1:1M:0', '-t', '1:0700', '-c', '1:Demo data', tmp]);
  const tree: TreeFile[] = [
    { path: 'Users/anna/Documents/report.docx', size: 48_213, seed: 101, mtime: 1_700_000_000 },
    { path: 'Users/anna/Documents/Budget 2024.xlsx', size: 23_456, seed: 102, mtime: 1_700_100_000 },
    { path: 'Users/anna/Pictures/holiday.jpg', size: 310_000, seed: 103, mtime: 1_690_000_000 },
    { path: 'Users/anna/notes.txt', content: 'Call the backup vendor about last night\'s job.\nRestore report.docx for Anna.\n', mtime: 1_700_200_000 },
    { path: 'Users/ben/Downloads/setup.log', content: 'install ok\n'.repeat(200), mtime: 1_699_000_000 },
    { path: 'Shared/Projekte/Übersicht.txt', content: 'Projektübersicht\n', mtime: 1_698_000_000 },
    { path: 'Shared/README.txt', content: 'Shared folder of the demo file server.\n', mtime: 1_697_000_000 },
  ];
  const sectorsEnd = 36 * 1024 * 1024 / 512 - 34;
  const sizeMiB = Math.floor(((sectorsEnd - 2048) * 512) / (1024 * 1024));
  const manifests = assemble(tmp, [{ startMiB: 1, spec: { name: 'p1', bits: 32, sizeMiB, label: 'FILESERVER', tree } }], work);
  finish(path, tmp, manifests, work);
}

/** Builds `name` in `dir` with `build` unless present. */
export function ensureImage(dir: string, name: string, build: (p: string) => void): string {
  const p = join(dir, name);
  if (!existsSync(p)) {
    mkdirSync(dirname(p), { recursive: true });
    build(p);
  }
  return p;
}

/** A bare FAT32 volume holding one large seeded file `/big.bin` (bench and memory tests). */
export function buildFatWithLargeFile(path: string, fileBytes: number): void {
  const work = `${path}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const tmp = `${path}.tmp`;
  const src = join(work, 'big.bin');
  writeLargeSeeded(src, fileBytes, 256);
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', String(fileBytes + (64 << 20)), tmp]);
  sh('mkfs.vfat', ['-F', '32', '-n', 'LARGE', '-s', '8', tmp]);
  sh('mcopy', ['-m', '-i', tmp, src, '::/']);
  const manifests = { p0: manifestOf(work) };
  finish(path, tmp, manifests, work);
}
