/**
 * Images that reproduce what real Windows/Linux-made disks showed (issue #24), made with the
 * real tools (sfdisk, mkntfs, ntfscp, ntfs-3g, qemu-img, mkfs.fat, debugfs). Each builder
 * writes what it put in beside the image (`<image>.json`), never anything read back by diskpick.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededBytes } from './tree.js';

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface CutPartitionInfo {
  /** Files written with ntfscp: path → sha256 and size. */
  files: Record<string, { sha256: string; size: number }>;
  /** CurrentSize in the footer the cut-out partition kept. */
  footerDiskSize: number;
}

/**
 * #24.1: an NTFS partition cut out of a fixed VHD with `dd`, keeping the VHD's 512-byte footer
 * at its end (the footer describes the whole 16 MiB disk, the file is the 15 MiB partition +
 * 512 bytes). TSK, 7-Zip and qemu-img read it as a raw NTFS volume.
 */
export function buildVhdCutPartition(path: string): CutPartitionInfo {
  const work = mkdtempSync(join(tmpdir(), 'dp-cut-'));
  try {
    const disk = join(work, 'disk.raw');
    const vol = join(work, 'vol.raw');
    const diskBytes = 16 * 1024 * 1024;
    sh('truncate', ['-s', String(diskBytes), disk]);
    sh('sfdisk', ['-q', disk], 'label: dos\nstart=2048, type=7\n');
    sh('truncate', ['-s', String(diskBytes - 1024 * 1024), vol]);
    sh('mkntfs', ['-F', '-Q', '-q', '-L', 'cut', '-p', '2048', vol]);
    const info: CutPartitionInfo = { files: {}, footerDiskSize: diskBytes };
    const put = (name: string, data: Buffer) => {
      const f = join(work, 'in.bin');
      writeFileSync(f, data);
      sh('ntfscp', ['-f', '-q', vol, f, `/${name}`]);
      info.files[`/${name}`] = { sha256: sha(data), size: data.length };
    };
    put('hello.txt', Buffer.from('cut out of a fixed VHD\n'));
    put('random.bin', seededBytes(241, 300_000));
    sh('dd', [`if=${vol}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
    const vhd = join(work, 'disk.vhd');
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', disk, vhd]);
    // The partition and everything after it, as `dd skip=` cuts it: the footer comes along.
    sh('dd', [`if=${vhd}`, `of=${path}.tmp`, 'bs=1M', 'skip=1', 'status=none']);
    const b = readFileSync(`${path}.tmp`);
    if (b.subarray(b.length - 512, b.length - 504).toString('latin1') !== 'conectix') throw new Error('no VHD footer at the end of the cut-out partition');
    writeFileSync(`${path}.json`, JSON.stringify(info, null, 1));
    renameSync(`${path}.tmp`, path);
    return info;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(`${path}.tmp`, { force: true });
  }
}
