/**
 * VHD test images. Fixed and dynamic ones come from qemu-img (vpc). qemu cannot write a
 * differencing VHD, so a small test-only writer makes them from Microsoft's "Virtual Hard
 * Disk Image Format Specification" (footer, dynamic disk header, BAT, sector bitmaps, parent
 * locators); libvhdi's vhdimount reads them as the independent oracle, and the writer also
 * returns the expected raw disk (the parent's bytes with the child's sectors laid over).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededBytes } from './tree.js';
import { qemu, seededRaw } from './qcow2.js';

const SECTOR = 512;

function checksum(b: Buffer, at: number): number {
  let s = 0;
  for (let i = 0; i < b.length; i++) if (i < at || i >= at + 4) s += b[i]!;
  return ~s >>> 0;
}

export interface VhdFooterInfo {
  currentSize: number;
  geometry: Buffer;
  uniqueId: Buffer;
}

/** Size, geometry and UniqueId from a VHD's footer (the last 512 bytes). */
export function vhdFooterInfo(path: string): VhdFooterInfo {
  const f = readFileSync(path).subarray(-512);
  return { currentSize: Number(f.readBigUInt64BE(48)), geometry: Buffer.from(f.subarray(56, 60)), uniqueId: Buffer.from(f.subarray(68, 84)) };
}

export interface Locator {
  code: 'W2ru' | 'W2ku' | 'MacX' | 'Mac ';
  value: string;
}

export interface DiffSpec {
  parent: VhdFooterInfo;
  /** The parent's virtual disk as raw bytes (for the expected result), or null. */
  parentRaw: Buffer | null;
  parentUnicodeName: string;
  locators: Locator[];
  /** Sectors this child holds: [first sector, count, fill seed]. */
  writes: Array<[number, number, number]>;
  blockSize?: number;
  seed: number;
}

function locatorData(l: Locator): Buffer {
  if (l.code === 'W2ru' || l.code === 'W2ku') return Buffer.from(l.value, 'utf16le');
  if (l.code === 'MacX') return Buffer.from(l.value, 'utf8');
  // 'Mac ': a minimal version-2 alias record with the file name as a Str63 at byte 50.
  const b = Buffer.alloc(150);
  b.writeUInt16BE(150, 4);
  b.writeUInt16BE(2, 6);
  b[50] = l.value.length;
  b.write(l.value, 51, 'latin1');
  return b;
}

/** Writes a differencing VHD; returns the expected virtual disk when parentRaw is given. */
export function writeVhdDifferencing(path: string, spec: DiffSpec): Buffer | null {
  const size = spec.parent.currentSize;
  const bs = spec.blockSize ?? 2 * 1024 * 1024;
  const blocks = Math.ceil(size / bs);
  const bitmapBytes = Math.ceil(bs / SECTOR / 8 / SECTOR) * SECTOR;
  const batBytes = Math.ceil((blocks * 4) / SECTOR) * SECTOR;
  const tableOffset = 512 + 1024;
  let at = tableOffset + batBytes;
  const locs = spec.locators.map((l) => {
    const data = locatorData(l);
    const space = Math.ceil(data.length / SECTOR) * SECTOR;
    const r = { l, data, offset: at, space };
    at += space;
    return r;
  });
  // Which sectors are present, block by block, and their bytes.
  const present = new Map<number, { bitmap: Buffer; data: Buffer }>();
  const expected = spec.parentRaw ? Buffer.from(spec.parentRaw.subarray(0, size)) : null;
  for (const [first, count, seed] of spec.writes) {
    const bytes = seededBytes(seed, count * SECTOR);
    for (let s = first; s < first + count; s++) {
      const blk = Math.floor((s * SECTOR) / bs);
      let e = present.get(blk);
      if (!e) present.set(blk, (e = { bitmap: Buffer.alloc(bitmapBytes), data: Buffer.alloc(bs) }));
      const inBlock = s - (blk * bs) / SECTOR;
      e.bitmap[inBlock >> 3]! |= 0x80 >> (inBlock & 7);
      bytes.copy(e.data, inBlock * SECTOR, (s - first) * SECTOR, (s - first + 1) * SECTOR);
      if (expected) bytes.copy(expected, s * SECTOR, (s - first) * SECTOR, (s - first + 1) * SECTOR);
    }
  }
  const blockOrder = [...present.keys()].sort((a, b) => a - b);
  const dataStart = Math.ceil(at / SECTOR) * SECTOR;
  const total = dataStart + blockOrder.length * (bitmapBytes + bs) + 512;
  const out = Buffer.alloc(total);

  const footer = Buffer.alloc(512);
  footer.write('conectix', 0, 'latin1');
  footer.writeUInt32BE(2, 8); // Features: reserved bit always set
  footer.writeUInt32BE(0x00010000, 12);
  footer.writeBigUInt64BE(512n, 16); // DataOffset: the dynamic header
  footer.writeUInt32BE(0x20000000, 24);
  footer.write('dpik', 28, 'latin1');
  footer.writeUInt32BE(0x00010000, 32);
  footer.write('Wi2k', 36, 'latin1');
  footer.writeBigUInt64BE(BigInt(size), 40);
  footer.writeBigUInt64BE(BigInt(size), 48);
  spec.parent.geometry.copy(footer, 56);
  footer.writeUInt32BE(4, 60); // DiskType: differencing
  seededBytes(spec.seed, 16).copy(footer, 68);
  footer.writeUInt32BE(checksum(footer, 64), 64);
  footer.copy(out, 0);
  footer.copy(out, total - 512);

  const dh = Buffer.alloc(1024);
  dh.write('cxsparse', 0, 'latin1');
  dh.writeBigUInt64BE(0xffffffffffffffffn, 8);
  dh.writeBigUInt64BE(BigInt(tableOffset), 16);
  dh.writeUInt32BE(0x00010000, 24);
  dh.writeUInt32BE(blocks, 28);
  dh.writeUInt32BE(bs, 32);
  spec.parent.uniqueId.copy(dh, 40);
  dh.writeUInt32BE(0x20000000, 56);
  const name = Buffer.from(spec.parentUnicodeName, 'utf16le');
  name.swap16(); // ParentUnicodeName is UTF-16 big-endian
  name.copy(dh, 64, 0, Math.min(512, name.length));
  locs.forEach((r, i) => {
    const e = 576 + i * 24;
    dh.write(r.l.code, e, 'latin1');
    dh.writeUInt32BE(r.space, e + 4);
    dh.writeUInt32BE(r.data.length, e + 8);
    dh.writeBigUInt64BE(BigInt(r.offset), e + 16);
    r.data.copy(out, r.offset);
  });
  dh.writeUInt32BE(checksum(dh, 36), 36);
  dh.copy(out, 512);

  out.fill(0xff, tableOffset, tableOffset + blocks * 4);
  blockOrder.forEach((blk, i) => {
    const off = dataStart + i * (bitmapBytes + bs);
    out.writeUInt32BE(off / SECTOR, tableOffset + blk * 4);
    const e = present.get(blk)!;
    e.bitmap.copy(out, off);
    e.data.copy(out, off + bitmapBytes);
  });
  writeFileSync(path, out);
  return expected;
}

export interface VhdSet {
  dir: string;
  images: Record<string, string>;
  /** Expected raw content of the differencing images, from the writer. */
  expected: Record<string, string>;
}

/** qemu-made fixed and dynamic VHDs, and test-writer differencing ones over the dynamic one. */
export function buildVhdSet(dir: string): VhdSet {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'sub'), { recursive: true });
  mkdirSync(join(dir, 'elsewhere'), { recursive: true });
  const base = join(dir, 'base.raw');
  seededRaw(base, 8, 5);
  const images: Record<string, string> = {};
  const expected: Record<string, string> = {};
  const p = (n: string) => join(dir, n);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', base, p('dynamic.vhd')]);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed', base, p('fixed.vhd')]);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', base, p('parent.vhd')]);
  images['dynamic.vhd'] = p('dynamic.vhd');
  images['fixed.vhd'] = p('fixed.vhd');
  images['parent.vhd'] = p('parent.vhd');
  const parent = vhdFooterInfo(p('parent.vhd'));
  const parentRaw = rawOf(p('parent.vhd'), 'vpc');
  const writes: Array<[number, number, number]> = [
    [0, 1, 11], // one sector at the very start
    [7, 9, 12], // crossing a bitmap byte
    [4096, 4096, 13], // a whole 2 MiB block
    [9003, 5, 14], // a run ending a bitmap byte (libvhdi 20210425 misreads runs ending mid-byte)
    [Math.floor(parent.currentSize / 512) - 2, 2, 15], // the last sectors
  ];
  const diff = (name: string, spec: Partial<DiffSpec>, rawParent: Buffer | null = parentRaw) => {
    const exp = writeVhdDifferencing(p(name), { parent, parentRaw: rawParent, parentUnicodeName: 'parent.vhd', locators: [], writes, seed: name.length * 7 + 1, ...spec });
    images[name] = p(name);
    if (exp) {
      writeFileSync(p(name + '.expected'), exp);
      expected[name] = p(name + '.expected');
    }
    return exp;
  };
  const w2 = diff('diff-w2ru.vhd', { locators: [{ code: 'W2ru', value: '.\\parent.vhd' }, { code: 'W2ku', value: 'C:\\VMs\\parent.vhd' }], parentUnicodeName: 'parent.vhd' });
  diff('diff-w2ku.vhd', { locators: [{ code: 'W2ku', value: `${dir}/parent.vhd`.replace(/\//g, '\\').replace(/^\\/, 'C:\\') }], parentUnicodeName: 'renamed.vhd' });
  diff('diff-macx.vhd', { locators: [{ code: 'MacX', value: 'file://localhost/Users/anna/VMs/parent.vhd' }], parentUnicodeName: 'gone.vhd' });
  diff('diff-mac.vhd', { locators: [{ code: 'Mac ', value: 'parent.vhd' }], parentUnicodeName: 'gone.vhd' });
  diff('diff-nameonly.vhd', { locators: [] });
  // Level 3: a differencing disk over diff-w2ru.vhd.
  const w2Info = vhdFooterInfo(p('diff-w2ru.vhd'));
  writeVhdDifferencing(p('diff-level3.vhd'), { parent: w2Info, parentRaw: null, parentUnicodeName: 'diff-w2ru.vhd', locators: [{ code: 'W2ru', value: '.\\diff-w2ru.vhd' }], writes: [[8, 8, 21], [5000, 104, 22]], seed: 99 });
  images['diff-level3.vhd'] = p('diff-level3.vhd');
  const exp3 = Buffer.from(w2!);
  for (const [first, count, seed] of [[8, 8, 21], [5000, 104, 22]] as const) seededBytes(seed, count * 512).copy(exp3, first * 512);
  writeFileSync(p('diff-level3.vhd.expected'), exp3);
  expected['diff-level3.vhd'] = p('diff-level3.vhd.expected');
  // A parent in another folder (needs --parent-dir), a missing parent, and a loop.
  writeVhdDifferencing(p('sub/child.vhd'), { parent, parentRaw: null, parentUnicodeName: 'parent.vhd', locators: [{ code: 'W2ru', value: '..\\parent.vhd' }], writes, seed: 31 });
  images['sub/child.vhd'] = p('sub/child.vhd');
  expected['sub/child.vhd'] = expected['diff-nameonly.vhd']!;
  writeVhdDifferencing(p('diff-missing.vhd'), { parent, parentRaw: null, parentUnicodeName: 'nothere.vhd', locators: [{ code: 'W2ru', value: '.\\nothere.vhd' }], writes, seed: 32 });
  images['diff-missing.vhd'] = p('diff-missing.vhd');
  writeVhdDifferencing(p('loop-a.vhd'), { parent, parentRaw: null, parentUnicodeName: 'loop-b.vhd', locators: [], writes, seed: 33 });
  writeVhdDifferencing(p('loop-b.vhd'), { parent, parentRaw: null, parentUnicodeName: 'loop-a.vhd', locators: [], writes, seed: 34 });
  images['loop-a.vhd'] = p('loop-a.vhd');
  return { dir, images, expected };
}

/** The virtual disk of an image as qemu-img converts it (small images only). */
export function rawOf(path: string, fmt: string): Buffer {
  const out = `${path}.qemu-raw.tmp`;
  qemu('qemu-img', ['convert', '-f', fmt, '-O', 'raw', path, out]);
  const b = readFileSync(out);
  rmSync(out);
  return b;
}

/** Reads an image through libvhdi's vhdimount (FUSE): the independent VHD/VHDX oracle. */
export function vhdimountRaw(path: string): Buffer {
  const mnt = `${path}.mnt`;
  mkdirSync(mnt, { recursive: true });
  execFileSync('vhdimount', [path, mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    // vhdi1 is the base of the chain, the highest number the image itself.
    const levels = readdirSync(mnt).filter((n) => /^vhdi\d+$/.test(n)).sort((a, b) => Number(a.slice(4)) - Number(b.slice(4)));
    return readFileSync(join(mnt, levels[levels.length - 1]!));
  } finally {
    execFileSync('fusermount', ['-u', mnt], { stdio: 'ignore' });
    rmSync(mnt, { recursive: true, force: true });
  }
}
