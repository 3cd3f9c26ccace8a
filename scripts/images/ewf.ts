/**
 * EWF (E01) test images: ewfacquire (ewf-tools, libewf) images a raw disk the FAT builders
 * make (GPT, a FAT32 and a FAT16 partition, with its manifest), with several compression
 * levels and segment sizes (so chunks straddle segment files).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync, mkdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { buildGptFatDisk, ensureImage } from './fat.js';

export interface EwfVariant {
  /** Folder under the cache holding the segment files `disk.E01`, `disk.E02` … */
  name: string;
  compression: string;
  /** ewfacquire -S: segment file size (bytes; 1 MiB is its minimum). */
  segmentBytes?: number;
  sectorsPerChunk?: number;
}

export const EWF_VARIANTS: EwfVariant[] = [
  { name: 'ewf-best', compression: 'deflate:best' },
  { name: 'ewf-fast-split', compression: 'deflate:fast', segmentBytes: 8 << 20 },
  { name: 'ewf-none-split', compression: 'none', segmentBytes: 20 << 20, sectorsPerChunk: 128 },
  { name: 'ewf-empty-block-1m', compression: 'empty-block', segmentBytes: 1 << 20, sectorsPerChunk: 16 },
];

/** The raw disk every variant images (shared with the FAT tests: fat-gpt.img and its manifest). */
export function ewfSourceDisk(cache: string): string {
  return ensureImage(cache, 'fat-gpt.img', buildGptFatDisk);
}

/** Builds the variant's segment files; returns the path of its .E01. */
export function buildEwf(cache: string, v: EwfVariant): string {
  const raw = ewfSourceDisk(cache);
  const dir = join(cache, v.name);
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const args = ['-u', '-q', '-t', join(tmp, 'disk'), '-c', v.compression, '-d', 'sha1', '-C', 'case 23', '-D', 'fat gpt disk', '-E', 'evidence 1', '-e', 'diskpick tests', '-N', 'made by scripts/images/ewf.ts'];
  if (v.segmentBytes) args.push('-S', String(v.segmentBytes));
  if (v.sectorsPerChunk) args.push('-b', String(v.sectorsPerChunk));
  execFileSync('ewfacquire', [...args, raw], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return join(dir, 'disk.E01');
}

export function ewfSegments(e01: string): string[] {
  return readdirSync(dirname(e01)).filter((f) => f.startsWith(`${basename(e01, '.E01')}.E`)).sort().map((f) => join(dirname(e01), f));
}

export function ewfImage(cache: string, v: EwfVariant): string {
  const p = join(cache, v.name, 'disk.E01');
  return existsSync(p) ? p : buildEwf(cache, v);
}
