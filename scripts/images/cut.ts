/**
 * Cut-short sparse images (issue 20): one ext4 volume of 24 files of 2 MiB (seeded, so
 * nothing compresses away), converted by qemu-img to VMDK, QCOW2, VHDX, VHD and VDI, each then
 * cut to 84 % of its length as `head -c` would. The manifest records every file's sha256.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { seededBytes } from './tree.js';

export const CUT_FORMATS = ['vmdk', 'qcow2', 'vhdx', 'vpc', 'vdi'] as const;
export type CutFormat = (typeof CUT_FORMATS)[number];

export interface CutSet {
  dir: string;
  /** name → sha256 of each file at the volume's root. */
  files: Record<string, string>;
}

/** Builds DIR/raw.img, DIR/sound.FMT and DIR/cut.FMT for every format, and DIR/manifest.json. */
export function buildCutSet(dir: string): void {
  const work = `${dir}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'tree'), { recursive: true });
  const files: Record<string, string> = {};
  for (let i = 1; i <= 24; i++) {
    const data = seededBytes(2000 + i, 2 << 20);
    writeFileSync(join(work, 'tree', `f${String(i).padStart(2, '0')}.bin`), data);
    files[`f${String(i).padStart(2, '0')}.bin`] = createHash('sha256').update(data).digest('hex');
  }
  const raw = join(work, 'raw.img');
  execFileSync('mkfs.ext4', ['-q', '-F', '-b', '4096', '-E', 'root_owner=0:0', '-d', join(work, 'tree'), raw, '80M'], { stdio: 'pipe' });
  for (const f of CUT_FORMATS) {
    const sound = join(work, `sound.${f}`);
    execFileSync('qemu-img', ['convert', '-O', f, raw, sound], { stdio: 'pipe' });
    const size = statSync(sound).size;
    const cut = join(work, `cut.${f}`);
    writeFileSync(cut, readFileSync(sound).subarray(0, Math.floor((size * 84) / 100)));
  }
  rmSync(join(work, 'tree'), { recursive: true });
  writeFileSync(join(work, 'manifest.json'), JSON.stringify(files, null, 1));
  // Built beside its folder and renamed into place: a half-built folder is never taken for one.
  renameSync(work, dir);
}

export function readCutSet(dir: string): CutSet {
  return { dir, files: JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Record<string, string> };
}

/** Writes a copy of `src` to `dst` with one little-endian u32 set at byte `at`. */
export function patchU32(src: string, dst: string, at: number, value: number): void {
  writeFileSync(dst, readFileSync(src));
  const fd = openSync(dst, 'r+');
  try {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    writeSync(fd, b, 0, 4, at);
  } finally {
    closeSync(fd);
  }
}
