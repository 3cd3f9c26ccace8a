/**
 * ISO 9660 test images, made by the real tools from one seeded host tree: xorriso (libisofs)
 * and genisoimage (cdrkit), with Rock Ridge and Joliet, each alone, and neither; an El Torito
 * catalog with a BIOS and an EFI boot image; a multi-extent file (over 4 GiB, written sparse).
 * The tree stays beside the images (`iso.tree/`) so tests take their oracle from the host.
 */
import { execFileSync, execSync } from 'node:child_process';
import { chmodSync, closeSync, existsSync, ftruncateSync, linkSync, lutimesSync, mkdirSync, openSync, renameSync, rmSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { addSymlink, seededBytes, seededText, writeTree, type TreeFile } from './tree.js';

const ENV = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' };

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { env: ENV, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

export const ISO_SPECIAL = {
  /** Longer than Joliet's 64 units (xorriso -joliet-long keeps 103) and than ISO level 3's 31 characters. */
  longName: 'a file name that is much longer than joliet allows in its plain form - ' + 'x'.repeat(60) + '.txt',
  unicode: 'Ünïcödé Grüße 日本語.txt',
  shortLink: '/links/short',
  absLink: '/links/absolute',
  /** Over 255 bytes: several SL component records, a continuation area. */
  longLink: '/links/long',
  longTarget: '../' + ('very-long-folder-name-'.repeat(5) + '/').repeat(3) + 'target.txt',
  dirLink: '/links/dir',
  deep: 'deep/1/2/3/4/5/6/7/8/9/10/deepest.txt',
  modes: { '/modes/private.txt': 0o600, '/modes/script.sh': 0o751, '/modes/setuid': 0o4755, '/modes/sticky-dir': 0o1777 } as Record<string, number>,
  old: '/dates/1970-01-02.txt',
  oldTime: 86_400 + 3_723,
  future: '/dates/2040.txt',
  futureTime: 2_213_047_296,
  hardA: '/hard/a.txt',
  hardB: '/hard/b.txt',
  fifo: '/dev/fifo',
  chardev: '/dev/null-like',
  biosBoot: 'boot/bios.img',
  efiBoot: 'boot/efi.img',
} as const;

/** The seeded tree every ISO is made from. Needs root (mknod). */
export function writeIsoTree(root: string): void {
  const S = ISO_SPECIAL;
  const files: TreeFile[] = [
    { path: 'README.TXT', content: seededText(1, 3000) },
    { path: 'hello.txt', content: 'hello from an ISO\n' },
    { path: 'docs/report.txt', content: seededText(2, 30_000) },
    { path: 'docs/empty.txt', content: '' },
    { path: 'docs/odd size.bin', size: 12_345, seed: 3 },
    { path: 'docs/exactly-2k.bin', size: 2048, seed: 4 },
    { path: 'mid/3m.bin', size: 3 << 20, seed: 5 },
    { path: S.longName, content: 'long name\n' },
    { path: S.unicode, content: 'unicode\n' },
    { path: 'Mixed Case/MiXeD.TxT', content: 'case\n' },
    { path: 'lower/UPPER.dat', content: 'upper\n' },
    { path: S.deep, content: 'ten folders down\n' },
    { path: 'links/target.txt', content: 'target\n' },
    { path: S.old.slice(1), content: 'old\n', mtime: S.oldTime },
    { path: S.future.slice(1), content: 'future\n', mtime: S.futureTime },
    { path: S.hardA.slice(1), content: seededText(6, 5000) },
    { path: 'modes/private.txt', content: 'private\n' },
    { path: 'modes/script.sh', content: '#!/bin/sh\necho hi\n' },
    { path: 'modes/setuid', content: 'setuid\n' },
    { path: 'modes/sticky-dir/inside.txt', content: 'inside\n' },
    { path: S.biosBoot, size: 2048, seed: 7 },
    { path: S.efiBoot, size: 64 * 1024, seed: 8 },
  ];
  for (let i = 0; i < 300; i++) files.push({ path: `many/file-${String(i).padStart(4, '0')}.txt`, content: i % 10 === 0 ? `entry ${i}\n` : '' });
  writeTree(root, files);
  linkSync(join(root, S.hardA), join(root, S.hardB));
  addSymlink(root, S.shortLink, 'target.txt');
  addSymlink(root, S.absLink, '/etc/hostname');
  addSymlink(root, S.longLink, S.longTarget);
  addSymlink(root, S.dirLink, '../docs');
  for (const l of [S.shortLink, S.absLink, S.longLink, S.dirLink]) lutimesSync(join(root, l), 1_600_000_000, 1_600_000_000);
  mkdirSync(join(root, 'dev'), { recursive: true });
  sh('mkfifo', [join(root, S.fifo)]);
  sh('mknod', [join(root, S.chardev), 'c', '1', '3']);
  for (const [p, m] of Object.entries(S.modes)) chmodSync(join(root, p), m);
  for (const p of ['dev', 'modes', 'modes/sticky-dir', 'links', 'hard']) utimesSync(join(root, p), 1_600_000_000, 1_600_000_000);
  utimesSync(join(root), 1_600_000_000, 1_600_000_000);
}

export interface IsoVariant {
  /** Cache file name. */
  name: string;
  tool: 'xorriso' | 'genisoimage';
  args: string[];
  /** Which names diskpick shows: Rock Ridge, Joliet, or the plain ISO names. */
  names: 'rockridge' | 'joliet' | 'plain';
  /** Tree paths left out of the image (genisoimage spins forever on a symlink target over 255 bytes). */
  exclude?: string[];
}

const BOOT = ['-b', ISO_SPECIAL.biosBoot, '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', ISO_SPECIAL.efiBoot, '-no-emul-boot'];

export const ISO_VARIANTS: IsoVariant[] = [
  // libisofs: Rock Ridge (RRIP 1.12 with inode numbers) + Joliet (long), El Torito BIOS + EFI.
  { name: 'iso-xorriso-rj.iso', tool: 'xorriso', args: ['-R', '-J', '-joliet-long', '-V', 'DISKPICK_XO', ...BOOT], names: 'rockridge' },
  // cdrkit: Rock Ridge (RRIP 1.09, deep folders relocated to rr_moved: CL/RE/PL) + Joliet.
  { name: 'iso-geniso-rj.iso', tool: 'genisoimage', args: ['-R', '-J', '-joliet-long', '-V', 'DISKPICK_GEN', '-m', 'long'], names: 'rockridge', exclude: [ISO_SPECIAL.longLink] },
  // Joliet only: names from the supplementary descriptor.
  { name: 'iso-geniso-j.iso', tool: 'genisoimage', args: ['-J', '-joliet-long', '-D', '-V', 'DISKPICK_J', '-m', 'long'], names: 'joliet', exclude: [ISO_SPECIAL.longLink] },
  // Neither (xorriso always adds Rock Ridge): ISO 9660 level 2 names (31 characters, upper case, ";1").
  { name: 'iso-geniso-plain.iso', tool: 'genisoimage', args: ['-iso-level', '2', '-D', '-V', 'DISKPICK_PLAIN', '-m', 'long'], names: 'plain', exclude: [ISO_SPECIAL.longLink] },
];

export function isoTreeOf(cache: string): string {
  return join(cache, 'iso.tree');
}

/** The shared seeded tree, built once. */
export function ensureIsoTree(cache: string): string {
  const tree = isoTreeOf(cache);
  if (!existsSync(`${tree}.done`)) {
    rmSync(tree, { recursive: true, force: true });
    writeIsoTree(tree);
    writeFileSync(`${tree}.done`, '');
  }
  return tree;
}

/** Builds the shared tree (once) and one variant image. */
export function buildIsoImage(cache: string, v: IsoVariant): string {
  const tree = ensureIsoTree(cache);
  const out = join(cache, v.name);
  const tmp = `${out}.tmp`;
  rmSync(tmp, { force: true });
  const args = [...v.args, '-quiet', '-o', tmp, tree];
  if (v.tool === 'xorriso') sh('xorriso', ['-as', 'mkisofs', ...args.filter((a) => a !== '-quiet')]);
  else sh('genisoimage', args);
  renameSync(tmp, out);
  return out;
}

export const BIG_ISO = {
  name: 'iso-multi-extent.iso',
  path: '/huge.bin',
  size: 4400 * 1024 * 1024,
  /** Seeded 64 KiB pieces; the first ends right across the first extent's end (4 GiB - 2 KiB). */
  pieces: [0, 4294965248 - 32 * 1024, 3 * 2 ** 30, 4400 * 1024 * 1024 - 65536],
  pieceSize: 65536,
};

/** A 4.3 GiB sparse file in an ISO (multi-extent: ISO 9660 sizes are 32-bit), the image written sparse. */
export function buildBigIso(cache: string): string {
  const work = join(cache, 'iso-big.work');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const f = join(work, BIG_ISO.path);
  const fd = openSync(f, 'w');
  BIG_ISO.pieces.forEach((at, i) => writeSync(fd, seededBytes(500 + i, BIG_ISO.pieceSize), 0, BIG_ISO.pieceSize, at));
  ftruncateSync(fd, BIG_ISO.size);
  closeSync(fd);
  const out = join(cache, BIG_ISO.name);
  const tmp = `${out}.tmp`;
  // Through dd conv=sparse: the 4 GiB of zeros never land on the disk.
  execSync(`xorriso -as mkisofs -iso-level 3 -R -J -o - ${JSON.stringify(work)} 2>/dev/null | dd of=${JSON.stringify(tmp)} bs=1M conv=sparse status=none`, { env: ENV });
  renameSync(tmp, out);
  rmSync(work, { recursive: true, force: true });
  return out;
}

/** The seeded tree with every file zisofs-compressed (xorriso's zisofs filter, Rock Ridge ZF). */
export function buildZisofsIso(cache: string): string {
  ensureIsoTree(cache);
  const out = join(cache, 'iso-xorriso-zisofs.iso');
  rmSync(`${out}.tmp`, { force: true });
  sh('xorriso', ['-outdev', `${out}.tmp`, '-map', isoTreeOf(cache), '/', '-set_filter_r', '--zisofs', '/', '--', '-commit']);
  renameSync(`${out}.tmp`, out);
  return out;
}
