/**
 * Parents that moved (#20), parents that are not the right ones (#24.5), and the safety of
 * the parent search (#26.6). Expected bytes: qemu-img's reading of each chain before its
 * files were moved (or the test writer's, for VHD/VDI differencing disks, whose parent part
 * is qemu-img's reading of the parent).
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, cachedImage, hasTool, sha256File } from '../helpers/tools.js';
import { buildParentsSet } from '../../scripts/images/parents.js';
import { buildVhdxSet } from '../../scripts/images/vhdx.js';
import { diskpickSha, expectOneLineError } from './readback.js';

const dir = cachedImage('container-parents', (d) => void buildParentsSet(d));
const p = (...n: string[]) => join(dir, ...n);
const expected = JSON.parse(readFileSync(p('expected.json'), 'utf8')) as Record<string, string>;
const inputs = ['kid/top.qcow2', 'kid/child.vmdk', 'kid/diff.vhd', 'kid/vchild.vdi', 'store/base.qcow2', 'store/base.vmdk', 'store/parent.vhd', 'store/vparent.vdi',
  'decoy/base.qcow2', 'decoy/base.vmdk', 'wrong/Disks/parent.vhd', 'wrong/vm/diff.vhd', 'wrong/vdi/vparent.vdi', 'outside/secret.vdi', 'outside/base.qcow2'];
const before = new Map<string, string>();
beforeAll(async () => {
  for (const v of inputs) before.set(v, await sha256File(p(v)));
});
afterAll(async () => {
  for (const [v, h] of before) expect(await sha256File(p(v)), `${v} changed`).toBe(h);
});

describe('a snapshot child copied alone: --parent-dir is where its parent is looked for by name (#20)', () => {
  it('QCOW2: the missing-parent error names the file, its recorded path, and how to point at it', async () => {
    const e = await expectOneLineError(p('kid', 'top.qcow2'), 'image', /parent image not found: needs base\.qcow2 \(recorded as .*\/orig\/base\.qcow2\).*--parent-dir/);
    expect(e.file).toBe(p('kid', 'top.qcow2'));
  });

  it('QCOW2: found by name in a --parent-dir folder; one of another size is passed over', async () => {
    const got = await diskpickSha(p('kid', 'top.qcow2'), { parentDirs: [p('decoy'), p('store')] });
    expect(got.sha256).toBe(expected['top.qcow2']);
    expect(got.container.chain.map((l) => l.file)).toEqual([p('kid', 'top.qcow2'), p('store', 'base.qcow2')]);
    const w = got.container.warnings.join('\n');
    expect(w).toMatch(/base\.qcow2 does not exist; using .*store\/base\.qcow2 \(found by name, identity checked\)/);
    // Only the wrong one: refused, and the error says why it was not used.
    await expectOneLineError(p('kid', 'top.qcow2'), 'image', /not used: .*decoy\/base\.qcow2 \(its virtual size is 2097152 bytes, this image's 4194304\)/, { parentDirs: [p('decoy')] });
  });

  it('VMDK: found by name, the CID checked; a disk of that name with another CID is passed over', async () => {
    await expectOneLineError(p('kid', 'child.vmdk'), 'image', /parent image not found: needs base\.vmdk \(recorded as .*orig\/base\.vmdk\)/);
    const got = await diskpickSha(p('kid', 'child.vmdk'), { parentDirs: [p('decoy'), p('store')] });
    expect(got.sha256).toBe(expected['child.vmdk']);
    expect(got.container.chain[1]!.file).toBe(p('store', 'base.vmdk'));
    await expectOneLineError(p('kid', 'child.vmdk'), 'image', /not used: .*decoy\/base\.vmdk \(its CID is [0-9a-f]{8}, this delta disk's parentCID is [0-9a-f]{8}/, { parentDirs: [p('decoy')] });
  });

  it('VHD: found by its locators\' file name, UniqueId checked', async () => {
    await expectOneLineError(p('kid', 'diff.vhd'), 'image', /parent image not found: needs parent\.vhd/);
    const got = await diskpickSha(p('kid', 'diff.vhd'), { parentDirs: [p('store')] });
    expect(got.sha256).toBe(expected['diff.vhd']);
  });

  it('VHDX: found by its locator\'s file name, DataWriteGuid checked; another VHDX of that name is passed over', async () => {
    const set = cachedImage('container-vhdx-set', (d) => void buildVhdxSet(d));
    const work = join(dir, `vhdx-${process.pid}`);
    for (const d of ['kid', 'store', 'decoy']) mkdirSync(join(work, d), { recursive: true });
    try {
      copyFileSync(join(set, 'diff.vhdx'), join(work, 'kid', 'diff.vhdx'));
      copyFileSync(join(set, 'parent.vhdx'), join(work, 'store', 'parent.vhdx'));
      copyFileSync(join(set, 'dynamic.vhdx'), join(work, 'decoy', 'parent.vhdx'));
      await expectOneLineError(join(work, 'kid', 'diff.vhdx'), 'image', /parent image not found: needs parent\.vhdx \(recorded as .*parent\.vhdx\).*--parent-dir/);
      const got = await diskpickSha(join(work, 'kid', 'diff.vhdx'), { parentDirs: [join(work, 'decoy'), join(work, 'store')] });
      expect(got.sha256).toBe(await sha256File(join(set, 'diff.vhdx.expected')));
      expect(got.container.chain[1]!.file).toBe(join(work, 'store', 'parent.vhdx'));
      await expectOneLineError(join(work, 'kid', 'diff.vhdx'), 'image', /not used: .*decoy\/parent\.vhdx \(its DataWriteGuid is/, { parentDirs: [join(work, 'decoy')] });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('VDI: found by UUID in a --parent-dir folder', async () => {
    await expectOneLineError(p('kid', 'vchild.vdi'), 'image', /parent image not found: needs the VDI with UUID .*--parent-dir/);
    expect((await diskpickSha(p('kid', 'vchild.vdi'), { parentDirs: [p('store')] })).sha256).toBe(expected['vchild.vdi']);
  });
});

describe('a parent that is not the disk the child was made over is refused (#24.5)', () => {
  it('VHD: a parent with another UniqueId at the recorded path is an error naming both files', async () => {
    const e = await expectOneLineError(p('wrong', 'vm', 'diff.vhd'), 'image', /parent .*wrong\/Disks\/parent\.vhd does not match: its UniqueId is [0-9a-f]{32}, this differencing disk needs [0-9a-f]{32}.*--ignore-parent-id/, { parentDirs: [p('wrong', 'Disks')] });
    expect(e.file).toBe(p('wrong', 'vm', 'diff.vhd'));
    // libvhdi refuses it too, given it next to the child ("mismatch in identifier"); so do we.
    const side = join(dir, `side-${process.pid}`);
    mkdirSync(join(side, 'mnt'), { recursive: true });
    try {
      copyFileSync(p('wrong', 'vm', 'diff.vhd'), join(side, 'diff.vhd'));
      copyFileSync(p('wrong', 'Disks', 'parent.vhd'), join(side, 'parent.vhd'));
      const r = spawnSync('vhdimount', [join(side, 'diff.vhd'), join(side, 'mnt')], { encoding: 'utf8', timeout: 20_000 });
      spawnSync('fusermount', ['-u', join(side, 'mnt')]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/mismatch in identifier/);
      await expectOneLineError(join(side, 'diff.vhd'), 'image', /side-\d+\/parent\.vhd does not match: its UniqueId is/);
    } finally {
      rmSync(side, { recursive: true, force: true });
    }
    // Knowingly: read with a warning naming both.
    const got = await diskpickSha(p('wrong', 'vm', 'diff.vhd'), { parentDirs: [p('wrong', 'Disks')], ignoreParentId: true });
    expect(got.container.warnings.join('\n')).toMatch(/diff\.vhd: parent .*wrong\/Disks\/parent\.vhd does not match .*read anyway because of --ignore-parent-id/);
  });

  it('VDI: a parent modified after the child was made (uuidModify differs) is an error naming both files', async () => {
    const e = await expectOneLineError(p('wrong', 'vdi', 'vchild.vdi'), 'image', /parent .*wrong\/vdi\/vparent\.vdi does not match: its uuidModify is \{77777777-.*modified after/);
    expect(e.file).toBe(p('wrong', 'vdi', 'vchild.vdi'));
    const got = await diskpickSha(p('wrong', 'vdi', 'vchild.vdi'), { ignoreParentId: true });
    expect(got.container.warnings.join('\n')).toMatch(/--ignore-parent-id/);
  });

  it('CLI: exit 3 and one line naming both files; --ignore-parent-id reads with one warning line', () => {
    const img = p('wrong', 'vm', 'diff.vhd');
    const r = spawnSync('node', [CLI, '--parent-dir', p('wrong', 'Disks'), 'info', img], { encoding: 'utf8' });
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(img);
    expect(r.stderr).toContain(p('wrong', 'Disks', 'parent.vhd'));
    const ok = spawnSync('node', [CLI, '--parent-dir', p('wrong', 'Disks'), '--ignore-parent-id', 'dd', img, '-o', '-'], { encoding: 'buffer', maxBuffer: 1 << 26 });
    expect(ok.status).toBe(0);
    const lines = ok.stderr.toString().trim().split('\n');
    expect(lines.filter((l) => l.includes('does not match'))).toHaveLength(1);
    // The warning names the child once (#24.9).
    expect(lines[0]!.split(img).length - 1).toBe(1);
  });
});

describe('the parent search never opens a file outside the allowed folders (#26.6)', () => {
  const traced = (args: string[]): { status: number | null; stderr: string; opened: string[] } => {
    const log = join(dir, `strace-${process.pid}.log`);
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=open,openat,openat2', '-o', log, 'node', CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
    const text = readFileSync(log, 'utf8');
    rmSync(log, { force: true });
    const opened = [...text.matchAll(/open(?:at2?)?\((?:[^,]*, )?"([^"]+)"/g)].map((m) => m[1]!);
    return { status: r.status, stderr: r.stderr, opened };
  };

  it.skipIf(!hasTool('strace'))('VDI search by UUID: a symlink in --parent-dir to a matching VDI outside is never opened', () => {
    const r = traced(['--parent-dir', p('links'), 'info', p('kid', 'vchild.vdi')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/parent image not found/);
    expect(r.opened.filter((f) => f.includes('/outside/') || f.includes('/links/vparent.vdi'))).toEqual([]);
    // The trace does see the files it opens (the child itself).
    expect(r.opened.some((f) => f.endsWith('kid/vchild.vdi'))).toBe(true);
  });

  it.skipIf(!hasTool('strace'))('search by name: a symlink named like the parent, leading out, is never opened and is named in the error', () => {
    const r = traced(['--parent-dir', p('links'), 'info', p('kid', 'top.qcow2')]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/links\/base\.qcow2 \(a link out of the allowed folders, not opened\)/);
    expect(r.opened.filter((f) => f.includes('/outside/') || f.includes('/links/base.qcow2'))).toEqual([]);
  });

  it('a FIFO named like the parent in --parent-dir is passed over, not opened (no hang)', async () => {
    const fifoDir = join(dir, `fifo-${process.pid}`);
    mkdirSync(fifoDir);
    try {
      execFileSync('mkfifo', [join(fifoDir, 'base.qcow2'), join(fifoDir, 'vparent.vdi')]);
      await expectOneLineError(p('kid', 'top.qcow2'), 'image', /parent image not found/, { parentDirs: [fifoDir] });
      await expectOneLineError(p('kid', 'vchild.vdi'), 'image', /parent image not found/, { parentDirs: [fifoDir] });
    } finally {
      rmSync(fifoDir, { recursive: true, force: true });
    }
  });
});
