/**
 * ext2/3/4 test images: a seeded source tree (with the special files, owners, xattrs and dates
 * a Linux backup holds) copied in by the real `mkfs.ext2/3/4 -d`, in several layouts. The tree
 * stays next to the image so tests take their manifest from the host, never from diskpick.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, closeSync, copyFileSync, existsSync, ftruncateSync, linkSync, mkdirSync, openSync, renameSync, rmSync, unlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { addSymlink, seededBytes, seededText, writeLargeSeeded, writeTree, type TreeFile } from './tree.js';

export interface ExtVariant {
  /** Cache name stem: the image is `<name>.img`, its tree `<name>.tree/`. */
  name: string;
  mkfs: 'mkfs.ext2' | 'mkfs.ext3' | 'mkfs.ext4';
  args: string[];
  /** Image size for mkfs (e.g. "96M"). */
  size: string;
  /** Add the 50 MiB seeded file. */
  big: boolean;
  /** 128-byte inodes store neither nanoseconds, nor epoch bits, nor crtime. */
  smallInodes: boolean;
  /** Entries in /many: mke2fs -d links names one by one with a linear scan, so 10 000 names in
   * 1 KiB blocks take it half a minute; the 1 KiB variants use fewer (still htree-indexed). */
  many: number;
  /** Add a 5 GiB sparse file (data past 4 GiB: i_size_high, 32-bit logical block math). */
  huge: boolean;
  /** The kernel can mount it (4 KiB pages cannot mount 64 KiB blocks): dates are set by the kernel, else by debugfs. */
  kernelDates: boolean;
}

export const EXT_VARIANTS: ExtVariant[] = [
  // Today's ext4 defaults: extents, flex_bg, 64bit, huge_file, metadata_csum, dir_index, 256-byte inodes.
  { name: 'ext-ext4-4k', mkfs: 'mkfs.ext4', args: ['-b', '4096', '-I', '256', '-O', 'huge_file,64bit'], size: '96M', big: true, smallInodes: false, many: 10_000, kernelDates: true, huge: true },
  // 1 KiB blocks, inline data, meta_bg descriptors, no flex_bg.
  { name: 'ext-ext4-1k-inline', mkfs: 'mkfs.ext4', args: ['-b', '1024', '-I', '256', '-O', 'inline_data,meta_bg,^resize_inode,^flex_bg'], size: '48M', big: false, smallInodes: false, many: 2000, kernelDates: true, huge: false },
  // ext3: block maps (direct … triple indirect with 1 KiB blocks), journal, 128-byte inodes.
  { name: 'ext-ext3-1k', mkfs: 'mkfs.ext3', args: ['-b', '1024', '-I', '128'], size: '48M', big: false, smallInodes: true, many: 2000, kernelDates: true, huge: true },
  // ext2: 4 KiB blocks, block maps, no journal, 128-byte inodes, 32-byte group descriptors.
  { name: 'ext-ext2-4k', mkfs: 'mkfs.ext2', args: ['-b', '4096', '-I', '128'], size: '64M', big: false, smallInodes: true, many: 10_000, kernelDates: true, huge: false },
  // 64 KiB blocks (rec_len encoding for whole-block entries), extents, no metadata_csum.
  { name: 'ext-ext4-64k', mkfs: 'mkfs.ext4', args: ['-b', '65536', '-O', '^metadata_csum,^64bit'], size: '160M', big: false, smallInodes: false, many: 10_000, kernelDates: false, huge: false },
];

/** Files the tests single out, with how they were made. */
export const EXT_SPECIAL = {
  bigFile: '/big.bin',
  bigSize: 50 * 1024 * 1024,
  sparseFile: '/sparse.bin',
  /** 80 MiB logical size: with 1 KiB blocks the last written blocks sit behind the triple indirect block. */
  sparseSize: 80 * 1024 * 1024,
  sparseWrites: [0, 1 << 20, 40 << 20, 70 << 20, 80 * 1024 * 1024 - 4096],
  manyDir: '/many',
  unicode: '/Ünïcödé 日本語 🎉.txt',
  shortLink: '/links/short',
  longLink: '/links/long',
  longTarget: '../' + 'very-long-folder-name-'.repeat(5) + '/target.txt',
  hardA: '/hard/a.txt',
  hardB: '/hard/b.txt',
  old: '/dates/1969.txt',
  oldDate: '1969-07-20 20:17:40.123456789 UTC',
  future: '/dates/2040.txt',
  futureDate: '2040-02-29 12:34:56.987654321 UTC',
  fifo: '/dev/fifo',
  chardev: '/dev/null-like',
  chardevMajor: 1,
  chardevMinor: 3,
  blockdev: '/dev/loop-like',
  blockdevMajor: 7,
  blockdevMinor: 300,
  owned: '/owned.txt',
  ownedUid: 100_000,
  ownedGid: 200_000,
  xattrFile: '/xattr.txt',
  socket: '/dev/socket',
  hugeFile: '/huge-sparse.bin',
  hugeSize: 5 * 1024 ** 3,
  /** Written 4 KiB pieces: start, around the 4 GiB line, and near the end. */
  hugeWrites: [0, 4 * 1024 ** 3 - 2048, 4.5 * 1024 ** 3, 5 * 1024 ** 3 - 4096],
} as const;

/** Writes the source tree for a variant under `root`. Needs root (mknod, chown). */
export function writeExtTree(root: string, v: ExtVariant): void {
  const S = EXT_SPECIAL;
  const files: TreeFile[] = [
    { path: 'hello.txt', content: 'hello from diskpick\n' },
    { path: 'docs/report.txt', content: seededText(11, 30_000) },
    { path: 'docs/nested/deep/deeper/file.bin', size: 123_457, seed: 12 },
    { path: 'docs/empty.txt', content: '' },
    { path: 'small/tiny.txt', content: 'tiny' },
    { path: 'small/forty.txt', content: seededText(13, 40) },
    { path: S.unicode.slice(1), content: 'unicode name\n' },
    { path: 'hard/a.txt', content: seededText(14, 5000) },
    { path: 'links/target.txt', content: 'target\n' },
    { path: 'owned.txt', content: 'owned by 100000:200000\n' },
    { path: 'xattr.txt', content: 'has xattrs\n' },
    { path: 'dates/1969.txt', content: 'old\n' },
    { path: 'dates/2040.txt', content: 'future\n' },
    { path: 'inline-dir/a', content: 'a' },
    { path: 'mid/4k-plus-1.bin', size: 4097, seed: 15 },
    { path: 'mid/1m.bin', size: 1 << 20, seed: 16 },
  ];
  // Most of the 10 000 entries are empty so the images stay small; every 50th has content.
  for (let i = 0; i < v.many; i++) {
    const name = `many/file-${String(i).padStart(5, '0')}.txt`;
    files.push({ path: name, content: i % 50 === 0 ? `entry ${i}\n` : '' });
  }
  writeTree(root, files);
  if (v.big) writeLargeSeeded(join(root, S.bigFile), S.bigSize, 17);

  // A sparse file: a few written 4 KiB pieces in a large hole.
  const sp = join(root, S.sparseFile);
  const fd = openSync(sp, 'w');
  for (const [i, at] of S.sparseWrites.entries()) writeSync(fd, seededBytes(100 + i, 4096), 0, 4096, at);
  ftruncateSync(fd, S.sparseSize);
  closeSync(fd);
  utimesSync(sp, 1_600_000_000, 1_600_000_000);

  if (v.huge) {
    const hf = openSync(join(root, S.hugeFile), 'w');
    for (const [i, at] of S.hugeWrites.entries()) writeSync(hf, seededBytes(150 + i, 4096), 0, 4096, at);
    ftruncateSync(hf, S.hugeSize);
    closeSync(hf);
    utimesSync(join(root, S.hugeFile), 1_600_000_000, 1_600_000_000);
  }

  addSymlink(root, S.shortLink, 'target.txt');
  addSymlink(root, S.longLink, S.longTarget);
  linkSync(join(root, S.hardA), join(root, S.hardB));
  mkdirSync(join(root, 'dev'), { recursive: true });
  execFileSync('mkfifo', [join(root, S.fifo)]);
  execFileSync('mknod', [join(root, S.chardev), 'c', String(S.chardevMajor), String(S.chardevMinor)]);
  execFileSync('mknod', [join(root, S.blockdev), 'b', String(S.blockdevMajor), String(S.blockdevMinor)]);
  chownSync(join(root, S.owned), S.ownedUid, S.ownedGid);
  // A bound Unix socket leaves its socket inode behind when the binding process exits.
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', join(root, S.socket)]);

  const xf = join(root, S.xattrFile);
  execFileSync('setfattr', ['-n', 'user.comment', '-v', 'a short comment', xf]);
  // Too large for the inode body: lands in an external xattr block.
  execFileSync('setfattr', ['-n', 'user.big', '-v', '0x' + seededBytes(18, 800).toString('hex'), xf]);
  execFileSync('setfattr', ['-n', 'trusted.note', '-v', 'trusted value', xf]);
  execFileSync('setfattr', ['-n', 'security.label', '-v', 'system_u:object_r:test_t', xf]);
  // A POSIX ACL in xattr form (version 2): user::rw- user:1000:r-- group::r-- mask::r-- other::---.
  const acl = Buffer.alloc(4 + 5 * 8);
  acl.writeUInt32LE(2, 0);
  const ents: [number, number, number][] = [[1, 6, 0xffffffff], [2, 4, 1000], [4, 4, 0xffffffff], [0x10, 4, 0xffffffff], [0x20, 0, 0xffffffff]];
  ents.forEach(([tag, perm, id], i) => {
    acl.writeUInt16LE(tag, 4 + i * 8);
    acl.writeUInt16LE(perm, 6 + i * 8);
    acl.writeUInt32LE(id, 8 + i * 8);
  });
  execFileSync('setfattr', ['-n', 'system.posix_acl_access', '-v', '0x' + acl.toString('hex'), xf]);
  execFileSync('setfattr', ['-n', 'user.dirnote', '-v', 'on a folder', join(root, 'docs')]);

  // Dates last: anything written above would bump them.
  execFileSync('touch', ['-h', '-d', S.oldDate, join(root, S.old)]);
  execFileSync('touch', ['-h', '-d', S.futureDate, join(root, S.future)]);
  for (const d of ['dates', 'dev', 'links', 'hard', '']) utimesSync(join(root, d), 1_600_000_000, 1_600_000_000);
}

/** Builds `<name>.img` from its tree with the real mkfs. */
export function buildExtImage(imgPath: string, v: ExtVariant): string {
  const tree = imgPath.replace(/\.img$/, '.tree');
  writeExtTree(tree, v);
  rmSync(imgPath, { force: true });
  mkdirSync(dirname(imgPath), { recursive: true });
  execFileSync(v.mkfs, ['-F', '-q', '-N', '12000', '-L', v.name.slice(0, 16), '-E', 'root_owner=0:0', ...v.args, '-d', tree, imgPath, v.size], {
    env: { ...process.env, E2FSPROGS_FAKE_TIME: '', MKE2FS_DEVICE_SECTSIZE: '512' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // mke2fs -d writes linear folders; e2fsck -D rebuilds them as htree indexes, as a kernel
  // does once a folder outgrows one block. Exit status 1 means "fixed/optimized", not failure.
  const r = spawnSync('e2fsck', ['-fyD', imgPath], { stdio: 'pipe' });
  if (r.status !== 0 && r.status !== 1) throw new Error(`e2fsck -fyD ${imgPath} failed (${r.status}): ${r.stderr}`);
  if (v.kernelDates) setDatesWithKernel(imgPath);
  else setDatesWithDebugfs(imgPath);
  return tree;
}

/**
 * mke2fs -d copies seconds only (no nanoseconds, no epoch bits: a 2040 date becomes 1904), so
 * the dated files get their times from the kernel: loop-mount, `touch -d`, unmount. The kernel's
 * own encoding is then the reference (on 128-byte inodes it clamps to 2038, as it would).
 */
function setDatesWithKernel(imgPath: string): void {
  const mnt = imgPath + '.mnt';
  mkdirSync(mnt, { recursive: true });
  try {
    execFileSync('mount', ['-o', 'loop,noatime', imgPath, mnt], { stdio: 'pipe' });
  } catch (err) {
    rmSync(mnt, { recursive: true, force: true });
    throw new Error(`ext test images need a loop mount (root) to set 1969/2040 dates: ${(err as Error).message}`);
  }
  try {
    const S = EXT_SPECIAL;
    execFileSync('touch', ['-h', '-d', S.oldDate, join(mnt, S.old)]);
    execFileSync('touch', ['-h', '-d', S.futureDate, join(mnt, S.future)]);
  } finally {
    execFileSync('umount', [mnt], { stdio: 'pipe' });
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** Whole seconds through debugfs (which writes the epoch bits), for volumes the kernel cannot mount. */
function setDatesWithDebugfs(imgPath: string): void {
  const S = EXT_SPECIAL;
  const cmds: string[] = [];
  for (const [path, date] of [[S.old, S.oldDate], [S.future, S.futureDate]] as const) {
    const secs = Math.floor(Date.parse(date.replace(/\.\d+ UTC$/, 'Z').replace(' ', 'T')) / 1000);
    for (const f of ['mtime', 'atime']) cmds.push(`sif ${path} ${f} ${secs < 0 ? String(secs) : isoCompact(secs)}`);
  }
  execFileSync('debugfs', ['-w', '-f', '-', imgPath], { input: cmds.join('\n') + '\n', stdio: ['pipe', 'pipe', 'pipe'] });
}

/** YYYYMMDDHHMMSS, the form debugfs's set_inode_field reads as a UTC date. */
function isoCompact(secs: number): string {
  return new Date(secs * 1000).toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** The tree folder that belongs to a variant's image path. */
export function treeOf(imgPath: string): string {
  return imgPath.replace(/\.img$/, '.tree');
}

/** fsync every file and folder under argv[1] (Node's fsync cannot open folders). */
const FSYNC_ALL = `import os,sys\nfor d,ds,fs in os.walk(sys.argv[1]):\n  for n in fs+['.']:\n    fd=os.open(os.path.join(d,n),os.O_RDONLY); os.fsync(fd); os.close(fd)`;

/**
 * A crash-consistent backup: an ext4 volume loop-mounted by the kernel, written to and synced,
 * copied while still mounted (journal committed, not checkpointed, needs_recovery set), then
 * unmounted. Needs root and loop devices; returns false when the kernel refuses the mount.
 */
export function buildJournalImage(imgPath: string, mkfs: 'mkfs.ext3' | 'mkfs.ext4' = 'mkfs.ext4', args: string[] = ['-b', '4096']): boolean {
  const base = imgPath + '.base';
  const mnt = imgPath + '.mnt';
  rmSync(base, { force: true });
  execFileSync(mkfs, ['-F', '-q', '-J', 'size=4', ...args, base, '32M'], { stdio: 'pipe' });
  mkdirSync(mnt, { recursive: true });
  try {
    execFileSync('mount', ['-o', 'loop,commit=600', base, mnt], { stdio: 'pipe' });
  } catch {
    rmSync(base, { force: true });
    return false;
  }
  try {
    // A first generation of files, fully written back to their home locations.
    mkdirSync(join(mnt, 'kept'), { recursive: true });
    for (let i = 0; i < 5; i++) writeFileSync(join(mnt, 'kept', `old-${i}.txt`), seededText(400 + i, 2000));
    writeFileSync(join(mnt, 'doomed.txt'), 'deleted after the checkpoint\n');
    execFileSync('sync', []);
    // The second generation is only committed to the journal: fsync forces a jbd2 commit but,
    // unlike sync, does not write the metadata buffers back to the device, so the copy taken
    // right after holds them in the journal only (needs_recovery set).
    mkdirSync(join(mnt, 'after-crash'), { recursive: true });
    for (let i = 0; i < 40; i++) writeFileSync(join(mnt, 'after-crash', `file-${i}.txt`), seededText(200 + i, 100 + i * 97));
    writeFileSync(join(mnt, 'written.bin'), seededBytes(300, 300_000));
    renameSync(join(mnt, 'kept', 'old-0.txt'), join(mnt, 'kept', 'renamed-0.txt'));
    unlinkSync(join(mnt, 'doomed.txt'));
    // A folder committed and then deleted in a later transaction: freeing its blocks writes
    // revoke records, so replay must not bring its old block contents back.
    mkdirSync(join(mnt, 'short-lived'));
    for (let i = 0; i < 60; i++) writeFileSync(join(mnt, 'short-lived', `entry-with-a-long-name-${i}.txt`), `x${i}`);
    execFileSync('python3', ['-c', FSYNC_ALL, mnt]);
    rmSync(join(mnt, 'short-lived'), { recursive: true });
    writeFileSync(join(mnt, 'kept', 'old-1.txt'), seededText(500, 3000));
    execFileSync('python3', ['-c', FSYNC_ALL, mnt]);
    copyFileSync(base, imgPath);
  } finally {
    execFileSync('umount', [mnt], { stdio: 'pipe' });
    rmSync(mnt, { recursive: true, force: true });
    rmSync(base, { force: true });
  }
  return existsSync(imgPath);
}

/**
 * A small ext4 (1 KiB blocks, metadata_csum) for damage tests: a file of 8 separate extents
 * (so its tree has an index level), a folder spanning several blocks, and a few small files.
 */
export function buildExtHostileBase(imgPath: string): string {
  const tree = treeOf(imgPath);
  writeTree(tree, [
    { path: 'a.txt', content: seededText(600, 3000) },
    { path: 'b.txt', content: seededText(601, 2000) },
    { path: 'c.txt', content: seededText(602, 1500) },
    ...Array.from({ length: 40 }, (_, i) => ({ path: `dir/a-fairly-long-file-name-number-${String(i).padStart(3, '0')}.txt`, content: `file ${i}\n` })),
  ]);
  // Eight written pieces with holes between them: eight extents, more than the inode's four slots.
  const fd = openSync(join(tree, 'frag.bin'), 'w');
  for (let i = 0; i < 8; i++) writeSync(fd, seededBytes(700 + i, 1024), 0, 1024, i * 8192);
  closeSync(fd);
  rmSync(imgPath, { force: true });
  execFileSync('mkfs.ext4', ['-F', '-q', '-b', '1024', '-I', '256', '-E', 'root_owner=0:0', '-d', tree, imgPath, '8M'], { stdio: 'pipe' });
  return tree;
}

/** Bench image: a 256 MiB seeded file and 100 000 empty files in 100 folders, ext4 4 KiB blocks. */
export const EXT_BENCH = { file: '/seeded-256MiB.bin', size: 256 * 1024 * 1024, tree: '/tree', files: 100_000, perDir: 1000 } as const;

/**
 * ext4 holding the tree of the NTFS listing image (scripts/images/ntfs.ts buildNtfsManyFiles:
 * folders d000.. of `file-N.txt` holding "d/N"), made by mkfs.ext4 -d: NTFS `ls -R` against
 * ext4 on the same names (the ext4 bench image's names are 5 characters, the NTFS image's 12).
 */
export function buildExtLikeNtfsManyFiles(imgPath: string, count: number): void {
  const tree = imgPath.replace(/\.img$/, '.src');
  rmSync(tree, { recursive: true, force: true });
  for (let d = 0; d * 1000 < count; d++) {
    const dir = join(tree, `d${String(d).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 1000 && d * 1000 + i < count; i++) writeFileSync(join(dir, `file-${i}.txt`), `${d}/${i}\n`);
  }
  rmSync(imgPath, { force: true });
  execFileSync('mkfs.ext4', ['-F', '-q', '-b', '4096', '-N', String(count + 10000), '-E', 'root_owner=0:0', '-d', tree, `${imgPath}.tmp`, '448M'], { stdio: 'pipe' });
  renameSync(`${imgPath}.tmp`, imgPath);
  rmSync(tree, { recursive: true, force: true });
}

export function buildExtBenchImage(imgPath: string): void {
  const tree = imgPath.replace(/\.img$/, '.src');
  rmSync(tree, { recursive: true, force: true });
  writeLargeSeeded(join(tree, EXT_BENCH.file), EXT_BENCH.size, 31);
  for (let d = 0; d < EXT_BENCH.files / EXT_BENCH.perDir; d++) {
    const dir = join(tree, EXT_BENCH.tree, `d${String(d).padStart(3, '0')}`);
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < EXT_BENCH.perDir; i++) closeSync(openSync(join(dir, `f${String(i).padStart(4, '0')}`), 'w'));
  }
  rmSync(imgPath, { force: true });
  execFileSync('mkfs.ext4', ['-F', '-q', '-b', '4096', '-N', '110000', '-E', 'root_owner=0:0', '-d', tree, imgPath, '448M'], { stdio: 'pipe' });
  rmSync(tree, { recursive: true, force: true });
}
