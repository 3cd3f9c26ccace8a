/**
 * "LVM on LUKS", the Ubuntu/Debian installer's encrypted layout, made with the real tools and no
 * device-mapper: a GPT disk (sgdisk) with an EFI FAT partition, an ext4 /boot and a LUKS2
 * partition whose decrypted bytes are an LVM2 PV of VG `vgubuntu` with LVs `root` (ext4) and
 * `swap_1` (mkswap), as the Ubuntu desktop installer names them.
 *
 * The PV bytes come from the LVM2 builders (pvcreate/vgcreate on a loop device over a plain
 * file, the LVs committed by vgcfgrestore, each filesystem placed where lvs reports); then
 * `cryptsetup luksFormat` writes the LUKS2 header (aes-xts-plain64, 512-bit, 4096-byte sectors,
 * as cryptsetup's defaults on a 4K device), `luksDump --dump-volume-key` gives the volume key and
 * node:crypto encrypts the PV behind it, sector by sector (scripts/images/luks.ts). The trees
 * stay next to the image as the manifest (`<image>.trees/<lv>/`), lvs's report as `.lvs.json`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LUKS_PASSPHRASE, formatAndEncrypt } from './luks.js';
import { ext4Of, fatOf, linear, lvmUuid, makeVg, placeLv, sh, treeFiles, writeAt, type PvSpec } from './lvm.js';
import { writeTree } from './tree.js';

const MiB = 1024 * 1024;

export const LUKS_LVM = {
  vg: 'vgubuntu',
  vgId: lvmUuid('U'),
  pv: lvmUuid('L'),
  /** GPT layout: p1 EFI (FAT), p2 /boot (ext4), p3 LUKS2 (the rest). */
  p3Start: 24 * MiB,
  p3Size: 72 * MiB,
  /** LUKS2 data offset inside p3 (cryptsetup's default 16 MiB). */
  luksOffset: 16 * MiB,
};

/** Builds the raw image at `path` (once). Returns the folder of the trees. */
export function buildLuksLvmImage(path: string): string {
  const trees = `${path}.trees`;
  if (existsSync(path) && existsSync(trees)) return trees;
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  const { p3Start, p3Size, luksOffset } = LUKS_LVM;
  sh('truncate', ['-s', String(p3Start + p3Size + MiB), tmp]);
  sh('sgdisk', ['-o', '-U', '22222222-3333-4444-5555-777777777777',
    '-n', '1:1M:+8M', '-t', '1:EF00', '-c', '1:EFI System Partition',
    '-n', `2:9M:+${p3Start / MiB - 9}M`, '-t', '2:8300', '-c', '2:boot',
    '-n', `3:${p3Start / MiB}M:+${p3Size / MiB}M`, '-t', '3:8309', '-c', '3:cryptroot', tmp]);
  // The PV: what the LUKS volume holds, decrypted.
  const pvFile = join(work, 'pv.img');
  sh('truncate', ['-s', String(p3Size - luksOffset), pvFile]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: LUKS_LVM.pv, file: pvFile, offset: 0, size: p3Size - luksOffset }];
  const build = makeVg(LUKS_LVM.vg, LUKS_LVM.vgId, pvs, [[
    { name: 'root', visible: true, segments: [linear(0, 36, 'pv0', 0)] },
    { name: 'swap_1', visible: true, segments: [linear(0, 8, 'pv0', 36)] },
  ]]);
  writeFileSync(`${path}.lvs.json`, JSON.stringify(build.lvs, null, 1));
  for (const t of ['root', 'boot', 'efi']) writeTree(join(trees, t), treeFiles(t));
  placeLv(build, pvs, 'root', ext4Of(join(trees, 'root'), 36 * MiB, 'root', work));
  const swap = join(work, 'swap');
  sh('truncate', ['-s', String(8 * MiB), swap]);
  sh('mkswap', ['-L', 'swap_1', '-U', '0c0ffee0-1111-2222-3333-444455556666', swap]);
  placeLv(build, pvs, 'swap_1', readFileSync(swap));
  // p3: the LUKS2 header, the PV encrypted under its volume key.
  const luks = join(work, 'p3.luks');
  const pw = join(work, 'pw');
  writeFileSync(pw, LUKS_PASSPHRASE);
  formatAndEncrypt(pvFile, luks, ['--type', 'luks2', '--cipher', 'aes-xts-plain64', '--key-size', '512', '--sector-size', '4096', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--offset', String(luksOffset / 512), '--label', 'cryptroot', '--key-file', pw], 'aes-xts-plain64', luksOffset, 4096);
  writeAt(tmp, p3Start, readFileSync(luks));
  writeAt(tmp, 9 * MiB, ext4Of(join(trees, 'boot'), p3Start - 9 * MiB, 'boot', work));
  writeAt(tmp, 1 * MiB, fatOf(join(trees, 'efi'), 8 * MiB, 'EFI', work));
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
  return trees;
}
