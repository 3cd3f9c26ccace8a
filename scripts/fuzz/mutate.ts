/**
 * Structure-aware mutation. For each format we find where its metadata lives (offsets from the
 * specs, or scanning for record magic: "FILE"/"INDX" for NTFS, 0xF30A extent headers and "."
 * folder blocks for ext, exFAT entry types, FAT dot entries, qcow2 L1/L2, VMDK grain tables,
 * VHD/VDI block maps, VHDX region tables) and aim most mutations there. Everything is driven by
 * one seeded PRNG, so (seed, format, index) always gives the same mutant.
 */
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { crc32cUpdate } from '../../src/fs/ext/crc32c.js';

/** xorshift128+ style PRNG on 32-bit halves: deterministic, fast, no dependencies. */
export class Rng {
  private a: number;
  private b: number;
  constructor(seed: number) {
    this.a = (seed ^ 0x9e3779b9) >>> 0 || 1;
    this.b = (Math.imul(seed, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0 || 2;
    for (let i = 0; i < 8; i++) this.u32();
  }
  u32(): number {
    let x = this.a;
    const y = this.b;
    this.a = y;
    x ^= x << 23;
    x ^= x >>> 17;
    x ^= y ^ (y >>> 26);
    this.b = x >>> 0;
    return (this.b + y) >>> 0;
  }
  /** 0 ≤ n < max */
  int(max: number): number {
    return max <= 1 ? 0 : Math.floor((this.u32() / 0x1_0000_0000) * max);
  }
  chance(p: number): boolean {
    return this.u32() / 0x1_0000_0000 < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

/** A metadata area: [offset, offset+length). `record` = a unit that may be duplicated elsewhere. */
export interface Region {
  offset: number;
  length: number;
  what: string;
}

const u16 = (b: Buffer, o: number) => (o + 2 <= b.length ? b.readUInt16LE(o) : 0);
const u32 = (b: Buffer, o: number) => (o + 4 <= b.length ? b.readUInt32LE(o) : 0);
const u64 = (b: Buffer, o: number) => (o + 8 <= b.length ? Number(b.readBigUInt64LE(o)) : 0);
const u32be = (b: Buffer, o: number) => (o + 4 <= b.length ? b.readUInt32BE(o) : 0);
const u64be = (b: Buffer, o: number) => (o + 8 <= b.length ? Number(b.readBigUInt64BE(o)) : 0);

const MAX_REGIONS = 4000;

function fatRegions(b: Buffer, base = 0, out: Region[] = []): Region[] {
  const bps = u16(b, base + 11) || 512;
  const spc = b[base + 13] || 1;
  const rsvd = u16(b, base + 14);
  const nfats = b[base + 16];
  const rootEnt = u16(b, base + 17);
  const fatsz = u16(b, base + 22) || u32(b, base + 36);
  out.push({ offset: base, length: 512, what: 'boot sector (BPB)' });
  const fatStart = base + rsvd * bps;
  out.push({ offset: fatStart, length: Math.min(nfats * fatsz * bps, 1 << 20), what: 'FAT' });
  const rootStart = fatStart + nfats * fatsz * bps;
  out.push({ offset: rootStart, length: rootEnt * 32, what: 'root folder' });
  const data = rootStart + Math.ceil((rootEnt * 32) / bps) * bps;
  const cl = bps * spc;
  // Sub-folders begin with a "." entry (name ".          ", attribute 0x10).
  for (let o = data; o + cl <= b.length && out.length < MAX_REGIONS; o += cl) {
    if (b[o] === 0x2e && b[o + 1] === 0x20 && b[o + 11] === 0x10) out.push({ offset: o, length: cl, what: 'folder cluster' });
  }
  return out;
}

function exfatRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0, length: 12 * 512, what: 'boot region' }];
  const ss = 1 << (b[108] || 9);
  const cs = ss << b[109];
  out.push({ offset: u32(b, 80) * ss, length: Math.min(u32(b, 84) * ss, 1 << 20), what: 'FAT' });
  const heap = u32(b, 88) * ss;
  const types = new Set([0x81, 0x82, 0x83, 0x85, 0xc0, 0xc1, 0xa0]);
  for (let c = heap; c + cs <= b.length && out.length < MAX_REGIONS; c += cs) {
    // A folder cluster: its first entry is a known entry type.
    if (types.has(b[c])) out.push({ offset: c, length: cs, what: 'folder cluster' });
  }
  return out;
}

function extRegions(b: Buffer): Region[] {
  const sb = 1024;
  const bs = 1024 << Math.min(u32(b, sb + 24), 6);
  const first = u32(b, sb + 20);
  const ipg = u32(b, sb + 40);
  const isz = u16(b, sb + 88) || 128;
  const descSize = u32(b, sb + 96) & 0x80 ? u16(b, sb + 254) || 32 : 32;
  const groups = Math.ceil((u32(b, sb + 4) - first) / Math.max(1, u32(b, sb + 32)));
  const out: Region[] = [{ offset: sb, length: 1024, what: 'superblock' }];
  const gdt = (first + 1) * bs;
  out.push({ offset: gdt, length: Math.min(groups * descSize, bs * 4), what: 'group descriptors' });
  for (let g = 0; g < Math.min(groups, 64); g++) {
    const it = u32(b, gdt + g * descSize + 8) * bs;
    out.push({ offset: it, length: Math.min(ipg, 32) * isz, what: `inode table of group ${g}` });
  }
  for (let o = 0; o + 12 <= b.length && out.length < MAX_REGIONS; o += bs) {
    if (u16(b, o + 4) === 12 && b[o + 6] === 1 && b[o + 8] === 0x2e) out.push({ offset: o, length: bs, what: 'folder block' });
    else if (u16(b, o) === 0xf30a) out.push({ offset: o, length: bs, what: 'extent block' });
    else if (u32(b, o) === 0xea020000) out.push({ offset: o, length: bs, what: 'xattr block' });
    else if (u32be(b, o) === 0xc03b3998) out.push({ offset: o, length: 64, what: 'journal block header' });
  }
  // Extent headers inside inodes (i_block at inode offset 40).
  return out;
}

/** XFS: superblock, AGF/AGI, inode records, and blocks by their magic (folders, dabtree, bmbt, attr). */
function xfsRegions(b: Buffer): Region[] {
  const bs = b.readUInt32BE(4) || 4096;
  const ss = b.readUInt16BE(102) || 512;
  const isz = b.readUInt16BE(104) || 512;
  const out: Region[] = [{ offset: 0, length: ss, what: 'superblock' }, { offset: ss, length: 2 * ss, what: 'AGF, AGI' }];
  const magics32 = new Set([0x58443242, 0x58444233, 0x58443244, 0x58444433, 0x424d4150, 0x424d4133, 0x5841524d, 0x58534c4d]);
  const magics16 = new Set([0xfebe, 0x3ebe, 0xd2f1, 0x3df1, 0xd2ff, 0x3dff, 0xfbee, 0x3bee]);
  for (let o = 0; o + 16 <= b.length && out.length < MAX_REGIONS; o += Math.min(bs, isz)) {
    if (b.readUInt16BE(o) === 0x494e && b[o + 4]! >= 1 && b[o + 4]! <= 3 && b.readUInt16BE(o + 2) !== 0) out.push({ offset: o, length: isz, what: 'inode' });
    else if (o % bs === 0 && (magics32.has(b.readUInt32BE(o)) || magics16.has(b.readUInt16BE(o + 8)))) out.push({ offset: o, length: bs, what: 'metadata block' });
  }
  // Log record headers (0xFEEDBABE) and the first operations after them.
  for (let o = 0; o + 512 <= b.length && out.length < MAX_REGIONS; o += 512) {
    if (b.readUInt32BE(o) === 0xfeedbabe) out.push({ offset: o, length: 1024, what: 'log record' });
  }
  return out;
}

function ntfsRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0, length: 512, what: 'boot sector' }];
  for (let o = 0; o + 1024 <= b.length && out.length < MAX_REGIONS; o += 1024) {
    if (b.toString('latin1', o, o + 4) === 'FILE') out.push({ offset: o, length: 1024, what: 'MFT record' });
  }
  for (let o = 0; o + 4096 <= b.length && out.length < MAX_REGIONS; o += 4096) {
    if (b.toString('latin1', o, o + 4) === 'INDX') out.push({ offset: o, length: 4096, what: 'index block' });
  }
  return out;
}

/** A Windows disk: its MBR, the registry hive's base block and bins (the NTFS volume's records too). */
function regfRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0, length: 512, what: 'MBR' }];
  for (let o = 0; o + 4096 <= b.length && out.length < MAX_REGIONS; o += 4096) {
    if (b.toString('latin1', o, o + 4) === 'regf') out.push({ offset: o, length: 512, what: 'hive base block' });
    if (b.toString('latin1', o, o + 4) === 'hbin') out.push({ offset: o, length: 4096, what: 'hive bin' }, { offset: o, length: 4096, what: 'hive bin' });
  }
  for (let o = 0; o + 1024 <= b.length && out.length < MAX_REGIONS; o += 1024) {
    if (b.toString('latin1', o, o + 4) === 'FILE') out.push({ offset: o, length: 1024, what: 'MFT record' });
  }
  return out;
}

function mbrRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0, length: 512, what: 'MBR' }];
  for (let o = 512; o + 512 <= b.length && out.length < MAX_REGIONS; o += 512) {
    // EBRs: a boot signature on a sector that is not a FAT boot sector.
    if (b[o + 510] === 0x55 && b[o + 511] === 0xaa && b[o] !== 0xeb && b[o] !== 0xe9) out.push({ offset: o + 446, length: 66, what: 'EBR' });
  }
  return out;
}

function gptRegions(b: Buffer): Region[] {
  return [
    { offset: 0, length: 512, what: 'protective MBR' },
    { offset: 512, length: 92, what: 'GPT header' },
    { offset: 1024, length: 4 * 128, what: 'GPT entries' },
    { offset: b.length - 512, length: 92, what: 'backup GPT header' },
    { offset: b.length - 33 * 512, length: 4 * 128, what: 'backup GPT entries' },
  ];
}

function qcow2Regions(b: Buffer): Region[] {
  const cb = u32be(b, 20);
  const cs = cb >= 9 && cb <= 21 ? 1 << cb : 65536;
  const out: Region[] = [{ offset: 0, length: Math.min(cs, 4096), what: 'header' }];
  const l1 = u64be(b, 40);
  const l1n = u32be(b, 36);
  out.push({ offset: l1, length: Math.min(l1n * 8, 65536), what: 'L1 table' });
  const rt = u64be(b, 48);
  out.push({ offset: rt, length: Math.min(u32be(b, 56) * cs, 65536), what: 'refcount table' });
  for (let i = 0; i < Math.min(l1n, 512); i++) {
    const e = u64be(b, l1 + i * 8) % 2 ** 56;
    const off = e - (e % 512);
    if (off) out.push({ offset: off, length: cs, what: 'L2 table' });
  }
  for (let i = 0; i < 64; i++) {
    const off = u64be(b, rt + i * 8);
    if (off) out.push({ offset: off, length: cs, what: 'refcount block' });
  }
  return out;
}

function vmdkRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0, length: 512, what: 'sparse header' }];
  out.push({ offset: u64(b, 28) * 512, length: Math.min(u64(b, 36) * 512, 4096), what: 'descriptor' });
  const gtes = u32(b, 44) || 512;
  let gd = u64(b, 56);
  if (gd === 2 ** 64 - 1 || gd >= b.length / 512) {
    // streamOptimized: footer, end-of-stream marker and GD/GT live at the end.
    out.push({ offset: b.length - 1536, length: 1536, what: 'footer' });
    out.push({ offset: Math.max(0, b.length - 65536), length: 65536, what: 'grain tables (stream)' });
    for (let o = 512; o + 512 <= b.length && out.length < 400; o += 512) {
      const size = u32(b, o + 8);
      if (size > 0 && size < 200_000 && u64(b, o) < 2 ** 32 && b[o + 12] === 0x78) out.push({ offset: o, length: 14, what: 'grain marker' });
    }
    return out;
  }
  gd *= 512;
  out.push({ offset: gd, length: 512, what: 'grain directory' });
  const rgd = u64(b, 48) * 512;
  if (rgd) out.push({ offset: rgd, length: 512, what: 'redundant grain directory' });
  for (let i = 0; i < 128; i++) {
    const gt = u32(b, gd + i * 4);
    if (gt) out.push({ offset: gt * 512, length: gtes * 4, what: 'grain table' });
  }
  return out;
}

function vhdRegions(b: Buffer): Region[] {
  const f = b.length - 512;
  const out: Region[] = [{ offset: f, length: 512, what: 'footer' }, { offset: 0, length: 512, what: 'footer copy' }];
  const dyn = u64be(b, f + 16);
  if (dyn > 0 && dyn < b.length) {
    out.push({ offset: dyn, length: 1024, what: 'dynamic header' });
    const bat = u64be(b, dyn + 16);
    const n = u32be(b, dyn + 28);
    out.push({ offset: bat, length: Math.min(n * 4, 65536), what: 'BAT' });
    for (let i = 0; i < Math.min(n, 256); i++) {
      const s = u32be(b, bat + i * 4);
      if (s !== 0xffffffff) out.push({ offset: s * 512, length: 512, what: 'block bitmap' });
    }
  }
  return out;
}

function vhdxRegions(b: Buffer): Region[] {
  const out: Region[] = [
    { offset: 0, length: 512, what: 'file identifier' },
    { offset: 65536, length: 4096, what: 'header 1' },
    { offset: 131072, length: 4096, what: 'header 2' },
    { offset: 196608, length: 16 + 32 * 4, what: 'region table' },
    { offset: 262144, length: 16 + 32 * 4, what: 'region table copy' },
  ];
  const n = Math.min(u32(b, 196608 + 8), 16);
  for (let i = 0; i < n; i++) {
    const e = 196608 + 16 + i * 32;
    out.push({ offset: u64(b, e + 16), length: Math.min(u32(b, e + 24), 65536), what: 'region (BAT or metadata)' });
  }
  return out;
}

function vdiRegions(b: Buffer): Region[] {
  return [
    { offset: 0, length: 512, what: 'header' },
    { offset: u32(b, 340), length: Math.min(u32(b, 384) * 4, 65536), what: 'block map' },
  ];
}

/** LVM2: the label sector, each metadata area header and the text copy its first raw location names. */
function lvm2Regions(b: Buffer): Region[] {
  const out: Region[] = [];
  for (let s = 0; s < 4; s++) {
    if (b.toString('latin1', s * 512, s * 512 + 8) !== 'LABELONE') continue;
    out.push({ offset: s * 512, length: 512, what: 'LVM2 label and PV header' });
    // The first extents: LV data, and in the thin seed the pool's metadata (superblock, B-trees).
    const data = u64(b, s * 512 + u32(b, s * 512 + 20) + 40);
    if (data > 0 && data < b.length) out.push({ offset: data, length: 64 * 1024, what: 'LVM2 first extents (thin pool metadata)' });
    for (const m of lvmMdas(b, s * 512)) {
      out.push({ offset: m, length: 512, what: 'LVM2 metadata area header' });
      const off = u64(b, m + 40);
      const size = u64(b, m + 48);
      if (off && size) out.push({ offset: m + off, length: Math.min(size, 65536), what: 'LVM2 text metadata' });
    }
  }
  return out;
}

/** ISO 9660: the volume descriptors, the boot catalog and every folder sector (one starting with a "." record). */
function iso9660Regions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 16 * 2048, length: 4 * 2048, what: 'volume descriptors' }];
  for (let s = 20 * 2048; s + 2048 <= b.length && out.length < MAX_REGIONS; s += 2048) {
    const dot = b[s]! >= 34 && b[s + 32] === 1 && b[s + 33] === 0;
    if (dot || (b[s] === 1 && b[s + 30] === 0x55 && b[s + 31] === 0xaa)) out.push({ offset: s, length: 2048, what: dot ? 'folder' : 'boot catalog' });
  }
  return out;
}

/** UDF: the recognition sequence, the anchors, and every block that starts with a valid-looking descriptor tag. */
function udfRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 32768, length: 6 * 2048, what: 'volume recognition' }];
  for (const bs of [512, 2048]) {
    for (let at = 0; at + 16 <= b.length && out.length < MAX_REGIONS; at += bs) {
      const id = u16(b, at);
      let sum = 0;
      for (let i = 0; i < 16; i++) if (i !== 4) sum = (sum + b[at + i]!) & 0xff;
      if (id >= 1 && id <= 266 && sum === b[at + 4] && u32(b, at + 12) !== 0xffffffff && b.subarray(at, at + 16).some((x) => x !== 0)) {
        out.push({ offset: at, length: bs, what: `descriptor ${id}` });
      }
    }
  }
  return out;
}

/** EWF: the file header, every section descriptor, the small sections whole, the start of each chunk area. */
function ewfRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0, length: 13, what: 'file header' }];
  let at = 13;
  for (let i = 0; i < 1000 && at + 76 <= b.length && out.length < MAX_REGIONS; i++) {
    const type = b.toString('latin1', at, at + 16).replace(/\0[\s\S]*$/, '');
    const size = Number(b.readBigUInt64LE(at + 24));
    out.push({ offset: at, length: 76, what: `${type} descriptor` });
    if (type === 'sectors') out.push({ offset: at + 76, length: 4096, what: 'chunk data' });
    else if (size > 76) out.push({ offset: at + 76, length: Math.min(size - 76, 65536), what: `${type} section` });
    const next = Number(b.readBigUInt64LE(at + 16));
    if (next <= at || type === 'done' || type === 'next') break;
    at = next;
  }
  return out;
}

/** OVA: every tar header, the descriptor, and the start of each disk member (its own headers). */
function ovaRegions(b: Buffer): Region[] {
  const out: Region[] = [];
  for (let at = 0; at + 512 <= b.length && out.length < MAX_REGIONS; ) {
    if (b.toString('latin1', at + 257, at + 262) !== 'ustar') break;
    out.push({ offset: at, length: 512, what: 'tar header' });
    const size = parseInt(b.toString('latin1', at + 124, at + 136).replace(/\0.*$/, '').trim() || '0', 8) || 0;
    out.push({ offset: at + 512, length: Math.min(size, 65536), what: 'member start' });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/** Offsets of the metadata areas listed in the PV header of the label at `label`. */
function lvmMdas(b: Buffer, label: number): number[] {
  const l = Number(label);
  let o = l + u32(b, l + 20) + 40;
  const out: number[] = [];
  for (let list = 0; list < 2; list++) {
    for (let i = 0; i < 8 && o + 16 <= l + 512; i++, o += 16) {
      const off = u64(b, o);
      if (!off) break;
      if (list === 1 && off + 512 <= b.length) out.push(off);
    }
    o += 16;
  }
  return out;
}

/** lvm2's CRC (see src/volume/lvm2/label.ts): CRC-32 from 0xf597a6cf without the final inversion. */
function lvmCrc(buf: Buffer): number {
  return ~crc32(buf, ~0xf597a6cf >>> 0) >>> 0;
}

/** Recomputes the LVM2 label, metadata-area header and text checksums so mutations reach the text parser. */
export function fixLvm2Checksums(b: Buffer): void {
  for (let s = 0; s < 4; s++) {
    const l = s * 512;
    if (l + 512 > b.length || b.toString('latin1', l, l + 8) !== 'LABELONE') continue;
    for (const m of lvmMdas(b, l)) {
      const size = u64(b, m + 32);
      const off = u64(b, m + 40);
      const len = u64(b, m + 48);
      if (off >= 512 && len > 0 && off + len <= size && m + off + len <= b.length) b.writeUInt32LE(lvmCrc(b.subarray(m + off, m + off + len)), m + 56);
      b.writeUInt32LE(lvmCrc(b.subarray(m + 4, m + 512)), m);
    }
    b.writeUInt32LE(lvmCrc(b.subarray(l + 20, l + 512)), l + 16);
  }
}

export const REGION_FINDERS: Record<string, (b: Buffer) => Region[]> = {
  lvm2: lvm2Regions,
  fat: (b) => fatRegions(b),
  exfat: exfatRegions,
  ext: extRegions,
  ntfs: ntfsRegions,
  regf: regfRegions,
  xfs: xfsRegions,
  mbr: mbrRegions,
  gpt: gptRegions,
  raw: mbrRegions,
  btrfs: btrfsRegions,
  qcow2: qcow2Regions,
  vmdk: vmdkRegions,
  vhd: vhdRegions,
  vhdx: vhdxRegions,
  vdi: vdiRegions,
  // BitLocker: the volume header and the three FVE metadata blocks it names (header + entries).
  bitlocker: (b) => [{ offset: 0, length: 512, what: 'volume header' }, ...[176, 184, 192].map((o) => ({ offset: Number(b.readBigUInt64LE(o)), length: 1024, what: 'FVE metadata' }))],
  // LUKS: LUKS1's header and key slots, LUKS2's binary header and JSON (checksummed: most
  // mutants test the checksum and the fall-back to the other copy).
  luks: (b) => [{ offset: 0, length: 4096, what: 'header' }, { offset: 4096, length: 12288, what: 'JSON area' }],
  iso9660: iso9660Regions,
  udf: udfRegions,
  ewf: ewfRegions,
  ova: ovaRegions,
  vma: vmaRegions,
  ewf2: ewf2Regions,
  eltorito: iso9660Regions,
  hybrid: (b) => [{ offset: 0, length: 1024, what: 'MBR and GPT header' }, { offset: 1024, length: 16384, what: 'GPT entries' }, ...iso9660Regions(b)],
};

/** VMA: the header (configs, devices) and every extent header (block info), walked as the reader does. */
function vmaRegions(b: Buffer): Region[] {
  if (b.length < 60 || b.toString('latin1', 0, 4) !== 'VMA\0') return [];
  const hs = b.readUInt32BE(56);
  const out: Region[] = [{ offset: 0, length: Math.min(hs, b.length), what: 'VMA header' }];
  for (let o = hs; o + 512 <= b.length && out.length < MAX_REGIONS && b.toString('latin1', o, o + 4) === 'VMAE'; o += 512 + b.readUInt16BE(o + 6) * 4096) {
    out.push({ offset: o, length: 512, what: 'extent header' });
  }
  return out;
}

/** EWF2 (.Ex01): the file header, every section descriptor (walked back from the end), the sections before them. */
function ewf2Regions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0, length: 32, what: 'file header' }];
  for (let at = b.length - 64, i = 0; at >= 32 && i < 1000 && out.length < MAX_REGIONS; i++) {
    out.push({ offset: at, length: 64, what: `section ${u32(b, at)} descriptor` });
    const size = Number(b.readBigUInt64LE(at + 16));
    if (size > 0 && size < at) out.push({ offset: Math.max(32, at - size), length: Math.min(size, 4096), what: `section ${u32(b, at)} data` });
    const prev = Number(b.readBigUInt64LE(at + 8));
    if (prev === 0 || prev >= at) break;
    at = prev;
  }
  return out;
}

/** Recomputes the MD5s of the VMA header and extent headers, so that mutations reach the parser behind them. */
export function fixVmaMd5s(b: Buffer): void {
  const md5Into = (h: Buffer, at: number) => {
    h.fill(0, at, at + 16);
    createHash('md5').update(h).digest().copy(h, at);
  };
  if (b.length < 60 || b.toString('latin1', 0, 4) !== 'VMA\0') return;
  const hs = b.readUInt32BE(56);
  if (hs <= b.length && hs >= 48) md5Into(b.subarray(0, hs), 32);
  for (let o = hs, n = 0; o + 512 <= b.length && n < MAX_REGIONS && b.toString('latin1', o, o + 4) === 'VMAE'; n++) {
    const e = b.subarray(o, o + 512);
    const next = o + 512 + e.readUInt16BE(6) * 4096;
    md5Into(e, 24);
    o = next;
  }
}

function adler32(b: Buffer, start: number, end: number): number {
  let a = 1;
  let s = 0;
  for (let i = start; i < end; i++) {
    a = (a + b[i]!) % 65521;
    s = (s + a) % 65521;
  }
  return (s * 65536 + a) >>> 0;
}

/** Recomputes the Adler-32s of EWF2 section descriptors and sector tables, so mutations reach what they guard. */
export function fixEwf2Checksums(b: Buffer): void {
  for (let at = b.length - 64, i = 0; at >= 32 && i < 1000; i++) {
    const size = Number(b.readBigUInt64LE(at + 16));
    if (u32(b, at) === 4 && size >= 32 && size <= at - 32) {
      const t = at - size;
      const n = u32(b, t + 8);
      b.writeUInt32LE(adler32(b, t, t + 16), t + 16);
      const end = t + 32 + n * 16;
      if (end + 4 <= at) b.writeUInt32LE(adler32(b, t + 32, end), end);
    }
    b.writeUInt32LE(adler32(b, at, at + 60), at + 60);
    const prev = Number(b.readBigUInt64LE(at + 8));
    if (prev === 0 || prev >= at) break;
    at = prev;
  }
}

/**
 * Btrfs: the superblock and every tree block (found by the filesystem's fsid at offset 0x20
 * of a 4 KiB-aligned block whose bytenr field is plausible).
 */
function btrfsRegions(b: Buffer): Region[] {
  const out: Region[] = [{ offset: 0x10000, length: 4096, what: 'superblock' }];
  if (b.length < 0x11000) return out;
  const fsid = b.subarray(0x10020, 0x10030);
  const nodesize = u32(b, 0x10094) || 16384;
  for (let o = 0x20000; o + nodesize <= b.length && out.length < MAX_REGIONS; o += 4096) {
    if (b.subarray(o + 0x20, o + 0x30).equals(fsid)) {
      out.push({ offset: o, length: nodesize, what: b[o + 0x64] ? 'tree node' : 'tree leaf' });
      o += nodesize - 4096;
    }
  }
  return out;
}

/** Recomputes the crc32c of the Btrfs superblock and tree blocks, so that mutations reach the parsers behind the checksums. */
export function fixBtrfsCsums(b: Buffer): void {
  if (b.length < 0x11000 || b.toString('latin1', 0x10040, 0x10048) !== '_BHRfS_M' || u16(b, 0x100c4) !== 0) return;
  const nodesize = u32(b, 0x10094);
  if (nodesize < 4096 || nodesize > 65536) return;
  for (const r of btrfsRegions(b)) {
    const len = r.what === 'superblock' ? 4096 : nodesize;
    if (r.offset + len > b.length) continue;
    b.writeUInt32LE((crc32cUpdate(0xffffffff, b, r.offset + 32, r.offset + len) ^ 0xffffffff) >>> 0, r.offset);
  }
}

/** The metadata regions of `buf`, clipped to the buffer; never empty. */
export function regionsOf(format: string, buf: Buffer): Region[] {
  let rs: Region[] = [];
  try {
    rs = (REGION_FINDERS[format] ?? (() => []))(buf);
  } catch {
    rs = [];
  }
  rs = rs
    .map((r) => ({ ...r, offset: Math.floor(r.offset), length: Math.floor(Math.min(r.length, buf.length - r.offset)) }))
    .filter((r) => Number.isFinite(r.offset) && r.offset >= 0 && r.offset < buf.length && r.length > 0);
  if (rs.length === 0) rs.push({ offset: 0, length: Math.min(buf.length, 65536), what: 'start' });
  return rs;
}

/** One applied mutation, recorded so a shrinker can revert it. */
export interface Edit {
  offset: number;
  /** bytes written at offset */
  bytes: Buffer;
  what: string;
}

export interface Mutant {
  data: Buffer;
  edits: Edit[];
  /** truncated to this length (after the edits), or undefined */
  truncate?: number;
  describe: string[];
}

function interesting(rng: Rng, old: bigint, width: number, offset: number, size: number): bigint {
  const max = (1n << BigInt(width * 8)) - 1n;
  const cands: bigint[] = [
    0n, max, max >> 1n, (max >> 1n) + 1n, old + 1n, old - 1n, old * 2n, old << 8n, old >> 8n,
    BigInt(offset), BigInt(Math.floor(offset / 512)), BigInt(Math.floor(offset / 4096)),
    BigInt(size), BigInt(Math.floor(size / 512)), BigInt(Math.floor(size / 512) + 1), BigInt(Math.floor(size / 4096) + 1),
    1n, 2n, 0x7fn, 0x80n, 0xffn, 0x100n, 0xffffn, 0x10000n, 0x7fffffffn, 0x80000000n, 0xffffffffn, BigInt(rng.u32()),
  ];
  return ((rng.pick(cands) % (max + 1n)) + (max + 1n)) % (max + 1n);
}

function write(buf: Buffer, edits: Edit[], offset: number, bytes: Buffer, what: string): void {
  if (offset < 0 || offset >= buf.length) return;
  const b = bytes.subarray(0, buf.length - offset);
  b.copy(buf, offset);
  edits.push({ offset, bytes: Buffer.from(b), what });
}

/** Builds mutant number `index` of `seed` (the seed image's bytes are not changed). */
export function mutate(format: string, seedBuf: Buffer, regions: Region[], rng: Rng): Mutant {
  const data = Buffer.from(seedBuf);
  const edits: Edit[] = [];
  const describe: string[] = [];
  const n = 1 + rng.int(rng.chance(0.3) ? 12 : 4);
  const where = (): { off: number; region: Region } => {
    if (rng.chance(0.1)) {
      const off = rng.int(data.length);
      return { off, region: { offset: 0, length: data.length, what: 'anywhere' } };
    }
    const region = rng.pick(regions);
    return { off: region.offset + rng.int(region.length), region };
  };
  for (let i = 0; i < n; i++) {
    const op = rng.int(100);
    const { off, region } = where();
    if (op < 25) {
      const bits = 1 + rng.int(4);
      const v = Buffer.from([data[off] ^ (1 << rng.int(8)) ^ (bits > 1 ? 1 << rng.int(8) : 0)]);
      write(data, edits, off, v, `bit flip in ${region.what}`);
      describe.push(`flip @${off} (${region.what})`);
    } else if (op < 60) {
      const width = rng.pick([1, 2, 4, 4, 4, 8, 8]);
      const at = off - (off % width);
      if (at + width > data.length) continue;
      const old = width === 1 ? BigInt(data[at]) : width === 2 ? BigInt(data.readUInt16LE(at)) : width === 4 ? BigInt(data.readUInt32LE(at)) : data.readBigUInt64LE(at);
      const v = interesting(rng, old, width, at, data.length);
      const bytes = Buffer.alloc(width);
      if (width === 1) bytes[0] = Number(v);
      else if (width === 2) bytes.writeUInt16LE(Number(v));
      else if (width === 4) bytes.writeUInt32LE(Number(v));
      else bytes.writeBigUInt64LE(v);
      // Big-endian formats (qcow2, VHD) get their integers in their byte order half the time.
      if (rng.chance(0.5)) bytes.reverse();
      write(data, edits, at, bytes, `integer in ${region.what}`);
      describe.push(`u${width * 8} @${at} := ${v} (${region.what})`);
    } else if (op < 75) {
      const len = 1 + rng.int(rng.chance(0.2) ? 512 : 32);
      const fill = rng.int(3);
      const bytes = Buffer.alloc(len, fill === 0 ? 0 : 0xff);
      if (fill === 2) for (let j = 0; j < len; j++) bytes[j] = rng.int(256);
      write(data, edits, off, bytes, `byte run in ${region.what}`);
      describe.push(`run ${len}B ${['zero', 'ff', 'random'][fill]} @${off} (${region.what})`);
    } else if (op < 82 && hostileClass(data, regions, rng, edits, describe)) {
      // One of issue 26's classes, aimed at the structure it attacks (see hostileClass).
    } else if (op < 90) {
      // Duplicate a record: copy one metadata unit over another (or over itself shifted).
      const src = rng.pick(regions);
      const dst = rng.pick(regions);
      const unit = rng.pick([16, 32, 64, 512, 1024, 4096]);
      const len = Math.min(unit, src.length, dst.length);
      const so = src.offset + Math.floor(rng.int(Math.max(1, src.length - len + 1)) / Math.min(unit, 32)) * Math.min(unit, 32);
      const d = dst.offset + Math.floor(rng.int(Math.max(1, dst.length - len + 1)) / Math.min(unit, 32)) * Math.min(unit, 32);
      write(data, edits, d, Buffer.from(data.subarray(so, so + len)), `duplicated record in ${dst.what}`);
      describe.push(`copy ${len}B @${so} → @${d} (${src.what} → ${dst.what})`);
    } else {
      // A table entry pointing at itself or past the end: write its own offset / the size.
      const width = rng.pick([4, 8]);
      const at = off - (off % width);
      if (at + width > data.length) continue;
      const unit = rng.pick([1, 512, 4096, 65536]);
      const target = rng.chance(0.5) ? Math.floor(at / unit) : Math.floor(data.length / unit) + rng.int(3);
      const bytes = Buffer.alloc(width);
      if (width === 4) bytes.writeUInt32LE(target >>> 0);
      else bytes.writeBigUInt64LE(BigInt(target));
      if (rng.chance(0.5)) bytes.reverse();
      write(data, edits, at, bytes, `self/past-end pointer in ${region.what}`);
      describe.push(`ptr @${at} := ${target} units of ${unit} (${region.what})`);
    }
  }
  let truncate: number | undefined;
  if (rng.chance(0.08)) {
    const r = rng.pick(regions);
    truncate = rng.chance(0.5) ? r.offset + rng.int(r.length) : rng.int(data.length);
    describe.push(`truncate to ${truncate}`);
  }
  const out = truncate === undefined ? data : data.subarray(0, truncate);
  if (format === 'gpt' && rng.chance(0.7)) fixGptCrcs(out);
  if (format === 'lvm2' && rng.chance(0.8)) fixLvm2Checksums(out);
  if (format === 'btrfs' && rng.chance(0.8)) fixBtrfsCsums(out);
  if (format === 'vma' && rng.chance(0.8)) fixVmaMd5s(out);
  if (format === 'ewf2' && rng.chance(0.8)) fixEwf2Checksums(out);
  return { data: out, edits, truncate, describe };
}

/** Byte sequences a name must never pass to a terminal or a path raw (issue 26 items 7 and 9). */
const NAME_BYTES = [[0x1b, 0x5d, 0x30, 0x3b, 0x07], [0x1b, 0x5b, 0x32, 0x4a], [0x7f], [0xc2, 0x9b], [0x2f], [0x00], [0x2e, 0x2e, 0x2f], [0xff, 0xfe], [0x0a]];

/** Values past what a Number holds exactly, or any volume can (issue 26 item 11). */
const HUGE = [2n ** 53n + 1n, 2n ** 60n + 1n, 2n ** 64n - 1n, 2n ** 63n];

/**
 * The classes issue 26 asks the fuzzer to aim at, each where its structure lives. Selectable
 * one at a time (`npm run fuzz -- --class chain`, see classMutant); in ordinary runs one of
 * them is one mutation among the others (hostileClass).
 * - chain: chain loops and cross-links — a FAT12/16/32 or exFAT FAT entry pointed back into
 *   its own chain (a loop) or at a cluster another chain uses, with exFAT's NoFatChain flag
 *   cleared so the FAT is followed; an ext extent (in the inode or an extent block) pointed at
 *   another file's blocks, at its own extent block, or given an overlapping logical start; an
 *   ext2 indirect block entry pointed at the indirect block itself;
 * - holes: folder holes — an ext folder block whose first record is stretched over the whole
 *   block; an ext folder's extent moved up so its first blocks are a hole; an early end
 *   marker (0x00) or unused-entry byte in the middle of a FAT/exFAT folder cluster;
 * - deep: folder graphs that are not trees — an ext folder entry given the inode of its own
 *   folder, the root, or any other folder (ancestors: loops; others: cross-linked subtrees,
 *   depth multiplied), made a folder entry; a FAT sub-folder entry pointed at its own folder's
 *   or another folder's first cluster. The ext seeds include a 200-level tree (seeds.ts);
 * - names: ESC/BEL/DEL/C1/"/"/NUL/".."/invalid UTF-8 written into a folder block, an NTFS
 *   index or MFT record, or a FAT/exFAT folder cluster;
 * - huge: 2^53+1, 2^60+1, 2^63, 2^64-1 written as a u64 into an inode table, MFT record or
 *   folder, or 0xFFFFFFFF as a u32 (FAT DIR_FileSize, exFAT lengths);
 * - nonregular: an ext inode's type bits made FIFO, character/block device or socket; a FAT
 *   entry's attribute byte made volume label, device (0x40) or a long-name slot.
 * Each returns false when the image offers no such structure.
 */
export const HOSTILE_CLASSES = ['chain', 'holes', 'deep', 'names', 'huge', 'nonregular'] as const;
export type HostileClass = (typeof HOSTILE_CLASSES)[number];

type ClassMutator = (data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]) => boolean;

const regionsLike = (regions: Region[], re: RegExp) => regions.filter((r) => re.test(r.what));

/** The ext superblock's block size and inode size, or null when the image has no ext superblock. */
function extGeometry(data: Buffer): { bs: number; isz: number } | null {
  if (u16(data, 1024 + 56) !== 0xef53) return null;
  return { bs: 1024 << Math.min(u32(data, 1024 + 24), 6), isz: u16(data, 1024 + 88) || 128 };
}

/** Inode records of the seed's inode tables whose i_mode type is `type` (0x4000 folder, 0x8000 file, 0 any in use). */
function extInodes(data: Buffer, regions: Region[], type: number): number[] {
  const g = extGeometry(data);
  if (!g) return [];
  const out: number[] = [];
  for (const t of regionsLike(regions, /^inode table/)) {
    for (let o = t.offset; o + g.isz <= t.offset + t.length; o += g.isz) {
      const mode = u16(data, o);
      if (mode && (type === 0 || (mode & 0xf000) === type)) out.push(o);
    }
  }
  return out;
}

/** Byte offsets of the 12-byte extent entries (ext4_extent or ext4_extent_idx) of an inode's i_block, or of an extent block. */
function extentEntries(data: Buffer, header: number): { entries: number[]; depth: number } {
  if (u16(data, header) !== 0xf30a) return { entries: [], depth: 0 };
  const n = Math.min(u16(data, header + 2), 340);
  return { entries: Array.from({ length: n }, (_, i) => header + 12 + 12 * i), depth: u16(data, header + 6) };
}

function chainClass(data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]): boolean {
  const choices: Array<() => boolean> = [];
  const fat = regionsLike(regions, /^FAT$/)[0];
  if (fat) {
    choices.push(() => {
      const exfat = data.toString('latin1', 3, 11) === 'EXFAT   ';
      // FAT12 packs 1.5 bytes per entry; FAT16 by BPB_FATSz16 != 0; FAT32 and exFAT use 4.
      const fat12 = !exfat && u16(data, 22) !== 0 && data.toString('latin1', 54, 59) === 'FAT12';
      const width = exfat || u16(data, 22) === 0 ? 4 : fat12 ? 1.5 : 2;
      const entries = Math.floor(Math.min(fat.length, 1 << 16) / width);
      if (entries < 8) return false;
      // Entries in use (non-zero) are the chains; aim at them most of the time.
      const used: number[] = [];
      const entryAt = (i: number) => (width === 4 ? u32(data, fat.offset + 4 * i) : width === 2 ? u16(data, fat.offset + 2 * i) : (u16(data, fat.offset + Math.floor(i * 1.5)) >> ((i & 1) * 4)) & 0xfff);
      for (let i = 2; i < entries && used.length < 4096; i++) if (entryAt(i) !== 0) used.push(i);
      const i = used.length && rng.chance(0.8) ? rng.pick(used) : 2 + rng.int(entries - 2);
      // Back to an earlier cluster of the table (often of the same chain: a loop), to itself, or to another chain's cluster.
      const target = rng.chance(0.3) ? i : rng.chance(0.5) && used.length ? rng.pick(used) : 2 + rng.int(Math.max(1, i - 2));
      if (width === 1.5) {
        const at = fat.offset + Math.floor(i * 1.5);
        const old = u16(data, at);
        const v = i & 1 ? (old & 0x000f) | (target << 4) : (old & 0xf000) | target;
        const b = Buffer.alloc(2);
        b.writeUInt16LE(v & 0xffff);
        write(data, edits, at, b, 'FAT chain loop / cross-link');
      } else {
        const bytes = Buffer.alloc(width);
        if (width === 2) bytes.writeUInt16LE(target);
        else bytes.writeUInt32LE(target);
        write(data, edits, fat.offset + i * width, bytes, 'FAT chain loop / cross-link');
      }
      describe.push(`FAT[${i}] := ${target} (loop or cross-link)`);
      if (exfat) {
        // Stream extension entries (0xC0): clear NoFatChain (bit 1 of GeneralSecondaryFlags) so the FAT is followed.
        const streams: number[] = [];
        for (const c of regionsLike(regions, /folder cluster/)) for (let o = c.offset; o + 32 <= c.offset + c.length; o += 32) if (data[o] === 0xc0 && data[o + 1]! & 2) streams.push(o);
        for (let k = 0; k < 1 + rng.int(3) && streams.length; k++) {
          const o = rng.pick(streams);
          write(data, edits, o + 1, Buffer.from([data[o + 1]! & ~2]), 'exFAT NoFatChain cleared');
          describe.push(`exFAT stream @${o}: NoFatChain cleared`);
        }
      }
      return true;
    });
  }
  const g = extGeometry(data);
  if (g) {
    // Extent entries of files' and folders' inodes, and of extent blocks.
    const leaves: number[] = [];
    const indexes: Array<{ at: number; block: number }> = [];
    for (const ino of extInodes(data, regions, 0)) {
      const { entries, depth } = extentEntries(data, ino + 40);
      for (const e of entries) (depth ? indexes.push({ at: e, block: Math.floor(ino / g.bs) }) : leaves.push(e));
    }
    for (const b of regionsLike(regions, /^extent block$/)) {
      const { entries, depth } = extentEntries(data, b.offset);
      for (const e of entries) (depth ? indexes.push({ at: e, block: b.offset / g.bs }) : leaves.push(e));
    }
    if (leaves.length) {
      choices.push(() => {
        const e = rng.pick(leaves);
        const other = rng.pick(leaves);
        if (rng.chance(0.5)) {
          // ee_start_hi/ee_start_lo of another extent: two files share blocks (a cross-link).
          write(data, edits, e + 6, Buffer.from(data.subarray(other + 6, other + 12)), 'ext extent cross-link');
          describe.push(`extent @${e}: start := that of extent @${other} (cross-link)`);
        } else {
          // ee_block moved back into the previous extent's range (overlap), or ee_len stretched.
          const b = Buffer.alloc(4);
          b.writeUInt32LE(rng.chance(0.5) ? Math.max(0, u32(data, e) - 1 - rng.int(4)) : u32(data, other));
          write(data, edits, e, b, 'ext extent overlap');
          describe.push(`extent @${e}: ee_block := ${b.readUInt32LE(0)} (overlap)`);
        }
        return true;
      });
    }
    if (indexes.length) {
      choices.push(() => {
        const x = rng.pick(indexes);
        // ei_leaf_lo/hi: the block holding this index itself (a loop in the tree).
        const b = Buffer.alloc(6);
        b.writeUInt32LE(x.block >>> 0, 0);
        write(data, edits, x.at + 4, b, 'ext extent index loop');
        describe.push(`extent index @${x.at}: leaf := its own block ${x.block} (loop)`);
        return true;
      });
    }
    // ext2/3 block maps: i_block[12] is the indirect block; an entry of it pointed at itself.
    const mapped = extInodes(data, regions, 0x8000).filter((o) => !(u32(data, o + 32) & 0x80000) && u32(data, o + 40 + 48) !== 0);
    if (mapped.length) {
      choices.push(() => {
        const o = rng.pick(mapped);
        const ind = u32(data, o + 40 + 48);
        const slot = ind * g.bs + 4 * rng.int(g.bs / 4);
        const b = Buffer.alloc(4);
        b.writeUInt32LE(rng.chance(0.5) ? ind : u32(data, o + 40));
        write(data, edits, slot, b, 'ext indirect block loop');
        describe.push(`indirect block ${ind} entry @${slot} := ${b.readUInt32LE(0)} (itself or the file's first block)`);
        return true;
      });
    }
  }
  return choices.length > 0 && rng.pick(choices)();
}

function holesClass(data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]): boolean {
  const choices: Array<() => boolean> = [];
  const blocks = regionsLike(regions, /^folder block$/);
  if (blocks.length) {
    choices.push(() => {
      // The first record (".") stretched over the whole block: the rest reads as a hole.
      const blk = rng.pick(blocks);
      const len = Buffer.alloc(2);
      len.writeUInt16LE(Math.min(blk.length, 0xfffc));
      write(data, edits, blk.offset + 4, len, 'folder block emptied');
      describe.push(`folder block @${blk.offset}: "." record spans the block`);
      return true;
    });
  }
  const dirs = extInodes(data, regions, 0x4000).filter((o) => extentEntries(data, o + 40).entries.length > 0 && extentEntries(data, o + 40).depth === 0);
  if (dirs.length) {
    choices.push(() => {
      // The folder's first extent starts at logical block 1..3: block 0 (with "." and "..") is a hole.
      const o = rng.pick(dirs);
      const e = rng.pick(extentEntries(data, o + 40).entries);
      const b = Buffer.alloc(4);
      b.writeUInt32LE(u32(data, e) + 1 + rng.int(3));
      write(data, edits, e, b, 'folder extent moved (hole)');
      describe.push(`folder inode @${o}: extent @${e} ee_block := ${b.readUInt32LE(0)} (a hole before it)`);
      return true;
    });
  }
  const clusters = regionsLike(regions, /^(folder cluster|root folder)$/);
  if (clusters.length) {
    choices.push(() => {
      // An end marker (0x00) or an unused/deleted entry (0xE5 FAT, 0x05/0x41 exFAT-style unused) in the middle of a folder.
      const c = rng.pick(clusters);
      const slots = Math.floor(c.length / 32);
      if (slots < 3) return false;
      const at = c.offset + 32 * (2 + rng.int(slots - 2));
      const v = rng.pick([0x00, 0x00, 0xe5, 0x05, 0x41]);
      write(data, edits, at, Buffer.from([v]), 'folder hole');
      describe.push(`folder entry @${at}: first byte := 0x${v.toString(16)} (a hole or an early end)`);
      return true;
    });
  }
  return choices.length > 0 && rng.pick(choices)();
}

function deepClass(data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]): boolean {
  const choices: Array<() => boolean> = [];
  const blocks = regionsLike(regions, /^folder block$/);
  if (blocks.length) {
    // Every folder's own inode number (its "." record), the set of targets.
    const folders = blocks.map((b) => u32(data, b.offset)).filter((n) => n > 0);
    choices.push(() => {
      const blk = rng.pick(blocks);
      const self = u32(data, blk.offset);
      const parent = u32(data, blk.offset + 12);
      const recs: number[] = [];
      for (let o = blk.offset, n = 0; o + 8 <= blk.offset + blk.length && n < 256; n++) {
        const rl = u16(data, o + 4);
        if (rl < 8) break;
        recs.push(o);
        o += rl;
      }
      if (recs.length < 3) return false;
      const at = rng.pick(recs.slice(2));
      const ino = Buffer.alloc(4);
      ino.writeUInt32LE(rng.pick([self, parent, 2, rng.pick(folders), rng.pick(folders)]));
      write(data, edits, at, ino, 'folder entry pointing at a folder');
      // Its file_type made "folder", so walks follow it.
      write(data, edits, at + 7, Buffer.from([2]), 'folder entry pointing at a folder');
      describe.push(`folder entry @${at} := inode ${ino.readUInt32LE(0)} (a folder above, itself or elsewhere)`);
      return true;
    });
  }
  const clusters = regionsLike(regions, /^folder cluster$/);
  if (clusters.length && !regionsLike(regions, /^boot region$/).length) {
    // FAT: a sub-folder entry (attribute 0x10, not "." or "..") given another folder's first cluster.
    const firstClusterOf = (o: number) => u16(data, o + 26) | (u16(data, o + 20) << 16);
    const folderClusters = clusters.map((c) => firstClusterOf(c.offset)).filter((n) => n >= 2);
    const subs: number[] = [];
    for (const c of [...clusters, ...regionsLike(regions, /^root folder$/)]) {
      for (let o = c.offset; o + 32 <= c.offset + c.length; o += 32) if (data[o] !== 0 && data[o] !== 0xe5 && data[o] !== 0x2e && data[o + 11] === 0x10) subs.push(o);
    }
    if (subs.length && folderClusters.length) {
      choices.push(() => {
        const o = rng.pick(subs);
        const target = rng.chance(0.2) ? 0 : rng.pick(folderClusters);
        const lo = Buffer.alloc(2);
        lo.writeUInt16LE(target & 0xffff);
        const hi = Buffer.alloc(2);
        hi.writeUInt16LE(target >>> 16);
        write(data, edits, o + 26, lo, 'FAT folder cross-link');
        write(data, edits, o + 20, hi, 'FAT folder cross-link');
        describe.push(`FAT folder entry @${o}: first cluster := ${target} (a folder above, itself, elsewhere or the root)`);
        return true;
      });
    }
  }
  return choices.length > 0 && rng.pick(choices)();
}

function namesClass(data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]): boolean {
  const dirs = regionsLike(regions, /folder|root|index|entry set|cluster|MFT record/);
  if (!dirs.length) return false;
  const r = rng.pick(dirs);
  const bytes = Buffer.from(rng.pick(NAME_BYTES));
  let off = r.offset + rng.int(Math.max(1, r.length - bytes.length));
  // Aimed at names: FAT short names at entry offset 0..10, ext names at record offset 8.
  if (/folder cluster|root folder/.test(r.what) && rng.chance(0.6)) off = r.offset + 32 * rng.int(Math.max(1, Math.floor(r.length / 32))) + rng.int(8);
  write(data, edits, off, bytes, `name bytes in ${r.what}`);
  describe.push(`name bytes ${bytes.toString('hex')} @${off} (${r.what})`);
  return true;
}

function hugeClass(data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]): boolean {
  const meta = regionsLike(regions, /inode table|MFT record|folder|root|entry/);
  if (!meta.length) return false;
  const r = rng.pick(meta);
  const g = extGeometry(data);
  if (g && /^inode table/.test(r.what) && rng.chance(0.5)) {
    // i_size_lo / i_size_high of an inode in use.
    const inodes = extInodes(data, [r], 0x8000);
    if (inodes.length) {
      const o = rng.pick(inodes);
      const v = rng.pick(HUGE);
      const lo = Buffer.alloc(4);
      lo.writeUInt32LE(Number(v & 0xffffffffn));
      const hi = Buffer.alloc(4);
      hi.writeUInt32LE(Number((v >> 32n) & 0xffffffffn));
      write(data, edits, o + 4, lo, 'huge i_size');
      write(data, edits, o + 108, hi, 'huge i_size');
      describe.push(`inode @${o}: i_size := ${v}`);
      return true;
    }
  }
  if (rng.chance(0.3)) {
    const off = r.offset + 4 * rng.int(Math.max(1, Math.floor(r.length / 4)));
    write(data, edits, off, Buffer.from([0xff, 0xff, 0xff, 0xff]), `huge size in ${r.what}`);
    describe.push(`u32 @${off} := 0xFFFFFFFF (${r.what})`);
    return true;
  }
  const v = rng.pick(HUGE);
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  const off = r.offset + 8 * rng.int(Math.max(1, Math.floor(r.length / 8)));
  write(data, edits, off, b, `huge size in ${r.what}`);
  describe.push(`u64 @${off} := ${v} (${r.what})`);
  return true;
}

function nonRegularClass(data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]): boolean {
  const choices: Array<() => boolean> = [];
  const files = extInodes(data, regions, 0x8000);
  if (files.length) {
    choices.push(() => {
      const at = rng.pick(files);
      const type = rng.pick([0x1000, 0x2000, 0x6000, 0xc000]);
      const mode = Buffer.alloc(2);
      mode.writeUInt16LE((u16(data, at) & 0x0fff) | type);
      write(data, edits, at, mode, 'non-regular file type');
      describe.push(`i_mode @${at} := 0x${mode.readUInt16LE(0).toString(16)} (a file made FIFO/device/socket)`);
      return true;
    });
  }
  const fatDirs = regionsLike(regions, /^(folder cluster|root folder)$/);
  if (fatDirs.length && !regionsLike(regions, /^boot region$/).length) {
    const entries: number[] = [];
    for (const c of fatDirs) for (let o = c.offset; o + 32 <= c.offset + c.length; o += 32) if (data[o] !== 0 && data[o] !== 0xe5 && data[o] !== 0x2e && (data[o + 11]! & 0x0f) !== 0x0f) entries.push(o);
    if (entries.length) {
      choices.push(() => {
        const o = rng.pick(entries);
        const attr = rng.pick([0x08, 0x40, 0x0f, 0x18, 0x50, 0x48]);
        write(data, edits, o + 11, Buffer.from([attr]), 'FAT attribute');
        describe.push(`FAT entry @${o}: attribute := 0x${attr.toString(16)} (label/device/long-name slot)`);
        return true;
      });
    }
  }
  return choices.length > 0 && rng.pick(choices)();
}

const CLASS_MUTATORS: Record<HostileClass, ClassMutator> = {
  chain: chainClass,
  holes: holesClass,
  deep: deepClass,
  names: namesClass,
  huge: hugeClass,
  nonregular: nonRegularClass,
};

/** One of the classes at random, as one mutation of an ordinary mutant. */
function hostileClass(data: Buffer, regions: Region[], rng: Rng, edits: Edit[], describe: string[]): boolean {
  return CLASS_MUTATORS[rng.pick(HOSTILE_CLASSES)](data, regions, rng, edits, describe);
}

/**
 * A mutant of one class only: 1–3 of its mutations (sometimes with one ordinary integer or
 * byte mutation beside, so the class meets damaged neighbours too). null when the seed offers
 * the class nothing to aim at.
 */
export function classMutant(cls: HostileClass, format: string, seedBuf: Buffer, regions: Region[], rng: Rng): Mutant | null {
  const data = Buffer.from(seedBuf);
  const edits: Edit[] = [];
  const describe: string[] = [];
  const n = 1 + rng.int(3);
  let done = 0;
  for (let i = 0; i < n; i++) if (CLASS_MUTATORS[cls](data, regions, rng, edits, describe)) done++;
  if (!done) return null;
  if (rng.chance(0.15)) {
    const r = rng.pick(regions);
    const off = r.offset + rng.int(r.length);
    write(data, edits, off, Buffer.from([data[off]! ^ (1 << rng.int(8))]), `bit flip in ${r.what}`);
    describe.push(`flip @${off} (${r.what})`);
  }
  if (format === 'gpt') fixGptCrcs(data);
  return { data, edits, describe };
}

/** Recomputes GPT header and entry-array CRC32s so that mutations reach the entry parser. */
export function fixGptCrcs(b: Buffer): void {
  for (const h of [512, b.length - 512]) {
    if (h < 512 || h + 92 > b.length || b.toString('latin1', h, h + 8) !== 'EFI PART') continue;
    const hsize = u32(b, h + 12);
    const lba = u64(b, h + 72);
    const n = u32(b, h + 80);
    const es = u32(b, h + 84);
    const len = n * es;
    if (len > 0 && len <= 1 << 20 && lba * 512 + len <= b.length) b.writeUInt32LE(crc32(b.subarray(lba * 512, lba * 512 + len)), h + 88);
    if (hsize >= 92 && hsize <= 512) {
      b.writeUInt32LE(0, h + 16);
      b.writeUInt32LE(crc32(b.subarray(h, h + hsize)), h + 16);
    }
  }
}
