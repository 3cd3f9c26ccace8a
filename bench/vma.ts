/**
 * Proxmox VMA: `diskpick cat` of a 256 MiB file out of a .vma (read in place through the
 * cluster index made on open) against the same `cat` from the raw disk it was written from;
 * and the first pass over a .vma.zst (decode, recompress into the temporary stream cache, index
 * the VMA, then the same `cat`) against `zstd -d` of the same file to /dev/null, per byte of
 * the decoded stream.
 */
import { existsSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { buildFatWithLargeFile } from '../scripts/images/fat.js';
import { writeVma } from '../scripts/images/vma.js';
import { BENCH_CACHE, diskpickCmd, run as sh, throughputRow, timeShell, type BenchRow } from './harness.js';

export async function run(): Promise<BenchRow[]> {
  const raw = join(BENCH_CACHE, 'fat32-256m.img');
  if (!existsSync(raw)) buildFatWithLargeFile(raw, 256 << 20);
  const vma = join(BENCH_CACHE, 'fat32-256m.vma');
  if (!existsSync(vma)) {
    writeVma(`${vma}.tmp`, { uuid: '00112233445566778899aabbccddeeff', ctime: 1_700_000_000, configs: [{ name: 'qemu-server.conf', data: Buffer.from('memory: 1024\n') }], devices: [{ name: 'drive-scsi0', path: raw }] });
    renameSync(`${vma}.tmp`, vma);
  }
  const zst = `${vma}.zst`;
  if (!existsSync(zst)) {
    sh(`zstd -q -f -T2 ${vma} -o ${zst}.tmp`);
    renameSync(`${zst}.tmp`, zst);
  }
  const bytes = 256 << 20;
  const ours = timeShell(`${diskpickCmd(`cat ${vma} /p0/big.bin`)} > /dev/null`);
  const theirs = timeShell(`${diskpickCmd(`cat ${raw} /p0/big.bin`)} > /dev/null`);
  const decoded = statSync(vma).size;
  const pass = timeShell(`${diskpickCmd(`cat ${zst} /p0/big.bin`)} > /dev/null`, 2);
  const zstdD = timeShell(`zstd -q -d -c ${zst} > /dev/null`, 2);
  return [
    throughputRow('vma', 'cat 256 MiB file from a .vma (in place)', bytes, ours, 'diskpick cat from the raw disk', theirs, 0.8),
    throughputRow('vma', '.vma.zst first pass + cat (per decoded byte)', decoded, pass, 'zstd -d > /dev/null', zstdD, 0.3),
  ];
}
