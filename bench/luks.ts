/**
 * LUKS2: `diskpick cat` of a 256 MiB file on ext4 inside LUKS2 (aes-xts-plain64, 512-bit key,
 * 4096-byte sectors) against the same `diskpick cat` of the same file on the same ext4 image
 * unencrypted, in the same run (issue #22: >= 0.8x). The LUKS image is the ext bench image
 * behind a luksFormat header, encrypted under the dumped volume key (scripts/images/luks.ts).
 * The KDF is PBKDF2 at cryptsetup's minimum (1000 iterations), so the row measures decryption.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, throughputRow, timeShell, type BenchRow } from './harness.js';
import { EXT_BENCH, buildExtBenchImage } from '../scripts/images/ext.js';
import { LUKS_PASSPHRASE, buildLuksFromVolumeKey } from '../scripts/images/luks.js';

export async function run(): Promise<BenchRow[]> {
  const plain = join(BENCH_CACHE, 'ext-bench.img');
  if (!existsSync(plain)) buildExtBenchImage(plain);
  const luks = join(BENCH_CACHE, 'ext-bench-luks2.img');
  if (!existsSync(luks)) buildLuksFromVolumeKey(plain, luks);
  const env = `DISKPICK_PASSPHRASE='${LUKS_PASSPHRASE}'`;
  const ours = timeShell(`${env} ${diskpickCmd(`cat ${luks} /p0${EXT_BENCH.file}`)} > /dev/null`);
  const theirs = timeShell(`${diskpickCmd(`cat ${plain} /p0${EXT_BENCH.file}`)} > /dev/null`);
  return [throughputRow('luks', 'cat 256 MiB file (ext4 in LUKS2 aes-xts 4K)', EXT_BENCH.size, ours, 'diskpick cat, same ext4 unencrypted', theirs, 0.8)];
}
