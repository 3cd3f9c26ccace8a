/**
 * VMA extents (vma_spec.txt, "VMA Extent Header"): after the header the archive is a run of
 * extents, each a 512-byte header (magic "VMAE", block_count, the archive's UUID, an MD5 of the
 * header, blockinfo[59]) followed by the non-zero 4 KiB blocks of up to 59 clusters of 64 KiB.
 * A blockinfo is mask (16 bits: which 4 KiB blocks of the cluster are stored, bit 0 the first),
 * a reserved byte, dev_id and cluster_num; dev_id 0 marks an unused slot. The blocks follow in
 * blockinfo order, the set bits of each mask in order.
 *
 * The archive has no table of contents, so opening it walks the extent headers once (reading
 * 512 bytes per extent, skipping its data) and keeps, per device, cluster → file offset of its
 * first stored block, and its mask. Clusters never seen read as zeros (vzdump leaves out zero
 * clusters too).
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { md5WithHole, type VmaDevice } from './header.js';

export const VMA_EXTENT_MAGIC = 'VMAE';
export const VMA_EXTENT_HEADER_SIZE = 512;
export const VMA_BLOCKS_PER_EXTENT = 59;
export const VMA_BLOCK_SIZE = 4096;
export const VMA_CLUSTER_SIZE = 65536;
/**
 * Clusters per index page: 16 MiB of a device; a page costs 2.5 KiB (offset 8 + mask 2 bytes
 * each). Only clusters holding data are recorded, each backed by at least 4 KiB of the file, so
 * even an archive that puts every cluster in a page of its own costs less memory than its size
 * (with 4096-cluster pages such an archive cost 10 times its size).
 */
const PAGE_CLUSTERS = 256;

interface IndexPage {
  /** File offset of the cluster's first stored block; 0: the cluster is not in the archive. */
  offsets: Float64Array;
  masks: Uint16Array;
}

/**
 * One device's cluster map. Pages are made only where clusters with data were seen, so the
 * memory is bounded by what the archive holds (160 KiB per GiB of a device's data, dense), never
 * by a device size the header claims.
 */
export class ClusterIndex {
  private readonly pages = new Map<number, IndexPage>();
  clusters = 0;

  constructor(readonly device: VmaDevice) {}

  /** Records a cluster; false when it was already recorded (a duplicate). */
  set(cluster: number, offset: number, mask: number): boolean {
    const p = Math.floor(cluster / PAGE_CLUSTERS);
    let page = this.pages.get(p);
    if (!page) {
      page = { offsets: new Float64Array(PAGE_CLUSTERS), masks: new Uint16Array(PAGE_CLUSTERS) };
      this.pages.set(p, page);
    }
    const i = cluster % PAGE_CLUSTERS;
    if (page.offsets[i] !== 0) return false;
    page.offsets[i] = offset;
    page.masks[i] = mask;
    this.clusters++;
    return true;
  }

  /** [file offset of the first stored block, mask], or null for a cluster not in the archive. */
  get(cluster: number): [number, number] | null {
    const page = this.pages.get(Math.floor(cluster / PAGE_CLUSTERS));
    if (!page) return null;
    const i = cluster % PAGE_CLUSTERS;
    const o = page.offsets[i]!;
    return o === 0 ? null : [o, page.masks[i]!];
  }

  /** Bytes the index holds. */
  get memoryBytes(): number {
    return this.pages.size * PAGE_CLUSTERS * 10;
  }
}

export function popcount16(m: number): number {
  m = m - ((m >> 1) & 0x5555);
  m = (m & 0x3333) + ((m >> 2) & 0x3333);
  m = (m + (m >> 4)) & 0x0f0f;
  return (m + (m >> 8)) & 0x1f;
}

export interface ExtentScan {
  indexes: Map<number, ClusterIndex>;
  extents: number;
  /** Where the last extent ends (the archive's data end). */
  end: number;
}

/**
 * Walks every extent header from `start` to the end of `src`, checking each (magic, UUID, MD5,
 * block count against the masks, clusters inside their device, no cluster twice) and building
 * the devices' indexes. `onHeader` is given each header (checked) and its offset.
 */
export async function scanExtents(src: ByteSource, start: number, uuid: Buffer, devices: VmaDevice[], onHeader?: (header: Buffer, pos: number) => void): Promise<ExtentScan> {
  const file = src.name;
  const byId = new Map<number, ClusterIndex>();
  for (const d of devices) byId.set(d.devId, new ClusterIndex(d));
  let pos = start;
  let extents = 0;
  while (pos < src.size) {
    const h = await src.read(pos, VMA_EXTENT_HEADER_SIZE);
    if (h.length < VMA_EXTENT_HEADER_SIZE) throw corrupt(file, `VMA: truncated: the extent header at offset ${pos} needs ${VMA_EXTENT_HEADER_SIZE} bytes, only ${h.length} present`);
    if (h.toString('latin1', 0, 4) !== VMA_EXTENT_MAGIC) throw corrupt(file, `VMA: no extent header (magic VMAE) at offset ${pos}`);
    if (!h.subarray(8, 24).equals(uuid)) throw corrupt(file, `VMA: the extent at offset ${pos} belongs to another archive (its UUID differs from the header's)`);
    if (!md5WithHole(h, 24).equals(h.subarray(24, 40))) throw corrupt(file, `VMA: the extent header at offset ${pos} is damaged (MD5 does not match)`);
    const blockCount = h.readUInt16BE(6);
    let data = pos + VMA_EXTENT_HEADER_SIZE;
    let blocks = 0;
    for (let i = 0; i < VMA_BLOCKS_PER_EXTENT; i++) {
      const at = 40 + 8 * i;
      const devId = h[at + 3]!;
      if (devId === 0) continue;
      const mask = h.readUInt16BE(at);
      const cluster = h.readUInt32BE(at + 4);
      const idx = byId.get(devId);
      if (!idx) throw corrupt(file, `VMA: the extent at offset ${pos} holds a cluster of device ${devId}, which the header does not list`);
      const n = popcount16(mask);
      if (cluster * VMA_CLUSTER_SIZE >= idx.device.size && idx.device.name !== 'vmstate') {
        throw corrupt(file, `VMA: cluster ${cluster} of device ${idx.device.name} (extent at offset ${pos}) is past the device's end (${idx.device.size} bytes)`);
      }
      // A zero cluster (mask 0) reads as an absent one: not recorded. The VM state is no disk.
      if (mask !== 0 && idx.device.name !== 'vmstate' && !idx.set(cluster, data, mask)) {
        throw corrupt(file, `VMA: cluster ${cluster} of device ${idx.device.name} is stored twice (again in the extent at offset ${pos})`);
      }
      data += n * VMA_BLOCK_SIZE;
      blocks += n;
    }
    if (blocks !== blockCount) throw corrupt(file, `VMA: the extent at offset ${pos} says block_count ${blockCount}, its masks hold ${blocks}`);
    if (data > src.size) throw corrupt(file, `VMA: truncated: the extent at offset ${pos} ends at ${data}, past the end of the file (${src.size} bytes)`);
    onHeader?.(h, pos);
    pos = data;
    extents++;
  }
  return { indexes: byId, extents, end: pos };
}
