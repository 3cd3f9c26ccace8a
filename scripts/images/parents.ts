/**
 * Parents that moved, and parents that are not the right ones (issues #20, #24.5, #26.6).
 * Chains are made by qemu-img (QCOW2, VMDK) or by the test writers of vhd.ts and vdi.ts over
 * qemu-made parents; then files are moved the way users move them: a snapshot child copied
 * alone into another folder, its parent somewhere else, a different disk of the same name in
 * the way. Each case records the expected virtual disk as qemu-img (or the writer) reads the
 * chain before anything was moved.
 */
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { qemu, qemuWrite, seededRaw } from './qcow2.js';
import { vhdFooterInfo, writeVhdDifferencing, rawOf } from './vhd.js';
import { writeVdiDifferencing } from './vdi.js';

export interface ParentsSet {
  dir: string;
  /** sha256 of the virtual disk each child reads as, from qemu-img or the writer. */
  expected: Record<string, string>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function buildParentsSet(dir: string): ParentsSet {
  rmSync(dir, { recursive: true, force: true });
  const p = (...n: string[]) => join(dir, ...n);
  for (const d of ['orig', 'kid', 'store', 'decoy', 'outside', 'links', 'wrong']) mkdirSync(p(d), { recursive: true });
  const expected: Record<string, string> = {};

  // QCOW2: top.qcow2 over orig/base.qcow2, recorded with its absolute path.
  seededRaw(p('orig', 'base.raw'), 4, 3);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', p('orig', 'base.raw'), p('orig', 'base.qcow2')]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-b', p('orig', 'base.qcow2'), '-F', 'qcow2', p('orig', 'top.qcow2')]);
  qemuWrite(p('orig', 'top.qcow2'), 'qcow2', [[0x5a, 65536, 131072], [0xa5, 3 * 1024 * 1024, 4096]]);
  expected['top.qcow2'] = sha(rawOf(p('orig', 'top.qcow2'), 'qcow2'));
  // VMDK: child.vmdk over orig/base.vmdk (monolithicSparse), recorded with its absolute path.
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', p('orig', 'base.raw'), p('orig', 'base.vmdk')]);
  qemu('qemu-img', ['create', '-f', 'vmdk', '-b', p('orig', 'base.vmdk'), '-F', 'vmdk', p('orig', 'child.vmdk')]);
  qemuWrite(p('orig', 'child.vmdk'), 'vmdk', [[0x33, 0, 65536]]);
  expected['child.vmdk'] = sha(rawOf(p('orig', 'child.vmdk'), 'vmdk'));

  // The snapshot children copied alone into kid/, their parents into store/; orig/ is gone.
  copyFileSync(p('orig', 'top.qcow2'), p('kid', 'top.qcow2'));
  copyFileSync(p('orig', 'child.vmdk'), p('kid', 'child.vmdk'));
  copyFileSync(p('orig', 'base.qcow2'), p('store', 'base.qcow2'));
  copyFileSync(p('orig', 'base.vmdk'), p('store', 'base.vmdk'));
  // Disks of the same names that are not the parents: another size (QCOW2 has no identity but
  // its size), another CID (a fresh qemu-img vmdk of the same size).
  seededRaw(p('decoy', 'other.raw'), 2, 9);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', p('decoy', 'other.raw'), p('decoy', 'base.qcow2')]);
  qemu('qemu-img', ['create', '-f', 'vmdk', p('decoy', 'base.vmdk'), '4M']);
  rmSync(p('decoy', 'other.raw'));

  // VHD: a differencing disk made over a qemu-made parent, whose locators name a Windows path
  // that does not exist here; the parent sits in store/ under its locator name.
  seededRaw(p('orig', 'vbase.raw'), 4, 5);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', p('orig', 'vbase.raw'), p('store', 'parent.vhd')]);
  const parent = vhdFooterInfo(p('store', 'parent.vhd'));
  const exp = writeVhdDifferencing(p('kid', 'diff.vhd'), {
    parent, parentRaw: rawOf(p('store', 'parent.vhd'), 'vpc'), parentUnicodeName: 'parent.vhd',
    locators: [{ code: 'W2ku', value: 'C:\\Hyper-V\\Disks\\parent.vhd' }, { code: 'W2ru', value: '..\\Disks\\parent.vhd' }],
    writes: [[0, 8, 71], [4000, 100, 72]], seed: 70,
  });
  expected['diff.vhd'] = sha(exp!);
  // Another VHD of the same size under the same name, with its own UniqueId: the wrong parent.
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', p('orig', 'vbase.raw'), p('wrong', 'parent.vhd')]);
  // The same child next to the wrong parent (its locator's relative path leads there).
  mkdirSync(p('wrong', 'Disks'));
  renameSync(p('wrong', 'parent.vhd'), p('wrong', 'Disks', 'parent.vhd'));
  mkdirSync(p('wrong', 'vm'));
  copyFileSync(p('kid', 'diff.vhd'), p('wrong', 'vm', 'diff.vhd'));

  // VDI: a qemu-made dynamic parent and a writer-made child; a copy of the parent that was
  // modified after the child was made (another uuidModify).
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vdi', p('orig', 'vbase.raw'), p('store', 'vparent.vdi')]);
  const ph = readFileSync(p('store', 'vparent.vdi')).subarray(0, 0x200);
  const vexp = writeVdiDifferencing(p('kid', 'vchild.vdi'), { parentHeader: ph, parentRaw: rawOf(p('store', 'vparent.vdi'), 'vdi'), blocks: [[0, 81]], seed: 80 });
  expected['vchild.vdi'] = sha(vexp.expected!);
  mkdirSync(p('wrong', 'vdi'));
  const modified = Buffer.from(readFileSync(p('store', 'vparent.vdi')));
  modified.fill(0x77, 0x198, 0x1a8); // uuidModify
  writeFileSync(p('wrong', 'vdi', 'vparent.vdi'), modified);
  copyFileSync(p('kid', 'vchild.vdi'), p('wrong', 'vdi', 'vchild.vdi'));

  // Links out of the allowed folders (#26.6): the real parents sit in outside/, and links/
  // (given as --parent-dir) holds symlinks to them under the names a search looks for.
  copyFileSync(p('store', 'vparent.vdi'), p('outside', 'secret.vdi'));
  copyFileSync(p('store', 'base.qcow2'), p('outside', 'base.qcow2'));
  symlinkSync(p('outside', 'secret.vdi'), p('links', 'vparent.vdi'));
  symlinkSync(p('outside', 'base.qcow2'), p('links', 'base.qcow2'));
  rmSync(p('orig'), { recursive: true, force: true });
  writeFileSync(p('expected.json'), JSON.stringify(expected, null, 1));
  return { dir, expected };
}
