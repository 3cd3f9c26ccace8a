/**
 * The LVM2 metadata treated as hostile: bounded text, depth and counts; segments past their PV,
 * overlapping or leaving gaps; LVs that refer to each other in a loop; a metadata copy that
 * wraps around the end of its ring. Each gives one line (or the right bytes), never a hang.
 */
import { describe, expect, it } from 'vitest';
import { DiskpickError } from '../../src/errors.js';
import { BufferSource, type ByteSource } from '../../src/source/source.js';
import { FMTT_MAGIC, lvmCrc, MDA_HEADER_SIZE, readMdaHeader, readMetadataText } from '../../src/volume/lvm2/label.js';
import { parseConfig } from '../../src/volume/lvm2/metadata.js';
import { parseVg, VgReader } from '../../src/volume/lvm2/vg.js';

function oneLine(fn: () => unknown, kind: DiskpickError['kind'], re: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DiskpickError);
  const d = err as DiskpickError;
  expect(d.kind).toBe(kind);
  expect(d.toLine()).not.toMatch(/\n/);
  expect(d.message).toMatch(re);
}

const PV = (extra = '') => `pv0 {\nid = "AAAAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAAAA"\ndevice = "/dev/sdb2"\npe_start = 2048\npe_count = 4\n${extra}}`;
function vgText(lvs: string, pvs = PV()): string {
  return `vg {\nid = "x"\nseqno = 3\nextent_size = 2048\nphysical_volumes {\n${pvs}\n}\nlogical_volumes {\n${lvs}\n}\n}\n`;
}
const lin = (n: number, start: number, count: number, pv: string, pe: number) =>
  `segment${n} {\nstart_extent = ${start}\nextent_count = ${count}\ntype = "striped"\nstripe_count = 1\nstripes = ["${pv}", ${pe}]\n}`;
const lv = (name: string, segs: string[], visible = true) =>
  `${name} {\nid = "y"\nstatus = ["READ"${visible ? ', "VISIBLE"' : ''}]\nsegment_count = ${segs.length}\n${segs.join('\n')}\n}`;

/** A PV device of 1 MiB data start + 4 extents of 1 MiB, each extent filled with its number. */
function pvSource(): BufferSource {
  const b = Buffer.alloc(5 << 20);
  for (let e = 0; e < 4; e++) b.fill(e + 1, (1 + e) << 20, (2 + e) << 20);
  return new BufferSource(b, 'pv.img');
}
const PVID = 'AAAAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAAAA';

describe('LVM2 text metadata parser', () => {
  it('bounds nesting, list length, value count and size; rejects broken syntax with the line', () => {
    oneLine(() => parseConfig('a {'.repeat(100) + '}'.repeat(100), 'x'), 'image', /nested too deeply/);
    oneLine(() => parseConfig(`a = [${'1,'.repeat(70_000)}1]`, 'x'), 'image', /list of more than/);
    oneLine(() => parseConfig(`a = [${'['.repeat(40)}]`, 'x'), 'image', /nested too deeply/);
    oneLine(() => parseConfig('a = "no end', 'x'), 'image', /does not end/);
    oneLine(() => parseConfig('a = 1\na = 2', 'x'), 'image', /line 2: "a" appears twice/);
    oneLine(() => parseConfig('a = 99999999999999999999', 'x'), 'image', /out of range/);
    oneLine(() => parseConfig('x'.repeat(5 << 20), 'x'), 'image', /larger than/);
    oneLine(() => parseConfig('a { b = 1', 'x'), 'image', /does not end/);
    expect(parseConfig('# c\nv { s = "q\\"x" # t\nl = ["a", 1, -2] }', 'x').entries.get('v')).toBeTruthy();
  });

  it('rejects names lvm2 would not write (a "/" or ".." would escape the VG folder)', () => {
    oneLine(() => parseVg(vgText(lv('..', [lin(1, 0, 1, 'pv0', 0)])), 'x'), 'image', /not a valid LVM name/);
    oneLine(() => parseVg('"a/b" {\n}', 'x'), 'image', /name was expected|holds no volume group/);
  });
});

describe('LVM2 segments', () => {
  const open = (lvs: string, sources: Map<string, ByteSource> = new Map([[PVID, pvSource()]])) => {
    const vg = parseVg(vgText(lvs), 'x');
    const r = new VgReader(vg, sources, 'pv.img');
    return Promise.all([...vg.lvs.values()].filter((l) => l.visible).map((l) => r.open(l)));
  };

  it('reads segments in LV order whatever their order in the file and on the PV', async () => {
    const [o] = await open(lv('a', [lin(1, 2, 1, 'pv0', 0), lin(2, 0, 2, 'pv0', 2)]));
    expect(o!.what).toBe('LV linear, 2 segments');
    const b = await o!.source!.read(0, 3 << 20);
    expect([b[0], b[(1 << 20) + 5], b[(2 << 20) + 7]]).toEqual([3, 4, 1]);
  });

  it('a segment past its PV end, overlapping or gapped segments, a stripe count that does not fit: one-line corrupt errors, no read', async () => {
    const [past] = await open(lv('a', [lin(1, 0, 2, 'pv0', 3)]));
    expect(past!.source).toBeNull();
    expect(past!.error!.message).toMatch(/lie past the end of PV/);
    const [over] = await open(lv('a', [lin(1, 0, 2, 'pv0', 0), lin(2, 1, 1, 'pv0', 2)]));
    expect(over!.error!.message).toMatch(/segments overlap at extent 1/);
    const [gap] = await open(lv('a', [lin(1, 0, 1, 'pv0', 0), lin(2, 2, 1, 'pv0', 2)]));
    expect(gap!.error!.message).toMatch(/leave a gap/);
    const [bad] = await open(lv('a', ['segment1 {\nstart_extent = 0\nextent_count = 3\ntype = "striped"\nstripe_count = 2\nstripe_size = 128\nstripes = ["pv0", 0, "pv0", 2]\n}']));
    expect(bad!.error!.message).toMatch(/do not divide into 2 stripes/);
  });

  it('mirror legs that refer to each other in a loop: a corrupt error, no endless recursion', async () => {
    const m = (name: string, leg: string, visible: boolean) =>
      lv(name, [`segment1 {\nstart_extent = 0\nextent_count = 1\ntype = "mirror"\nmirror_count = 1\nmirrors = ["${leg}", 0]\n}`], visible);
    const [o] = await open([m('a', 'a_mimage_0', true), m('a_mimage_0', 'a', false)].join('\n'));
    expect(o!.error!.kind).toBe('image');
    expect(o!.error!.message).toMatch(/loop/);
  });

  it('raid1 with one leg on a missing PV: the other leg is read, and info says which', async () => {
    const PV1 = 'BBBBBB-BBBB-BBBB-BBBB-BBBB-BBBB-BBBBBB';
    const pvs = `${PV()}\npv1 {\nid = "${PV1}"\ndevice = "/dev/sdc1"\npe_start = 2048\npe_count = 4\n}`;
    const text = vgText([
      lv('m', ['segment1 {\nstart_extent = 0\nextent_count = 2\ntype = "raid1"\ndevice_count = 2\nraids = ["m_rmeta_0", "m_rimage_0", "m_rmeta_1", "m_rimage_1"]\n}']),
      lv('m_rmeta_0', [lin(1, 0, 1, 'pv1', 0)], false), lv('m_rimage_0', [lin(1, 0, 2, 'pv1', 1)], false),
      lv('m_rmeta_1', [lin(1, 0, 1, 'pv0', 0)], false), lv('m_rimage_1', [lin(1, 0, 2, 'pv0', 2)], false),
    ].join('\n'), pvs);
    const vg = parseVg(text, 'x');
    const r = new VgReader(vg, new Map<string, ByteSource>([[PVID, pvSource()]]), 'pv.img');
    expect(r.missingPvs().map((p) => p.id)).toEqual([PV1]);
    const o = await r.open(vg.lvs.get('m')!);
    expect(o.what).toBe('LV raid1, reading leg m_rimage_1');
    const b = await o.source!.read(0, 2 << 20);
    expect([b[0], b[(1 << 20) + 1]]).toEqual([3, 4]);
    // With both legs missing: the error names the first missing PV.
    const none = await new VgReader(vg, new Map(), 'pv.img').open(vg.lvs.get('m')!);
    expect(none.error!.message).toContain(`needs PV ${PV1} (last seen as /dev/sdc1)`);
  });

  it('a missing PV: the LV names it by UUID and device hint', async () => {
    const [o] = await open(lv('a', [lin(1, 0, 1, 'pv0', 0)]), new Map());
    expect(o!.error!.message).toBe(`LV vg/a needs PV ${PVID} (last seen as /dev/sdb2), which is not among the disks given: add its disk with --disk`);
  });

  it('snapshot, cache, VDO, integrity, raid5 LVs are named and give exit 6', async () => {
    for (const t of ['cache', 'vdo', 'integrity', 'raid5']) {
      const [o] = await open(lv('a', [`segment1 {\nstart_extent = 0\nextent_count = 1\ntype = "${t}"\n}`]));
      expect(o!.source).toBeNull();
      expect(o!.error!.exitCode).toBe(6);
      expect(o!.what).toBe(`LV ${t} (not read)`);
    }
  });
});

describe('LVM2 metadata area ring', () => {
  it('a copy that wraps past the end of the area continues right after the header', async () => {
    const areaAt = 4096;
    const size = 4096;
    const text = Buffer.from(vgText(lv('a', [lin(1, 0, 1, 'pv0', 0)])));
    const dev = Buffer.alloc(areaAt + size);
    const h = dev.subarray(areaAt, areaAt + MDA_HEADER_SIZE);
    h.write(FMTT_MAGIC, 4, 'latin1');
    h.writeUInt32LE(1, 20);
    h.writeBigUInt64LE(BigInt(areaAt), 24);
    h.writeBigUInt64LE(BigInt(size), 32);
    const off = size - 100;
    h.writeBigUInt64LE(BigInt(off), 40);
    h.writeBigUInt64LE(BigInt(text.length), 48);
    h.writeUInt32LE(lvmCrc(text), 56);
    h.writeUInt32LE(lvmCrc(h.subarray(4)), 0);
    text.copy(dev, areaAt + off, 0, 100);
    text.copy(dev, areaAt + MDA_HEADER_SIZE, 100);
    const src = new BufferSource(dev, 'pv.img');
    const mh = await readMdaHeader(src, { offset: areaAt, size });
    expect(await readMetadataText(src, mh, mh.rawLocns[0]!)).toBe(text.toString());
    // One flipped byte of the text: a checksum error, not a wrong VG.
    dev[areaAt + MDA_HEADER_SIZE + 5]! ^= 1;
    await expect(readMetadataText(src, mh, mh.rawLocns[0]!)).rejects.toThrow(/checksum mismatch/);
  });
});

describe('LVM thin pool metadata', () => {
  /** Pool metadata made by thin_restore: device 1 maps block 0 → 3 and 1 → 2. */
  async function restored(): Promise<Buffer> {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, readFileSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'dp-thin-'));
    try {
      writeFileSync(join(dir, 'x.xml'), '<superblock uuid="" time="0" transaction="1" flags="0" version="2" data_block_size="128" nr_data_blocks="8">\n<device dev_id="1" mapped_blocks="2" transaction="0" creation_time="0" snap_time="0">\n<single_mapping origin_block="0" data_block="3" time="0"/>\n<single_mapping origin_block="1" data_block="2" time="0"/>\n</device>\n</superblock>\n');
      execFileSync('truncate', ['-s', '1M', join(dir, 'm')]);
      execFileSync('thin_restore', ['-i', join(dir, 'x.xml'), '-o', join(dir, 'm')]);
      return readFileSync(join(dir, 'm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const data = () => {
    const b = Buffer.alloc(8 * 65536);
    for (let i = 0; i < 8; i++) b.fill(i + 1, i * 65536, (i + 1) * 65536);
    return new BufferSource(b, 'tdata');
  };

  it('maps blocks as written, unmapped ones read zeros; a node pointing to itself or outside is a one-line error', async (ctx) => {
    const { spawnSync } = await import('node:child_process');
    if (spawnSync('sh', ['-c', 'command -v thin_restore']).status !== 0) return ctx.skip();
    const { ThinPool } = await import('../../src/volume/lvm2/thin.js');
    const meta = await restored();
    const pool = await ThinPool.open('vg/pool', new BufferSource(meta, 'tmeta'), data(), 65536);
    const dev = await pool.device(1, 4 * 65536, 'vg/thin');
    const b = await dev.read(0, 4 * 65536);
    expect([b[0], b[65536], b[2 * 65536], b[3 * 65536 + 9]]).toEqual([4, 3, 0, 0]);
    await expect(pool.device(7, 65536, 'vg/x')).rejects.toThrow(/holds no device 7/);
    // The data mapping root pointing at the superblock, then at a block past the metadata.
    const bad = Buffer.from(meta);
    bad.writeBigUInt64LE(0n, 320);
    const p1 = await ThinPool.open('vg/pool', new BufferSource(bad, 'tmeta'), data(), 65536);
    await expect(p1.device(1, 65536, 'vg/thin')).rejects.toThrow(/outside the metadata/);
    // A device tree whose root claims another block number: caught by the node's self-number.
    const root = Number(meta.readBigUInt64LE(320));
    const selfish = Buffer.from(meta);
    selfish.writeBigUInt64LE(BigInt(root + 1), root * 4096 + 8);
    const p2 = await ThinPool.open('vg/pool', new BufferSource(selfish, 'tmeta'), data(), 65536);
    await expect(p2.device(1, 65536, 'vg/thin')).rejects.toThrow(/says it is block/);
    // An internal node whose child is itself: the depth bound ends it.
    const loop = Buffer.from(meta);
    loop.writeUInt32LE(1, root * 4096 + 4);
    const max = loop.readUInt32LE(root * 4096 + 20);
    loop.writeBigUInt64LE(BigInt(root), root * 4096 + 32 + max * 8);
    const p3 = await ThinPool.open('vg/pool', new BufferSource(loop, 'tmeta'), data(), 65536);
    await expect(p3.device(1, 65536, 'vg/thin')).rejects.toThrow(/deeper than 16 levels/);
    const wrong = Buffer.from(meta);
    wrong.writeBigUInt64LE(1n, 32);
    await expect(ThinPool.open('vg/pool', new BufferSource(wrong, 'tmeta'), data(), 65536)).rejects.toThrow(/wrong magic/);
  });
});

describe('LVM snapshot exception store', () => {
  const chunk = 4096;
  const store = (edit?: (b: Buffer) => void) => {
    const b = Buffer.alloc(16 * chunk);
    b.writeUInt32LE(0x70416e53, 0);
    b.writeUInt32LE(1, 4);
    b.writeUInt32LE(1, 8);
    b.writeUInt32LE(8, 12);
    // Origin chunk 1 was copied to COW chunk 2.
    b.writeBigUInt64LE(1n, chunk);
    b.writeBigUInt64LE(2n, chunk + 8);
    b.fill(0xee, 2 * chunk, 3 * chunk);
    edit?.(b);
    return new BufferSource(b, 'cow');
  };
  const origin = new BufferSource(Buffer.alloc(8 * chunk, 0x11), 'origin');

  it('reads changed chunks from the COW store and the rest from the origin; damaged stores are one-line errors', async () => {
    const { openSnapshot } = await import('../../src/volume/lvm2/snapshot.js');
    const s = await openSnapshot('vg/snap', origin, store(), chunk, 8 * chunk);
    const b = await s.read(0, 3 * chunk);
    expect([b[0], b[chunk], b[2 * chunk + 5]]).toEqual([0x11, 0xee, 0x11]);
    await expect(openSnapshot('vg/snap', origin, store((x) => x.writeUInt32LE(0, 4)), chunk, 8 * chunk)).rejects.toThrow(/invalidated/);
    await expect(openSnapshot('vg/snap', origin, store((x) => x.writeUInt32LE(1, 0)), chunk, 8 * chunk)).rejects.toThrow(/wrong magic/);
    // An exception pointing at the metadata area, or past the store, or from past the origin.
    await expect(openSnapshot('vg/snap', origin, store((x) => x.writeBigUInt64LE(1n, chunk + 8)), chunk, 8 * chunk)).rejects.toThrow(/COW chunk 1 is invalid/);
    await expect(openSnapshot('vg/snap', origin, store((x) => x.writeBigUInt64LE(99n, chunk + 8)), chunk, 8 * chunk)).rejects.toThrow(/COW chunk 99 is invalid/);
    await expect(openSnapshot('vg/snap', origin, store((x) => x.writeBigUInt64LE(50n, chunk)), chunk, 8 * chunk)).rejects.toThrow(/past the origin/);
    // A full first area with no end marker and a store too small for the next: an error, no endless scan.
    const full = store((x) => {
      for (let i = 0; i < chunk / 16; i++) {
        x.writeBigUInt64LE(1n, chunk + i * 16);
        x.writeBigUInt64LE(2n, chunk + i * 16 + 8);
      }
    });
    await expect(openSnapshot('vg/snap', origin, full, chunk, 8 * chunk)).rejects.toThrow(/runs past the end/);
  });
});
