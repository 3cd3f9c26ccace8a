/**
 * QCOW2 internal snapshots (qemu docs/interop/qcow2.txt, "Snapshots"): the snapshot table at
 * snapshots_offset holds nb_snapshots entries, each 8-byte aligned. Each names its own L1 table;
 * the clusters it reaches are shared with the active state through refcounts, which a reader
 * does not need. The backing file is the image's (a snapshot has none of its own).
 */
import { corrupt, DiskpickError } from '../errors.js';
import { readExact, type ByteSource } from '../source/source.js';
import { u64beSafe } from '../source/bytes.js';

/** One snapshot table entry, by the spec's field names (sizes in bytes, times as stored). */
export interface QcowSnapshot {
  l1_table_offset: number;
  l1_size: number;
  /** id_str: the unique id qemu gives ("1", "2" …). */
  id: string;
  name: string;
  date_sec: number;
  date_nsec: number;
  /** Guest time since the VM started, at the snapshot (ns). */
  vm_clock_nsec: number;
  /** Bytes of saved VM state (0 for a disk-only snapshot). */
  vm_state_size: number;
  /** Virtual disk size at the snapshot (extra data; older entries: the image's size). */
  disk_size: number;
}

/** The fixed part of an entry (qcow2.txt: bytes 0-39). */
const ENTRY_FIXED = 40;
/** qemu refuses more than this many snapshots (QCOW_MAX_SNAPSHOTS); so do we. */
const MAX_SNAPSHOTS = 65536;
/** qemu's limit on the table's size (QCOW_MAX_SNAPSHOTS_SIZE, 64 MiB). */
const MAX_TABLE_BYTES = 64 * 1024 * 1024;

export async function readSnapshotTable(src: ByteSource, count: number, offset: number, clusterSize: number, imageSize: number): Promise<QcowSnapshot[]> {
  const name = src.name;
  if (count === 0) return [];
  if (count > MAX_SNAPSHOTS) throw corrupt(name, `qcow2 nb_snapshots ${count} is absurd (qemu allows ${MAX_SNAPSHOTS})`);
  if (offset === 0 || offset % clusterSize !== 0) throw corrupt(name, `qcow2 snapshot table offset ${offset} is not a cluster boundary past the header`);
  if (offset >= src.size) throw corrupt(name, `truncated: the snapshot table at ${offset} is past the end of the file (${src.size} bytes)`);
  const out: QcowSnapshot[] = [];
  // Read in pieces as the entries need: each entry's size is known only once its head is read.
  const total = Math.min(MAX_TABLE_BYTES, src.size - offset);
  const table = await readExact(src, offset, Math.min(total, Math.max(clusterSize, count * 64)), 'snapshot table');
  let buf = table;
  let at = 0;
  const need = async (n: number) => {
    if (at + n <= buf.length) return;
    if (at + n > total) throw corrupt(name, `truncated: qcow2 snapshot table entry ${out.length + 1} runs past ${buf.length === total ? 'the end of the file' : 'qemu\'s 64 MiB table limit'}`);
    buf = await readExact(src, offset, Math.min(total, Math.max(at + n, buf.length * 2)), 'snapshot table');
  };
  for (let i = 0; i < count; i++) {
    await need(ENTRY_FIXED);
    const e = buf.subarray(at);
    const idSize = e.readUInt16BE(12);
    const nameSize = e.readUInt16BE(14);
    const extraSize = e.readUInt32BE(36);
    if (extraSize > 1024) throw corrupt(name, `qcow2 snapshot ${i + 1}: extra_data_size ${extraSize} is absurd (qemu allows 1024)`);
    const len = ENTRY_FIXED + extraSize + idSize + nameSize;
    await need(len);
    const f = buf.subarray(at, at + len);
    const extra = f.subarray(ENTRY_FIXED, ENTRY_FIXED + extraSize);
    const s: QcowSnapshot = {
      l1_table_offset: u64beSafe(f, 0),
      l1_size: f.readUInt32BE(8),
      date_sec: f.readUInt32BE(16),
      date_nsec: f.readUInt32BE(20),
      vm_clock_nsec: u64beSafe(f, 24),
      vm_state_size: f.readUInt32BE(32),
      // extra data: vm_state_size_large (0-7), disk_size (8-15), icount (16-23).
      disk_size: extraSize >= 16 ? u64beSafe(extra, 8) : imageSize,
      id: f.subarray(ENTRY_FIXED + extraSize, ENTRY_FIXED + extraSize + idSize).toString('utf8'),
      name: f.subarray(ENTRY_FIXED + extraSize + idSize, len).toString('utf8'),
    };
    if (extraSize >= 8) s.vm_state_size = u64beSafe(extra, 0);
    if (s.disk_size > 2 ** 56) throw corrupt(name, `qcow2 snapshot ${s.name}: disk size ${s.disk_size} is absurd`);
    out.push(s);
    at += Math.ceil(len / 8) * 8;
  }
  return out;
}

/** The snapshot the user named: by name first, then by id (as qemu-img's snapshot.name / snapshot.id). */
export function findSnapshot(snapshots: QcowSnapshot[], wanted: string, image: string): QcowSnapshot {
  const s = snapshots.find((x) => x.name === wanted) ?? snapshots.find((x) => x.id === wanted);
  if (s) return s;
  const have = snapshots.length ? `it has ${snapshots.map((x) => `${x.name} (id ${x.id})`).join(', ')}` : 'it has no internal snapshots';
  throw new DiskpickError('notFound', `no internal snapshot named ${wanted}: ${have}`, image);
}
