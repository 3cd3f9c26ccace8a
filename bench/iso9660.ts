/**
 * ISO 9660: `diskpick cat` of a 256 MiB file out of an xorriso-made ISO (Rock Ridge + Joliet)
 * against `xorriso -osirrox on -extract` of the same file. Both write to a file in the same
 * folder (xorriso can only extract to a path), so both pay the same write.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeLargeSeeded } from '../scripts/images/tree.js';
import { BENCH_CACHE, diskpickCmd, run as sh, throughputRow, timeShell, type BenchRow } from './harness.js';

export async function run(): Promise<BenchRow[]> {
  const img = join(BENCH_CACHE, 'iso-256m.iso');
  const bytes = 256 << 20;
  if (!existsSync(img)) {
    const work = join(BENCH_CACHE, 'iso-256m.work');
    rmSync(work, { recursive: true, force: true });
    writeLargeSeeded(join(work, 'big.bin'), bytes, 923);
    sh(`xorriso -as mkisofs -R -J -quiet -o ${img}.tmp ${work} 2>/dev/null && mv ${img}.tmp ${img}`);
    rmSync(work, { recursive: true, force: true });
  }
  const out = join(BENCH_CACHE, 'iso-out');
  mkdirSync(out, { recursive: true });
  const ours = timeShell(`${diskpickCmd(`cat ${img} /p0/big.bin`)} > ${out}/ours.bin`);
  const theirs = timeShell(`rm -f ${out}/x.bin && xorriso -osirrox on -indev ${img} -extract /big.bin ${out}/x.bin 2>/dev/null`);
  rmSync(out, { recursive: true, force: true });
  return [throughputRow('iso9660', 'cat 256 MiB file (ISO 9660, Rock Ridge)', bytes, ours, 'xorriso -osirrox extract', theirs, 1.0)];
}
