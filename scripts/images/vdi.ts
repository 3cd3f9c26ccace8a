/**
 * VDI test images. Static and dynamic ones come from qemu-img. qemu cannot write a
 * differencing VDI, so a small test-only writer makes one after the VirtualBox 1.1 header
 * layout (VDICore.h): the child copies the parent's header, becomes type 4 (diff), gets its
 * own uuidCreate and links the parent's uuidCreate in uuidLinkage. The writer returns the
 * expected virtual disk (the parent's bytes with the child's blocks laid over).
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededBytes } from './tree.js';
import { qemu, seededRaw } from './qcow2.js';
import { rawOf } from './vhd.js';

export interface VdiDiffSpec {
  parentHeader: Buffer;
  parentRaw: Buffer | null;
  /** Blocks the child holds: [block index, fill seed]; seed -1 marks the block ZERO. */
  blocks: Array<[number, number]>;
  seed: number;
  /** Override the parent UUID the child links to. */
  linkTo?: Buffer;
}

export function writeVdiDifferencing(path: string, spec: VdiDiffSpec): { expected: Buffer | null; uuidCreate: Buffer } {
  const h = Buffer.from(spec.parentHeader.subarray(0, 0x200));
  const cbDisk = Number(h.readBigUInt64LE(0x170));
  const cbBlock = h.readUInt32LE(0x178);
  const cBlocks = h.readUInt32LE(0x180);
  const offBlocks = 0x200;
  const offData = Math.ceil((offBlocks + cBlocks * 4) / 0x100000) * 0x100000;
  h.writeUInt32LE(4, 0x4c); // u32Type = diff
  h.writeUInt32LE(offBlocks, 0x154);
  h.writeUInt32LE(offData, 0x158);
  h.writeUInt32LE(0, 0x17c); // cbBlockExtra
  const uuidCreate = seededBytes(spec.seed, 16);
  (spec.linkTo ?? spec.parentHeader.subarray(0x188, 0x198)).copy(h, 0x1a8); // uuidLinkage
  spec.parentHeader.copy(h, 0x1b8, 0x198, 0x1a8); // uuidParentModify = parent's uuidModify
  uuidCreate.copy(h, 0x188);
  seededBytes(spec.seed + 1, 16).copy(h, 0x198);
  const map = Buffer.alloc(cBlocks * 4, 0xff);
  const data: Buffer[] = [];
  const expected = spec.parentRaw ? Buffer.from(spec.parentRaw.subarray(0, cbDisk)) : null;
  for (const [blk, seed] of spec.blocks) {
    if (seed < 0) {
      map.writeUInt32LE(0xfffffffe, blk * 4);
      expected?.fill(0, blk * cbBlock, (blk + 1) * cbBlock);
      continue;
    }
    map.writeUInt32LE(data.length, blk * 4);
    const b = seededBytes(seed, cbBlock);
    data.push(b);
    if (expected) b.copy(expected, blk * cbBlock, 0, Math.min(cbBlock, cbDisk - blk * cbBlock));
  }
  h.writeUInt32LE(data.length, 0x184); // cBlocksAllocated
  const out = Buffer.alloc(offData + data.length * cbBlock);
  h.copy(out, 0);
  map.copy(out, offBlocks);
  data.forEach((b, i) => b.copy(out, offData + i * cbBlock));
  writeFileSync(path, out);
  return { expected, uuidCreate };
}

export interface VdiSet {
  dir: string;
  images: Record<string, string>;
  expected: Record<string, string>;
}

export function buildVdiSet(dir: string): VdiSet {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const p = (n: string) => join(dir, n);
  seededRaw(p('base.raw'), 6, 9);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vdi', p('base.raw'), p('dynamic.vdi')]);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vdi', '-o', 'static=on', p('base.raw'), p('static.vdi')]);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vdi', p('base.raw'), p('parent.vdi')]);
  const parentHeader = readFileSync(p('parent.vdi')).subarray(0, 0x200);
  const parentRaw = rawOf(p('parent.vdi'), 'vdi');
  const images: Record<string, string> = { 'dynamic.vdi': p('dynamic.vdi'), 'static.vdi': p('static.vdi'), 'parent.vdi': p('parent.vdi') };
  const expected: Record<string, string> = {};
  const d1 = writeVdiDifferencing(p('child.vdi'), { parentHeader, parentRaw, blocks: [[0, 41], [2, -1], [5, 42]], seed: 40 });
  images['child.vdi'] = p('child.vdi');
  writeFileSync(p('child.vdi.expected'), d1.expected!);
  expected['child.vdi'] = p('child.vdi.expected');
  // A grandchild, found by the child's UUID.
  const childHeader = readFileSync(p('child.vdi')).subarray(0, 0x200);
  const d2 = writeVdiDifferencing(p('grandchild.vdi'), { parentHeader: childHeader, parentRaw: d1.expected, blocks: [[1, 51], [2, 52]], seed: 50 });
  images['grandchild.vdi'] = p('grandchild.vdi');
  writeFileSync(p('grandchild.vdi.expected'), d2.expected!);
  expected['grandchild.vdi'] = p('grandchild.vdi.expected');
  // Parent in another folder; a parent UUID nobody has; two images linking each other.
  mkdirSync(p('kids'), { recursive: true });
  writeVdiDifferencing(p('kids/away.vdi'), { parentHeader, parentRaw: null, blocks: [[0, 41], [2, -1], [5, 42]], seed: 40 });
  images['kids/away.vdi'] = p('kids/away.vdi');
  writeVdiDifferencing(p('orphan.vdi'), { parentHeader, parentRaw: null, blocks: [[0, 1]], seed: 60, linkTo: seededBytes(61, 16) });
  images['orphan.vdi'] = p('orphan.vdi');
  mkdirSync(p('loop'), { recursive: true });
  const a = writeVdiDifferencing(p('loop/a.vdi'), { parentHeader, parentRaw: null, blocks: [[0, 1]], seed: 70, linkTo: seededBytes(80, 16) });
  writeVdiDifferencing(p('loop/b.vdi'), { parentHeader, parentRaw: null, blocks: [[0, 1]], seed: 80, linkTo: a.uuidCreate });
  images['loop/a.vdi'] = p('loop/a.vdi');
  return { dir, images, expected };
}
