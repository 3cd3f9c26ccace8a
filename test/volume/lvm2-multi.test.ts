/**
 * LVM2 beyond one disk (scripts/images/lvm.ts): a VG over two disks and a missing PV, a whole
 * disk as a PV with vslvminfo (libvslvm) as second oracle, a thin pool (thin_dump as oracle), a
 * snapshot, and a real PV made by lvm2 (shared corpus).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildLvmImageC, buildLvmImagesB, convertTo, LVM_B } from '../../scripts/images/lvm.js';
import { buildLvmImageD, buildLvmImageE } from '../../scripts/images/lvm-more.js';
import { CACHE, cachedImage, corpusFile, diskpick, hasTool, ROOT } from '../helpers/tools.js';
import { expectTreeMatches, info, lvsRows } from './lvm-helpers.js';

const MiB = 1024 * 1024;
const B1 = join(CACHE, 'lvm-b1.img');
const B2 = join(CACHE, 'lvm-b2.img');
cachedImage('lvm-b2.img', () => void buildLvmImagesB(B1, B2));
const treesB = `${B1}.trees`;

describe('LVM2: a VG over two disks named like a partition (lvm-b)', () => {
  it('alone, disk 1 reads its complete LV; the striped one names the missing PV and where it was', () => {
    const j = info([B1]);
    expect(j.volumes.map((v) => v.name)).toEqual(['p1', 'p1~2/s', 'p1~2/one']);
    expect(j.warnings.join('\n')).toMatch(/group "p1" is shown as \/p1~2/);
    expect(j.warnings.join('\n')).toContain(`PV ${LVM_B.pv1} (last seen as /dev/loop`);
    expectTreeMatches([B1], '/p1~2/one', join(treesB, 'one'));
    const r = diskpick(['cat', B1, '/p1~2/s/hello.txt']);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n').filter((l) => !l.includes('warning')).length).toBe(1);
    expect(r.stderr).toContain(`needs PV ${LVM_B.pv1} (last seen as /dev/loop`);
    // The partition keeps its name: /p1 is the PV, not the VG.
    expect(diskpick(['ls', B1, '/p1']).status).toBe(5);
  });

  it('with --disk (qcow2 + vmdk): the striped LV over both disks reads as written', () => {
    const q = join(CACHE, 'lvm-b1.qcow2');
    const v = join(CACHE, 'lvm-b2.vmdk');
    convertTo(B1, q, 'qcow2');
    convertTo(B2, v, 'vmdk');
    const j = info([q, '--disk', v]);
    expect(j.volumes.map((x) => x.name)).toEqual(['p1', 'disk2/p0', 'p1~2/s', 'p1~2/one']);
    expect(j.volumes.find((x) => x.name === 'p1~2/s')!.members).toEqual(['p1', 'disk2/p0']);
    expectTreeMatches([q, '--disk', v], '/p1~2/s', join(treesB, 's'));
    expectTreeMatches([q, '--disk', v], '/p1~2/one', join(treesB, 'one'));
  });
});

describe('LVM2: a whole disk as one PV, linear LVs (lvm-c)', () => {
  const C = cachedImage('lvm-c.img', (p) => void buildLvmImageC(p));
  it('agrees with vslvminfo (libvslvm) and lvs on the LVs and their segments, and reads their files', (ctx) => {
    const j = info([C]);
    expect(j.volumes.map((v) => v.name)).toEqual(['p0', 'cvg/root', 'cvg/two']);
    expect(j.volumes[1]!.what).toBe(`LV linear, ${lvsRows(C).filter((r) => r.lv_name === 'root').length} segments`);
    expectTreeMatches([C], '/cvg/root', join(`${C}.trees`, 'root'));
    expectTreeMatches([C], '/cvg/two', join(`${C}.trees`, 'two'));
    if (!hasTool('vslvminfo')) return ctx.skip();
    // libvslvm 20181227 prints the VG and PVs, then stops at LVs with several segments or
    // stripes ("invalid physical volume value already set"): its VG facts are the oracle here.
    const r = spawnSync('vslvminfo', [C], { encoding: 'utf8' });
    const out = r.stdout;
    const pv = j.volumes[0]!.system!.details!;
    expect(/Name:\s+(\S+)/.exec(out)![1]).toBe(pv.vg);
    expect(/Identifier:\s+(\S+)/.exec(out)![1]).toBe(pv.uuid);
    expect(Number(/Sequence number:\s+(\d+)/.exec(out)![1])).toBe(pv.seqno);
    expect(Number(/Extent size:.*\((\d+) bytes\)/.exec(out)![1])).toBe(pv.extentSize);
    expect(Number(/Number of logical volumes:\s+(\d+)/.exec(out)![1])).toBe(j.volumes.length - 1);
    expect(/Physical Volume \(PV\): 1\n\s+Name:\s+\S+\n\s+Identifier:\s+(\S+)/.exec(out)![1]).toBe('EEEEEE-EEEE-EEEE-EEEE-EEEE-EEEE-EEEEEE');
  });
});

describe('LVM2 thin pool with two thin LVs (lvm-d)', () => {
  const D = cachedImage('lvm-d.img', (p) => void buildLvmImageD(p));
  it('info names the pool; thin LVs read through the pool mappings thin_dump reports, unmapped blocks as zeros', (ctx) => {
    const j = info([D]);
    expect(j.volumes.map((v) => v.name)).toEqual(['p0', 'thinvg/pool', 'thinvg/thin1', 'thinvg/thin2']);
    expect(j.volumes[1]!.what).toBe('LV thin pool (holds the thin LVs)');
    expect(j.volumes[2]!.what).toBe('LV thin');
    expectTreeMatches([D], '/thinvg/thin1', join(`${D}.trees`, 'thin1'));
    expectTreeMatches([D], '/thinvg/thin2', join(`${D}.trees`, 'thin2'));
    if (!hasTool('thin_dump')) return ctx.skip();
    // The pool's metadata and data LVs where lvs puts them (PV data from 1 MiB, 1 MiB extents).
    const rows = lvsRows(D);
    const at = (name: string) => Number(/:(\d+)-/.exec(rows.find((r) => r.lv_name === name)!.seg_pe_ranges)![1]) * MiB + MiB;
    const img = readFileSync(D);
    const meta = join(CACHE, 'lvm-d.tmeta');
    writeFileSync(meta, img.subarray(at('[pool_tmeta]'), at('[pool_tmeta]') + 4 * MiB));
    const dump = execFileSync('thin_dump', [meta], { encoding: 'utf8' });
    rmSync(meta);
    const tdata = img.subarray(at('[pool_tdata]'), at('[pool_tdata]') + 16 * MiB);
    const block = Number(/data_block_size="(\d+)"/.exec(dump)![1]) * 512;
    for (const [dev, lv, size] of [[1, 'thin1', 24 * MiB], [2, 'thin2', 8 * MiB]] as const) {
      const want = Buffer.alloc(size);
      const part = new RegExp(`<device dev_id="${dev}"[^>]*>([\\s\\S]*?)</device>`).exec(dump)![1]!;
      let mapped = 0;
      for (const m of part.matchAll(/<single_mapping origin_block="(\d+)" data_block="(\d+)"/g)) {
        tdata.copy(want, Number(m[1]) * block, Number(m[2]) * block, (Number(m[2]) + 1) * block);
        mapped++;
      }
      for (const m of part.matchAll(/<range_mapping origin_begin="(\d+)" data_begin="(\d+)" length="(\d+)"/g)) {
        for (let i = 0; i < Number(m[3]); i++) tdata.copy(want, (Number(m[1]) + i) * block, (Number(m[2]) + i) * block, (Number(m[2]) + i + 1) * block);
        mapped += Number(m[3]);
      }
      expect(mapped).toBeGreaterThan(5);
      expect(mapped * block).toBeLessThan(size);
      const r = diskpick(['dd', D, '--volume', `thinvg/${lv}`, '-o', '-', '-q']);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.equals(want), lv).toBe(true);
    }
    const pool = diskpick(['ls', D, '/thinvg/pool']);
    expect(pool.status).toBe(5);
    expect(pool.stderr).toMatch(/is an LVM thin pool, not a volume/);
  });
});

describe('LVM2 snapshot (lvm-e)', () => {
  const E = cachedImage('lvm-e.img', (p) => void buildLvmImageE(p));
  it('the origin reads as it is now, the snapshot as it was when taken (its COW store holds the changed chunks)', () => {
    const j = info([E]);
    expect(j.volumes.map((v) => [v.name, v.what])).toEqual([['p0', 'whole disk'], ['snapvg/data', 'LV linear'], ['snapvg/snap', 'LV snapshot of data']]);
    // lvs lists the COW LV under the snapshot's name too.
    expect(lvsRows(E).map((r) => r.lv_name)).toContain('snap');
    expectTreeMatches([E], '/snapvg/data', join(`${E}.trees`, 'data.v2'));
    expectTreeMatches([E], '/snapvg/snap', join(`${E}.trees`, 'data.v1'));
    const now = diskpick(['ls', E, '/snapvg/data']).stdout.toString().split('\n');
    const then = diskpick(['ls', E, '/snapvg/snap']).stdout.toString().split('\n');
    expect(now).toContain('added.txt');
    expect(now).not.toContain('hello.txt');
    expect(then).toContain('hello.txt');
    expect(then).not.toContain('added.txt');
  });
});

describe('LVM2: a real PV made by lvm2 (shared corpus)', () => {
  it('lists vg_test/lv_test and reads its one extent from pe_start', (ctx) => {
    // The corpus sits next to the main checkout; from a worktree (wt/NAME) one level further up.
    const alt = resolve(ROOT, '..', '..', 'shared', 'corpus', 'realworld', 'lvm.bin.gz');
    const gz = existsSync(alt) ? alt : corpusFile('lvm.bin.gz');
    if (!gz) return ctx.skip();
    const dir = join(CACHE, 'lvm-real');
    mkdirSync(dir, { recursive: true });
    const bin = join(dir, 'lvm.bin');
    writeFileSync(bin, execFileSync('zcat', [gz], { maxBuffer: 1 << 30 }));
    const j = info([bin]);
    expect(j.volumes.map((v) => v.name)).toEqual(['p0', 'vg_test/lv_test']);
    const vs = execFileSync('vslvminfo', [bin], { encoding: 'utf8' });
    expect(vs).toMatch(/Name:\s+lv_test/);
    const out = join(dir, 'lv.dd');
    expect(diskpick(['dd', bin, '--volume', 'vg_test/lv_test', '-o', out, '--force', '-q']).status).toBe(0);
    // vslvminfo: one stripe on pv0 at data area offset 0; pe_start 2048 sectors in the metadata.
    expect(readFileSync(out).equals(readFileSync(bin).subarray(MiB, 5 * MiB))).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});

