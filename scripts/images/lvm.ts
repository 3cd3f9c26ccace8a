/**
 * LVM2 test images, made with the real lvm2 tools on loop devices (no device-mapper here):
 * `pvcreate` + `vgcreate` on a loop device over each partition (`losetup -o --sizelimit`), then
 * the logical volumes written as VG metadata through `vgcfgrestore -f FILE` (the metadata text is
 * written here; lvm2 checks and commits it), read back with `lvs -o +seg_pe_ranges,devices` and
 * `pvs -o +pe_start`. Each LV's filesystem (mkfs.ext4 -d of a seeded tree, or mkfs.fat + mcopy)
 * is then placed at the extents lvs reports. The trees stay next to the images as manifests.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeTree, type TreeFile } from './tree.js';

const MiB = 1024 * 1024;
/** Extent size of every test VG: 1 MiB (2048 sectors). */
export const EXTENT = MiB;
const ENV = { ...process.env, LC_ALL: 'C', LVM_SUPPRESS_FD_WARNINGS: '1' };

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { env: ENV, input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * MiB });
}

/** lvm2 options: only our loop devices, no udev, no device-mapper, no devices file. */
function lvmConfig(devices: string[]): string {
  const accept = devices.map((d) => `"a|^${d}$|"`).join(',');
  return `devices { global_filter=[${accept},"r|.*|"] use_devicesfile=0 obtain_device_list_from_udev=0 scan_lvs=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } backup { backup=0 archive=0 }`;
}

/** A fixed LVM UUID (32 characters, shown 6-4-4-4-4-4-6) from a seed letter, so images are reproducible. */
export function lvmUuid(seed: string): string {
  const s = (seed.repeat(32) + 'abcdefghijklmnopqrstuvwxyz012345').slice(0, 32);
  return [s.slice(0, 6), s.slice(6, 10), s.slice(10, 14), s.slice(14, 18), s.slice(18, 22), s.slice(22, 26), s.slice(26)].join('-');
}

/** A fixed LVM UUID derived from a name. */
export function lvmUuidOf(name: string): string {
  const s = createHash('sha256').update(name).digest('base64').replace(/[^A-Za-z0-9]/g, '').slice(0, 32);
  return [s.slice(0, 6), s.slice(6, 10), s.slice(10, 14), s.slice(14, 18), s.slice(18, 22), s.slice(22, 26), s.slice(26)].join('-');
}

export interface PvSpec {
  /** Metadata key ("pv0"). */
  key: string;
  uuid: string;
  /** Host file holding it and the byte range. */
  file: string;
  offset: number;
  size: number;
}

export interface LvSegSpec {
  start: number;
  count: number;
  /** "striped" (one stripe: linear), "raid1" … */
  type: string;
  /** Lines inside the segment section after type (stripes = […] and the like). */
  body: string;
}

export interface LvSpec {
  name: string;
  visible: boolean;
  segments: LvSegSpec[];
}

export function linear(start: number, count: number, pv: string, pe: number): LvSegSpec {
  return { start, count, type: 'striped', body: `stripe_count = 1\nstripes = [\n"${pv}", ${pe}\n]` };
}

/** The VG metadata text as lvm2 writes it in backups (the format vgcfgrestore reads). */
export function vgText(name: string, vgId: string, seqno: number, pvs: Array<PvSpec & { peCount: number; devSize: number }>, lvs: LvSpec[]): string {
  const out: string[] = [];
  out.push(`contents = "Text Format Volume Group"`, `version = 1`, `description = "diskpick test image"`, `creation_host = "diskpick"`, `creation_time = 1600000000`, '');
  out.push(`${name} {`, `id = "${vgId}"`, `seqno = ${seqno}`, `format = "lvm2"`, `status = ["RESIZEABLE", "READ", "WRITE"]`, `flags = []`, `extent_size = ${EXTENT / 512}`, `max_lv = 0`, `max_pv = 0`, `metadata_copies = 0`, '');
  out.push('physical_volumes {');
  for (const p of pvs) {
    out.push(`${p.key} {`, `id = "${p.uuid}"`, `device = "/dev/diskpick-test-${p.key}"`, `status = ["ALLOCATABLE"]`, `flags = []`, `dev_size = ${p.devSize / 512}`, `pe_start = 2048`, `pe_count = ${p.peCount}`, '}');
  }
  out.push('}', '');
  if (lvs.length) {
    out.push('logical_volumes {');
    for (const lv of lvs) {
      out.push(`${lv.name} {`, `id = "${lvmUuidOf(`${name}/${lv.name}`)}"`);
      out.push(`status = ["READ", "WRITE"${lv.visible ? ', "VISIBLE"' : ''}]`, `flags = []`, `creation_time = 1600000000`, `creation_host = "diskpick"`, `segment_count = ${lv.segments.length}`);
      lv.segments.forEach((s, i) => out.push(`segment${i + 1} {`, `start_extent = ${s.start}`, `extent_count = ${s.count}`, `type = "${s.type}"`, s.body, '}'));
      out.push('}');
    }
    out.push('}');
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

interface LoopPv extends PvSpec {
  dev: string;
}

/** Attaches a loop device per PV, runs `body`, detaches them whatever happens. */
function withLoops<T>(pvs: PvSpec[], body: (loops: LoopPv[]) => T): T {
  const loops: LoopPv[] = [];
  try {
    for (const p of pvs) {
      const dev = sh('losetup', ['-f', '--show', '-o', String(p.offset), '--sizelimit', String(p.size), p.file]).trim();
      loops.push({ ...p, dev });
    }
    return body(loops);
  } finally {
    for (const l of loops) {
      try {
        sh('losetup', ['-d', l.dev]);
      } catch {
        /* already gone */
      }
    }
  }
}

export interface LvsRow {
  lv_name: string;
  seg_start_pe: string;
  seg_pe_ranges: string;
  segtype: string;
  stripes: string;
  stripe_size: string;
}

export interface VgBuild {
  /** lvs rows (all LVs, hidden ones in [brackets]) of the final metadata. */
  lvs: LvsRow[];
  /** pe_start in bytes per PV key. */
  peStart: Record<string, number>;
  /** Loop device name → PV key, as lvs named them. */
  devKey: Record<string, string>;
  /** The VG's sequence number as vgs reports it after the last commit. */
  seqno: number;
}

/**
 * Makes the PVs and VG with the real tools and commits each metadata version in turn (older
 * ones stay behind in the metadata ring); returns what lvs and pvs report of the last one.
 */
export function makeVg(vgName: string, vgId: string, pvs: PvSpec[], versions: LvSpec[][], opts: { force?: boolean } = {}): VgBuild {
  return withLoops(pvs, (loops) => {
    const conf = lvmConfig(loops.map((l) => l.dev));
    for (const l of loops) sh('pvcreate', ['--config', conf, '-y', '-ff', '--uuid', l.uuid, '--norestorefile', '--dataalignment', '1m', l.dev]);
    sh('vgcreate', ['--config', conf, '-s', `${EXTENT / 1024}k`, vgName, ...loops.map((l) => l.dev)]);
    const pvInfo = JSON.parse(sh('pvs', ['--config', conf, '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'pv_name,pv_uuid,pe_start,pv_pe_count,dev_size'])).report[0].pv as Array<Record<string, string>>;
    const byUuid = new Map(pvInfo.map((p) => [p.pv_uuid!, p]));
    const full = loops.map((l) => {
      const p = byUuid.get(l.uuid);
      if (!p) throw new Error(`pvs does not show PV ${l.uuid}`);
      if (Number(p.pe_start) !== MiB) throw new Error(`PV ${l.uuid} has pe_start ${p.pe_start}, the metadata written assumes 1 MiB`);
      return { ...l, peCount: Number(p.pv_pe_count), devSize: Number(p.dev_size) };
    });
    const tmp = join(dirname(pvs[0]!.file), `${vgName}.vgcfg`);
    versions.forEach((lvs, i) => {
      writeFileSync(tmp, vgText(vgName, vgId, i + 2, full, lvs));
      sh('vgcfgrestore', ['--config', conf, ...(opts.force ? ['--force'] : []), '-f', tmp, vgName]);
    });
    rmSync(tmp, { force: true });
    const lvs = JSON.parse(sh('lvs', ['--config', conf, '-a', '--reportformat', 'json', '--units', 'b', '--nosuffix', '-o', 'lv_name,seg_start_pe,seg_pe_ranges,segtype,stripes,stripe_size,devices', vgName])).report[0].lv as LvsRow[];
    const seqno = Number((JSON.parse(sh('vgs', ['--config', conf, '--reportformat', 'json', '-o', 'vg_seqno', vgName])).report[0].vg as Array<Record<string, string>>)[0]!.vg_seqno);
    const peStart: Record<string, number> = {};
    const devKey: Record<string, string> = {};
    for (const l of loops) {
      peStart[l.key] = MiB;
      devKey[l.dev] = l.key;
    }
    return { lvs, peStart, devKey, seqno };
  });
}

/** Writes `data` at `offset` of a host file. */
function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/**
 * Places an LV's bytes where lvs says its extents are: linear pieces in order, striped pieces
 * chunk by chunk round-robin over the ranges (dm-stripe's layout), RAID1 through its images.
 */
export function placeLv(build: VgBuild, pvs: PvSpec[], lvName: string, data: Buffer): void {
  const byKey = new Map(pvs.map((p) => [p.key, p]));
  const put = (devRange: string, lvOff: number, length: number, pvOffInRange: number) => {
    const m = /^(.+):(\d+)-(\d+)$/.exec(devRange);
    if (!m) throw new Error(`unexpected PE range ${devRange}`);
    const key = build.devKey[m[1]!];
    if (!key) throw new Error(`PE range on an unknown device: ${devRange}`);
    const pv = byKey.get(key)!;
    writeAt(pv.file, pv.offset + build.peStart[key]! + Number(m[2]) * EXTENT + pvOffInRange, data.subarray(lvOff, lvOff + length));
  };
  const rows = build.lvs.filter((r) => r.lv_name === lvName);
  if (!rows.length) throw new Error(`lvs shows no LV ${lvName}`);
  for (const r of rows) {
    const start = Number(r.seg_start_pe) * EXTENT;
    const ranges = r.seg_pe_ranges.split(/\s+/).filter(Boolean);
    if (r.segtype === 'linear') {
      let off = start;
      for (const rg of ranges) {
        const [, a, b] = /:(\d+)-(\d+)$/.exec(rg)!;
        const len = (Number(b) - Number(a) + 1) * EXTENT;
        put(rg, off, len, 0);
        off += len;
      }
    } else if (r.segtype === 'striped') {
      const n = Number(r.stripes);
      const chunk = Number(r.stripe_size);
      const [, a, b] = /:(\d+)-(\d+)$/.exec(ranges[0]!)!;
      const perStripe = (Number(b) - Number(a) + 1) * EXTENT;
      for (let c = 0; c * chunk < perStripe * n; c++) put(ranges[c % n]!, start + c * chunk, chunk, Math.floor(c / n) * chunk);
    } else if (r.segtype === 'raid1') {
      for (const img of build.lvs.filter((x) => x.lv_name.startsWith(`[${lvName}_rimage_`))) {
        const sub = { ...build, lvs: build.lvs.map((x) => (x === img ? { ...x, lv_name: '\0img' } : x)) };
        placeLv(sub, pvs, '\0img', data.subarray(start));
      }
    } else throw new Error(`placeLv: segment type ${r.segtype} not handled`);
  }
}

/** An ext4 filesystem of `bytes` holding `tree` (mkfs.ext4 -d). */
export function ext4Of(tree: string, bytes: number, label: string, work: string): Buffer {
  const f = join(work, `${label}.ext4`);
  rmSync(f, { force: true });
  sh('mkfs.ext4', ['-F', '-q', '-b', '4096', '-L', label, '-E', 'root_owner=0:0', '-d', tree, f, `${bytes / 1024}k`]);
  const b = readFileSync(f);
  rmSync(f, { force: true });
  return b;
}

/** A FAT filesystem of `bytes` holding the files of `tree` (mkfs.fat + mcopy). */
export function fatOf(tree: string, bytes: number, label: string, work: string): Buffer {
  const f = join(work, `${label}.fat`);
  rmSync(f, { force: true });
  sh('mkfs.fat', ['-C', '-n', label, f, String(bytes / 1024)]);
  sh('mcopy', ['-s', '-i', f, ...readdirNames(tree).map((n) => join(tree, n)), '::/']);
  const b = readFileSync(f);
  rmSync(f, { force: true });
  return b;
}

function readdirNames(d: string): string[] {
  return sh('ls', ['-A', d]).split('\n').filter(Boolean);
}

export const LVM_A = {
  vg: 'tvg',
  vgId: lvmUuid('V'),
  pv0: lvmUuid('A'),
  pv1: lvmUuid('B'),
};

/** Trees of the LVs of image A, by LV name. */
export function treeFiles(lv: string): TreeFile[] {
  const seed = [...lv].reduce((n, c) => n * 31 + c.charCodeAt(0), 7) % 1000;
  return [
    { path: 'hello.txt', content: `hello from ${lv}\n` },
    { path: 'etc/fstab', content: `/dev/mapper/tvg-${lv} / ext4 defaults 0 1\n` },
    { path: 'docs/report.bin', size: 300_000 + seed, seed },
    { path: 'docs/deep/er/file.bin', size: 4097, seed: seed + 1 },
    { path: 'big.bin', size: 3 * MiB + 123, seed: seed + 2 },
  ];
}

/**
 * Image A: one raw GPT disk, 160 MiB: p1 FAT (not LVM), p2 and p3 LVM PVs of VG `tvg`:
 * - root: ext4, 24 extents in 2 segments out of order on p2;
 * - data: FAT, 16 extents striped over p2 and p3 (64 KiB stripes);
 * - mir: ext4, raid1 with image 0 on p3 and image 1 on p2;
 * - pool/thin1: a thin pool with a thin LV (named in info, not read: exit 6);
 * and two older metadata versions (with an LV `old`) left in the ring.
 * Returns the folder of the trees (`<image>.trees/<lv>/`).
 */
export function buildLvmImageA(path: string): string {
  const work = `${path}.work`;
  const trees = `${path}.trees`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '160M', tmp]);
  sh('sgdisk', ['-o', '-U', '11111111-2222-3333-4444-666666666666',
    '-n', '1:1M:+16M', '-t', '1:8300', '-c', '1:boot',
    '-n', '2:17M:+72M', '-t', '2:8E00', '-c', '2:lvm-a',
    '-n', '3:89M:+70M', '-t', '3:8E00', '-c', '3:lvm-b', tmp]);
  const pvs: PvSpec[] = [
    { key: 'pv0', uuid: LVM_A.pv0, file: tmp, offset: 17 * MiB, size: 72 * MiB },
    { key: 'pv1', uuid: LVM_A.pv1, file: tmp, offset: 89 * MiB, size: 70 * MiB },
  ];
  const hidden = (name: string, pv: string, pe: number, count: number): LvSpec => ({ name, visible: false, segments: [linear(0, count, pv, pe)] });
  const final: LvSpec[] = [
    { name: 'root', visible: true, segments: [linear(0, 12, 'pv0', 30), linear(12, 12, 'pv0', 2)] },
    { name: 'data', visible: true, segments: [{ start: 0, count: 16, type: 'striped', body: 'stripe_count = 2\nstripe_size = 128\nstripes = [\n"pv0", 50,\n"pv1", 0\n]' }] },
    { name: 'mir', visible: true, segments: [{ start: 0, count: 8, type: 'raid1', body: 'device_count = 2\nregion_size = 1024\nraids = [\n"mir_rmeta_0", "mir_rimage_0",\n"mir_rmeta_1", "mir_rimage_1"\n]' }] },
    hidden('mir_rmeta_0', 'pv1', 20, 1),
    hidden('mir_rimage_0', 'pv1', 21, 8),
    hidden('mir_rmeta_1', 'pv0', 60, 1),
    hidden('mir_rimage_1', 'pv0', 61, 8),
  ];
  const older: LvSpec[][] = [
    [{ name: 'old', visible: true, segments: [linear(0, 4, 'pv0', 14)] }],
    [{ name: 'old', visible: true, segments: [linear(0, 4, 'pv0', 14)] }, { name: 'root', visible: true, segments: [linear(0, 24, 'pv1', 30)] }],
  ];
  const build = makeVg(LVM_A.vg, LVM_A.vgId, pvs, [...older, final]);
  writeFileSync(`${path}.lvs.json`, JSON.stringify(build.lvs, null, 1));
  writeFileSync(`${path}.vgs.json`, JSON.stringify({ seqno: build.seqno }));
  for (const lv of ['root', 'data', 'mir', 'boot']) writeTree(join(trees, lv), treeFiles(lv));
  placeLv(build, pvs, 'root', ext4Of(join(trees, 'root'), 24 * MiB, 'root', work));
  placeLv(build, pvs, 'data', fatOf(join(trees, 'data'), 16 * MiB, 'DATA', work));
  placeLv(build, pvs, 'mir', ext4Of(join(trees, 'mir'), 8 * MiB, 'mir', work));
  writeAt(tmp, 1 * MiB, fatOf(join(trees, 'boot'), 16 * MiB, 'BOOT', work));
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
  return trees;
}

export const LVM_B = {
  /** A VG named like a partition: shown as /p1~2. */
  vg: 'p1',
  vgId: lvmUuid('W'),
  pv0: lvmUuid('C'),
  pv1: lvmUuid('D'),
};

/**
 * Images B: a VG over two disks. Disk 1 (64 MiB, GPT): p1 a PV; disk 2 (48 MiB): a PV on the
 * whole disk. VG `p1` (a name taken by disk 1's partition): `s` ext4 striped over both disks
 * (8 KiB stripes), `one` ext4 on disk 1 only.
 */
export function buildLvmImagesB(path1: string, path2: string): string {
  const work = `${path1}.work`;
  const trees = `${path1}.trees`;
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const t1 = `${path1}.tmp`;
  const t2 = `${path2}.tmp`;
  for (const t of [t1, t2]) rmSync(t, { force: true });
  sh('truncate', ['-s', '64M', t1]);
  sh('truncate', ['-s', '48M', t2]);
  sh('sgdisk', ['-o', '-n', '1:1M:+62M', '-t', '1:8E00', t1]);
  const pvs: PvSpec[] = [
    { key: 'pv0', uuid: LVM_B.pv0, file: t1, offset: MiB, size: 62 * MiB },
    { key: 'pv1', uuid: LVM_B.pv1, file: t2, offset: 0, size: 48 * MiB },
  ];
  const build = makeVg(LVM_B.vg, LVM_B.vgId, pvs, [[
    { name: 's', visible: true, segments: [{ start: 0, count: 20, type: 'striped', body: 'stripe_count = 2\nstripe_size = 16\nstripes = [\n"pv0", 0,\n"pv1", 3\n]' }] },
    { name: 'one', visible: true, segments: [linear(0, 8, 'pv0', 40)] },
  ]]);
  writeFileSync(`${path1}.lvs.json`, JSON.stringify(build.lvs, null, 1));
  for (const lv of ['s', 'one']) writeTree(join(trees, lv), treeFiles(lv));
  placeLv(build, pvs, 's', ext4Of(join(trees, 's'), 20 * MiB, 's', work));
  placeLv(build, pvs, 'one', ext4Of(join(trees, 'one'), 8 * MiB, 'one', work));
  rmSync(work, { recursive: true, force: true });
  renameSync(t1, path1);
  renameSync(t2, path2);
  return trees;
}

/**
 * Image C: a whole raw disk (40 MiB) as one PV of VG `cvg` with linear LVs only (libvslvm reads
 * no multi-stripe lists): `root` ext4 in 2 segments out of order, `two` ext4.
 */
export function buildLvmImageC(path: string): string {
  const work = `${path}.work`;
  const trees = `${path}.trees`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '40M', tmp]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('E'), file: tmp, offset: 0, size: 40 * MiB }];
  const build = makeVg('cvg', lvmUuid('X'), pvs, [[
    { name: 'root', visible: true, segments: [linear(0, 10, 'pv0', 20), linear(10, 10, 'pv0', 2)] },
    { name: 'two', visible: true, segments: [linear(0, 8, 'pv0', 30)] },
  ]]);
  writeFileSync(`${path}.lvs.json`, JSON.stringify(build.lvs, null, 1));
  for (const lv of ['root', 'two']) writeTree(join(trees, lv), treeFiles(lv));
  placeLv(build, pvs, 'root', ext4Of(join(trees, 'root'), 20 * MiB, 'root', work));
  placeLv(build, pvs, 'two', ext4Of(join(trees, 'two'), 8 * MiB, 'two', work));
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
  return trees;
}

/**
 * Image D: a whole raw disk (48 MiB) as one PV of VG `thinvg` with a thin pool (`pool`: 64 KiB
 * blocks, 16 MiB of data, metadata written by thin_restore from XML, thin_dump as its oracle)
 * holding `thin1` (24 MiB virtual: more than the pool's data) and `thin2` (8 MiB), each ext4.
 * Only the non-zero 64 KiB blocks of each filesystem are mapped, to data blocks in a shuffled
 * order; the rest is unmapped and must read as zeros.
 */
export function buildLvmImageD(path: string): string {
  const work = `${path}.work`;
  const trees = `${path}.trees`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '48M', tmp]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('G'), file: tmp, offset: 0, size: 48 * MiB }];
  const block = 64 * 1024;
  const build = makeVg('thinvg', lvmUuid('Y'), pvs, [[
    { name: 'pool', visible: true, segments: [{ start: 0, count: 16, type: 'thin-pool', body: 'metadata = "pool_tmeta"\npool = "pool_tdata"\ntransaction_id = 2\nchunk_size = 128\ndiscards = "passdown"\nzero_new_blocks = 1' }] },
    { name: 'thin1', visible: true, segments: [{ start: 0, count: 24, type: 'thin', body: 'thin_pool = "pool"\ntransaction_id = 0\ndevice_id = 1' }] },
    { name: 'thin2', visible: true, segments: [{ start: 0, count: 8, type: 'thin', body: 'thin_pool = "pool"\ntransaction_id = 1\ndevice_id = 2' }] },
    { name: 'pool_tmeta', visible: false, segments: [linear(0, 4, 'pv0', 1)] },
    { name: 'pool_tdata', visible: false, segments: [linear(0, 16, 'pv0', 10)] },
  ]], { force: true });
  writeFileSync(`${path}.lvs.json`, JSON.stringify(build.lvs, null, 1));
  const fss: Array<{ dev: number; data: Buffer }> = [];
  for (const [dev, lv, mib] of [[1, 'thin1', 24], [2, 'thin2', 8]] as const) {
    writeTree(join(trees, lv), treeFiles(lv));
    fss.push({ dev, data: ext4Of(join(trees, lv), mib * MiB, lv, work) });
  }
  // Data blocks handed out in a fixed shuffled order (a stride coprime to 256).
  const tdata = Buffer.alloc(16 * MiB);
  let next = 0;
  const xml: string[] = ['<superblock uuid="" time="0" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="256">'];
  for (const f of fss) {
    const maps: string[] = [];
    for (let v = 0; v * block < f.data.length; v++) {
      const chunk = f.data.subarray(v * block, (v + 1) * block);
      if (chunk.every((x) => x === 0)) continue;
      if (next >= 256) throw new Error('thin test filesystems need more than the pool holds');
      const d = (next++ * 101) % 256;
      chunk.copy(tdata, d * block);
      maps.push(`<single_mapping origin_block="${v}" data_block="${d}" time="0"/>`);
    }
    xml.push(`<device dev_id="${f.dev}" mapped_blocks="${maps.length}" transaction="0" creation_time="0" snap_time="0">`, ...maps, '</device>');
  }
  xml.push('</superblock>');
  const xmlFile = join(work, 'pool.xml');
  writeFileSync(xmlFile, xml.join('\n'));
  const meta = join(work, 'tmeta');
  sh('truncate', ['-s', '4M', meta]);
  sh('thin_restore', ['-i', xmlFile, '-o', meta]);
  writeFileSync(`${path}.thin.xml`, xml.join('\n'));
  placeLv(build, pvs, '[pool_tmeta]', readFileSync(meta));
  placeLv(build, pvs, '[pool_tdata]', tdata);
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
  return trees;
}

/**
 * Image E: a whole raw disk (40 MiB) as one PV of VG `snapvg`: origin `data` (ext4, 12 MiB) and
 * an old-style snapshot of it, `snap` (COW LV of 4 MiB, 4 KiB chunks). The snapshot was taken
 * with the tree `data.v1`; afterwards debugfs changed the origin (a file written, one removed:
 * tree `data.v2`). The COW store holds, as dm-snapshot writes it, the v1 bytes of every chunk
 * that changed, in the order a writer would have copied them out.
 */
export function buildLvmImageE(path: string): string {
  const work = `${path}.work`;
  const trees = `${path}.trees`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '40M', tmp]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('J'), file: tmp, offset: 0, size: 40 * MiB }];
  const build = makeVg('snapvg', lvmUuid('T'), pvs, [[
    { name: 'data', visible: true, segments: [linear(0, 12, 'pv0', 2)] },
    { name: 'snap', visible: true, segments: [linear(0, 4, 'pv0', 20)] },
    { name: 'snapshot0', visible: false, segments: [{ start: 0, count: 12, type: 'snapshot', body: 'chunk_size = 8\norigin = "data"\ncow_store = "snap"' }] },
  ]]);
  writeFileSync(`${path}.lvs.json`, JSON.stringify(build.lvs, null, 1));
  writeTree(join(trees, 'data.v1'), treeFiles('data'));
  const v1 = ext4Of(join(trees, 'data.v1'), 12 * MiB, 'data', work);
  // The origin changes after the snapshot: debugfs (e2fsprogs) writes one file and removes another.
  const img = join(work, 'v2.ext4');
  writeFileSync(img, v1);
  const added = join(work, 'added.txt');
  writeFileSync(added, 'written after the snapshot\n'.repeat(300));
  sh('debugfs', ['-w', '-R', `write ${added} added.txt`, img]);
  sh('debugfs', ['-w', '-R', 'rm hello.txt', img]);
  const v2 = readFileSync(img);
  sh('cp', ['-a', join(trees, 'data.v1'), join(trees, 'data.v2')]);
  rmSync(join(trees, 'data.v2', 'hello.txt'));
  writeFileSync(join(trees, 'data.v2', 'added.txt'), readFileSync(added));
  // The COW store: header, area 0 (exceptions), then the data chunks it lists.
  const chunk = 4096;
  const perArea = chunk / 16;
  const cow = Buffer.alloc(4 * MiB);
  cow.writeUInt32LE(0x70416e53, 0);
  cow.writeUInt32LE(1, 4);
  cow.writeUInt32LE(1, 8);
  cow.writeUInt32LE(chunk / 512, 12);
  let n = 0;
  for (let c = 0; c * chunk < v1.length; c++) {
    if (v1.subarray(c * chunk, (c + 1) * chunk).equals(v2.subarray(c * chunk, (c + 1) * chunk))) continue;
    if (n >= perArea) throw new Error('snapshot test: more changed chunks than one exception area holds');
    const dataChunk = 2 + n;
    cow.writeBigUInt64LE(BigInt(c), chunk + n * 16);
    cow.writeBigUInt64LE(BigInt(dataChunk), chunk + n * 16 + 8);
    v1.copy(cow, dataChunk * chunk, c * chunk, (c + 1) * chunk);
    n++;
  }
  if (n === 0) throw new Error('snapshot test: the origin did not change');
  placeLv(build, pvs, 'data', v2);
  placeLv(build, pvs, 'snap', cow);
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
  return trees;
}

/** The bench image: the same ext4 (a 256 MiB file, 3000 small files) on p1 and on LV `bench/root`. */
export const LVM_BENCH = { file: '/big.bin', size: 256 * MiB, fsMiB: 340 };

/**
 * bench/lvm.ts's image (720 MiB raw, GPT): p1 holds an ext4 filesystem as it is; p2 is a PV of VG
 * `bench` whose LV `root` (2 segments, the second first on the PV) holds the same bytes.
 */
export function buildLvmBenchImage(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '720M', tmp]);
  sh('sgdisk', ['-o', '-n', '1:1M:+340M', '-t', '1:8300', '-n', '2:341M:+370M', '-t', '2:8E00', tmp]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('H'), file: tmp, offset: 341 * MiB, size: 370 * MiB }];
  const half = LVM_BENCH.fsMiB / 2;
  const build = makeVg('bench', lvmUuid('U'), pvs, [[
    { name: 'root', visible: true, segments: [linear(0, half, 'pv0', half + 20), linear(half, half, 'pv0', 5)] },
  ]]);
  const tree = join(work, 'tree');
  const files: TreeFile[] = [];
  for (let i = 0; i < 3000; i++) files.push({ path: `d${i % 30}/f${i}.txt`, content: `file ${i}\n` });
  writeTree(tree, files);
  execFileSync('bash', ['-c', `head -c ${LVM_BENCH.size} /dev/urandom > ${tree}${LVM_BENCH.file}`]);
  const fs = ext4Of(tree, LVM_BENCH.fsMiB * MiB, 'bench', work);
  writeAt(tmp, MiB, fs);
  placeLv(build, pvs, 'root', fs);
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
}

/**
 * The fuzzer's LVM2 seed: a 6 MiB whole-disk PV, VG `fz` with LV `a` (2 extents in 2 segments
 * out of order, a small filesystem made by `mkfs(file, KiB)`) and LV `b` (1 extent, zeros).
 */
export function lvmSeed(path: string, mkfs: (file: string, kib: number) => void): void {
  rmSync(path, { force: true });
  sh('truncate', ['-s', '6M', path]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('F'), file: path, offset: 0, size: 6 * MiB }];
  const build = makeVg('fz', lvmUuid('Z'), pvs, [[
    { name: 'a', visible: true, segments: [linear(0, 1, 'pv0', 3), linear(1, 1, 'pv0', 0)] },
    { name: 'b', visible: true, segments: [linear(0, 1, 'pv0', 1)] },
  ]]);
  const fs = `${path}.fs`;
  mkfs(fs, 2048);
  placeLv(build, pvs, 'a', readFileSync(fs));
  rmSync(fs, { force: true });
}

/**
 * The fuzzer's thin seed: a 6 MiB whole-disk PV, VG `fzt` with a thin pool (1 MiB metadata from
 * thin_restore, 2 MiB data, 64 KiB blocks) and one thin LV of 2 MiB holding a small filesystem
 * made by `mkfs(file, KiB)`, its non-zero blocks mapped in reverse order.
 */
export function lvmThinSeed(path: string, mkfs: (file: string, kib: number) => void): void {
  rmSync(path, { force: true });
  sh('truncate', ['-s', '6M', path]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('K'), file: path, offset: 0, size: 6 * MiB }];
  const build = makeVg('fzt', lvmUuid('S'), pvs, [[
    { name: 'pool', visible: true, segments: [{ start: 0, count: 2, type: 'thin-pool', body: 'metadata = "pool_tmeta"\npool = "pool_tdata"\ntransaction_id = 1\nchunk_size = 128\ndiscards = "passdown"\nzero_new_blocks = 1' }] },
    { name: 't', visible: true, segments: [{ start: 0, count: 2, type: 'thin', body: 'thin_pool = "pool"\ntransaction_id = 0\ndevice_id = 1' }] },
    { name: 'pool_tmeta', visible: false, segments: [linear(0, 1, 'pv0', 0)] },
    { name: 'pool_tdata', visible: false, segments: [linear(0, 2, 'pv0', 1)] },
  ]], { force: true });
  const fsFile = `${path}.fs`;
  mkfs(fsFile, 2048);
  const fs = readFileSync(fsFile);
  rmSync(fsFile, { force: true });
  const block = 65536;
  const tdata = Buffer.alloc(2 * MiB);
  const maps: string[] = [];
  let next = 31;
  for (let v = 0; v * block < fs.length; v++) {
    const c = fs.subarray(v * block, (v + 1) * block);
    if (c.every((x) => x === 0)) continue;
    c.copy(tdata, next * block);
    maps.push(`<single_mapping origin_block="${v}" data_block="${next--}" time="0"/>`);
  }
  const xml = `${path}.xml`;
  writeFileSync(xml, ['<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="32">', `<device dev_id="1" mapped_blocks="${maps.length}" transaction="0" creation_time="0" snap_time="0">`, ...maps, '</device>', '</superblock>'].join('\n'));
  const meta = `${path}.meta`;
  sh('truncate', ['-s', '1M', meta]);
  sh('thin_restore', ['-i', xml, '-o', meta]);
  placeLv(build, pvs, '[pool_tmeta]', readFileSync(meta));
  placeLv(build, pvs, '[pool_tdata]', tdata);
  rmSync(xml, { force: true });
  rmSync(meta, { force: true });
}

/** qemu-img convert of a raw image into `fmt` (qcow2, vmdk …). */
export function convertTo(raw: string, out: string, fmt: string): void {
  if (existsSync(out)) return;
  sh('qemu-img', ['convert', '-f', 'raw', '-O', fmt, raw, `${out}.tmp`]);
  renameSync(`${out}.tmp`, out);
}

/** The first bytes of a file (for checks that the ring still holds older copies). */
export function readHead(file: string, offset: number, length: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const b = Buffer.alloc(length);
    readSync(fd, b, 0, length, offset);
    return b;
  } finally {
    closeSync(fd);
  }
}
