/**
 * VMDK test images. qemu-img writes every subformat it can (monolithicSparse/Flat,
 * twoGbMaxExtentSparse/Flat, streamOptimized, snapshot chains with qemu-io writes); the
 * formats it cannot write — ESX COWD redo logs and ESXi SESparse snapshots — come from
 * the small writers below, made from the published structure descriptions (libyal's VMDK
 * document, qemu's seSparse commit notes) and cross-checked with qemu-img, which reads both.
 *
 * Every builder makes a folder under the image cache and returns the path of the image
 * to open in it.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { seededBytes, seededText } from './tree.js';

const ENV = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' };
const SECTOR = 512;
const MiB = 1024 * 1024;

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { env: ENV, cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

/** Builds into a temporary folder and renames it into place, so a failed build leaves nothing. */
export function buildFolder(dir: string, build: (tmp: string) => void): void {
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    build(tmp);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOTEMPTY' && (err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (readdirSync(tmp).every((f) => existsSync(join(dir, f)))) {
        // Another test file built the same folder meanwhile (a clean cache, files run side by
        // side): keep theirs, which their tests may be reading — replacing it under them made a
        // clean-clone CI run read a chain whose files came from two builds.
        rmSync(tmp, { recursive: true, force: true });
      } else {
        // A folder left by an older builder: this build replaces it.
        rmSync(dir, { recursive: true, force: true });
        renameSync(tmp, dir);
      }
    }
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/** Data regions of the seeded 64 MiB disk: random, text (compressible), zero gaps, odd ends. */
const REGIONS: { at: number; size: number; kind: 'random' | 'text'; seed: number }[] = [
  { at: 0, size: 1 * MiB, kind: 'random', seed: 301 },
  { at: 4 * MiB + 4096, size: 3 * MiB + 777, kind: 'random', seed: 302 },
  { at: 20 * MiB, size: 2 * MiB + 123, kind: 'text', seed: 303 },
  { at: 40 * MiB + 65536 - 512, size: 1024, kind: 'random', seed: 304 },
  { at: 63 * MiB + 512 * 1024, size: 512 * 1024, kind: 'random', seed: 305 },
];

/** The seeded raw disk every converted image starts from: `size` bytes, sparse on the host. */
export function writeSeededRaw(path: string, size = 64 * MiB, extra: { at: number; data: Buffer }[] = []): void {
  const fd = openSync(path, 'w');
  try {
    for (const r of REGIONS) {
      if (r.at + r.size > size) continue;
      writeSync(fd, r.kind === 'random' ? seededBytes(r.seed, r.size) : seededText(r.seed, r.size), 0, r.size, r.at);
    }
    for (const e of extra) writeSync(fd, e.data, 0, e.data.length, e.at);
    // Make the file its full size (a hole at the end when the last region is not there).
    writeSync(fd, Buffer.alloc(1), 0, 1, size - 1);
  } finally {
    closeSync(fd);
  }
}

export type QemuSubformat = 'monolithicSparse' | 'monolithicFlat' | 'twoGbMaxExtentSparse' | 'twoGbMaxExtentFlat' | 'streamOptimized';

/** `qemu-img convert -O vmdk -o subformat=…` of the seeded raw disk; returns the descriptor path. */
export function buildConverted(dir: string, subformat: QemuSubformat, size = 64 * MiB): string {
  const out = join(dir, 'disk.vmdk');
  if (!existsSync(out)) {
    buildFolder(dir, (tmp) => {
      const raw = join(tmp, 'seed.raw');
      const extra = size > 64 * MiB ? [{ at: size - 3 * MiB, data: seededBytes(306, 2 * MiB) }, { at: 2048 * MiB - 4096, data: seededBytes(307, 8192) }] : [];
      writeSeededRaw(raw, size, extra);
      sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, join(tmp, 'disk.vmdk')]);
      rmSync(raw);
    });
  }
  return out;
}

/** The CID in a descriptor (standalone or embedded), as qemu-img wrote it. */
export function descriptorCid(path: string): string {
  const text = readFileSync(path).subarray(0, 64 * 1024).toString('latin1');
  const m = /\bCID=([0-9a-fA-F]+)/.exec(text);
  if (!m) throw new Error(`no CID in ${path}`);
  return m[1]!.toLowerCase();
}

/**
 * A three-level snapshot chain, as VMware names it: base.vmdk ← base-000001.vmdk ←
 * base-000002.vmdk, each overlay made with `qemu-img create -b` and changed with qemu-io
 * (data, a zeroed range with zeroed-grain GTEs, unaligned writes). Returns the top.
 */
export function buildChain(dir: string): string {
  const top = join(dir, 'base-000002.vmdk');
  if (existsSync(top)) return top;
  buildFolder(dir, (tmp) => {
    const raw = join(tmp, 'seed.raw');
    writeSeededRaw(raw);
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', raw, 'base.vmdk'], tmp);
    rmSync(raw);
    sh('qemu-img', ['create', '-f', 'vmdk', '-o', 'zeroed_grain=on', '-b', 'base.vmdk', '-F', 'vmdk', 'base-000001.vmdk'], tmp);
    sh('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0x5a 1048576 65536', '-c', 'write -P 0x11 33554432 4096', '-c', 'write -P 0x22 4200000 5000', '-c', 'write -z 0 131072', 'base-000001.vmdk'], tmp);
    sh('qemu-img', ['create', '-f', 'vmdk', '-b', 'base-000001.vmdk', '-F', 'vmdk', 'base-000002.vmdk'], tmp);
    sh('qemu-io', ['-f', 'vmdk', '-c', 'write -P 0x77 1081344 8192', '-c', 'write -P 0x33 21000000 100000', '-c', 'write -P 0x44 67043328 65536', 'base-000002.vmdk'], tmp);
  });
  return top;
}

/** One grain of a delta: its index and content. */
export interface DeltaGrain {
  grain: number;
  data: Buffer;
}

/** The grains the COWD and SESparse deltas hold (4 KiB grains unless stated). */
export function deltaGrains(grainBytes: number, seed: number): DeltaGrain[] {
  const picks = [0, 1, 7, 300, 301, 1025, 4096, 5000, 16383];
  return picks.map((g, i) => ({ grain: g, data: seededBytes(seed + i, grainBytes) }));
}

/**
 * A COWD sparse extent (libyal VMDK §5): 2048-byte header, grain directory at sector 4,
 * 4096-entry grain tables, then the grains. `parentFileName` goes in the child union.
 */
export function writeCowd(path: string, capacitySectors: number, grainSectors: number, grains: DeltaGrain[], parentFileName = ''): void {
  const gtCover = 4096 * grainSectors;
  const gdEntries = Math.ceil(capacitySectors / gtCover);
  const gdSectors = Math.ceil((gdEntries * 4) / SECTOR);
  const header = Buffer.alloc(2048);
  header.write('COWD', 0, 'latin1');
  header.writeUInt32LE(1, 4); // version
  header.writeUInt32LE(3, 8); // flags, as ESX writes
  header.writeUInt32LE(capacitySectors, 12);
  header.writeUInt32LE(grainSectors, 16);
  header.writeUInt32LE(4, 20); // gdOffset
  header.writeUInt32LE(gdEntries, 24);
  if (parentFileName) header.write(parentFileName, 32, 'utf8');
  else {
    header.writeUInt32LE(1024, 32); // cylinders, heads, sectors of a root disk
    header.writeUInt32LE(16, 36);
    header.writeUInt32LE(63, 40);
  }
  header.writeUInt32LE(1, 1060); // generation
  const tables = [...new Set(grains.map((g) => Math.floor(g.grain / 4096)))].sort((a, b) => a - b);
  const gd = Buffer.alloc(gdSectors * SECTOR);
  const gtBase = 4 + gdSectors;
  const gts = new Map<number, Buffer>();
  tables.forEach((t, i) => {
    gd.writeUInt32LE(gtBase + i * 32, t * 4); // 4096 entries * 4 bytes = 32 sectors
    gts.set(t, Buffer.alloc(4096 * 4));
  });
  let next = gtBase + tables.length * 32;
  const fd = openSync(path, 'w');
  try {
    for (const g of grains) {
      gts.get(Math.floor(g.grain / 4096))!.writeUInt32LE(next, (g.grain % 4096) * 4);
      writeSync(fd, g.data, 0, g.data.length, next * SECTOR);
      next += grainSectors;
    }
    header.writeUInt32LE(next, 28); // freeSector
    writeSync(fd, header, 0, header.length, 0);
    writeSync(fd, gd, 0, gd.length, 4 * SECTOR);
    tables.forEach((t, i) => writeSync(fd, gts.get(t)!, 0, 4096 * 4, (gtBase + i * 32) * SECTOR));
  } finally {
    closeSync(fd);
  }
}

/** GT entry states of an SESparse grain (qemu seSparse notes: the top nibble). */
export interface SesparseGrain extends DeltaGrain {
  state?: 'allocated' | 'zero' | 'unmapped';
}

/**
 * An SESparse extent (layout as ESXi logs it, compacted): constant header (sector 0),
 * volatile header (1), journal header (2), journal (4..), grain directory, grain tables,
 * free bitmap, back map, grains. Grain size 8 sectors, 4096-entry tables.
 */
export function writeSesparse(path: string, capacitySectors: number, grains: SesparseGrain[]): void {
  const grainSectors = 8;
  const gdEntries = Math.ceil(capacitySectors / (4096 * grainSectors));
  const gdSectors = Math.max(1, Math.ceil((gdEntries * 8) / SECTOR));
  const tables = [...new Set(grains.map((g) => Math.floor(g.grain / 4096)))].sort((a, b) => a - b);
  const layout = {
    volatile: [1, 1],
    journalHeader: [2, 2],
    journal: [4, 4],
    gd: [8, gdSectors],
    gts: [8 + gdSectors, Math.max(64, tables.length * 64)],
  } as const;
  const bitmapAt = layout.gts[0] + layout.gts[1];
  const backmapAt = bitmapAt + 1;
  const grainsAt = backmapAt + 1;
  const allocated = grains.filter((g) => (g.state ?? 'allocated') === 'allocated');
  const c = Buffer.alloc(SECTOR);
  const put = (v: number, at: number) => c.writeBigUInt64LE(BigInt(v), at);
  put(0xcafebabe, 0);
  c.writeBigUInt64LE(0x0000000200000001n, 8);
  put(capacitySectors, 16);
  put(grainSectors, 24);
  put(64, 32); // grain table size
  put(0, 40); // flags
  put(layout.volatile[0], 80); put(layout.volatile[1], 88);
  put(layout.journalHeader[0], 96); put(layout.journalHeader[1], 104);
  put(layout.journal[0], 112); put(layout.journal[1], 120);
  put(layout.gd[0], 128); put(layout.gd[1], 136);
  put(layout.gts[0], 144); put(layout.gts[1], 152);
  put(bitmapAt, 160); put(1, 168);
  put(backmapAt, 176); put(1, 184);
  put(grainsAt, 192); put(Math.max(allocated.length, 1) * grainSectors, 200);
  const v = Buffer.alloc(SECTOR);
  v.writeBigUInt64LE(0xcafecafen, 0);
  const gd = Buffer.alloc(layout.gd[1] * SECTOR);
  const gtBufs = new Map<number, Buffer>();
  tables.forEach((t, i) => {
    gd.writeBigUInt64LE(0x1000000000000000n | BigInt(i), t * 8);
    gtBufs.set(t, Buffer.alloc(64 * SECTOR));
  });
  const fd = openSync(path, 'w');
  try {
    let index = 0;
    for (const g of grains) {
      const gt = gtBufs.get(Math.floor(g.grain / 4096))!;
      const at = (g.grain % 4096) * 8;
      const state = g.state ?? 'allocated';
      if (state === 'zero') gt.writeBigUInt64LE(0x2000000000000000n, at);
      else if (state === 'unmapped') gt.writeBigUInt64LE(0x1000000000000000n | 12345n, at);
      else {
        // The grain index's low 12 bits go to bits 48..59, the rest to bits 0..47.
        const idx = BigInt(index);
        gt.writeBigUInt64LE(0x3000000000000000n | ((idx & 0xfffn) << 48n) | (idx >> 12n), at);
        writeSync(fd, g.data, 0, g.data.length, (grainsAt + index * grainSectors) * SECTOR);
        index++;
      }
    }
    writeSync(fd, c, 0, SECTOR, 0);
    writeSync(fd, v, 0, SECTOR, SECTOR);
    writeSync(fd, gd, 0, gd.length, layout.gd[0] * SECTOR);
    tables.forEach((t, i) => writeSync(fd, gtBufs.get(t)!, 0, 64 * SECTOR, (layout.gts[0] + i * 64) * SECTOR));
    // The file reaches at least the end of the grain area the header declares.
    if (allocated.length === 0) writeSync(fd, Buffer.alloc(grainSectors * SECTOR), 0, grainSectors * SECTOR, grainsAt * SECTOR);
  } finally {
    closeSync(fd);
  }
}

/** A text descriptor in VMware's layout. */
export function descriptorText(o: { cid: string; parentCid?: string; createType: string; parentHint?: string; extents: string[] }): string {
  return [
    '# Disk DescriptorFile',
    'version=1',
    'encoding="UTF-8"',
    `CID=${o.cid}`,
    `parentCID=${o.parentCid ?? 'ffffffff'}`,
    `createType="${o.createType}"`,
    ...(o.parentHint ? [`parentFileNameHint="${o.parentHint}"`] : []),
    '',
    '# Extent description',
    ...o.extents,
    '',
    '# The Disk Data Base',
    '#DDB',
    '',
    'ddb.virtualHWVersion = "4"',
    'ddb.adapterType = "lsilogic"',
    '',
  ].join('\n');
}

/**
 * ESX-style deltas on a 64 MiB base: base.vmdk is an ESX `vmfs` descriptor over
 * base-flat.vmdk; delta.vmdk (vmfsSparse → COWD delta-delta.vmdk, 4 KiB grains) and
 * sesparse.vmdk (seSparse → sesparse-sesparse.vmdk) name it as parent; redo.vmdk.REDO is
 * an ESX 2 COWD redo log naming base.vmdk in its header; root-cowd.vmdk is a COWD with no
 * parent. Returns the folder.
 */
export function buildEsxDeltas(dir: string): string {
  if (existsSync(join(dir, 'sesparse.vmdk'))) return dir;
  buildFolder(dir, (tmp) => {
    const raw = join(tmp, 'seed.raw');
    writeSeededRaw(raw);
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicFlat', raw, 'conv.vmdk'], tmp);
    rmSync(raw);
    renameSync(join(tmp, 'conv-flat.vmdk'), join(tmp, 'base-flat.vmdk'));
    rmSync(join(tmp, 'conv.vmdk'));
    const sectors = (64 * MiB) / SECTOR;
    writeFileSync(join(tmp, 'base.vmdk'), descriptorText({ cid: '1a2b3c4d', createType: 'vmfs', extents: [`RW ${sectors} VMFS "base-flat.vmdk"`] }));
    writeCowd(join(tmp, 'delta-delta.vmdk'), sectors, 8, deltaGrains(4096, 400));
    writeFileSync(
      join(tmp, 'delta.vmdk'),
      descriptorText({ cid: '5e6f7081', parentCid: '1a2b3c4d', createType: 'vmfsSparse', parentHint: 'base.vmdk', extents: [`RW ${sectors} VMFSSPARSE "delta-delta.vmdk"`] }),
    );
    const se: SesparseGrain[] = deltaGrains(4096, 500);
    se.push({ grain: 2, data: Buffer.alloc(0), state: 'zero' }, { grain: 3, data: Buffer.alloc(0), state: 'unmapped' });
    writeSesparse(join(tmp, 'sesparse-sesparse.vmdk'), sectors, se);
    writeFileSync(
      join(tmp, 'sesparse.vmdk'),
      descriptorText({ cid: '99aabbcc', parentCid: '1a2b3c4d', createType: 'seSparse', parentHint: 'base.vmdk', extents: [`RW ${sectors} SESPARSE "sesparse-sesparse.vmdk"`] }),
    );
    writeCowd(join(tmp, 'redo.vmdk.REDO'), sectors, 16, deltaGrains(8192, 600), 'base.vmdk');
    writeCowd(join(tmp, 'root-cowd.vmdk'), sectors, 1, deltaGrains(512, 700));
    // qemu opens a COWD only through a descriptor: these two make it the oracle for the
    // bare COWD files above.
    writeFileSync(join(tmp, 'redo-desc.vmdk'), descriptorText({ cid: '0badcafe', parentCid: '1a2b3c4d', createType: 'vmfsSparse', parentHint: 'base.vmdk', extents: [`RW ${sectors} VMFSSPARSE "redo.vmdk.REDO"`] }));
    writeFileSync(join(tmp, 'root-cowd-desc.vmdk'), descriptorText({ cid: '0badf00d', createType: 'vmfsSparse', extents: [`RW ${sectors} VMFSSPARSE "root-cowd.vmdk"`] }));
  });
  return dir;
}

/** What a delta over `base` reads as: the base with the delta's grains laid over it. */
export function overlay(base: Buffer, grains: SesparseGrain[], grainBytes: number): Buffer {
  const out = Buffer.from(base);
  for (const g of grains) {
    const at = g.grain * grainBytes;
    if ((g.state ?? 'allocated') === 'allocated') g.data.copy(out, at);
    else out.fill(0, at, at + grainBytes);
  }
  return out;
}

/** Files put in the FAT32 volume of the filesystem VMDK (the manifest is this list). */
export function fatFiles(): { name: string; data: Buffer }[] {
  return [
    { name: 'README.TXT', data: seededText(801, 5000) },
    { name: 'random.bin', data: seededBytes(802, 3 * MiB + 321) },
    { name: 'notes.txt', data: seededText(803, 200_000) },
  ];
}

/**
 * A 64 MiB GPT disk with one FAT32 partition filled by mcopy, converted by qemu-img to
 * `subformat`: the end-to-end check that the CLI reads files through a VMDK.
 */
export function buildFatVmdk(dir: string, subformat: QemuSubformat): string {
  const out = join(dir, 'fat.vmdk');
  if (existsSync(out)) return out;
  buildFolder(dir, (tmp) => {
    const raw = join(tmp, 'fat.raw');
    writeFileSync(raw, Buffer.alloc(0));
    execFileSync('truncate', ['-s', '64M', raw]);
    sh('sgdisk', ['-n', '1:2048:0', '-t', '1:0700', raw]);
    const sectors = 64 * 2048 - 2048 - 34;
    sh('mkfs.vfat', ['-F', '32', '--offset=2048', '-n', 'VMDKTEST', raw, String(Math.floor(sectors / 2))]);
    for (const f of fatFiles()) {
      const host = join(tmp, f.name);
      writeFileSync(host, f.data);
      sh('mcopy', ['-i', `${raw}@@1M`, host, `::/${f.name}`]);
      rmSync(host);
    }
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', `subformat=${subformat}`, raw, out.replace(dir, tmp)]);
    rmSync(raw);
  });
  return out;
}
