/**
 * Tiny seed images for the fuzzer (scripts/fuzz.ts): one small image per format, built with
 * the real tools (mkfs.*, mtools, mke2fs -d, ntfs-3g, sfdisk/sgdisk, qemu-img convert) and
 * cached in .cache/fuzz-seeds. Small on purpose: every mutant is a full copy of its seed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededBytes, seededText } from '../images/tree.js';
import { withMountedExfat } from '../images/exfat.js';
import { buildSmallLuks } from '../images/luks.js';
import { buildBitLockerSeed } from '../images/bitlocker.js';
import { lvmSeed, lvmThinSeed } from '../images/lvm-more.js';
import { buildWindowsDisk } from '../images/regf.js';
import { writeVma } from '../images/vma.js';
import { writeEx01 } from '../images/ewf2.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SEED_DIR = join(ROOT, '.cache', 'fuzz-seeds');
export const CORPUS = resolve(ROOT, '..', 'shared', 'corpus', 'realworld');

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' } });
}

/** A few files and folders: small text, a multi-cluster binary, a nested folder, an empty file. */
function writeSeedTree(root: string, seed: number): void {
  mkdirSync(join(root, 'docs', 'deep'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'), { recursive: true });
  writeFileSync(join(root, 'readme.txt'), seededText(seed, 300));
  writeFileSync(join(root, 'docs', 'notes.txt'), seededText(seed + 1, 5000));
  writeFileSync(join(root, 'docs', 'deep', 'data.bin'), seededBytes(seed + 2, 70_000));
  writeFileSync(join(root, 'docs', 'deep', 'empty.txt'), '');
  for (let i = 0; i < 24; i++) writeFileSync(join(root, 'docs', `file-with-a-long-name-${i}.txt`), seededText(seed + 10 + i, 40 + i * 37));
}

function withTree<T>(seed: number, fn: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'dp-fuzz-tree-'));
  try {
    writeSeedTree(dir, seed);
    return fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function blank(path: string, bytes: number): void {
  rmSync(path, { force: true });
  execFileSync('truncate', ['-s', String(bytes), path]);
}

function fatImage(path: string, bits: 12 | 16, kib: number, seed: number): void {
  blank(path, kib * 1024);
  // One sector per cluster keeps an 8 MiB FAT16 above FAT12's cluster count.
  sh('mkfs.fat', ['-F', String(bits), '-s', bits === 16 ? '1' : '4', '-n', 'FUZZ', path]);
  withTree(seed, (dir) => sh('mcopy', ['-s', '-i', path, join(dir, 'readme.txt'), join(dir, 'docs'), join(dir, 'empty-dir'), '::/']));
}

function extImage(path: string, mkfs: string, opts: string[], seed: number): void {
  blank(path, 4 * 1024 * 1024);
  withTree(seed, (dir) => sh(mkfs, ['-q', '-F', ...opts, '-d', dir, path]));
}

/** ext4 (1 KiB blocks) holding one chain of `levels` nested folders, a small file every 10 levels. */
function deepExtImage(path: string, levels: number): void {
  blank(path, 4 * 1024 * 1024);
  const dir = mkdtempSync(join(tmpdir(), 'dp-fuzz-deep-'));
  try {
    let d = dir;
    for (let i = 0; i < levels; i++) {
      d = join(d, `level-${i}`);
      mkdirSync(d);
      if (i % 10 === 0) writeFileSync(join(d, 'f.txt'), seededText(100 + i, 50));
    }
    sh('mkfs.ext4', ['-q', '-F', '-b', '1024', '-N', '1024', '-O', '^metadata_csum', '-d', dir, path]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function exfatImage(path: string, seed: number): void {
  blank(path, 4 * 1024 * 1024);
  sh('mkfs.exfat', ['-L', 'FUZZ', path]);
  withTree(seed, (dir) => withMountedExfat(path, 0, 4 * 1024 * 1024, (mnt) => sh('cp', ['-r', '--no-preserve=all', `${dir}/.`, mnt])));
}

function ntfsImage(path: string, seed: number): void {
  blank(path, 6 * 1024 * 1024);
  sh('mkntfs', ['-F', '-Q', '-q', '-L', 'FUZZ', path]);
  const mnt = mkdtempSync(join(tmpdir(), 'dp-fuzz-ntfs-'));
  sh('ntfs-3g', [path, mnt]);
  try {
    withTree(seed, (dir) => sh('cp', ['-r', '--no-preserve=all', `${dir}/.`, mnt]));
    // An alternate data stream and a hard link so those paths are exercised too.
    sh('setfattr', ['-n', 'user.ads', '-v', 'stream-data', join(mnt, 'readme.txt')]);
    sh('ln', [join(mnt, 'readme.txt'), join(mnt, 'docs', 'hardlink.txt')]);
  } finally {
    sh('sync', []);
    sh('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

/**
 * XFS, 16 MiB (mkfs.xfs refuses below 300 MB unless run as under fstests: TEST_DIR/TEST_DEV/
 * QA_CHECK_FS). v5 is filled through a loop mount (xattrs in short and leaf form, a leaf-form
 * folder, a multi-extent file), v4 (no CRCs: mutants reach the parsers) by a protofile.
 */
function xfsImage(path: string, v5: boolean, seed: number, dirty = false): void {
  blank(path, 16 * 1024 * 1024);
  const env = { ...process.env, TEST_DIR: '1', TEST_DEV: '1', QA_CHECK_FS: '1' };
  const mkfs = (extra: string[]) => execFileSync('mkfs.xfs', ['-f', '-q', ...(v5 ? [] : ['-m', 'crc=0', '-b', 'size=1024']), ...extra, path], { env, stdio: 'pipe' });
  withTree(seed, (dir) => {
    for (let i = 0; i < 150; i++) writeFileSync(join(dir, 'empty-dir', `entry-${i}`), i % 10 ? '' : `e${i}`);
    if (!v5) {
      const lines = ['/dev/null', '0 0', 'd--755 0 0'];
      const walk = (d: string, depth: number) => {
        for (const e of readdirSync(d, { withFileTypes: true })) {
          const pad = ' '.repeat(depth);
          if (e.isDirectory()) {
            lines.push(`${pad}${e.name} d--755 0 0`);
            walk(join(d, e.name), depth + 1);
            lines.push(`${pad}$`);
          } else lines.push(`${pad}${e.name} ---644 0 0 ${join(d, e.name)}`);
        }
      };
      walk(dir, 1);
      lines.push(' link l--777 0 0 readme.txt', ' dev c--644 0 0 1 3', '$');
      const proto = join(dir, '..', `${seed}.proto`);
      writeFileSync(proto, lines.join('\n') + '\n');
      try {
        mkfs(['-p', proto]);
      } finally {
        rmSync(proto, { force: true });
      }
      return;
    }
    mkfs([]);
    const mnt = mkdtempSync(join(tmpdir(), 'dp-fuzz-xfs-'));
    sh('mount', ['-o', 'loop', path, mnt]);
    try {
      sh('cp', ['-r', `${dir}/.`, mnt]);
      sh('ln', ['-s', 'readme.txt', join(mnt, 'link')]);
      sh('setfattr', ['-n', 'user.short', '-v', 'value', join(mnt, 'readme.txt')]);
      for (let i = 0; i < 20; i++) sh('setfattr', ['-n', `user.leaf-${i}`, '-v', seededText(seed + i, 80).toString(), join(mnt, 'docs', 'notes.txt')]);
      sh('xfs_io', ['-f', '-c', 'pwrite -S 1 0 4k', '-c', 'pwrite -S 2 64k 4k', '-c', 'falloc 128k 64k', join(mnt, 'sparse.bin')]);
      if (dirty) {
        // Left in the log only: the reader replays it in memory (mutants reach the replay).
        sh('sync', []);
        sh('mkdir', [join(mnt, 'logged')]);
        for (let i = 0; i < 30; i++) sh('xfs_io', ['-f', '-c', `pwrite -S ${i} 0 ${1000 + i * 100}`, '-c', 'fsync', join(mnt, 'logged', `f${i}`)]);
        sh('setfattr', ['-n', 'user.logged', '-v', 'yes', join(mnt, 'readme.txt')]);
        sh('xfs_io', ['-x', '-c', 'shutdown -f', mnt]);
      }
    } finally {
      sh('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
}

/** Writes a FAT12 filesystem of `sectors` sectors into `disk` at sector `start`. */
function fatInto(disk: string, start: number, sectors: number, seed: number): void {
  const part = `${disk}.part`;
  fatImage(part, 12, sectors / 2, seed);
  sh('dd', [`if=${part}`, `of=${disk}`, 'bs=512', `seek=${start}`, 'conv=notrunc', 'status=none']);
  rmSync(part);
}

/**
 * Btrfs in 16 MiB (mixed block groups keep it that small): mkfs.btrfs --rootdir, or (root)
 * filled through a kernel mount with zstd, LZO and zlib compression, a subvolume and a
 * read-only snapshot.
 */
function btrfsSeed(path: string, seed: number, kernel: boolean): void {
  blank(path, 16 * 1024 * 1024);
  if (!kernel) {
    withTree(seed, (dir) => sh('mkfs.btrfs', ['-q', '-f', '-M', '-L', 'FUZZ', '--rootdir', dir, path]));
    return;
  }
  sh('mkfs.btrfs', ['-q', '-f', '-M', '-L', 'FUZZ', path]);
  const mnt = mkdtempSync(join(tmpdir(), 'dp-fuzz-btrfs-'));
  sh('mount', ['-o', 'loop,compress-force=zstd', path, mnt]);
  try {
    withTree(seed, (dir) => sh('cp', ['-r', '--no-preserve=all', `${dir}/.`, mnt]));
    sh('mount', ['-o', 'remount,compress-force=lzo', mnt]);
    writeFileSync(join(mnt, 'lzo.txt'), seededText(seed + 50, 20_000));
    sh('mount', ['-o', 'remount,compress-force=zlib', mnt]);
    writeFileSync(join(mnt, 'zlib.txt'), seededText(seed + 51, 20_000));
    sh('btrfs', ['subvolume', 'create', join(mnt, 'sub')]);
    writeFileSync(join(mnt, 'sub', 'inside.txt'), seededText(seed + 52, 300));
    sh('btrfs', ['subvolume', 'snapshot', '-r', mnt, join(mnt, 'snap')]);
    sh('setfattr', ['-n', 'user.x', '-v', 'y', join(mnt, 'readme.txt')]);
    sh('ln', [join(mnt, 'readme.txt'), join(mnt, 'docs', 'hardlink.txt')]);
  } finally {
    sh('sync', []);
    sh('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** MBR disk: a primary FAT partition and an extended partition holding two logical ones (an EBR chain). */
function mbrDisk(path: string, seed: number): void {
  blank(path, 4 * 1024 * 1024);
  sh('sfdisk', ['-q', path], 'label: dos\nstart=2048, size=2048, type=1, bootable\nstart=4096, size=4096, type=5\nstart=4160, size=1024, type=1\nstart=5248, size=1024, type=1\n');
  fatInto(path, 2048, 2048, seed);
  fatInto(path, 4160, 1024, seed + 100);
  fatInto(path, 5248, 1024, seed + 200);
}

function gptDisk(path: string, seed: number): void {
  blank(path, 4 * 1024 * 1024);
  sh('sfdisk', ['-q', path], 'label: gpt\nstart=2048, size=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="first"\nstart=4096, size=2048, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7, name="second"\n');
  fatInto(path, 2048, 2048, seed);
  fatInto(path, 4096, 2048, seed + 100);
}

/** ISO 9660 seeds: the seed tree plus a symlink and folders deep enough to be relocated (Rock Ridge CL/RE). */
function isoImage(path: string, tool: 'xorriso' | 'genisoimage', args: string[], seed: number): void {
  withTree(seed, (dir) => {
    mkdirSync(join(dir, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'), { recursive: true });
    writeFileSync(join(dir, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'deep.txt'), 'deep\n');
    writeFileSync(join(dir, 'boot.img'), seededBytes(seed + 3, 2048));
    sh('ln', ['-s', 'readme.txt', join(dir, 'link')]);
    rmSync(path, { force: true });
    if (tool === 'xorriso') sh('xorriso', ['-as', 'mkisofs', ...args, '-o', path, dir]);
    else sh('genisoimage', ['-quiet', ...args, '-o', path, dir]);
  });
}

/** An ISO with El Torito boot images made by mkfs.fat/mtools/sfdisk, or a hybrid one (EFI image appended as partition 2). */
function bootIsoImage(path: string, kind: 'eltorito' | 'mbr' | 'gpt' | 'isohybrid'): void {
  withTree(20, (dir) => {
    mkdirSync(join(dir, 'boot'));
    writeFileSync(join(dir, 'boot', 'loader.bin'), seededBytes(21, 2048));
    const efi = join(dir, 'boot', 'efi.img');
    sh('mkfs.fat', ['-C', efi, '512']);
    sh('mcopy', ['-i', efi, join(dir, 'readme.txt'), '::/README.TXT']);
    rmSync(path, { force: true });
    if (kind === 'eltorito') {
      const floppy = join(dir, 'boot', 'floppy.img');
      sh('mkfs.fat', ['-C', floppy, '1440']);
      sh('mcopy', ['-i', floppy, join(dir, 'readme.txt'), '::/README.TXT']);
      const part = join(dir, 'part.img');
      sh('mkfs.fat', ['-C', part, '256']);
      const hd = join(dir, 'boot', 'hd.img');
      sh('truncate', ['-s', String(63 * 512 + 256 * 1024), hd]);
      sh('sfdisk', ['-q', hd], '63,,1,*\n');
      sh('dd', [`if=${part}`, `of=${hd}`, 'bs=512', 'seek=63', 'conv=notrunc', 'status=none']);
      rmSync(part);
      sh('xorriso', ['-as', 'mkisofs', '-R', '-b', 'boot/floppy.img', '-eltorito-alt-boot', '-e', 'boot/efi.img', '-no-emul-boot', '-eltorito-alt-boot', '-b', 'boot/hd.img', '-hard-disk-boot', '-o', path, dir]);
    } else if (kind === 'isohybrid') {
      // Debian's layout: an isohybrid MBR (zero boot code) with partition 1 over the ISO from 0, the EFI image as partition 2.
      const template = join(dir, 'mbr.bin');
      writeFileSync(template, Buffer.alloc(432));
      sh('xorriso', ['-as', 'mkisofs', '-R', '-isohybrid-mbr', template, '-b', 'boot/loader.bin', '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', 'boot/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat', '-o', path, dir]);
    } else {
      const type = kind === 'gpt' ? ['-appended_part_as_gpt', '-append_partition', '2', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', efi] : ['-append_partition', '2', '0xef', efi];
      sh('xorriso', ['-as', 'mkisofs', '-R', '-J', '-partition_offset', '16', '-b', 'boot/loader.bin', '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', ...type, '-o', path, dir]);
    }
  });
}

export interface SeedSet {
  /** format name → seed image paths */
  [format: string]: string[];
}

/** qemu-img output formats (with options) that diskpick's container layer reads. */
const CONTAINERS: Record<string, Array<[string, string[]]>> = {
  qcow2: [['qcow2', ['-o', 'cluster_size=4096']], ['qcow2', ['-c', '-o', 'cluster_size=4096,compat=0.10']]],
  vmdk: [['vmdk', ['-o', 'subformat=monolithicSparse']], ['vmdk', ['-o', 'subformat=streamOptimized']]],
  vhd: [['vpc', ['-o', 'subformat=dynamic']], ['vpc', ['-o', 'subformat=fixed']]],
  vhdx: [['vhdx', ['-o', 'block_size=1M']]],
  vdi: [['vdi', []], ['vdi', ['-o', 'static=on']]],
  qcow: [['qcow', []]],
};

function cached(name: string, build: (p: string) => void): string {
  const p = join(SEED_DIR, name);
  if (!existsSync(p)) {
    const tmp = `${p}.tmp`;
    build(tmp);
    renameSync(tmp, p);
  }
  return p;
}

/** Builds (once) and returns the seeds of every format. */
export function buildSeeds(): SeedSet {
  mkdirSync(SEED_DIR, { recursive: true });
  const s: SeedSet = {};
  s.fat = [cached('fat12.img', (p) => fatImage(p, 12, 2048, 1)), cached('fat16.img', (p) => fatImage(p, 16, 8192, 2))];
  s.exfat = [cached('exfat.img', (p) => exfatImage(p, 3))];
  s.ext = [
    cached('ext2.img', (p) => extImage(p, 'mkfs.ext2', ['-b', '1024'], 4)),
    cached('ext4-nocsum.img', (p) => extImage(p, 'mkfs.ext4', ['-b', '1024', '-O', '^metadata_csum,^has_journal'], 5)),
    cached('ext4.img', (p) => extImage(p, 'mkfs.ext4', ['-b', '4096'], 6)),
    // Issue 26's deep-tree class: 200 nested folders (a file every 10 levels) to cross-link and loop.
    cached('ext4-deep.img', (p) => deepExtImage(p, 200)),
  ];
  s.ntfs = [cached('ntfs.img', (p) => ntfsImage(p, 7))];
  // A Windows disk: an NTFS volume holding Windows\System32\config\SYSTEM (drive letters, src/vfs/regf).
  s.regf = [cached('windows-mbr.img', (p) => void buildWindowsDisk(p, 'mbr', true))];
  s.xfs = [cached('xfs-v5.img', (p) => xfsImage(p, true, 10)), cached('xfs-v4.img', (p) => xfsImage(p, false, 11)), cached('xfs-dirty.img', (p) => xfsImage(p, true, 12, true))];
  s.btrfs = [cached('btrfs.img', (p) => btrfsSeed(p, 10, false)), cached('btrfs-kernel.img', (p) => btrfsSeed(p, 11, true))];
  s.mbr = [cached('mbr.img', (p) => mbrDisk(p, 8))];
  s.gpt = [cached('gpt.img', (p) => gptDisk(p, 9))];
  s.raw = [s.mbr[0]];
  // LUKS1/LUKS2 (aes-xts, PBKDF2 at cryptsetup's minimum), passphrase "fuzz" (exercise.ts).
  s.luks = [cached('luks1.img', (p) => buildSmallLuks(p, 1, 'fuzz')), cached('luks2.img', (p) => buildSmallLuks(p, 2, 'fuzz'))];
  s.lvm2 = [cached('lvm2.img', (p) => lvmSeed(p, (part, kib) => fatImage(part, 12, kib, 10))), cached('lvm2-thin.img', (p) => lvmThinSeed(p, (part, kib) => fatImage(part, 12, kib, 11)))];
  s.iso9660 = [
    cached('iso-xorriso.iso', (p) => isoImage(p, 'xorriso', ['-R', '-J', '-b', 'boot.img', '-no-emul-boot', '-boot-load-size', '4'], 10)),
    cached('iso-geniso.iso', (p) => isoImage(p, 'genisoimage', ['-R', '-J'], 11)),
    cached('iso-joliet.iso', (p) => isoImage(p, 'genisoimage', ['-J', '-D'], 12)),
    cached('iso-zisofs.iso', (p) => withTree(14, (dir) => sh('xorriso', ['-outdev', p, '-map', dir, '/', '-set_filter_r', '--zisofs', '/', '--', '-commit']))),
  ];
  s.udf = [
    cached('udf-bridge.iso', (p) => isoImage(p, 'genisoimage', ['-udf', '-J'], 13)),
    cached('udf-hd.img', (p) => sh('mkudffs', ['--media-type=hd', '--udfrev=2.01', '-b', '512', p, '2048'])),
    cached('udf-bdr.img', (p) => sh('mkudffs', ['--media-type=bdr', '--udfrev=2.50', p, '2048'])),
  ];
  // EWF: one segment file each (a mutant is a single file), compressed and stored as is.
  s.ewf = (['deflate:best', 'none'] as const).map((c, i) =>
    cached(`ewf-${i}.E01`, (p) => {
      const dir = mkdtempSync(join(tmpdir(), 'dp-fuzz-ewf-'));
      try {
        sh('ewfacquire', ['-u', '-q', '-t', join(dir, 'seed'), '-c', c, '-d', 'sha1', '-b', '16', s.mbr[0]!]);
        renameSync(join(dir, 'seed.E01'), p);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
  );
  // EWF2 (.Ex01, issue 23): the MBR seed through the spec-made writer (scripts/images/ewf2.ts), zlib and stored chunks, pattern fill.
  s.ewf2 = ([[1, false], [0, true]] as const).map(([compression, patternFill], i) =>
    cached(`ewf2-${i}.Ex01`, (p) => {
      const dir = mkdtempSync(join(tmpdir(), 'dp-fuzz-ex01-'));
      try {
        renameSync(writeEx01(s.mbr[0]!, join(dir, 'seed'), { name: 'seed', compression, sectorsPerChunk: 16, chunksPerTable: 64, patternFill }), p);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
  );
  // El Torito volumes and hybrid ISOs (issue 23): floppy / EFI / hard-disk emulation entries; MBR and GPT hybrids.
  s.eltorito = [cached('eltorito.iso', (p) => bootIsoImage(p, 'eltorito'))];
  s.hybrid = [cached('hybrid-mbr.iso', (p) => bootIsoImage(p, 'mbr')), cached('hybrid-gpt.iso', (p) => bootIsoImage(p, 'gpt')), cached('hybrid-isohybrid.iso', (p) => bootIsoImage(p, 'isohybrid'))];
  // OVA: the MBR seed as a streamOptimized VMDK, a two-disk OVF descriptor, ustar.
  s.ova = [
    cached('seed.ova', (p) => {
      const dir = mkdtempSync(join(tmpdir(), 'dp-fuzz-ova-'));
      try {
        sh('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', s.mbr[0]!, join(dir, 'd1.vmdk')]);
        sh('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', s.gpt[0]!, join(dir, 'd2.vmdk')]);
        writeFileSync(join(dir, 'vm.ovf'), '<?xml version="1.0"?>\n<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="f1" ovf:href="d1.vmdk"/><File ovf:id="f2" ovf:href="d2.vmdk"/></References><DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1" ovf:capacity="4" ovf:capacityAllocationUnits="byte * 2^20"/><Disk ovf:diskId="d2" ovf:fileRef="f2" ovf:capacity="4194304"/></DiskSection><VirtualSystem ovf:id="vm"><Name>fuzz &amp; vm</Name><OperatingSystemSection ovf:id="94"><Description>Ubuntu</Description></OperatingSystemSection></VirtualSystem></Envelope>\n');
        sh('tar', ['--format=ustar', '-C', dir, '-cf', p, 'vm.ovf', 'd1.vmdk', 'd2.vmdk']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
    // Every disk opened (/disk2 …), the first split by ovf:chunkSize in 16 KiB chunks.
    cached('seed-multi.ova', (p) => {
      const dir = mkdtempSync(join(tmpdir(), 'dp-fuzz-ova-'));
      try {
        sh('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', s.mbr[0]!, join(dir, 'd1.vmdk')]);
        sh('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=streamOptimized', s.gpt[0]!, join(dir, 'd2.vmdk')]);
        sh('split', ['-b', '16384', '-d', '-a', '9', join(dir, 'd1.vmdk'), join(dir, 'd1.vmdk.')]);
        const chunks = readdirSync(dir).filter((n) => n.startsWith('d1.vmdk.')).sort();
        writeFileSync(join(dir, 'vm.ovf'), `<?xml version="1.0"?>\n<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="f1" ovf:href="d1.vmdk" ovf:size="${readFileSync(join(dir, 'd1.vmdk')).length}" ovf:chunkSize="16384"/><File ovf:id="f2" ovf:href="d2.vmdk"/></References><DiskSection><Disk ovf:diskId="d1" ovf:fileRef="f1"/><Disk ovf:diskId="d2" ovf:fileRef="f2"/></DiskSection></Envelope>\n`);
        sh('tar', ['--format=ustar', '-C', dir, '-cf', p, 'vm.ovf', ...chunks, 'd2.vmdk']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }),
  ];
  // VMA: the MBR seed and the FAT12 seed as two devices, a small VM state; and the same archive
  // in each compressed form vzdump writes (their decoders and the stream cache see the mutants).
  const vma = cached('seed.vma', (p) => void writeVma(p, { uuid: '0123456789abcdef0123456789abcdef', ctime: 1_700_000_000, configs: [{ name: 'qemu-server.conf', data: Buffer.from('memory: 512\n') }], devices: [{ name: 'drive-scsi0', path: s.mbr![0]! }, { name: 'drive-scsi1', path: s.fat![0]! }, { name: 'vmstate', data: Buffer.from(seededBytes(3, 100_000)) }] }));
  s.vma = [vma, cached('seed.vma.zst', (p) => void sh('zstd', ['-q', '-f', vma, '-o', p])), cached('seed.vma.lzo', (p) => void sh('lzop', ['-q', '-f', vma, '-o', p])), cached('seed.vma.gz', (p) => void sh('sh', ['-c', 'gzip -c "$1" > "$2"', 'sh', vma, p]))];
  for (const [fmt, outs] of Object.entries(CONTAINERS)) {
    s[fmt] = outs.map(([out, args], i) =>
      cached(`${fmt}-${i}.img`, (p) => sh('qemu-img', ['convert', '-q', '-f', 'raw', '-O', out, ...args, s.mbr[0], p])),
    );
  }
  // QCOW2 with two internal snapshots (the snapshot table is parsed on every open: points-in-time).
  s.qcow2!.push(cached('qcow2-snapshots.img', (p) => {
    sh('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'qcow2', '-o', 'cluster_size=4096', s.mbr[0]!, p]);
    sh('qemu-img', ['snapshot', '-c', 'first', p]);
    sh('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 65536 8192', p]);
    sh('qemu-img', ['snapshot', '-c', 'second', p]);
  }));
  return s;
}

/** Real-world corpus images usable as seeds (small ones only), per format; absent corpus → none. */
export function corpusSeeds(): SeedSet {
  const out: SeedSet = {};
  const add = (fmt: string, name: string) => {
    const p = join(CORPUS, name);
    if (existsSync(p)) (out[fmt] ??= []).push(p);
  };
  add('vmdk', 'ext2.vmdk');
  add('vhd', 'image.vhd');
  // BitLocker: a 2 MiB seed cut from a Windows-made volume (scripts/images/bitlocker.ts).
  const bde = [join(CORPUS, 'bde', 'suspended.bin.gz'), join(ROOT, '.cache', 'corpus', 'bde-gz', 'suspended.bin.gz')].find((p) => existsSync(p));
  if (bde) {
    out.bitlocker = [cached('bitlocker-suspended.img', (p) => {
      const plain = `${p}.volume`;
      writeFileSync(plain, gunzipSync(readFileSync(bde)));
      try {
        buildBitLockerSeed(plain, p);
      } finally {
        rmSync(plain, { force: true });
      }
    })];
  }
  return out;
}
