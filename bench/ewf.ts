/**
 * EWF: `diskpick cat` of a 256 MiB file out of the FAT32 bench disk imaged by ewfacquire
 * (deflate:fast), against `ewfexport` of the whole image to stdout, compared per byte (the
 * issue's measure: ewfexport cannot export one file).
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { buildFatWithLargeFile } from '../scripts/images/fat.js';
import { writeEx01 } from '../scripts/images/ewf2.js';
import { BENCH_CACHE, diskpickCmd, run as sh, throughputRow, timeShell, type BenchRow } from './harness.js';

export async function run(): Promise<BenchRow[]> {
  const raw = join(BENCH_CACHE, 'fat32-256m.img');
  if (!existsSync(raw)) buildFatWithLargeFile(raw, 256 << 20);
  const dir = join(BENCH_CACHE, 'ewf-256m');
  const e01 = join(dir, 'disk.E01');
  if (!existsSync(e01)) {
    rmSync(`${dir}.tmp`, { recursive: true, force: true });
    mkdirSync(`${dir}.tmp`, { recursive: true });
    sh(`ewfacquire -u -q -c deflate:fast -t ${dir}.tmp/disk ${raw} > /dev/null`);
    rmSync(dir, { recursive: true, force: true });
    sh(`mv ${dir}.tmp ${dir}`);
  }
  const media = Number(/Media size:.*\((\d+) bytes\)/.exec(sh(`ewfinfo ${e01}`))![1]);
  const bytes = 256 << 20;
  const ours = timeShell(`${diskpickCmd(`cat ${e01} /p0/big.bin`)} > /dev/null`);
  const theirs = timeShell(`ewfexport -u -q -f raw -t - ${e01} > /dev/null`);
  // Per byte: ewfexport's rate over the whole media, ours over the file.
  const row = throughputRow('ewf', 'cat 256 MiB file from an E01 (per byte)', bytes, ours, 'ewfexport whole image', theirs * (bytes / media), 1.0);
  // EWF2 (.Ex01): no tool writes or reads it here, so the image comes from the test writer
  // (scripts/images/ewf2.ts, zlib, 64-sector chunks as ewfacquire's) and the reference is
  // ewfexport of the E01 of the same disk, per byte.
  const ex01 = join(BENCH_CACHE, 'ex01-256m', 'disk.Ex01');
  if (!existsSync(ex01)) writeEx01(raw, join(BENCH_CACHE, 'ex01-256m'), { name: 'ex01-256m', compression: 1, sectorsPerChunk: 64, chunksPerTable: 4096 });
  const oursX = timeShell(`${diskpickCmd(`cat ${ex01} /p0/big.bin`)} > /dev/null`);
  const rowX = throughputRow('ewf', 'cat 256 MiB file from an Ex01 (per byte)', bytes, oursX, 'ewfexport whole E01 of the same disk', theirs * (bytes / media), 1.0);
  return [row, rowX];
}
