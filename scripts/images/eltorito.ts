/**
 * El Torito and hybrid ISO test images, made by the real tools: mkfs.fat + mtools make the boot
 * images (a 1.44 MB floppy with files, an EFI FAT image, a hard-disk image with an MBR and one
 * FAT partition), then
 * - eltorito-xorriso.iso: xorriso -as mkisofs, floppy emulation (-b floppy.img) + EFI
 *   (-e efi.img -no-emul-boot) + hard-disk emulation (-hard-disk-boot);
 * - eltorito-geniso.iso: genisoimage, a BIOS loader with -boot-load-size 4 and the EFI image
 *   with its default count (genisoimage writes a short Sector Count for no-emulation images:
 *   the case the FAT size fixes);
 * - hybrid-mbr.iso: xorriso -partition_offset 16 with the EFI image appended as MBR
 *   partition 2 (what Debian's installer ISOs do);
 * - hybrid-gpt.iso: the same with -appended_part_as_gpt (GPT + ISO, as Ubuntu's);
 * - hybrid-isohybrid.iso: -isohybrid-mbr -isohybrid-gpt-basdat, Debian's layout (MBR partition 1
 *   of type 0 from sector 0 over the ISO, partition 2 the EFI image inside it).
 * The tree (`eltorito.tree/`) stays beside them: the boot image files in it are the oracle
 * for the boot volumes' bytes; mtools lists the FAT images.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededBytes, seededText } from './tree.js';

const ENV = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8', MTOOLS_SKIP_CHECK: '1' };

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { env: ENV, encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

export const ELTORITO = {
  floppy: 'boot/floppy.img',
  efi: 'boot/efi.img',
  hd: 'boot/hd.img',
  bios: 'boot/loader.bin',
  /** Files put in the FAT images (name in the image → content). */
  floppyFiles: { 'FLOPPY.TXT': 'on the boot floppy\n', 'SEEDED.BIN': seededBytes(901, 100_000) } as Record<string, string | Buffer>,
  efiFiles: { 'EFI/BOOT/BOOTX64.EFI': seededBytes(902, 300_000), 'EFI/README.TXT': 'efi system partition\n' } as Record<string, string | Buffer>,
  hdFiles: { 'HARDDISK.TXT': 'on the emulated hard disk\n' } as Record<string, string | Buffer>,
  /** EFI image: a 4 MiB FAT16 (its 8192 sectors do not fit the 16-bit Sector Count of genisoimage's entry). */
  efiKiB: 4096,
};

export function eltoritoTree(cache: string): string {
  return join(cache, 'eltorito.tree');
}

function fatWithFiles(img: string, kib: number, files: Record<string, string | Buffer>, work: string): void {
  sh('mkfs.fat', ['-C', img, String(kib)]);
  for (const [name, content] of Object.entries(files)) {
    const parts = name.split('/');
    for (let i = 1; i < parts.length; i++) {
      try {
        sh('mmd', ['-i', img, `::/${parts.slice(0, i).join('/')}`]);
      } catch {
        /* exists */
      }
    }
    const host = join(work, parts[parts.length - 1]!);
    writeFileSync(host, content);
    sh('mcopy', ['-i', img, host, `::/${name}`]);
  }
}

/** The tree with the boot images (once). */
export function ensureEltoritoTree(cache: string): string {
  const tree = eltoritoTree(cache);
  if (existsSync(`${tree}.done`)) return tree;
  rmSync(tree, { recursive: true, force: true });
  const work = `${tree}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(tree, 'boot'), { recursive: true });
  mkdirSync(work, { recursive: true });
  writeFileSync(join(tree, 'README.TXT'), seededText(903, 5000));
  writeFileSync(join(tree, ELTORITO.bios), seededBytes(904, 2048));
  fatWithFiles(join(tree, ELTORITO.floppy), 1440, ELTORITO.floppyFiles, work);
  fatWithFiles(join(tree, ELTORITO.efi), ELTORITO.efiKiB, ELTORITO.efiFiles, work);
  // Hard-disk emulation: an MBR with one FAT16 partition from sector 63 (as the spec's images have).
  const part = join(work, 'hdpart.img');
  fatWithFiles(part, 6144, ELTORITO.hdFiles, work);
  const hd = join(tree, ELTORITO.hd);
  sh('truncate', ['-s', String(63 * 512 + 6144 * 1024), hd]);
  sh('sfdisk', ['-q', hd], '63,,6,*\n');
  sh('dd', [`if=${part}`, `of=${hd}`, 'bs=512', 'seek=63', 'conv=notrunc', 'status=none']);
  rmSync(work, { recursive: true, force: true });
  writeFileSync(`${tree}.done`, '');
  return tree;
}

export interface EltoritoImage {
  name: string;
  tool: 'xorriso' | 'genisoimage';
  args: (tree: string) => string[];
}

export const ELTORITO_IMAGES: EltoritoImage[] = [
  {
    name: 'eltorito-xorriso.iso', tool: 'xorriso',
    args: () => ['-R', '-J', '-V', 'ELTORITO_XO', '-b', ELTORITO.floppy, '-eltorito-alt-boot', '-e', ELTORITO.efi, '-no-emul-boot', '-eltorito-alt-boot', '-b', ELTORITO.hd, '-hard-disk-boot'],
  },
  {
    name: 'eltorito-geniso.iso', tool: 'genisoimage',
    args: () => ['-R', '-J', '-V', 'ELTORITO_GEN', '-b', ELTORITO.bios, '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', ELTORITO.efi, '-no-emul-boot', '-boot-load-size', '4'],
  },
  {
    name: 'hybrid-mbr.iso', tool: 'xorriso',
    args: (tree) => ['-R', '-J', '-V', 'HYBRID_MBR', '-partition_offset', '16', '-b', ELTORITO.bios, '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', '-append_partition', '2', '0xef', join(tree, ELTORITO.efi)],
  },
  {
    name: 'hybrid-gpt.iso', tool: 'xorriso',
    args: (tree) => ['-R', '-J', '-V', 'HYBRID_GPT', '-partition_offset', '16', '-appended_part_as_gpt', '-b', ELTORITO.bios, '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', '--interval:appended_partition_2:all::', '-no-emul-boot', '-append_partition', '2', 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B', join(tree, ELTORITO.efi)],
  },
  {
    // Debian's installer layout: an isohybrid MBR (432 zero bytes stand in for syslinux's
    // isohdpfx.bin boot code) whose partition 1 (type 0) covers the ISO from sector 0, and the
    // EFI image inside the ISO as partition 2 (-isohybrid-gpt-basdat).
    name: 'hybrid-isohybrid.iso', tool: 'xorriso',
    args: (tree) => ['-R', '-J', '-V', 'HYBRID_DEB', '-isohybrid-mbr', join(tree, '..', 'eltorito.mbr-template'), '-b', ELTORITO.bios, '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', ELTORITO.efi, '-no-emul-boot', '-isohybrid-gpt-basdat'],
  },
];

export function buildEltoritoImage(cache: string, v: EltoritoImage): string {
  const tree = ensureEltoritoTree(cache);
  const out = join(cache, v.name);
  const tmp = `${out}.tmp`;
  rmSync(tmp, { force: true });
  const template = join(cache, 'eltorito.mbr-template');
  if (!existsSync(template)) writeFileSync(template, Buffer.alloc(432));
  if (v.tool === 'xorriso') sh('xorriso', ['-as', 'mkisofs', ...v.args(tree), '-o', tmp, tree]);
  else sh('genisoimage', ['-quiet', ...v.args(tree), '-o', tmp, tree]);
  renameSync(tmp, out);
  return out;
}

export function eltoritoImage(cache: string, v: EltoritoImage): string {
  const p = join(cache, v.name);
  return existsSync(p) ? p : buildEltoritoImage(cache, v);
}
