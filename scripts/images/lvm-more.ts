/**
 * More LVM2 test images (see lvm.ts for how they are made): a thin pool (image D), an
 * old-style snapshot (image E), the bench image, and the fuzzer's small seeds.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ext4Of, freshPlaces, linear, lvmUuid, makeVg, placeLv, sh, treeFiles, writeAt, type LvSpec, type PvSpec } from './lvm.js';
import { writeTree, type TreeFile } from './tree.js';

const MiB = 1024 * 1024;

/**
 * A thin pool `pool` (16 extents of data at PV extent 10, 4 of metadata at extent 1, 64 KiB
 * blocks) and its thin LVs, device ids 1, 2, … in order (`origin`: a thin snapshot of it).
 */
function thinPoolLvs(thin: Array<{ name: string; extents: number; origin?: string }>): LvSpec[] {
  return [
    { name: 'pool', visible: true, segments: [{ start: 0, count: 16, type: 'thin-pool', body: `metadata = "pool_tmeta"\npool = "pool_tdata"\ntransaction_id = ${thin.length}\nchunk_size = 128\ndiscards = "passdown"\nzero_new_blocks = 1` }] },
    ...thin.map((t, i) => ({
      name: t.name, visible: true,
      segments: [{ start: 0, count: t.extents, type: 'thin', body: `thin_pool = "pool"\ntransaction_id = ${i}\ndevice_id = ${i + 1}${t.origin ? `\norigin = "${t.origin}"` : ''}` }],
    })),
    { name: 'pool_tmeta', visible: false, segments: [linear(0, 4, 'pv0', 1)] },
    { name: 'pool_tdata', visible: false, segments: [linear(0, 16, 'pv0', 10)] },
  ];
}

/** A thin pool's metadata device (4 MiB) written by thin_restore from `xml` lines; its path. */
function thinMetadata(work: string, xml: string[]): string {
  const xmlFile = join(work, 'pool.xml');
  writeFileSync(xmlFile, xml.join('\n'));
  const meta = join(work, 'tmeta');
  sh('truncate', ['-s', '4M', meta]);
  sh('thin_restore', ['-i', xmlFile, '-o', meta]);
  return meta;
}

/**
 * Image D: a whole raw disk (48 MiB) as one PV of VG `thinvg` with a thin pool (`pool`: 64 KiB
 * blocks, 16 MiB of data, metadata written by thin_restore from XML, thin_dump as its oracle)
 * holding `thin1` (24 MiB virtual: more than the pool's data) and `thin2` (8 MiB), each ext4.
 * Only the non-zero 64 KiB blocks of each filesystem are mapped, to data blocks in a shuffled
 * order; the rest is unmapped and must read as zeros.
 */
export function buildLvmImageD(path: string): string {
  const { work, trees, tmp } = freshPlaces(path);
  sh('truncate', ['-s', '48M', tmp]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('G'), file: tmp, offset: 0, size: 48 * MiB }];
  const block = 64 * 1024;
  const build = makeVg('thinvg', lvmUuid('Y'), pvs, [[
    ...thinPoolLvs([{ name: 'thin1', extents: 24 }, { name: 'thin2', extents: 8 }]),
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
  const meta = thinMetadata(work, xml);
  writeFileSync(`${path}.thin.xml`, xml.join('\n'));
  placeLv(build, pvs, '[pool_tmeta]', readFileSync(meta));
  placeLv(build, pvs, '[pool_tdata]', tdata);
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
  return trees;
}

/**
 * Image F: a whole raw disk (40 MiB) as one PV of VG `thinsnap` with a thin pool (`pool`: 64 KiB
 * blocks, 16 MiB of data, metadata from thin_restore) holding `data` (thin, 12 MiB, ext4) and
 * `snap`, a thin snapshot of it (`origin = "data"` in its thin segment, as `lvcreate -s` of a
 * thin LV writes it). The snapshot holds tree `data.v1`; the origin was changed afterwards by
 * debugfs (tree `data.v2`). As dm-thin does, the two devices share every data block that did
 * not change, and the origin's changed blocks were written to fresh ones.
 */
export function buildLvmImageF(path: string): string {
  const { work, trees, tmp } = freshPlaces(path);
  sh('truncate', ['-s', '40M', tmp]);
  const pvs: PvSpec[] = [{ key: 'pv0', uuid: lvmUuid('K'), file: tmp, offset: 0, size: 40 * MiB }];
  const block = 64 * 1024;
  const build = makeVg('thinsnap', lvmUuid('U'), pvs, [[
    ...thinPoolLvs([{ name: 'data', extents: 12 }, { name: 'snap', extents: 12, origin: 'data' }]),
  ]], { force: true });
  writeFileSync(`${path}.lvs.json`, JSON.stringify(build.lvs, null, 1));
  writeTree(join(trees, 'data.v1'), treeFiles('data'));
  const v1 = ext4Of(join(trees, 'data.v1'), 12 * MiB, 'data', work);
  const img = join(work, 'v2.ext4');
  writeFileSync(img, v1);
  const added = join(work, 'added.txt');
  writeFileSync(added, 'written after the thin snapshot\n'.repeat(300));
  sh('debugfs', ['-w', '-R', `write ${added} added.txt`, img]);
  sh('debugfs', ['-w', '-R', 'rm hello.txt', img]);
  const v2 = readFileSync(img);
  sh('cp', ['-a', join(trees, 'data.v1'), join(trees, 'data.v2')]);
  rmSync(join(trees, 'data.v2', 'hello.txt'));
  writeFileSync(join(trees, 'data.v2', 'added.txt'), readFileSync(added));
  const tdata = Buffer.alloc(16 * MiB);
  let next = 0;
  const take = (chunk: Buffer): number => {
    if (next >= 256) throw new Error('thin snapshot test: more blocks than the pool holds');
    const d = (next++ * 101) % 256;
    chunk.copy(tdata, d * block);
    return d;
  };
  const snapMaps: string[] = [];
  const dataMaps: string[] = [];
  let shared = 0;
  for (let v = 0; v * block < v1.length; v++) {
    const a = v1.subarray(v * block, (v + 1) * block);
    const b = v2.subarray(v * block, (v + 1) * block);
    const zeroA = a.every((x) => x === 0);
    const zeroB = b.every((x) => x === 0);
    const da = zeroA ? -1 : take(a);
    if (da >= 0) snapMaps.push(`<single_mapping origin_block="${v}" data_block="${da}" time="0"/>`);
    if (zeroB) continue;
    // Unchanged since the snapshot: one block for both devices.
    const db = a.equals(b) && da >= 0 ? da : take(b);
    if (db === da) shared++;
    dataMaps.push(`<single_mapping origin_block="${v}" data_block="${db}" time="${db === da ? 0 : 1}"/>`);
  }
  if (shared === 0 || dataMaps.length === snapMaps.length && shared === dataMaps.length) throw new Error('thin snapshot test: nothing shared or nothing changed');
  const xml = ['<superblock uuid="" time="1" transaction="2" flags="0" version="2" data_block_size="128" nr_data_blocks="256">',
    `<device dev_id="1" mapped_blocks="${dataMaps.length}" transaction="0" creation_time="0" snap_time="1">`, ...dataMaps, '</device>',
    `<device dev_id="2" mapped_blocks="${snapMaps.length}" transaction="1" creation_time="1" snap_time="1">`, ...snapMaps, '</device>',
    '</superblock>'];
  const meta = thinMetadata(work, xml);
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
  const { work, trees, tmp } = freshPlaces(path);
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

