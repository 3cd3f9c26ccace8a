/**
 * The volume group described by the text metadata: its PVs (by UUID, with the device they were
 * last seen as), its LVs and their segments, and how each visible LV reads from the PVs found.
 * Everything is checked against the PVs' real sizes: a segment past its PV's end, overlapping or
 * missing extents, and loops between LVs (mirror legs, RAID images) are corrupt errors.
 */
import { cannotOpen, corrupt, DiskpickError, unsupported } from '../../errors.js';
import { ZeroSource, type ByteSource } from '../../source/source.js';
import { linearSegment, LvSource, stripedSegment, type MappedSegment } from './lv-source.js';
import { Fields, isSection, parseConfig, type ConfigSection } from './metadata.js';
import { ThinPool } from './thin.js';
import { openSnapshot } from './snapshot.js';

const SECTOR = 512;
const MAX_PVS = 1024;
const MAX_LVS = 8192;
const MAX_SEGMENTS = 65_536;
/** Sub-LV nesting (a mirror of RAID images of …): lvm2 stacks two levels at most. */
const MAX_LV_DEPTH = 4;
/** lvm2's name rule (lib/misc/lvm-string.c validate_name): no "/", no leading "-", not "." or "..". */
const NAME = /^[A-Za-z0-9+_.][A-Za-z0-9+_.\-]{0,127}$/;

export interface VgPv {
  /** Key in the metadata ("pv0"). */
  key: string;
  /** Formatted UUID (6-4-4-4-4-4-6). */
  id: string;
  /** The device the PV was last seen as ("/dev/sda2"): a hint for the user. */
  device: string;
  peStart: number;
  peCount: number;
}

export interface VgSegment {
  startExtent: number;
  extentCount: number;
  type: string;
  fields: Fields;
}

export interface VgLv {
  name: string;
  id: string;
  status: string[];
  visible: boolean;
  segments: VgSegment[];
  /** creation_time (seconds since 1970; lvm2 writes it for every LV it makes), 0 when absent. */
  creationTime: number;
}

export interface VolumeGroup {
  name: string;
  id: string;
  seqno: number;
  /** Bytes per extent. */
  extentSize: number;
  pvs: VgPv[];
  lvs: Map<string, VgLv>;
}

function lvmName(s: string, what: string, file: string): string {
  if (!NAME.test(s) || s === '.' || s === '..') throw corrupt(file, `LVM2 metadata: ${what} name "${s.slice(0, 40)}" is not a valid LVM name`);
  return s;
}

export function parseVg(text: string, file: string): VolumeGroup {
  const top = parseConfig(text, file);
  let vgName: string | null = null;
  let vgSec: ConfigSection | null = null;
  for (const [k, v] of top.entries) {
    if (isSection(v)) {
      vgName = k;
      vgSec = v;
      break;
    }
  }
  if (!vgName || !vgSec) throw corrupt(file, 'LVM2 metadata holds no volume group');
  const vg = new Fields(vgSec, `VG ${vgName}`, file);
  const extentSectors = vg.int('extent_size', undefined, 1, 2 ** 32);
  const out: VolumeGroup = {
    name: lvmName(vgName, 'VG', file),
    id: vg.str('id'),
    seqno: vg.int('seqno'),
    extentSize: extentSectors * SECTOR,
    pvs: [],
    lvs: new Map(),
  };
  const pvs = vg.section('physical_volumes')!;
  for (const [key, v] of pvs.entries) {
    if (!isSection(v)) throw corrupt(file, `LVM2 metadata: physical_volumes.${key} is not a section`);
    if (out.pvs.length >= MAX_PVS) throw corrupt(file, `LVM2 metadata lists more than ${MAX_PVS} PVs`);
    const f = new Fields(v, `PV ${key}`, file);
    out.pvs.push({ key, id: f.str('id'), device: f.str('device', ''), peStart: f.int('pe_start') * SECTOR, peCount: f.int('pe_count') });
  }
  const lvs = vg.section('logical_volumes', true);
  let segs = 0;
  for (const [key, v] of lvs?.entries ?? []) {
    if (!isSection(v)) throw corrupt(file, `LVM2 metadata: logical_volumes.${key} is not a section`);
    if (out.lvs.size >= MAX_LVS) throw corrupt(file, `LVM2 metadata lists more than ${MAX_LVS} LVs`);
    const f = new Fields(v, `LV ${key}`, file);
    const status = f.strings('status');
    const count = f.int('segment_count', undefined, 1, MAX_SEGMENTS);
    if ((segs += count) > MAX_SEGMENTS) throw corrupt(file, `LVM2 metadata lists more than ${MAX_SEGMENTS} segments`);
    const segments: VgSegment[] = [];
    for (let i = 1; i <= count; i++) {
      const s = new Fields(f.section(`segment${i}`)!, `LV ${key} segment${i}`, file);
      segments.push({ startExtent: s.int('start_extent'), extentCount: s.int('extent_count', undefined, 1), type: s.str('type'), fields: s });
    }
    out.lvs.set(key, { name: lvmName(key, 'LV', file), id: f.str('id', ''), status, visible: status.includes('VISIBLE'), segments, creationTime: f.int('creation_time', 0) });
  }
  return out;
}

/** Segment types lvm2 writes that diskpick names but does not read (exit 6 when opened). */
const UNSUPPORTED: Record<string, string> = {
  snapshot: 'snapshot', cache: 'cached LV', 'cache-pool': 'cache pool',
  writecache: 'writecache LV', vdo: 'VDO LV', 'vdo-pool': 'VDO pool', integrity: 'integrity LV',
  raid4: 'raid4 LV', raid5: 'raid5 LV', raid5_la: 'raid5 LV', raid5_ls: 'raid5 LV', raid5_ra: 'raid5 LV', raid5_rs: 'raid5 LV',
  raid5_n: 'raid5 LV', raid6: 'raid6 LV', raid6_zr: 'raid6 LV', raid6_nr: 'raid6 LV', raid6_nc: 'raid6 LV', raid10: 'raid10 LV',
  error: 'error target',
};

export interface OpenedLv {
  source: ByteSource | null;
  error?: DiskpickError;
  size: number;
  /** For `info`: "LV linear, 2 segments", "LV raid1, reading leg root_rimage_0". */
  what: string;
  /** Metadata keys of the PVs it reads from. */
  pvKeys: string[];
  /** A snapshot: its origin LV's name. */
  origin?: string;
}

/**
 * Opens LVs of `vg` over the PVs found (`pvSources` by formatted UUID: the PV device, whose
 * data starts at pe_start).
 */
export class VgReader {
  private readonly pvByKey = new Map<string, VgPv>();
  /** LVs that are some snapshot's COW store, with the snapshot's segment. */
  private readonly cowOf = new Map<string, VgSegment>();

  constructor(readonly vg: VolumeGroup, private readonly pvSources: Map<string, ByteSource>, private readonly file: string) {
    for (const p of vg.pvs) this.pvByKey.set(p.key, p);
    for (const lv of vg.lvs.values()) {
      for (const s of lv.segments) {
        if (s.type === 'snapshot') this.cowOf.set(s.fields.str('cow_store', ''), s);
      }
    }
  }

  /**
   * LVs users see: VISIBLE ones, and snapshots' COW LVs (lvm2 stores those without VISIBLE and
   * shows them under the snapshot's name, as lvs does).
   */
  listed(lv: VgLv): boolean {
    return lv.visible || this.cowOf.has(lv.name);
  }

  missingPvs(): VgPv[] {
    return this.vg.pvs.filter((p) => !this.pvSources.has(p.id));
  }

  private readonly pools = new Map<string, Promise<ThinPool>>();

  async open(lv: VgLv): Promise<OpenedLv> {
    const size = lv.segments.reduce((n, s) => n + s.extentCount, 0) * this.vg.extentSize;
    const types = [...new Set(lv.segments.map((s) => s.type))];
    const snap = this.cowOf.get(lv.name);
    if (snap !== undefined) return this.openSnapshot(lv, snap);
    const odd = types.find((t) => UNSUPPORTED[t]);
    if (odd) {
      const error = unsupported(`${this.vg.name}/${lv.name}`, `is an LVM ${UNSUPPORTED[odd]} (segment type "${odd}"), which diskpick does not read yet`);
      return { source: null, error, size, what: `LV ${odd} (not read)`, pvKeys: [] };
    }
    if (types.includes('thin-pool')) {
      const error = new DiskpickError('wrongType', 'is an LVM thin pool, not a volume: its thin LVs are the volumes next to it', `${this.vg.name}/${lv.name}`);
      return { source: null, error, size, what: 'LV thin pool (holds the thin LVs)', pvKeys: [] };
    }
    const pvKeys = new Set<string>();
    const legs: string[] = [];
    try {
      const src = await this.build(lv, 0, pvKeys, legs);
      const shape = types.join('+').replace(/^striped$/, lv.segments.some((s) => s.fields.int('stripe_count', 1) > 1) ? 'striped' : 'linear');
      // A thin snapshot (lvcreate -s of a thin LV) is a thin LV whose segment names its origin.
      const thinOrigin = types.length === 1 && types[0] === 'thin' ? lv.segments[0]!.fields.str('origin', '') : '';
      const what = thinOrigin
        ? `LV thin snapshot of ${thinOrigin}`
        : `LV ${shape}${lv.segments.length > 1 ? `, ${lv.segments.length} segments` : ''}${legs.length ? `, reading leg ${legs.join(', ')}` : ''}`;
      return { source: src, size, what, pvKeys: [...pvKeys], ...(thinOrigin && this.vg.lvs.has(thinOrigin) ? { origin: thinOrigin } : {}) };
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      return { source: null, error: err, size, what: `LV ${types.join('+')} (unreadable)`, pvKeys: [...pvKeys] };
    }
  }

  private pvArea(key: string, pe: number, extents: number, lvName: string, pvKeys: Set<string>): { src: ByteSource; at: number } {
    const pv = this.pvByKey.get(key);
    if (!pv) throw corrupt(this.file, `LVM2 metadata: LV ${lvName} names PV "${key}", which the VG does not list`);
    pvKeys.add(key);
    const src = this.pvSources.get(pv.id);
    if (!src) {
      throw cannotOpen(`${this.vg.name}/${lvName}`, `LV ${this.vg.name}/${lvName} needs PV ${pv.id}${pv.device ? ` (last seen as ${pv.device})` : ''}, which is not among the disks given: add its disk with --disk`);
    }
    if (pe + extents > pv.peCount) throw corrupt(src.name, `LVM2 LV ${lvName}: extents ${pe}…${pe + extents} lie past the end of PV ${pv.id} (${pv.peCount} extents)`);
    const at = pv.peStart + pe * this.vg.extentSize;
    const end = at + extents * this.vg.extentSize;
    if (!Number.isSafeInteger(end) || end > src.size) throw corrupt(src.name, `LVM2 LV ${lvName}: extents ${pe}…${pe + extents} lie past the end of PV ${pv.id} (${src.size} bytes)`);
    return { src, at };
  }

  /**
   * An old-style snapshot: the user sees the COW LV under the snapshot's name; it reads as the
   * origin was when the snapshot was taken (snapshot.ts).
   */
  private async openSnapshot(cowLv: VgLv, seg: VgSegment): Promise<OpenedLv> {
    const originName = seg.fields.str('origin', '');
    const size = seg.extentCount * this.vg.extentSize;
    const pvKeys = new Set<string>();
    const what = `LV snapshot of ${originName}`;
    try {
      const originLv = this.vg.lvs.get(originName);
      if (!originLv) throw corrupt(this.file, `LVM2 metadata: snapshot ${cowLv.name} names origin ${originName}, which the VG does not list`);
      if (this.cowOf.has(originName)) throw corrupt(this.file, `LVM2 metadata: snapshot ${cowLv.name} has a snapshot as its origin`);
      const origin = await this.build(originLv, 1, pvKeys, []);
      const cow = await this.build(cowLv, 1, pvKeys, []);
      const name = `${this.file.replace(/ \(p\d+\)$/, '')} (${this.vg.name}/${cowLv.name})`;
      const src = await openSnapshot(name, origin, cow, seg.fields.int('chunk_size', 0) * SECTOR, size);
      return { source: src, size, what, pvKeys: [...pvKeys], origin: originName };
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      return { source: null, error: err, size, what: `${what} (unreadable)`, pvKeys: [...pvKeys] };
    }
  }

  /** A thin pool LV's metadata and data sub-LVs, opened once. */
  private pool(name: string, depth: number, pvKeys: Set<string>, chain: string[]): Promise<ThinPool> {
    let p = this.pools.get(name);
    if (!p) {
      p = (async () => {
        const lv = this.vg.lvs.get(name);
        if (!lv) throw corrupt(this.file, `LVM2 metadata: thin pool ${name} is not an LV of the VG`);
        const seg = lv.segments[0];
        if (!seg || seg.type !== 'thin-pool' || lv.segments.length !== 1) throw corrupt(this.file, `LVM2 metadata: ${name} is not a thin pool`);
        const sub = (key: string) => {
          const n = seg.fields.str(key);
          const l = this.vg.lvs.get(n);
          if (!l) throw corrupt(this.file, `LVM2 metadata: thin pool ${name} names ${key} LV ${n}, which the VG does not list`);
          return this.build(l, depth + 1, pvKeys, [], [...chain, name]);
        };
        const meta = await sub('metadata');
        const data = await sub('pool');
        return ThinPool.open(`${this.vg.name}/${name}`, meta, data, seg.fields.int('chunk_size', 0) * SECTOR);
      })();
      this.pools.set(name, p);
    }
    return p;
  }

  /** The LV's bytes as an LvSource; sub-LVs (mirror legs, RAID images) by recursion. */
  private async build(lv: VgLv, depth: number, pvKeys: Set<string>, legs: string[], chain: string[] = []): Promise<LvSource> {
    if (depth > MAX_LV_DEPTH || chain.includes(lv.name)) throw corrupt(this.file, `LVM2 metadata: LVs refer to each other in a loop (${[...chain, lv.name].join(' → ')})`);
    const E = this.vg.extentSize;
    const segs = [...lv.segments].sort((a, b) => a.startExtent - b.startExtent);
    const mapped: MappedSegment[] = [];
    let next = 0;
    for (const s of segs) {
      if (s.startExtent !== next) {
        throw corrupt(this.file, `LVM2 LV ${lv.name}: segments ${s.startExtent < next ? 'overlap' : 'leave a gap'} at extent ${Math.min(next, s.startExtent)}`);
      }
      next += s.extentCount;
      const start = s.startExtent * E;
      const length = s.extentCount * E;
      const f = s.fields;
      if (s.type === 'striped') {
        const n = f.int('stripe_count', undefined, 1, 128);
        const list = f.list('stripes');
        if (list.length !== 2 * n) throw corrupt(this.file, `LVM2 LV ${lv.name}: ${n} stripes but ${list.length / 2} areas`);
        if (s.extentCount % n) throw corrupt(this.file, `LVM2 LV ${lv.name}: ${s.extentCount} extents do not divide into ${n} stripes`);
        const areas = [];
        for (let i = 0; i < n; i++) {
          const key = list[2 * i];
          const pe = list[2 * i + 1];
          if (typeof key !== 'string' || typeof pe !== 'number' || !Number.isSafeInteger(pe) || pe < 0) throw corrupt(this.file, `LVM2 LV ${lv.name}: stripe ${i} is not a PV and an extent`);
          areas.push(this.pvArea(key, pe, s.extentCount / n, lv.name, pvKeys));
        }
        if (n === 1) mapped.push(linearSegment(start, length, areas[0]!.src, areas[0]!.at));
        else {
          const stripeSize = f.int('stripe_size', undefined, 1, E / SECTOR) * SECTOR;
          if (stripeSize & (stripeSize - 1)) throw corrupt(this.file, `LVM2 LV ${lv.name}: stripe size ${stripeSize} is not a power of two`);
          mapped.push(stripedSegment(start, length, stripeSize, areas));
        }
      } else if (s.type === 'zero') {
        mapped.push(linearSegment(start, length, new ZeroSource(length, `${this.vg.name}/${lv.name}`), 0));
      } else if (s.type === 'mirror' || s.type === 'raid1' || s.type === 'raid0' || s.type === 'raid0_meta') {
        // Legs: mirror: ["leg", le, …]; raid1: ["rmeta_0", "rimage_0", …]; raid0: ["rimage_0", …] (rmeta first for raid0_meta).
        const list = f.list(s.type === 'mirror' ? 'mirrors' : 'raids');
        const images: Array<{ name: string; le: number }> = [];
        for (let i = 0; i < list.length; i++) {
          const v = list[i];
          if (typeof v !== 'string') continue;
          const le = s.type === 'mirror' && typeof list[i + 1] === 'number' ? (list[i + 1] as number) : 0;
          if (s.type === 'mirror' || /_rimage_\d+$/.test(v)) images.push({ name: v, le });
        }
        if (!images.length) throw corrupt(this.file, `LVM2 LV ${lv.name}: ${s.type} segment lists no images`);
        const subs = images.map((im) => ({ im, sub: this.vg.lvs.get(im.name) }));
        for (const x of subs) if (!x.sub) throw corrupt(this.file, `LVM2 LV ${lv.name}: image ${x.im.name} is not an LV of the VG`);
        if (s.type === 'raid0' || s.type === 'raid0_meta') {
          const stripeSize = f.int('stripe_size', undefined, 1, E / SECTOR) * SECTOR;
          if (stripeSize & (stripeSize - 1)) throw corrupt(this.file, `LVM2 LV ${lv.name}: stripe size ${stripeSize} is not a power of two`);
          const areas: Array<{ src: ByteSource; at: number }> = [];
          for (const x of subs) areas.push({ src: await this.build(x.sub!, depth + 1, pvKeys, [], [...chain, lv.name]), at: x.im.le * E });
          mapped.push(stripedSegment(start, length, stripeSize, areas));
        } else {
          // Every leg holds all the data: read the first one whose PVs are all here.
          let chosen: { src: ByteSource; name: string; le: number } | null = null;
          let firstErr: DiskpickError | null = null;
          for (const x of subs) {
            try {
              const own = new Set<string>();
              const src = await this.build(x.sub!, depth + 1, own, [], [...chain, lv.name]);
              for (const k of own) pvKeys.add(k);
              chosen = { src, name: x.im.name, le: x.im.le };
              break;
            } catch (err) {
              if (!(err instanceof DiskpickError) || err.kind === 'image' && /loop/.test(err.message)) throw err;
              firstErr ??= err;
            }
          }
          if (!chosen) throw firstErr!;
          // A mirror segment names where in the leg it starts; RAID images share the LV's extent numbers.
          const at = s.type === 'mirror' ? chosen.le * E : start;
          if (at + length > chosen.src.size) throw corrupt(this.file, `LVM2 LV ${lv.name}: leg ${chosen.name} is shorter than the LV`);
          legs.push(chosen.name);
          mapped.push(linearSegment(start, length, chosen.src, at));
        }
      } else if (s.type === 'thin') {
        // A thin LV: one segment over its whole size, read through its pool's mappings.
        if (s.startExtent !== 0 || lv.segments.length !== 1) throw corrupt(this.file, `LVM2 thin LV ${lv.name} has more than one segment`);
        const pool = await this.pool(f.str('thin_pool'), depth, pvKeys, [...chain, lv.name]);
        const dev = await pool.device(f.int('device_id', undefined, 0, 2 ** 24 - 1), length, `${this.file.replace(/ \(p\d+\)$/, '')} (${this.vg.name}/${lv.name})`);
        mapped.push(linearSegment(start, length, dev, 0));
      } else {
        throw unsupported(`${this.vg.name}/${lv.name}`, `LVM segment type "${s.type.slice(0, 40)}" is not read by diskpick`);
      }
    }
    return new LvSource(`${this.file.replace(/ \(p\d+\)$/, '')} (${this.vg.name}/${lv.name})`, mapped);
  }
}
