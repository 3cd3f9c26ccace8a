/**
 * LVM2 through the volume tree, against images made by the real lvm2 tools (scripts/images/lvm.ts):
 * what `lvs` reports (names, segments, which PVs), libvslvm's `vslvminfo` as a second oracle,
 * and the files written into each LV (the trees kept next to the images).
 */
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLvmImageA, convertTo, LVM_A } from '../../scripts/images/lvm.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { lvmCrc } from '../../src/volume/lvm2/label.js';
import { CACHE, cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { expectTreeMatches, info, lvsRows } from './lvm-helpers.js';

const MiB = 1024 * 1024;
const A = cachedImage('lvm-a.img', (p) => void buildLvmImageA(p));
const treesA = `${A}.trees`;

describe('LVM2: one disk, GPT with two PVs (lvm-a)', () => {
  let before: string;
  beforeAll(async () => {
    before = await sha256File(A);
  });
  afterAll(async () => {
    expect(await sha256File(A)).toBe(before);
  });

  it('info lists the partitions, the PVs and the LVs lvs reports, with segments and the raid1 leg read', () => {
    const j = info([A]);
    const names = j.volumes.map((v) => v.name);
    const visible = [...new Set(lvsRows(A).map((r) => r.lv_name).filter((n) => !n.startsWith('[')))];
    expect(names).toEqual(['p1', 'p2', 'p3', ...visible.map((n) => `${LVM_A.vg}/${n}`).sort((a, b) => ['root', 'data', 'mir'].indexOf(a.split('/')[1]!) - ['root', 'data', 'mir'].indexOf(b.split('/')[1]!))]);
    const by = new Map(j.volumes.map((v) => [v.name, v]));
    expect(by.get('p2')!.system!.describe).toBe('LVM2 PV of VG tvg (3 LVs)');
    const vgs = JSON.parse(readFileSync(`${A}.vgs.json`, 'utf8')) as { seqno: number };
    expect(by.get('p2')!.system!.details!.seqno).toBe(vgs.seqno);
    expect(by.get('tvg/root')!.what).toBe(`LV linear, ${lvsRows(A).filter((r) => r.lv_name === 'root').length} segments`);
    expect(by.get('tvg/root')!.filesystem!.type).toBe('ext4');
    expect(by.get('tvg/data')!.what).toBe('LV striped');
    expect(by.get('tvg/data')!.filesystem!.type).toMatch(/^FAT/);
    expect(by.get('tvg/mir')!.what).toBe('LV raid1, reading leg mir_rimage_0');
    expect(by.get('tvg/mir')!.members).toEqual(['p3']);
    expect(by.get('tvg/root')!.size).toBe(24 * MiB);
    // The old versions (with an LV "old") are still in the metadata ring, and ignored.
    const ring = readFileSync(A).subarray(17 * MiB, 18 * MiB).toString('latin1');
    expect(ring).toContain('old {');
    expect(names).not.toContain('tvg/old');
    const text = diskpick(['info', A]).stdout.toString();
    expect(text).toMatch(/^VOLUME\s+START\s+SIZE\s+FILESYSTEM\s+LABEL\s+WHAT$/m);
    expect(text).toMatch(/^tvg\/root\s+-\s+24\.0 MiB\s+ext4\s+root\s+LV linear, 2 segments$/m);
  });

  it('reads every file of the linear (2 segments out of order), striped and raid1 LVs as written', () => {
    for (const lv of ['root', 'data', 'mir']) expectTreeMatches([A], `/tvg/${lv}`, join(treesA, lv));
    expectTreeMatches([A], '/p1', join(treesA, 'boot'));
  });

  it('ls -R of an LV lists the tree written into it; / lists p1 p2 p3 and the VG folder', () => {
    const top = diskpick(['ls', A]).stdout.toString().trim().split('\n');
    expect(top).toEqual(['p1', 'p2', 'p3', 'tvg']);
    expect(diskpick(['ls', A, '/tvg']).stdout.toString().trim().split('\n')).toEqual(['root', 'data', 'mir']);
    const listed = diskpick(['ls', '-R', A, '/tvg/root']).stdout.toString().trim().split('\n').filter((l) => !l.includes('lost+found')).sort();
    const want = manifestOf(join(treesA, 'root')).map((e) => `/tvg/root${e.path}`).sort();
    expect(listed).toEqual(want);
    // Walks pass the PVs by (their LVs are the VG's folders): no error, exit 0.
    const found = diskpick(['find', A, '--name', 'hello.txt']);
    expect(found.status, found.stderr).toBe(0);
    expect(found.stdout.toString().trim().split('\n')).toEqual(['/p1/hello.txt', '/tvg/root/hello.txt', '/tvg/data/hello.txt', '/tvg/mir/hello.txt']);
    expect(diskpick(['ls', '-R', A]).status).toBe(0);
    // The PV itself has no filesystem: a one-line wrong-type error pointing to the VG folder.
    const r = diskpick(['ls', A, '/p2']);
    expect(r.status).toBe(5);
    expect(r.stderr.trim()).toMatch(/^diskpick: \/p2: is an LVM2 physical volume of VG tvg: its logical volumes are the folders under \/tvg$/);
  });

  it('dd --volume tvg/root gives the bytes at the extents lvs reports, in LV order', () => {
    const out = join(CACHE, 'lvm-a-root.dd');
    const r = diskpick(['dd', A, '--volume', 'tvg/root', '-o', out, '--force', '-q']);
    expect(r.status, r.stderr).toBe(0);
    const got = readFileSync(out);
    rmSync(out);
    const img = readFileSync(A);
    const parts = lvsRows(A).filter((x) => x.lv_name === 'root').sort((a, b) => Number(a.seg_start_pe) - Number(b.seg_start_pe)).map((x) => {
      const [, a, b] = /:(\d+)-(\d+)$/.exec(x.seg_pe_ranges)!;
      // p2 starts at 17 MiB, pe_start is 1 MiB (pvs), extents are 1 MiB.
      return img.subarray(18 * MiB + Number(a) * MiB, 18 * MiB + (Number(b) + 1) * MiB);
    });
    expect(got.equals(Buffer.concat(parts))).toBe(true);
  });

  it('over several PVs the newest metadata (highest seqno, good checksum) wins, whichever PV holds it', () => {
    // p3's committed copy rewritten with another seqno and "root" renamed "ROOT" (checksums recomputed).
    const variant = (seqDelta: number, breakChecksum = false): string => {
      const mda = 89 * MiB + 4096;
      const area = readFileSync(A).subarray(mda, mda + MiB - 4096);
      const h = Buffer.from(area);
      const off = Number(h.readBigUInt64LE(40));
      const size = Number(h.readBigUInt64LE(48));
      const text = h.subarray(off, off + size).toString('latin1');
      const seq = Number(/seqno = (\d+)/.exec(text)![1]);
      const changed = Buffer.from(text.replace(/seqno = \d+/, `seqno = ${seq + seqDelta}`).replace(/\nroot \{/, '\nROOT {'), 'latin1');
      expect(changed.length).toBe(size);
      changed.copy(h, off);
      h.writeUInt32LE(breakChecksum ? lvmCrc(changed) ^ 1 : lvmCrc(changed), 56);
      h.writeUInt32LE(lvmCrc(h.subarray(4, 512)), 0);
      const out = join(CACHE, `lvm-a-seq${seqDelta}${breakChecksum ? 'x' : ''}.img`);
      execFileSync('cp', ['--sparse=always', A, out]);
      const fd = openSync(out, 'r+');
      writeSync(fd, h, 0, h.length, mda);
      closeSync(fd);
      return out;
    };
    const older = variant(-1);
    let j = info([older]);
    expect(j.volumes.map((v) => v.name)).toContain('tvg/root');
    expect(j.warnings.join('\n')).toMatch(new RegExp(`PV ${LVM_A.pv1} \\(p3\\) holds older metadata`));
    const newer = variant(1);
    j = info([newer]);
    expect(j.volumes.map((v) => v.name)).toContain('tvg/ROOT');
    expect(j.warnings.join('\n')).toMatch(new RegExp(`PV ${LVM_A.pv0} \\(p2\\) holds older metadata`));
    expectTreeMatches([newer], '/tvg/ROOT', join(treesA, 'root'));
    // A newer copy whose checksum is wrong is not consistent: p2's copy is used, with a warning.
    const broken = variant(1, true);
    j = info([broken]);
    expect(j.volumes.map((v) => v.name)).toContain('tvg/root');
    expect(j.warnings.join('\n')).toMatch(/checksum mismatch/);
    for (const f of [older, newer, broken]) rmSync(f);
  });

  for (const fmt of ['qcow2', 'vmdk', 'vpc', 'vhdx', 'vdi'] as const) {
    it(`inside ${fmt}: the same files`, () => {
      const img = join(CACHE, `lvm-a.${fmt}`);
      convertTo(A, img, fmt);
      expectTreeMatches([img], '/tvg/root', join(treesA, 'root'));
      expectTreeMatches([img], '/tvg/data', join(treesA, 'data'));
    });
  }
});

