/**
 * LVM2 as a pooled volume system: each PV is a member (label, PV header, the newest consistent
 * metadata copy among its metadata areas); members are grouped by VG UUID, the newest metadata
 * (highest seqno with a good checksum) over all PVs of a VG wins, and the VG's visible LVs become
 * the children, named `VG/LV` at the top level. A PV listed by the VG but not given is reported
 * by UUID and the device it was last seen as; LVs that do not touch it still read.
 */
import { DiskpickError } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import type { AssembledGroup, ChildVolume, PoolMember, VolumeSystem } from '../system.js';
import { findLabel, formatLvmUuid, parseLabel, readMdaHeader, readMetadataText, type PvHeader } from './label.js';
import { parseVg, VgReader, type VolumeGroup } from './vg.js';

interface Lvm2Member {
  pv: PvHeader;
  pvId: string;
  /** The newest good metadata among this PV's areas, or null (a PV without metadata areas, or an orphan). */
  vg: VolumeGroup | null;
  /** Problems with older or damaged copies (reported once the VG is known). */
  notes: string[];
}

async function readMember(src: ByteSource): Promise<PoolMember> {
  const head = await src.read(0, 2048);
  const { pv } = parseLabel(head, src.name);
  const notes: string[] = [];
  let best: VolumeGroup | null = null;
  let lastErr: DiskpickError | null = null;
  for (const area of pv.metadataAreas) {
    try {
      const h = await readMdaHeader(src, area);
      for (const loc of h.rawLocns) {
        try {
          const vg = parseVg(await readMetadataText(src, h, loc), src.name);
          if (!best || vg.seqno > best.seqno) best = vg;
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          lastErr = err;
          notes.push(`metadata copy at ${area.offset + loc.offset}: ${err.message}`);
        }
      }
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      lastErr = err;
      notes.push(`metadata area at ${area.offset}: ${err.message}`);
    }
  }
  // Every copy damaged: the PV still holds its extents; it joins the VG whose metadata (on
  // another PV) lists its UUID, and the damage is reported there.
  void lastErr;
  const pvId = formatLvmUuid(pv.pv_uuid);
  const data: Lvm2Member = { pv, pvId, vg: best, notes };
  return { groupKey: best ? best.id : `pv:${pvId}`, describe: best ? `LVM2 PV of VG ${best.name}` : 'LVM2 PV', source: src, data };
}

async function assemble(list: Array<{ member: PoolMember; path: string }>): Promise<AssembledGroup[]> {
  const byVg = new Map<string, number[]>();
  list.forEach((m, i) => {
    const d = m.member.data as Lvm2Member;
    if (!d.vg) return;
    let l = byVg.get(d.vg.id);
    if (!l) byVg.set(d.vg.id, (l = []));
    l.push(i);
  });
  const groups: AssembledGroup[] = [];
  const placed = new Set<number>();
  for (const idx of byVg.values()) {
    // The newest metadata any PV holds (seqno); PVs with older copies missed the last change.
    let vg = (list[idx[0]!]!.member.data as Lvm2Member).vg!;
    for (const i of idx) {
      const v = (list[i]!.member.data as Lvm2Member).vg!;
      if (v.seqno > vg.seqno) vg = v;
    }
    const warnings: string[] = [];
    const pvIds = new Set(vg.pvs.map((p) => p.id));
    // PVs without metadata of their own belong to the VG that lists them.
    for (let i = 0; i < list.length; i++) {
      const d = list[i]!.member.data as Lvm2Member;
      if (!d.vg && pvIds.has(d.pvId) && !idx.includes(i)) idx.push(i);
    }
    const sources = new Map<string, ByteSource>();
    const members: AssembledGroup['members'] = [];
    const memberPath = new Map<string, string>();
    for (const i of idx) {
      const m = list[i]!;
      const d = m.member.data as Lvm2Member;
      placed.add(i);
      if (d.vg && d.vg.seqno < vg.seqno) warnings.push(`PV ${d.pvId} (${m.path}) holds older metadata (seqno ${d.vg.seqno} < ${vg.seqno}); the newest is used`);
      for (const n of d.notes) warnings.push(`PV ${d.pvId} (${m.path}): ${n}`);
      if (!pvIds.has(d.pvId)) {
        warnings.push(`PV ${d.pvId} (${m.path}) is not listed by VG ${vg.name}'s newest metadata`);
        members.push({ index: i, describe: `LVM2 PV, formerly of VG ${vg.name}` });
        continue;
      }
      if (sources.has(d.pvId)) {
        warnings.push(`PV ${d.pvId} is found twice (${memberPath.get(d.pvId)} and ${m.path}); the first is used`);
        members.push({ index: i, describe: `LVM2 PV of VG ${vg.name} (duplicate, not used)` });
        continue;
      }
      sources.set(d.pvId, m.member.source);
      memberPath.set(d.pvId, m.path);
      members.push({ index: i, describe: '' });
    }
    const reader = new VgReader(vg, sources, list[idx[0]!]!.member.source.name);
    for (const p of reader.missingPvs()) warnings.push(`PV ${p.id}${p.device ? ` (last seen as ${p.device})` : ''} is missing: LVs on it cannot be read (add its disk with --disk)`);
    const children: ChildVolume[] = [];
    for (const lv of vg.lvs.values()) {
      if (!reader.listed(lv)) continue;
      const o = await reader.open(lv);
      const keys = new Map(vg.pvs.map((p) => [p.key, p.id]));
      children.push({
        name: lv.name, start: null, size: o.size, source: o.source, what: o.what,
        ...(o.error ? { error: o.error } : {}),
        members: o.pvKeys.map((k) => memberPath.get(keys.get(k)!) ?? `missing PV ${keys.get(k)}`),
        // A snapshot is a point in time of its origin (versions, info); lvm2 stamps the COW LV.
        ...(o.origin ? { pointOf: o.origin, ...(lv.creationTime ? { pointTime: { sec: lv.creationTime, nsec: 0 } } : {}) } : {}),
      });
    }
    const desc = `LVM2 PV of VG ${vg.name} (${children.length} LV${children.length === 1 ? '' : 's'})`;
    for (const m of members) if (!m.describe) m.describe = desc;
    groups.push({
      name: vg.name, children, members, warnings,
      details: { vg: vg.name, uuid: vg.id, seqno: vg.seqno, extentSize: vg.extentSize, pvs: vg.pvs.length, missingPvs: reader.missingPvs().length },
    });
  }
  // Orphan PVs (in no VG, or whose VG's metadata lives on PVs not given).
  for (let i = 0; i < list.length; i++) {
    if (placed.has(i)) continue;
    groups.push({ name: '', children: [], members: [{ index: i, describe: 'LVM2 PV without metadata (its VG\'s metadata is on a PV not given)' }], warnings: [] });
  }
  return groups;
}

export const lvm2System: VolumeSystem = {
  name: 'lvm2',
  probe: (head) => findLabel(head) >= 0,
  readMember: (src) => readMember(src),
  assemble: (list) => assemble(list),
};

