/**
 * Btrfs test images from the real tools: `mkfs.btrfs --rootdir` for plain content, and a root
 * kernel loop mount for what only a running filesystem makes (subvolumes, read-only snapshots,
 * zlib/LZO/zstd compression, reflinks, prealloc, holes, >4 GiB files, many hard links). After
 * building, each image is mounted read-only by the kernel (once per subvolume, `subvolid=`) and
 * what it shows is saved as the oracle manifest next to the image: diskpick is never asked.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, closeSync, existsSync, ftruncateSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join, relative } from 'node:path';
import { seededBytes, seededText, writeTree, type TreeFile } from './tree.js';

/** What the kernel shows for one entry of a mounted Btrfs. */
export interface KernelEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';
  size: number;
  sha256?: string;
  target?: string;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: string;
  /** st_dev: each subvolume has its own (inode numbers repeat across subvolumes). */
  dev: string;
  rdev: number;
  atimeNs: string;
  mtimeNs: string;
  ctimeNs: string;
  birthtimeNs: string | null;
  /** name → hex value (getfattr, every namespace). */
  xattrs: Record<string, string>;
}

export interface KernelManifest {
  /** Subvolume id → what a mount of it (subvolid=) shows; 5 is the top level. */
  subvolumes: Record<string, KernelEntry[]>;
  /** `btrfs subvolume list -a -p -u -q -R` style rows: id, gen, path, readonly, parent uuid. */
  list: { id: number; gen: number; path: string; readOnly: boolean; parentUuid: string | null }[];
}

export const BTRFS_SPECIAL = {
  hugeFile: '/huge-sparse.bin',
  hugeSize: 5 * 1024 ** 3,
  hugeWrites: [0, 4 * 1024 ** 3 - 2048, 4.5 * 1024 ** 3, 5 * 1024 ** 3 - 4096],
  /** Hard links with long names in one folder: beyond one INODE_REF item they go to INODE_EXTREF. */
  manyLinks: 120,
  old: '/dates/1969.txt',
  oldDate: '1969-07-20 20:17:40.123456789 UTC',
  future: '/dates/2040.txt',
  futureDate: '2040-02-29 12:34:56.987654321 UTC',
} as const;

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
}

/** Runs `body(mnt)` with the image loop-mounted (options as given); always unmounts. */
export function withMount<T>(img: string, options: string, body: (mnt: string) => T): T {
  const mnt = `${img}.mnt-${process.pid}`;
  mkdirSync(mnt, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'btrfs', '-o', `loop,${options}`, img, mnt], { stdio: 'pipe' });
  } catch (err) {
    rmSync(mnt, { recursive: true, force: true });
    throw new Error(`Btrfs test images need a root loop mount: ${(err as Error).message}`);
  }
  try {
    return body(mnt);
  } finally {
    execFileSync('umount', [mnt], { stdio: 'pipe' });
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** What the kernel shows under `root` (lstat, sha256 of files below 1 GiB, readlink, getfattr). */
export function kernelWalk(root: string): KernelEntry[] {
  const xattrs = new Map<string, Record<string, string>>();
  // getfattr complains about symlinks whose targets are missing (exit 1) but lists the rest.
  const text = spawnSync('getfattr', ['-R', '-P', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout;
  let cur: Record<string, string> | null = null;
  for (const line of text.split('\n')) {
    const f = /^# file: (.*)$/.exec(line);
    if (f) {
      cur = {};
      // getfattr escapes unusual bytes as \ooo octal.
      const p = Buffer.from(f[1]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), 'latin1').toString('utf8');
      xattrs.set(p, cur);
      continue;
    }
    const m = /^([^=]+)=0x([0-9a-f]*)$/.exec(line.trim());
    if (m && cur) cur[m[1]!] = m[2]!;
  }
  const out: KernelEntry[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p, { bigint: true });
      const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev'
        : st.isBlockDevice() ? 'blockdev' : st.isSocket() ? 'socket' : 'file';
      const e: KernelEntry = {
        path: '/' + relative(root, p), type, size: Number(st.size), mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid),
        nlink: Number(st.nlink), ino: String(st.ino), dev: String(st.dev), rdev: Number(st.rdev), atimeNs: String(st.atimeNs), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs),
        birthtimeNs: st.birthtimeNs > 0n ? String(st.birthtimeNs) : null, xattrs: xattrs.get(p) ?? {},
      };
      if (type === 'file' && st.size < 1n << 30n) e.sha256 = createHash('sha256').update(readFileSync(p)).digest('hex');
      if (type === 'symlink') e.target = readlinkSync(p);
      out.push(e);
      if (type === 'dir') walk(p);
    }
  };
  walk(root);
  return out;
}

/** Mounts the image read-only once per subvolume and records what the kernel shows: the oracle. */
export function writeKernelManifest(img: string): KernelManifest {
  const list: KernelManifest['list'] = [];
  const subvolumes: KernelManifest['subvolumes'] = {};
  withMount(img, 'ro', (mnt) => {
    subvolumes['5'] = kernelWalk(mnt);
    // "ID 257 gen 9 parent 5 top level 5 parent_uuid - uuid … path home"
    const ro = new Set(sh('btrfs', ['subvolume', 'list', '-a', '-r', mnt]).split('\n').map((l) => /^ID (\d+)/.exec(l)?.[1]).filter(Boolean));
    for (const line of sh('btrfs', ['subvolume', 'list', '-a', '-q', mnt]).split('\n')) {
      const m = /^ID (\d+) gen (\d+) top level \d+ parent_uuid (\S+)\s+path (.*)$/.exec(line);
      if (!m) continue;
      list.push({ id: Number(m[1]), gen: Number(m[2]), path: m[4]!.replace(/^<FS_TREE>\//, ''), readOnly: ro.has(m[1]!), parentUuid: m[3] === '-' ? null : m[3]! });
    }
  });
  for (const s of list) withMount(img, `ro,subvolid=${s.id}`, (mnt) => void (subvolumes[String(s.id)] = kernelWalk(mnt)));
  const m: KernelManifest = { subvolumes, list };
  writeFileSync(`${img}.manifest.json`, JSON.stringify(m));
  return m;
}

export function readKernelManifest(img: string): KernelManifest {
  return JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as KernelManifest;
}

/** Plain content for mkfs.btrfs --rootdir: text, binary, empty, nested, unicode, links, devices, xattrs, owners. */
function writePlainTree(root: string): void {
  const files: TreeFile[] = [
    { path: 'hello.txt', content: 'hello from diskpick\n' },
    { path: 'docs/report.txt', content: seededText(11, 30_000) },
    { path: 'docs/nested/deep/deeper/file.bin', size: 123_457, seed: 12 },
    { path: 'docs/empty.txt', content: '' },
    { path: 'small/tiny.txt', content: 'tiny' },
    { path: 'small/2047.bin', size: 2047, seed: 13 },
    { path: 'small/2049.bin', size: 2049, seed: 14 },
    { path: 'Ünïcödé 日本語 🎉.txt', content: 'unicode name\n' },
    { path: 'hard/a.txt', content: seededText(15, 5000) },
    { path: 'mid/4k-plus-1.bin', size: 4097, seed: 16 },
    { path: 'mid/3m.bin', size: 3 << 20, seed: 17 },
    { path: 'owned.txt', content: 'owned\n' },
    { path: 'xattr.txt', content: 'has xattrs\n' },
  ];
  for (let i = 0; i < 300; i++) files.push({ path: `many/file-${String(i).padStart(4, '0')}.txt`, content: i % 7 === 0 ? `entry ${i}\n` : '' });
  writeTree(root, files);
  execFileSync('ln', ['-s', '../hello.txt', join(root, 'docs/link')]);
  execFileSync('ln', ['-s', 'long-folder-name/'.repeat(20) + 'target', join(root, 'docs/long-link')]);
  execFileSync('ln', [join(root, 'hard/a.txt'), join(root, 'hard/b.txt')]);
  execFileSync('mkfifo', [join(root, 'fifo')]);
  chownSync(join(root, 'owned.txt'), 100_000, 200_000);
  execFileSync('setfattr', ['-n', 'user.comment', '-v', 'a short comment', join(root, 'xattr.txt')]);
  execFileSync('setfattr', ['-n', 'user.big', '-v', '0x' + seededBytes(18, 800).toString('hex'), join(root, 'xattr.txt')]);
  execFileSync('setfattr', ['-n', 'trusted.note', '-v', 'trusted value', join(root, 'xattr.txt')]);
}

/** `mkfs.btrfs --rootdir` of the plain tree; `csum` picks the checksum type. */
export function buildRootdirImage(img: string, csum = 'crc32c'): void {
  const tree = `${img}.tree`;
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  writePlainTree(tree);
  rmSync(img, { force: true });
  closeSync(openSync(img, 'w'));
  ftruncateSync(openSync(img, 'r+'), 160 << 20);
  sh('mkfs.btrfs', ['-q', '-f', '--csum', csum, '-L', `dp-${csum}`, '--rootdir', tree, img]);
  writeKernelManifest(img);
}

/**
 * An image filled through the kernel: a Fedora/openSUSE-like layout (top level with `home`
 * and `.snapshots` subvolumes, snapper's `.snapshots/1/snapshot` read-only snapshot of the
 * top taken before files changed), compressed files of every algorithm, reflinks, prealloc,
 * sparse and huge files, hard links past one INODE_REF, devices, ACLs and nanosecond dates.
 */
export function buildKernelImage(img: string, mkfsArgs: string[] = []): void {
  rmSync(img, { force: true });
  const fd = openSync(img, 'w');
  ftruncateSync(fd, 320 << 20);
  closeSync(fd);
  sh('mkfs.btrfs', ['-q', '-f', '-L', 'dp-kernel', ...mkfsArgs, img]);
  const S = BTRFS_SPECIAL;
  withMount(img, 'noatime', (m) => {
    const w = (p: string, data: Buffer | string) => {
      mkdirSync(join(m, p, '..'), { recursive: true });
      writeFileSync(join(m, p), data);
    };
    const remount = (opts: string) => execFileSync('mount', ['-o', `remount,${opts}`, m], { stdio: 'pipe' });
    w('hello.txt', 'hello, first version\n');
    w('docs/report.txt', seededText(21, 50_000));
    w('docs/random.bin', seededBytes(22, 300_000));
    w('empty.txt', '');
    // Compressed: remount with each algorithm, then write seeded compressible data (and one
    // small file that becomes a compressed inline extent).
    for (const alg of ['zlib', 'lzo', 'zstd'] as const) {
      remount(`compress-force=${alg}`);
      w(`compressed/${alg}/text.txt`, seededText(30 + alg.length, 1_500_000));
      w(`compressed/${alg}/mixed.bin`, Buffer.concat([seededText(40, 200_000), seededBytes(41, 100_000), Buffer.alloc(200_000, 0x61), seededText(42, 77_777)]));
      w(`compressed/${alg}/inline.txt`, seededText(50, 1500));
      execFileSync('sync');
    }
    remount('compress=no');
    // Reflinks: whole-file and a range clone into another file's middle.
    w('reflink/src.bin', seededBytes(60, 1 << 20));
    execFileSync('cp', ['--reflink=always', join(m, 'reflink/src.bin'), join(m, 'reflink/copy.bin')]);
    execFileSync('cp', ['--reflink=always', join(m, 'compressed/zstd/text.txt'), join(m, 'reflink/zstd-copy.txt')]);
    w('reflink/partial.bin', seededBytes(61, 1 << 20));
    execFileSync('xfs_io', ['-c', `reflink ${join(m, 'reflink/src.bin')} 131072 262144 131072`, join(m, 'reflink/partial.bin')]);
    // Prealloc (reads zeros), written inside a prealloc range, and past EOF (keep size).
    execFileSync('fallocate', ['-l', String(1 << 20), join(m, 'prealloc-full.bin')]);
    const pf = openSync(join(m, 'prealloc-part.bin'), 'w');
    closeSync(pf);
    execFileSync('fallocate', ['-l', String(2 << 20), join(m, 'prealloc-part.bin')]);
    execFileSync('dd', ['if=/dev/urandom', `of=${join(m, 'prealloc-part.bin')}`, 'bs=4096', 'count=16', 'seek=100', 'conv=notrunc'], { stdio: 'pipe' });
    w('prealloc-keep.bin', seededBytes(62, 10_000));
    execFileSync('fallocate', ['-n', '-o', '10000', '-l', String(1 << 20), join(m, 'prealloc-keep.bin')]);
    // Sparse: holes between writes, a hole at the end, and a file past 4 GiB.
    const sp = openSync(join(m, 'sparse.bin'), 'w');
    for (const [i, at] of [0, 1 << 20, 9 << 20].entries()) writeSync(sp, seededBytes(70 + i, 4096), 0, 4096, at);
    ftruncateSync(sp, 12 << 20);
    closeSync(sp);
    const hf = openSync(join(m, S.hugeFile), 'w');
    for (const [i, at] of S.hugeWrites.entries()) writeSync(hf, seededBytes(80 + i, 4096), 0, 4096, at);
    ftruncateSync(hf, S.hugeSize);
    closeSync(hf);
    // Hard links: many long names in one folder (INODE_EXTREF), and one in another folder.
    w('links/target.txt', 'linked\n');
    for (let i = 0; i < S.manyLinks; i++) execFileSync('ln', [join(m, 'links/target.txt'), join(m, `links/${'l'.repeat(200)}-${i}`)]);
    mkdirSync(join(m, 'links2'));
    execFileSync('ln', [join(m, 'links/target.txt'), join(m, 'links2/other-name')]);
    execFileSync('ln', ['-s', 'target.txt', join(m, 'links/sym')]);
    // Devices, FIFO, socket, owners, xattrs and a POSIX ACL.
    mkdirSync(join(m, 'dev'));
    execFileSync('mknod', [join(m, 'dev/null-like'), 'c', '1', '3']);
    execFileSync('mknod', [join(m, 'dev/loop-like'), 'b', '7', '300']);
    execFileSync('mkfifo', [join(m, 'dev/fifo')]);
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', join(m, 'dev/socket')]);
    w('owned.txt', 'owned\n');
    chownSync(join(m, 'owned.txt'), 100_000, 200_000);
    w('xattr.txt', 'has xattrs\n');
    execFileSync('setfattr', ['-n', 'user.comment', '-v', 'a short comment', join(m, 'xattr.txt')]);
    execFileSync('setfattr', ['-n', 'user.big', '-v', '0x' + seededBytes(18, 3000).toString('hex'), join(m, 'xattr.txt')]);
    // POSIX ACLs in their xattr form (setfacl is not installed everywhere): tag, perm, id.
    const acl = (ents: [number, number, number][]) => {
      const b = Buffer.alloc(4 + ents.length * 8);
      b.writeUInt32LE(2, 0);
      ents.forEach(([tag, perm, id], i) => {
        b.writeUInt16LE(tag, 4 + i * 8);
        b.writeUInt16LE(perm, 6 + i * 8);
        b.writeUInt32LE(id, 8 + i * 8);
      });
      return '0x' + b.toString('hex');
    };
    const NONE = 0xffffffff;
    execFileSync('setfattr', ['-n', 'system.posix_acl_access', '-v', acl([[1, 6, NONE], [2, 4, 1000], [4, 4, NONE], [8, 6, 2000], [0x10, 6, NONE], [0x20, 4, NONE]]), join(m, 'xattr.txt')]);
    execFileSync('setfattr', ['-n', 'system.posix_acl_default', '-v', acl([[1, 7, NONE], [2, 5, 1000], [4, 5, NONE], [0x10, 5, NONE], [0x20, 5, NONE]]), join(m, 'docs')]);
    mkdirSync(join(m, 'dates'));
    w(S.old, 'old\n');
    w(S.future, 'future\n');
    execFileSync('touch', ['-h', '-d', S.oldDate, join(m, S.old)]);
    execFileSync('touch', ['-h', '-d', S.futureDate, join(m, S.future)]);
    // Subvolumes as Fedora/openSUSE lay them out, a nested one, and snapper's snapshot layout.
    sh('btrfs', ['subvolume', 'create', join(m, 'home')]);
    w('home/user/notes.txt', seededText(90, 20_000));
    sh('btrfs', ['subvolume', 'create', join(m, 'home/user/projects')]);
    w('home/user/projects/code.c', 'int main(void) { return 0; }\n');
    sh('btrfs', ['subvolume', 'create', join(m, '.snapshots')]);
    mkdirSync(join(m, '.snapshots/1'));
    sh('btrfs', ['subvolume', 'snapshot', '-r', m, join(m, '.snapshots/1/snapshot')]);
    sh('btrfs', ['subvolume', 'snapshot', '-r', join(m, 'home'), join(m, '.snapshots/home-before')]);
    sh('btrfs', ['subvolume', 'snapshot', join(m, 'home'), join(m, 'home-rw-snap')]);
    // Changes after the snapshots: the snapshots keep the earlier versions.
    w('hello.txt', 'hello, second version (after the snapshot)\n');
    w('home/user/notes.txt', 'rewritten after the snapshot\n');
    rmSync(join(m, 'docs/random.bin'));
    w('after-snapshot.txt', 'new\n');
    execFileSync('sync');
  });
  writeKernelManifest(img);
}

/** Cache names of the Btrfs test images and how each is built. */
export const BTRFS_IMAGES = {
  rootdir: { name: 'btrfs-rootdir.img', build: (p: string) => buildRootdirImage(p) },
  kernel: { name: 'btrfs-kernel.img', build: (p: string) => buildKernelImage(p) },
  /** Without NO_HOLES: explicit hole extent items. */
  holes: { name: 'btrfs-holes.img', build: (p: string) => buildKernelImage(p, ['-O', '^no-holes']) },
  xxhash: { name: 'btrfs-xxhash.img', build: (p: string) => buildRootdirImage(p, 'xxhash') },
  sha256: { name: 'btrfs-sha256.img', build: (p: string) => buildRootdirImage(p, 'sha256') },
  blake2b: { name: 'btrfs-blake2b.img', build: (p: string) => buildRootdirImage(p, 'blake2') },
  /** RAID1 over two images (this one and secondDevice(it)). */
  raid1: { name: 'btrfs-raid1.img', build: (p: string) => buildRaid1Images(p) },
  /** RAID0 data, RAID1 metadata over two images (deviceImages(it, 2)). */
  raid0: { name: 'btrfs-raid0.img', build: (p: string) => buildMultiDeviceImages(p, 2, 'raid0', 'raid1') },
  /** RAID10 data and metadata over four images (deviceImages(it, 4)). */
  raid10: { name: 'btrfs-raid10.img', build: (p: string) => buildMultiDeviceImages(p, 4, 'raid10', 'raid10') },
} as const;

export function imageExists(p: string): boolean {
  return existsSync(p) && existsSync(`${p}.manifest.json`);
}

/** The bench image: a 256 MiB file stored plainly and the same amount zstd-compressed (compressible seeded text). */
export const BTRFS_BENCH = { plain: '/big.bin', zstd: '/big-zstd.txt', size: 256 << 20 } as const;

export function buildBtrfsBenchImage(img: string): void {
  rmSync(img, { force: true });
  const fd = openSync(img, 'w');
  ftruncateSync(fd, 800 << 20);
  closeSync(fd);
  sh('mkfs.btrfs', ['-q', '-f', '-L', 'dp-bench', img]);
  withMount(img, 'noatime', (m) => {
    const text = seededText(7, 1 << 20);
    const write = (path: string, piece: (i: number) => Buffer) => {
      const f = openSync(join(m, path), 'w');
      for (let i = 0; i < BTRFS_BENCH.size >> 20; i++) writeSync(f, piece(i));
      closeSync(f);
    };
    write(BTRFS_BENCH.plain, (i) => seededBytes(1000 + i, 1 << 20));
    execFileSync('mount', ['-o', 'remount,compress-force=zstd', m], { stdio: 'pipe' });
    // Each MiB: the text with a different 4 KiB of noise in front, so no two extents are alike.
    write(BTRFS_BENCH.zstd, (i) => Buffer.concat([seededBytes(2000 + i, 4096), text.subarray(4096)]));
    execFileSync('sync');
  });
}

/** Runs `body(mnt)` with a multi-device Btrfs (image files `imgs`) attached to loop devices and mounted. */
function withDevicesMount<T>(imgs: string[], options: string, body: (mnt: string, devs: string[]) => T, mkfs?: string[]): T {
  const devs: string[] = [];
  const mnt = `${imgs[0]}.mnt-${process.pid}`;
  mkdirSync(mnt, { recursive: true });
  let mounted = false;
  try {
    for (const img of imgs) devs.push(sh('losetup', ['-f', '--show', ...(options.includes('ro') ? ['-r'] : []), img]).trim());
    if (mkfs) sh('mkfs.btrfs', [...mkfs, ...devs]);
    sh('btrfs', ['device', 'scan', ...devs]);
    execFileSync('mount', ['-t', 'btrfs', '-o', [options, ...devs.map((d) => `device=${d}`)].join(','), devs[0]!, mnt], { stdio: 'pipe' });
    mounted = true;
    return body(mnt, devs);
  } finally {
    if (mounted) execFileSync('umount', [mnt], { stdio: 'pipe' });
    for (const d of devs) execFileSync('losetup', ['-d', d], { stdio: 'pipe' });
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** The second image of a two-device filesystem built by buildRaid1Images. */
export function secondDevice(img: string): string {
  return img.replace(/\.img$/, '-dev2.img');
}

/** Every image of a multi-device filesystem: `img` itself, then `-dev2.img`, `-dev3.img` … */
export function deviceImages(img: string, count: number): string[] {
  return [img, ...Array.from({ length: count - 1 }, (_, k) => img.replace(/\.img$/, `-dev${k + 2}.img`))];
}

/**
 * A Btrfs across `count` image files with the given data/metadata profiles, filled through the
 * kernel (the plain tree and a 5 MiB file, enough for RAID0/RAID10 to stripe); the manifest is
 * the kernel's read-only mount of all of them together.
 */
export function buildMultiDeviceImages(img: string, count: number, data: string, metadata: string): void {
  const imgs = deviceImages(img, count);
  for (const p of imgs) {
    rmSync(p, { force: true });
    const fd = openSync(p, 'w');
    ftruncateSync(fd, 300 << 20);
    closeSync(fd);
  }
  const tree = `${img}.tree`;
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  writePlainTree(tree);
  withDevicesMount(imgs, 'noatime', (m) => {
    execFileSync('cp', ['-a', `${tree}/.`, m]);
    writeFileSync(join(m, `${data}.bin`), seededBytes(95, 5 << 20));
    execFileSync('sync');
  }, ['-q', '-f', '-L', `dp-${data}`, '-d', data, '-m', metadata]);
  withDevicesMount(imgs, 'ro', (m) => {
    const m5: KernelManifest = { subvolumes: { '5': kernelWalk(m) }, list: [] };
    writeFileSync(`${img}.manifest.json`, JSON.stringify(m5));
  });
}

/**
 * RAID1 (data and metadata) across two image files, filled through the kernel; the manifest
 * is the kernel's read-only mount of both together. Each image alone holds a full copy.
 */
export function buildRaid1Images(img: string): void {
  const b = secondDevice(img);
  for (const p of [img, b]) {
    rmSync(p, { force: true });
    const fd = openSync(p, 'w');
    ftruncateSync(fd, 300 << 20);
    closeSync(fd);
  }
  const tree = `${img}.tree`;
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  writePlainTree(tree);
  withDevicesMount([img, b], 'noatime', (m) => {
    execFileSync('cp', ['-a', `${tree}/.`, m]);
    writeFileSync(join(m, 'raid1.bin'), seededBytes(95, 5 << 20));
    execFileSync('sync');
  }, ['-q', '-f', '-L', 'dp-raid1', '-d', 'raid1', '-m', 'raid1']);
  withDevicesMount([img, b], 'ro', (m) => {
    const m5: KernelManifest = { subvolumes: { '5': kernelWalk(m) }, list: [] };
    writeFileSync(`${img}.manifest.json`, JSON.stringify(m5));
  });
}
