/**
 * XFS test images from the real mkfs.xfs. Variants the kernel can mount (v5, block size <= the
 * 4 KiB page) are populated through a root loop mount, so the kernel itself writes every
 * structure (short-form to B+tree folders, bmbt files, xattrs in every form, unwritten
 * extents); the others (v4: this kernel has no CONFIG_XFS_SUPPORT_V4; 64 KiB blocks) are
 * filled by `mkfs.xfs -p protofile` from a host tree, which stays next to the image as the
 * manifest. A dirty-log image is made with `xfs_io -x -c 'shutdown -f'` before unmounting.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, closeSync, copyFileSync, fsyncSync, lstatSync, renameSync, mkdirSync, openSync, readdirSync, rmSync, symlinkSync, linkSync, writeFileSync, writeSync, ftruncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { seededBytes, seededText, writeLargeSeeded } from './tree.js';

export interface XfsVariant {
  /** Cache name stem: `<name>.img` (and `<name>.tree/` with the protofile's sources). */
  name: string;
  args: string[];
  /** Populated through a kernel loop mount, else by a protofile. */
  kernel: boolean;
  /** Files in /many (100 000: a B+tree folder). */
  many: number;
  /** Times past 2038 are stored (bigtime). */
  bigtime: boolean;
}

export const XFS_VARIANTS: XfsVariant[] = [
  // Today's defaults (crc, ftype, bigtime, sparse inodes, reflink, finobt) + nrext64 counters.
  { name: 'xfs-v5', args: ['-i', 'nrext64=1'], kernel: true, many: 100_000, bigtime: true },
  // Directory blocks of 64 KiB over 4 KiB filesystem blocks; 4 KiB sectors; 32-bit times.
  { name: 'xfs-v5-dir64k', args: ['-n', 'size=65536', '-s', 'size=4096', '-m', 'bigtime=0'], kernel: true, many: 5000, bigtime: false },
  // v4 (RHEL 6/7 era): no CRCs, 512-byte blocks, folders without ftype, v2 inodes.
  { name: 'xfs-v4-512', args: ['-m', 'crc=0', '-n', 'ftype=0', '-b', 'size=512'], kernel: false, many: 3000, bigtime: false },
  // 64 KiB blocks (ppc64/arm64 page size): the kernel here cannot mount them.
  { name: 'xfs-v5-64k', args: ['-b', 'size=65536'], kernel: false, many: 3000, bigtime: true },
];

/** Files the tests single out. */
export const XFS_SPECIAL = {
  unicode: '/Ünïcödé-日本語-🎉.txt',
  /** Bytes that are not UTF-8 (listed with U+FFFD, as ext names are). */
  badName: Buffer.from('bad-\xff\xfe-name.txt', 'latin1'),
  big: '/big.bin',
  bigSize: 9 * 1024 * 1024 + 123,
  sparse: '/sparse.bin',
  sparseSize: 40 * 1024 * 1024,
  sparseWrites: [0, 1 << 20, 20 << 20, 40 * 1024 * 1024 - 4096],
  huge: '/huge-sparse.bin',
  hugeSize: 5 * 1024 ** 3,
  hugeWrites: [0, 4 * 1024 ** 3 - 2048, 4.5 * 1024 ** 3],
  prealloc: '/prealloc.bin',
  /** 10 000 extents: every other 4 KiB block written. */
  fragmented: '/fragmented.bin',
  fragmentedExtents: 10_000,
  dirs: { sf: 3, block: 40, leaf: 400, node: 3000 } as Record<string, number>,
  many: '/many',
  xattrSf: '/xattr/sf.txt',
  xattrLeaf: '/xattr/leaf.txt',
  xattrNode: '/xattr/node.txt',
  xattrRemote: '/xattr/remote.txt',
  acl: '/xattr/acl.txt',
  aclDir: '/xattr/acl-dir',
  hardA: '/hard/a.txt',
  hardB: '/hard/b.txt',
  shortLink: '/links/short',
  longLink: '/links/long',
  longTarget: 'long-target-'.repeat(40) + 'end',
  owned: '/owned.txt',
  old: '/dates/1969.txt',
  future: '/dates/2040.txt',
  far: '/dates/2200.txt',
} as const;

function sh(cmd: string, args: string[]): void {
  execFileSync(cmd, args, { stdio: 'pipe' });
}

/**
 * Writes the common tree under `root` (a mounted XFS, or a host folder for a protofile).
 * `kernel`: the things only a real XFS mount can hold (xattrs, hard links, sockets, unwritten
 * extents, holes, a 10 000-extent file).
 */
export function populate(root: string, v: XfsVariant, kernel: boolean): void {
  const S = XFS_SPECIAL;
  const w = (p: string, data: Buffer | string) => {
    mkdirSync(dirname(join(root, p)), { recursive: true });
    writeFileSync(join(root, p), data);
  };
  w('/hello.txt', 'hello from diskpick\n');
  w('/docs/report.txt', seededText(11, 30_000));
  w('/docs/nested/deep/deeper/file.bin', seededBytes(12, 123_457));
  w('/docs/empty.txt', '');
  w('/inline.txt', 'tiny');
  w(kernel ? S.unicode : S.unicode.replace(/ /g, '_'), 'unicode name\n');
  writeLargeSeeded(join(root, S.big), S.bigSize, 17);
  for (const [d, n] of Object.entries(S.dirs)) {
    for (let i = 0; i < n; i++) w(`/dirs/${d}/entry-with-a-longer-name-${String(i).padStart(5, '0')}.txt`, i % 97 === 0 ? `entry ${i}\n` : '');
  }
  mkdirSync(join(root, S.many), { recursive: true });
  for (let i = 0; i < v.many; i++) {
    const fd = openSync(join(root, S.many, `file-${String(i).padStart(6, '0')}`), 'w');
    if (i % 1000 === 0) writeSync(fd, `entry ${i}\n`);
    closeSync(fd);
  }
  mkdirSync(join(root, 'links'), { recursive: true });
  w('/links/target.txt', 'target\n');
  symlinkSync('target.txt', join(root, S.shortLink));
  symlinkSync(S.longTarget, join(root, S.longLink));
  mkdirSync(join(root, 'dev'), { recursive: true });
  sh('mkfifo', [join(root, 'dev/fifo')]);
  sh('mknod', [join(root, 'dev/null-like'), 'c', '1', '3']);
  sh('mknod', [join(root, 'dev/loop-like'), 'b', '7', '300']);
  w(S.owned, 'owned by 100000:200000\n');
  chownSync(join(root, S.owned), 100_000, 200_000);
  w(S.old, 'old\n');
  w(S.future, 'future\n');
  if (v.bigtime) w(S.far, 'far future\n');
  if (!kernel) return;

  writeFileSync(Buffer.concat([Buffer.from(root + '/'), S.badName]), 'not utf-8\n');
  mkdirSync(join(root, 'hard'), { recursive: true });
  w(S.hardA, seededText(14, 5000));
  linkSync(join(root, S.hardA), join(root, S.hardB));
  execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', join(root, 'dev/socket')]);

  // Holes, unwritten (preallocated) extents, data past 4 GiB, and 10 000 extents (a bmbt).
  const sp = openSync(join(root, S.sparse), 'w');
  for (const [i, at] of S.sparseWrites.entries()) writeSync(sp, seededBytes(100 + i, 4096), 0, 4096, at);
  ftruncateSync(sp, S.sparseSize);
  closeSync(sp);
  const hf = openSync(join(root, S.huge), 'w');
  for (const [i, at] of S.hugeWrites.entries()) writeSync(hf, seededBytes(150 + i, 4096), 0, 4096, at);
  ftruncateSync(hf, S.hugeSize);
  closeSync(hf);
  // Shared extents (reflink, on by default in v5): read as plain data.
  sh('cp', ['--reflink=always', join(root, S.big), join(root, '/reflinked.bin')]);
  sh('xfs_io', ['-f', '-c', 'falloc 0 8m', '-c', 'pwrite -S 0x5a 1m 64k', '-c', 'falloc -k 8m 1m', join(root, S.prealloc)]);
  execFileSync('python3', ['-c', `
import os,sys
fd=os.open(sys.argv[1],os.O_WRONLY|os.O_CREAT,0o644)
b=bytes(range(256))*16
for i in range(${S.fragmentedExtents}):
    os.pwrite(fd,b[i%256:]+b[:i%256],i*8192)
os.fsync(fd)
os.close(fd)
`, join(root, S.fragmented)]);

  // Attributes: short form, one leaf block, a node tree, a remote value, POSIX ACLs.
  mkdirSync(join(root, 'xattr'), { recursive: true });
  const setx = (p: string, name: string, value: Buffer | string) => {
    const hex = '0x' + Buffer.from(value).toString('hex');
    sh('setfattr', ['-n', name, '-v', hex, join(root, p)]);
  };
  w(S.xattrSf, 'sf\n');
  setx(S.xattrSf, 'user.comment', 'a short comment');
  setx(S.xattrSf, 'trusted.note', 'trusted value');
  setx(S.xattrSf, 'security.label', 'system_u:object_r:test_t');
  w(S.xattrLeaf, 'leaf\n');
  for (let i = 0; i < 30; i++) setx(S.xattrLeaf, `user.leaf-${i}`, seededText(300 + i, 60));
  w(S.xattrNode, 'node\n');
  for (let i = 0; i < 800; i++) setx(S.xattrNode, `user.node-attribute-${String(i).padStart(4, '0')}`, seededText(1000 + i, 40 + (i % 50)));
  w(S.xattrRemote, 'remote\n');
  setx(S.xattrRemote, 'user.big', seededBytes(18, 20_000));
  setx(S.xattrRemote, 'user.small', 'x');
  w(S.acl, 'acl\n');
  // POSIX ACLs in xattr form (version 2; setfacl is not installed everywhere).
  setx(S.acl, 'system.posix_acl_access', aclXattr([[1, 6, -1], [2, 4, 1000], [4, 4, -1], [8, 6, 2000], [0x10, 6, -1], [0x20, 0, -1]]));
  mkdirSync(join(root, S.aclDir));
  setx(S.aclDir, 'system.posix_acl_default', aclXattr([[1, 7, -1], [2, 7, 1001], [4, 5, -1], [0x10, 7, -1], [0x20, 5, -1]]));
}

/** An ACL in the xattr form: version 2, then (tag, perm, id) entries, -1 for none. */
function aclXattr(entries: [number, number, number][]): Buffer {
  const b = Buffer.alloc(4 + entries.length * 8);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + i * 8);
    b.writeUInt16LE(perm, 6 + i * 8);
    b.writeUInt32LE(id >>> 0, 8 + i * 8);
  });
  return b;
}

/** Dates, set last (creating entries bumps folder times). */
function setDates(root: string, v: XfsVariant): void {
  const S = XFS_SPECIAL;
  sh('touch', ['-h', '-d', '1969-07-20 20:17:40.123456789 UTC', join(root, S.old)]);
  sh('touch', ['-h', '-d', '2038-02-28 12:34:56.987654321 UTC', join(root, S.future)]);
  if (v.bigtime) sh('touch', ['-h', '-d', '2200-01-01 00:00:01.5 UTC', join(root, S.far)]);
}

/** Builds a variant's image (root needed: loop mount, mknod, chown). */
export function buildXfsImage(imgPath: string, v: XfsVariant): void {
  const tmp = imgPath + '.tmp';
  rmSync(tmp, { force: true });
  execFileSync('truncate', ['-s', v.kernel ? '1G' : '400M', tmp]);
  if (v.kernel) {
    sh('mkfs.xfs', ['-f', '-q', ...v.args, tmp]);
    const mnt = imgPath + '.mnt';
    mkdirSync(mnt, { recursive: true });
    sh('mount', ['-o', 'loop', tmp, mnt]);
    try {
      populate(mnt, v, true);
      setDates(mnt, v);
    } finally {
      sh('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  } else {
    const tree = treeOf(imgPath);
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    populate(tree, v, false);
    setDates(tree, v);
    const proto = imgPath + '.proto';
    writeFileSync(proto, protofileOf(tree));
    const r = spawnSync('mkfs.xfs', ['-f', '-q', ...v.args, '-p', proto, tmp], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`mkfs.xfs failed: ${r.stderr}`);
    rmSync(proto, { force: true });
  }
  execFileSync('mv', [tmp, imgPath]);
}

export function treeOf(imgPath: string): string {
  return imgPath.replace(/\.img$/, '') + '.tree';
}

/** mkfs.xfs's prototype file for a host tree (files, folders, symlinks, devices, FIFOs). */
export function protofileOf(tree: string): string {
  const lines = ['/dev/null', '0 0', 'd--755 0 0'];
  const perm = (m: number) => (m & 0o4000 ? 'u' : '-') + (m & 0o2000 ? 'g' : '-') + (m & 0o777).toString(8).padStart(3, '0');
  const walk = (d: string, depth: number) => {
    const pad = ' '.repeat(depth);
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const own = `${st.uid} ${st.gid}`;
      if (st.isDirectory()) {
        lines.push(`${pad}${name} d${perm(st.mode)} ${own}`);
        walk(p, depth + 1);
        lines.push(`${pad}$`);
      } else if (st.isSymbolicLink()) {
        lines.push(`${pad}${name} l${perm(st.mode)} ${own} ${execFileSync('readlink', [p], { encoding: 'utf8' }).trim()}`);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        const major = Math.floor(st.rdev / 256) & 0xfff;
        const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & ~0xff);
        lines.push(`${pad}${name} ${st.isCharacterDevice() ? 'c' : 'b'}${perm(st.mode)} ${own} ${major} ${minor}`);
      } else if (st.isFIFO()) {
        lines.push(`${pad}${name} p${perm(st.mode)} ${own}`);
      } else if (st.isFile()) {
        lines.push(`${pad}${name} -${perm(st.mode)} ${own} ${p}`);
      }
    }
  };
  walk(tree, 1);
  lines.push('$');
  return lines.join('\n') + '\n';
}

/** A small v5 volume whose log holds committed but un-checkpointed transactions. */
export function buildXfsDirtyImage(imgPath: string): void {
  const tmp = imgPath + '.tmp';
  const mnt = imgPath + '.mnt';
  rmSync(tmp, { force: true });
  execFileSync('truncate', ['-s', '320M', tmp]);
  sh('mkfs.xfs', ['-f', '-q', tmp]);
  mkdirSync(mnt, { recursive: true });
  sh('mount', ['-o', 'loop', tmp, mnt]);
  let mounted = true;
  try {
    mkdirSync(join(mnt, 'kept'));
    for (let i = 0; i < 5; i++) writeFileSync(join(mnt, 'kept', `old-${i}.txt`), seededText(400 + i, 2000));
    sh('sync', []);
    sh('xfs_io', ['-x', '-c', 'freeze', '-c', 'thaw', mnt]);
    // Committed to the log (fsync: data on disk, metadata in the log; shutdown -f flushes the
    // rest) but never written to their home blocks.
    mkdirSync(join(mnt, 'after-crash'));
    for (let i = 0; i < 40; i++) {
      const fd = openSync(join(mnt, 'after-crash', `file-${i}.txt`), 'w');
      writeSync(fd, seededText(200 + i, 100 + i * 97));
      fsyncSync(fd);
      closeSync(fd);
    }
    // A big folder (block → leaf form), an xattr, a rename and a delete, all in the log only.
    mkdirSync(join(mnt, 'after-crash', 'many'));
    for (let i = 0; i < 300; i++) closeSync(openSync(join(mnt, 'after-crash', 'many', `entry-${i}`), 'w'));
    sh('setfattr', ['-n', 'user.logged', '-v', 'in the log', join(mnt, 'kept', 'old-0.txt')]);
    renameSync(join(mnt, 'kept', 'old-1.txt'), join(mnt, 'kept', 'renamed-1.txt'));
    rmSync(join(mnt, 'kept', 'old-4.txt'));
    sh('xfs_io', ['-x', '-c', 'shutdown -f', mnt]);
    sh('umount', [mnt]);
    mounted = false;
  } finally {
    if (mounted) spawnSync('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
  copyFileSync(tmp, imgPath);
  rmSync(tmp, { force: true });
}

export function xfsImagePath(cache: string, v: XfsVariant): string {
  return join(cache, `${v.name}.img`);
}


/**
 * A small v5 volume for hostile-input tests: a file with a bmbt (300 extents), a node-form
 * folder (2000 names), an attribute node tree (300 attributes). Tests damage copies with
 * `xfs_db -x` (loops, wrong levels) and check diskpick errors out instead of hanging.
 */
export function buildXfsHostileBase(imgPath: string): void {
  const tmp = imgPath + '.tmp';
  const mnt = imgPath + '.mnt';
  rmSync(tmp, { force: true });
  execFileSync('truncate', ['-s', '32M', tmp]);
  execFileSync('mkfs.xfs', ['-f', '-q', tmp], { stdio: 'pipe', env: { ...process.env, TEST_DIR: '1', TEST_DEV: '1', QA_CHECK_FS: '1' } });
  mkdirSync(mnt, { recursive: true });
  sh('mount', ['-o', 'loop', tmp, mnt]);
  try {
    const fd = openSync(join(mnt, 'frag.bin'), 'w');
    for (let i = 0; i < 300; i++) writeSync(fd, seededBytes(i, 4096), 0, 4096, i * 8192);
    closeSync(fd);
    mkdirSync(join(mnt, 'big'));
    for (let i = 0; i < 2000; i++) closeSync(openSync(join(mnt, 'big', `name-${String(i).padStart(5, '0')}`), 'w'));
    writeFileSync(join(mnt, 'attrs'), 'attrs\n');
    for (let i = 0; i < 300; i++) sh('setfattr', ['-n', `user.attribute-number-${i}`, '-v', `value-${i}-xxxxxxxxxxxxxxxxxxxxxxxx`, join(mnt, 'attrs')]);
  } finally {
    sh('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
  execFileSync('mv', [tmp, imgPath]);
}

export const XFS_BENCH = { file: '/seeded-256MiB.bin', size: 256 * 1024 * 1024, tree: '/tree', files: 100_000, perDir: 1000 } as const;

/** The bench volume: a 256 MiB seeded file and 100 000 empty files in 100 folders, written by the kernel. */
export function buildXfsBenchImage(imgPath: string): void {
  const tmp = imgPath + '.tmp';
  const mnt = imgPath + '.mnt';
  rmSync(tmp, { force: true });
  execFileSync('truncate', ['-s', '1G', tmp]);
  sh('mkfs.xfs', ['-f', '-q', tmp]);
  mkdirSync(mnt, { recursive: true });
  sh('mount', ['-o', 'loop', tmp, mnt]);
  try {
    writeLargeSeeded(join(mnt, XFS_BENCH.file), XFS_BENCH.size, 31);
    for (let d = 0; d < XFS_BENCH.files / XFS_BENCH.perDir; d++) {
      const dir = join(mnt, XFS_BENCH.tree, `d${String(d).padStart(3, '0')}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < XFS_BENCH.perDir; i++) closeSync(openSync(join(dir, `f${String(i).padStart(4, '0')}`), 'w'));
    }
  } finally {
    sh('umount', [mnt]);
    rmSync(mnt, { recursive: true, force: true });
  }
  execFileSync('mv', [tmp, imgPath]);
}
