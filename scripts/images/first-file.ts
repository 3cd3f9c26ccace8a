/**
 * The time-to-first-file disks (bench/startup.ts, issue 27): one small GPT disk per filesystem
 * (NTFS by mkntfs + ntfs-3g, ext4 by mkfs.ext4 -d, FAT32 by mkfs.vfat + mcopy), each with a
 * small system-partition-like first partition and the data volume as /p2, as a VM's disk has,
 * and a few folders of small files with `/Users/anna/Documents/notes.txt` among them. Each is
 * converted by qemu-img to a monolithicSparse VMDK and a QCOW2.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountNtfs, unmount } from './ntfs.js';
import { seededText } from './tree.js';

const MiB = 1024 * 1024;
const ENV = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8', MTOOLS_SKIP_CHECK: '1' };

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export type FirstFileFs = 'ntfs' | 'ext4' | 'fat';
export type FirstFileContainer = 'vmdk' | 'qcow2';
/** The file every `cat` row reads, on every disk. */
export const FIRST_FILE = '/p2/Users/anna/Documents/notes.txt';
export const FIRST_FILE_TEXT = seededText(2701, 3000);

/** The data volume's tree: a user profile's worth of small files around the one read. */
function writeTree(root: string): void {
  const put = (rel: string, data: string | Buffer) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), data);
  };
  put('Users/anna/Documents/notes.txt', FIRST_FILE_TEXT);
  for (let i = 0; i < 40; i++) put(`Users/anna/Documents/report-${i}.txt`, seededText(2710 + i, 2000));
  for (let i = 0; i < 60; i++) put(`Windows/System32/lib${i}.dll`, seededText(2800 + i, 4000));
  for (let i = 0; i < 20; i++) put(`Program Files/App/data-${i}.bin`, seededText(2900 + i, 8000));
}

/** A 64 MiB GPT disk: p1 a 16 MiB FAT16 "system" partition, p2 the data volume (the rest). */
function buildRaw(raw: string, fs: FirstFileFs, work: string): void {
  const size = 64 * MiB;
  const p2Start = 17 * MiB;
  const p2Bytes = size - p2Start - MiB;
  execFileSync('truncate', ['-s', String(size), raw]);
  sh('sgdisk', ['-n', '1:2048:+16M', '-t', '1:ef00', '-n', `2:${p2Start / 512}:+${p2Bytes / 512 - 1}`, '-t', `2:${fs === 'ext4' ? '8300' : '0700'}`, raw]);
  const p1 = join(work, 'p1.img');
  execFileSync('truncate', ['-s', String(16 * MiB), p1]);
  sh('mkfs.vfat', ['-F', '16', '-n', 'SYSTEM', p1]);
  const vol = join(work, 'p2.img');
  const tree = join(work, 'tree');
  writeTree(tree);
  execFileSync('truncate', ['-s', String(p2Bytes), vol]);
  if (fs === 'ext4') {
    sh('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', tree, vol]);
  } else if (fs === 'fat') {
    sh('mkfs.vfat', ['-F', '32', '-n', 'DATA', vol]);
    sh('mcopy', ['-s', '-m', '-i', vol, join(tree, 'Users'), join(tree, 'Windows'), join(tree, 'Program Files'), '::/']);
  } else {
    sh('mkntfs', ['-F', '-Q', '-q', '-c', '4096', '-L', 'DATA', vol]);
    const mnt = mountNtfs(vol, 'big_writes');
    try {
      sh('cp', ['-r', `${tree}/.`, `${mnt}/`]);
    } finally {
      unmount(mnt);
    }
  }
  for (const [img, at] of [[p1, MiB], [vol, p2Start]] as const) {
    sh('dd', [`if=${img}`, `of=${raw}`, 'bs=1M', `seek=${at / MiB}`, 'conv=notrunc,sparse', 'status=none']);
  }
}

/** The disk for `fs` in `container`, built once into `dir`. */
export function firstFileDisk(dir: string, fs: FirstFileFs, container: FirstFileContainer): string {
  const out = join(dir, `first-file-${fs}.${container}`);
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'dp-first-file-'));
  try {
    const raw = join(work, 'disk.raw');
    buildRaw(raw, fs, work);
    const tmp = `${out}.tmp`;
    sh('qemu-img', ['convert', '-f', 'raw', '-O', container, raw, tmp]);
    renameSync(tmp, out);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return out;
}
