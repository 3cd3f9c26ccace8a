/**
 * LVM2 through the volume tree, against images made by the real lvm2 tools (scripts/images/lvm.ts):
 * what `lvs` reports (names, segments, which PVs), libvslvm's `vslvminfo` as a second oracle,
 * and the files written into each LV (the trees kept next to the images).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLvmImageA, buildLvmImageC, buildLvmImageD, buildLvmImageE, buildLvmImagesB, convertTo, LVM_A, LVM_B, type LvsRow } from '../../scripts/images/lvm.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { CACHE, cachedImage, corpusFile, ROOT, diskpick, hasTool, sha256, sha256File } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const A = cachedImage('lvm-a.img', (p) => void buildLvmImageA(p));
const treesA = `${A}.trees`;
const B1 = join(CACHE, 'lvm-b1.img');
const B2 = join(CACHE, 'lvm-b2.img');
cachedImage('lvm-b2.img', () => void buildLvmImagesB(B1, B2));
const treesB = `${B1}.trees`;

interface InfoJson {
  warnings: string[];
  findings: string[];
  volumes: Array<{ name: string; start: number | null; size: number; what: string; parent: string | null; members: string[] | null;
    system: { name: string; describe: string; details?: Record<string, unknown> } | null; content: { type: string; uuid?: string; label?: string } | null;
    filesystem: { type: string; label: string | null } | null; error: string | null }>;
}

function info(args: string[]): InfoJson {
  const r = diskpick(['info', '--json', ...args]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString()) as InfoJson;
}

/** Every file of a tree compared with `cat` of the same path under `prefix` in the image. */
function expectTreeMatches(args: string[], prefix: string, tree: string): void {
  const files = manifestOf(tree).filter((e) => e.type === 'file');
  expect(files.length).toBeGreaterThan(3);
  for (const f of files) {
    const r = diskpick(['cat', ...args, `${prefix}${f.path}`]);
    expect(r.status, `${prefix}${f.path}: ${r.stderr}`).toBe(0);
    expect(sha256(r.stdout), `${prefix}${f.path}`).toBe(f.sha256);
  }
}

function lvsRows(img: string): LvsRow[] {
  return JSON.parse(readFileSync(`${img}.lvs.json`, 'utf8')) as LvsRow[];
}

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

  for (const fmt of ['qcow2', 'vmdk', 'vpc', 'vhdx', 'vdi'] as const) {
    it(`inside ${fmt}: the same files`, () => {
      const img = join(CACHE, `lvm-a.${fmt}`);
      convertTo(A, img, fmt);
      expectTreeMatches([img], '/tvg/root', join(treesA, 'root'));
      expectTreeMatches([img], '/tvg/data', join(treesA, 'data'));
    });
  }
});

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

void relative;
void copyFileSync;
