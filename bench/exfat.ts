/**
 * exFAT: `diskpick cat` of a 256 MiB file against the tools that read the same image.
 * 7-Zip has no exFAT handler (`7zz i` lists FAT and NTFS only), so the references are TSK's
 * `icat` (a userspace reader, like diskpick) and `cat` through an exfat-fuse mount of the image
 * (the real driver; its mount and unmount, a few ms, are inside the timing).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, run as sh, throughputRow, timeShell, type BenchRow } from './harness.js';
import { buildExfatBenchImage } from '../scripts/images/exfat.js';

const FILE = 'seeded-256MiB.bin';
const SIZE = 256 * 1024 * 1024;

export async function run(): Promise<BenchRow[]> {
  const image = join(BENCH_CACHE, 'exfat-256MiB.img');
  if (!existsSync(image)) buildExfatBenchImage(image);
  const rows: BenchRow[] = [];
  const ours = timeShell(`${diskpickCmd(`cat ${image} /p0/${FILE}`)} > /dev/null`);

  const inode = /^r\/r (\d+):\s+seeded-256MiB\.bin$/m.exec(sh(`fls -f exfat ${image}`))?.[1];
  if (!inode) throw new Error('fls does not list the benchmark file');
  const icat = timeShell(`icat -f exfat ${image} ${inode} > /dev/null`);
  rows.push(throughputRow('exfat', 'cat 256 MiB file', SIZE, ours, 'TSK icat', icat, 1.0));

  // The kernel driver through FUSE, read-only; the page cache is dropped by remounting each run.
  if (process.getuid?.() === 0) {
    const mnt = mkdtempSync(join(tmpdir(), 'diskpick-bench-exfat-'));
    try {
      const fuseCat = `loop=$(losetup -f --show -r ${image}) && mount.exfat-fuse -o ro $loop ${mnt} && ` +
        `{ cat ${mnt}/${FILE} > /dev/null; r=$?; umount ${mnt}; losetup -d $loop; exit $r; }`;
      const fuse = timeShell(fuseCat);
      rows.push(throughputRow('exfat', 'cat 256 MiB file', SIZE, ours, 'exfat-fuse mount + cat', fuse, 1.0));
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  }
  return rows;
}
