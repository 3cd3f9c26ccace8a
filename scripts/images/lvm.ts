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

export function sh(cmd: string, args: string[], input?: string): string {
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
export function writeAt(file: string, offset: number, data: Buffer): void {
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

/** A builder's work folder, tree folder and temporary image (`<image>.work` …), emptied. */
export function freshPlaces(path: string): { work: string; trees: string; tmp: string } {
  const work = `${path}.work`;
  const trees = `${path}.trees`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  return { work, trees, tmp };
}

/**
 * Image A: one raw GPT disk, 160 MiB: p1 FAT (not LVM), p2 and p3 LVM PVs of VG `tvg`:
 * - root: ext4, 24 extents in 2 segments out of order on p2;
 * - data: FAT, 16 extents striped over p2 and p3 (64 KiB stripes);
 * - mir: ext4, raid1 with image 0 on p3 and image 1 on p2;
 * and two older metadata versions (with an LV `old`) left in the ring.
 * Returns the folder of the trees (`<image>.trees/<lv>/`).
 */
export function buildLvmImageA(path: string): string {
  const { work, trees, tmp } = freshPlaces(path);
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
  const { work, trees, tmp } = freshPlaces(path);
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
