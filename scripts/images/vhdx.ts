/**
 * VHDX test images. Fixed and dynamic ones come from qemu-img. qemu cannot write a
 * differencing VHDX, a 4096-byte logical sector one, or one whose log still holds updates,
 * so a small test-only writer makes them from [MS-VHDX]: file identifier, two headers,
 * region tables, metadata region, BAT with sector bitmap blocks, and log entries. The writer
 * returns the expected virtual disk; qemu-img (after `qemu-img check -r all` on a copy, which
 * replays the log) and libvhdi's vhdimount are the independent readers.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { crc32c, guidString } from '../../src/container/vhdx.js';
import { seededBytes } from './tree.js';
import { qemu, seededRaw } from './qcow2.js';
import { rawOf } from './vhd.js';

const KiB = 1024;
const MiB = 1024 * 1024;

function guid(text: string): Buffer {
  const b = Buffer.from(text.replace(/-/g, ''), 'hex');
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}
const BAT_GUID = guid('2DC27766-F623-4200-9D64-115E9BFD4A08');
const METADATA_GUID = guid('8B7CA206-4790-4B9A-B8FE-575F050F886E');
const FILE_PARAMETERS = guid('CAA16737-FA36-4D43-B3B6-33F0AA44E76B');
const VIRTUAL_DISK_SIZE = guid('2FA54224-CD1B-4876-B211-5DBED83BF4B8');
const VIRTUAL_DISK_ID = guid('BECA12AB-B2E6-4523-93EF-C309E000C746');
const LOGICAL_SECTOR_SIZE = guid('8141BF1D-A96F-4709-BA47-F233A8FAAB5F');
const PHYSICAL_SECTOR_SIZE = guid('CDA348C7-445D-4471-9CC9-E9885251C556');
const PARENT_LOCATOR = guid('A8D35F2D-B30B-454D-ABF7-D3D84834AB0C');
const VHDX_LOCATOR_TYPE = guid('B04AEFB7-D19E-4A81-B789-25B8E9445913');

export interface VhdxBlock {
  block: number;
  state: 'full' | 'partial' | 'zero';
  seed: number;
  /** The block's bytes (blockSize of them) instead of seeded ones (Hyper-V checkpoints: scripts/images/hyperv.ts). */
  data?: Buffer;
  /** For partial blocks: [first logical sector within the block, count] present here. */
  sectors?: Array<[number, number]>;
}

export interface VhdxSpec {
  virtualSize: number;
  blockSize?: number;
  logicalSectorSize?: 512 | 4096;
  blocks: VhdxBlock[];
  parent?: { dataWriteGuid: Buffer; relativePath: string; absolutePath?: string; raw: Buffer | null };
  /** Leave the BAT updates in the log (not applied to the BAT region). */
  dirtyLog?: boolean;
  seed: number;
}

/** The DataWriteGuid of a VHDX (from its current header). */
export function vhdxDataWriteGuid(path: string): Buffer {
  const f = readFileSync(path);
  const h1 = f.subarray(64 * KiB, 64 * KiB + 4096);
  const h2 = f.subarray(128 * KiB, 128 * KiB + 4096);
  const cur = h1.readBigUInt64LE(8) >= h2.readBigUInt64LE(8) ? h1 : h2;
  return Buffer.from(cur.subarray(32, 48));
}

function header(seq: number, dataWriteGuid: Buffer, logGuid: Buffer, seed: number): Buffer {
  const h = Buffer.alloc(4096);
  h.write('head', 0, 'latin1');
  h.writeBigUInt64LE(BigInt(seq), 8);
  seededBytes(seed, 16).copy(h, 16); // FileWriteGuid
  dataWriteGuid.copy(h, 32);
  logGuid.copy(h, 48);
  h.writeUInt16LE(0, 64); // LogVersion
  h.writeUInt16LE(1, 66); // Version
  h.writeUInt32LE(MiB, 68); // LogLength
  h.writeBigUInt64LE(BigInt(MiB), 72); // LogOffset
  h.writeUInt32LE(crc32c(h, 4), 4);
  return h;
}

/** One log entry (2.3.1) of data sectors and zero ranges, checksummed. */
function logEntry(seq: bigint, tail: number, logGuid: Buffer, fileSize: number, data: Array<[number, Buffer]>, zeros: Array<[number, number]>): Buffer {
  const count = data.length + zeros.length;
  const descSectors = Math.ceil((64 + count * 32) / 4096);
  const e = Buffer.alloc((descSectors + data.length) * 4096);
  e.write('loge', 0, 'latin1');
  e.writeUInt32LE(e.length, 8);
  e.writeUInt32LE(tail, 12);
  e.writeBigUInt64LE(seq, 16);
  e.writeUInt32LE(count, 24);
  logGuid.copy(e, 32);
  e.writeBigUInt64LE(BigInt(fileSize), 48); // FlushedFileOffset
  e.writeBigUInt64LE(BigInt(fileSize), 56); // LastFileOffset
  let d = 64;
  for (const [off, len] of zeros) {
    e.write('zero', d, 'latin1');
    e.writeBigUInt64LE(BigInt(len), d + 8);
    e.writeBigUInt64LE(BigInt(off), d + 16);
    e.writeBigUInt64LE(seq, d + 24);
    d += 32;
  }
  data.forEach(([off, sector], i) => {
    e.write('desc', d, 'latin1');
    sector.copy(e, d + 4, 4092, 4096); // TrailingBytes
    sector.copy(e, d + 8, 0, 8); // LeadingBytes
    e.writeBigUInt64LE(BigInt(off), d + 16);
    e.writeBigUInt64LE(seq, d + 24);
    d += 32;
    const s = (descSectors + i) * 4096;
    e.write('data', s, 'latin1');
    e.writeUInt32LE(Number(seq >> 32n), s + 4);
    sector.copy(e, s + 8, 8, 4092);
    e.writeUInt32LE(Number(seq & 0xffffffffn), s + 4092);
  });
  e.writeUInt32LE(crc32c(e, 4), 4);
  return e;
}

/** Writes a VHDX after [MS-VHDX]; returns the expected virtual disk. */
export function writeVhdx(path: string, spec: VhdxSpec): Buffer {
  const bs = spec.blockSize ?? MiB;
  const lss = spec.logicalSectorSize ?? 512;
  const size = spec.virtualSize;
  const chunkRatio = (2 ** 23 * lss) / bs;
  const dataBlocks = Math.ceil(size / bs);
  const chunks = Math.ceil(dataBlocks / chunkRatio);
  const batEntries = spec.parent ? chunks * (chunkRatio + 1) : dataBlocks + Math.floor((dataBlocks - 1) / chunkRatio);
  const batBytes = Math.ceil((batEntries * 8) / MiB) * MiB;
  const batOffset = 3 * MiB;
  let next = batOffset + batBytes;
  const payloadAt = new Map<number, number>();
  for (const b of spec.blocks) if (b.state !== 'zero') { payloadAt.set(b.block, next); next += bs; }
  const bitmapAt = new Map<number, number>();
  for (const b of spec.blocks) {
    const c = Math.floor(b.block / chunkRatio);
    if (b.state === 'partial' && !bitmapAt.has(c)) { bitmapAt.set(c, next); next += MiB; }
  }
  const fileSize = next;
  const out = Buffer.alloc(fileSize);
  const expected = spec.parent?.raw ? Buffer.from(spec.parent.raw.subarray(0, size)) : Buffer.alloc(size);
  if (expected.length < size) throw new Error('parent raw shorter than the child');

  out.write('vhdxfile', 0, 'latin1');
  out.write('diskpick test writer', 8, 'utf16le');
  const dataWriteGuid = seededBytes(spec.seed + 1, 16);
  const logGuid = spec.dirtyLog ? seededBytes(spec.seed + 2, 16) : Buffer.alloc(16);
  header(1, dataWriteGuid, logGuid, spec.seed + 3).copy(out, 64 * KiB);
  header(2, dataWriteGuid, logGuid, spec.seed + 3).copy(out, 128 * KiB);
  const rt = Buffer.alloc(64 * KiB);
  rt.write('regi', 0, 'latin1');
  rt.writeUInt32LE(2, 8);
  for (const [i, g, off, len] of [[0, BAT_GUID, batOffset, batBytes], [1, METADATA_GUID, 2 * MiB, MiB]] as const) {
    g.copy(rt, 16 + i * 32);
    rt.writeBigUInt64LE(BigInt(off), 16 + i * 32 + 16);
    rt.writeUInt32LE(len, 16 + i * 32 + 24);
    rt.writeUInt32LE(1, 16 + i * 32 + 28);
  }
  rt.writeUInt32LE(crc32c(rt, 4), 4);
  rt.copy(out, 192 * KiB);
  rt.copy(out, 256 * KiB);

  // Metadata region at 2 MiB: table, then the items from 64 KiB on.
  const md = 2 * MiB;
  out.write('metadata', md, 'latin1');
  const items: Array<[Buffer, Buffer, number]> = [];
  const fp = Buffer.alloc(8);
  fp.writeUInt32LE(bs, 0);
  fp.writeUInt32LE(spec.parent ? 2 : 0, 4);
  items.push([FILE_PARAMETERS, fp, 4]);
  const vs = Buffer.alloc(8);
  vs.writeBigUInt64LE(BigInt(size));
  items.push([VIRTUAL_DISK_SIZE, vs, 6]);
  items.push([VIRTUAL_DISK_ID, seededBytes(spec.seed + 4, 16), 6]);
  const ls = Buffer.alloc(4);
  ls.writeUInt32LE(lss);
  items.push([LOGICAL_SECTOR_SIZE, ls, 6]);
  const ps = Buffer.alloc(4);
  ps.writeUInt32LE(4096);
  items.push([PHYSICAL_SECTOR_SIZE, ps, 6]);
  if (spec.parent) {
    const kv: Array<[string, string]> = [['parent_linkage', `{${guidString(spec.parent.dataWriteGuid)}}`], ['relative_path', spec.parent.relativePath]];
    if (spec.parent.absolutePath) kv.push(['absolute_win32_path', spec.parent.absolutePath]);
    const strings = kv.map(([k, v]) => [Buffer.from(k, 'utf16le'), Buffer.from(v, 'utf16le')] as const);
    const loc = Buffer.alloc(20 + kv.length * 12 + strings.reduce((n, [k, v]) => n + k.length + v.length, 0));
    VHDX_LOCATOR_TYPE.copy(loc, 0);
    loc.writeUInt16LE(kv.length, 18);
    let at = 20 + kv.length * 12;
    strings.forEach(([k, v], i) => {
      loc.writeUInt32LE(at, 20 + i * 12);
      k.copy(loc, at);
      at += k.length;
      loc.writeUInt32LE(at, 20 + i * 12 + 4);
      v.copy(loc, at);
      at += v.length;
      loc.writeUInt16LE(k.length, 20 + i * 12 + 8);
      loc.writeUInt16LE(v.length, 20 + i * 12 + 10);
    });
    items.push([PARENT_LOCATOR, loc, 4]);
  }
  out.writeUInt16LE(items.length, md + 10);
  let itemAt = 64 * KiB;
  items.forEach(([id, data, flags], i) => {
    const e = md + 32 + i * 32;
    id.copy(out, e);
    out.writeUInt32LE(itemAt, e + 16);
    out.writeUInt32LE(data.length, e + 20);
    out.writeUInt32LE(flags, e + 24);
    data.copy(out, md + itemAt);
    itemAt += Math.ceil(data.length / 8) * 8;
  });

  // Payload, sector bitmaps, and the BAT that points at them.
  const bat = Buffer.alloc(batBytes);
  const setEntry = (i: number, state: number, off: number) => bat.writeBigUInt64LE(BigInt(state) | (BigInt(off / MiB) << 20n), i * 8);
  if (!spec.parent) for (let b = 0; b < dataBlocks; b++) setEntry(b + Math.floor(b / chunkRatio), 0, 0);
  for (const b of spec.blocks) {
    const idx = b.block + Math.floor(b.block / chunkRatio);
    const vstart = b.block * bs;
    const vlen = Math.min(bs, size - vstart);
    if (b.state === 'zero') {
      setEntry(idx, 2, 0);
      expected.fill(0, vstart, vstart + vlen);
      continue;
    }
    const data = b.data ?? seededBytes(b.seed, bs);
    const at = payloadAt.get(b.block)!;
    data.copy(out, at);
    if (b.state === 'full') {
      setEntry(idx, 6, at);
      data.copy(expected, vstart, 0, vlen);
      continue;
    }
    setEntry(idx, 7, at);
    const c = Math.floor(b.block / chunkRatio);
    const bm = bitmapAt.get(c)!;
    setEntry(c * (chunkRatio + 1) + chunkRatio, 6, bm);
    for (const [first, count] of b.sectors ?? []) {
      for (let s = first; s < first + count; s++) {
        const bit = (b.block % chunkRatio) * (bs / lss) + s;
        out[bm + (bit >> 3)]! |= 1 << (bit & 7);
        data.copy(expected, vstart + s * lss, s * lss, (s + 1) * lss);
      }
    }
  }

  if (!spec.dirtyLog) {
    bat.copy(out, batOffset);
  } else {
    // The BAT region still holds the old table (every block NOT_PRESENT); the log's active
    // sequence carries the new BAT pages, then zeroes 8 KiB of the first payload block.
    const pages: Array<[number, Buffer]> = [];
    for (let off = 0; off < batBytes; off += 4096) {
      const page = bat.subarray(off, off + 4096);
      if (page.some((x) => x !== 0)) pages.push([batOffset + off, Buffer.from(page)]);
    }
    const e1 = logEntry(41n, 0, logGuid, fileSize, pages, []);
    const firstPayload = [...payloadAt.entries()].sort((a, b) => a[1] - b[1])[0]!;
    const e2 = logEntry(42n, 0, logGuid, fileSize, [], [[firstPayload[1] + 8192, 8192]]);
    // A stale entry from an older log (another LogGuid) after them: must be ignored.
    const stale = logEntry(43n, e1.length + e2.length, seededBytes(spec.seed + 9, 16), fileSize, [[batOffset, Buffer.alloc(4096, 0xee)]], []);
    e1.copy(out, MiB);
    e2.copy(out, MiB + e1.length);
    stale.copy(out, MiB + e1.length + e2.length);
    const vstart = firstPayload[0] * bs + 8192;
    const blk = spec.blocks.find((b) => b.block === firstPayload[0])!;
    if (blk.state === 'full') expected.fill(0, vstart, vstart + 8192);
    else throw new Error('dirty-log test wants a full first payload block');
  }
  writeFileSync(path, out);
  return expected;
}

export interface VhdxSet {
  dir: string;
  images: Record<string, string>;
  expected: Record<string, string>;
}

export function buildVhdxSet(dir: string): VhdxSet {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const p = (n: string) => join(dir, n);
  seededRaw(p('base.raw'), 8, 11);
  const images: Record<string, string> = {};
  const expected: Record<string, string> = {};
  const conv = (name: string, opts: string[]) => {
    qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', ...opts, p('base.raw'), p(name)]);
    images[name] = p(name);
  };
  conv('dynamic.vhdx', []);
  conv('fixed.vhdx', ['-o', 'subformat=fixed']);
  conv('block1m.vhdx', ['-o', 'block_size=1M']);
  conv('parent.vhdx', ['-o', 'block_size=2M']);
  const writeOne = (name: string, spec: VhdxSpec) => {
    writeFileSync(p(`${name}.expected`), writeVhdx(p(name), spec));
    images[name] = p(name);
    expected[name] = p(`${name}.expected`);
  };
  const blocks: VhdxBlock[] = [
    { block: 0, state: 'full', seed: 101 },
    { block: 2, state: 'zero', seed: 0 },
    { block: 3, state: 'full', seed: 103 },
    { block: 6, state: 'full', seed: 106 },
  ];
  writeOne('lss4096.vhdx', { virtualSize: 8 * MiB, logicalSectorSize: 4096, blocks, seed: 200 });
  writeOne('dirty-log.vhdx', { virtualSize: 8 * MiB, blocks, dirtyLog: true, seed: 300 });
  const parentRaw = rawOf(p('parent.vhdx'), 'vhdx');
  const dwg = vhdxDataWriteGuid(p('parent.vhdx'));
  const diffBlocks: VhdxBlock[] = [
    { block: 0, state: 'full', seed: 401 },
    { block: 2, state: 'partial', seed: 402, sectors: [[0, 1], [7, 9], [100, 56], [2040, 8]] },
    { block: 5, state: 'partial', seed: 405, sectors: [[1024, 1024]] },
  ];
  writeOne('diff.vhdx', { virtualSize: 8 * MiB, blocks: diffBlocks, parent: { dataWriteGuid: dwg, relativePath: '.\\parent.vhdx', absolutePath: '\\\\?\\D:\\VMs\\parent.vhdx', raw: parentRaw }, seed: 400 });
  writeOne('diff-bs4m.vhdx', {
    virtualSize: 8 * MiB,
    logicalSectorSize: 512,
    blockSize: 4 * MiB,
    // A ZERO block in a differencing disk reads as zeros ([MS-VHDX] 2.5.1.1), not the parent.
    blocks: [{ block: 0, state: 'zero', seed: 0 }, { block: 1, state: 'partial', seed: 501, sectors: [[3, 5]] }],
    parent: { dataWriteGuid: dwg, relativePath: 'parent.vhdx', absolutePath: '\\\\?\\D:\\VMs\\parent.vhdx', raw: parentRaw },
    seed: 500,
  });
  // Wrong linkage (the parent "changed"), a parent outside the folder, a missing parent.
  writeVhdx(p('diff-stale.vhdx'), { virtualSize: 8 * MiB, blocks: diffBlocks, parent: { dataWriteGuid: seededBytes(7, 16), relativePath: '.\\parent.vhdx', raw: null }, seed: 600 });
  writeVhdx(p('sub/child.vhdx'), { virtualSize: 8 * MiB, blocks: diffBlocks, parent: { dataWriteGuid: dwg, relativePath: '..\\parent.vhdx', raw: null }, seed: 400 });
  writeVhdx(p('diff-missing.vhdx'), { virtualSize: 8 * MiB, blocks: diffBlocks, parent: { dataWriteGuid: dwg, relativePath: '.\\gone.vhdx', raw: null }, seed: 700 });
  return { dir, images, expected };
}

/** The oracle for a dirty log: qemu replays it when it may write, so on a copy only. */
export function qemuReplayedRaw(path: string): Buffer {
  const copy = `${path}.replay-copy`;
  copyFileSync(path, copy);
  try {
    execFileSync('qemu-img', ['check', '-f', 'vhdx', '-r', 'all', copy], { stdio: 'ignore' });
    return rawOf(copy, 'vhdx');
  } finally {
    rmSync(copy, { force: true });
  }
}
