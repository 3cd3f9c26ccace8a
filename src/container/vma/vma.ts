/**
 * Proxmox VE backups (vzdump-qemu-*.vma): a header naming the VM's configuration files and its
 * devices (header.ts), then extents of 64 KiB clusters of every device interleaved (extent.ts).
 * The archive is read in place through the cluster index built on open. Each device is a disk;
 * the first that is not the VM's RAM state ("vmstate") is the image's disk, the others its
 * further disks (/disk2 …); `info` names all.
 * See docs/formats/vma.md.
 */
import { corrupt } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import type { Container, ContainerFormat, FurtherDisk, OpenContext } from '../container.js';
import { direct } from '../hostfile.js';
import { MappedContainer, type Piece } from '../mapped.js';
import { ClusterIndex, popcount16, scanExtents, VMA_BLOCK_SIZE, VMA_CLUSTER_SIZE } from './extent.js';
import { parseVmaHeader, VMA_MAGIC, vmaHeaderSize, type VmaHeader } from './header.js';

export class VmaContainer extends MappedContainer {
  readonly format = 'vma';
  readonly variant: string;
  readonly details: Record<string, string>;
  /**
   * The archive's further disks (shown as /disk2 …), set on the first; they share its file,
   * which only the first closes.
   */
  moreDisks: FurtherDisk[] = [];
  private owner = false;

  constructor(
    file: ByteSource,
    readonly header: VmaHeader,
    readonly index: ClusterIndex,
    indexes: ClusterIndex[],
    extents: number,
  ) {
    super(file, index.device.size, null);
    const d = index.device;
    const disks = header.devices.filter((x) => x.name !== 'vmstate');
    this.variant = `device ${d.name}, ${disks.indexOf(d) + 1} of ${disks.length}`;
    this.details = {
      UUID: header.uuid,
      'backup time': new Date(header.ctime * 1000).toISOString(),
      'config files': header.configs.map((c) => `${c.name} (${c.data.length} bytes)`).join(', ') || 'none',
      extents: String(extents),
    };
    for (const x of header.devices) {
      const stored = indexes.find((i) => i.device === x)?.clusters ?? 0;
      this.details[`device ${x.devId}`] = `${x.name}, ${x.size} bytes${x.name === 'vmstate' ? ' (VM state)' : `, ${stored} clusters with data`}${x === d ? ' (shown)' : ''}`;
    }
  }

  override async close(): Promise<void> {
    if (!this.owner) return;
    await super.close();
  }

  /**
   * Up to 64 clusters per call (a 4 MiB read is one call): a whole cluster is one piece, a
   * partial one a piece per run of stored or absent blocks; MappedContainer joins neighbours,
   * so the clusters of one extent become one host read.
   */
  protected async map(offset: number, length: number): Promise<Piece[]> {
    const pieces: Piece[] = [];
    let pos = offset;
    const end = offset + length;
    for (let n = 0; pos < end && n < 64; n++) {
      const cluster = Math.floor(pos / VMA_CLUSTER_SIZE);
      const clusterStart = cluster * VMA_CLUSTER_SIZE;
      const stop = Math.min(end, clusterStart + VMA_CLUSTER_SIZE);
      const entry = this.index.get(cluster);
      if (!entry || entry[1] === 0) {
        pieces.push({ kind: 'zero', length: stop - pos });
      } else if (entry[1] === 0xffff) {
        pieces.push({ kind: 'host', length: stop - pos, offset: entry[0] + (pos - clusterStart) });
      } else {
        const [base, mask] = entry;
        for (let p = pos - clusterStart; p < stop - clusterStart; ) {
          const block = p >>> 12;
          const take = Math.min(stop - clusterStart, (block + 1) * VMA_BLOCK_SIZE) - p;
          if (mask & (1 << block)) {
            const rank = popcount16(mask & ((1 << block) - 1));
            pieces.push({ kind: 'host', length: take, offset: base + rank * VMA_BLOCK_SIZE + (p - block * VMA_BLOCK_SIZE) });
          } else {
            pieces.push({ kind: 'zero', length: take });
          }
          p += take;
        }
      }
      pos = stop;
    }
    return pieces;
  }
}

/**
 * Every disk of the archive (each device but the VM state), in dev_id order, sharing one
 * header read and one pass over the extents. Only the first is shown until the image layer
 * shows several disks of one container; tests read them all.
 */
export async function openVmaDevices(src: ByteSource): Promise<VmaContainer[]> {
  const file = direct(src);
  const head = await readExact(file, 0, 60, 'VMA header');
  const size = vmaHeaderSize(head, src.name);
  const header = parseVmaHeader(await readExact(file, 0, size, 'VMA header'), src.name);
  const uuid = Buffer.from(header.uuid.replace(/-/g, ''), 'hex');
  const scan = await scanExtents(file, header.headerSize, uuid, header.devices);
  const indexes = [...scan.indexes.values()];
  const disks = indexes.filter((i) => i.device.name !== 'vmstate');
  if (disks.length === 0) throw corrupt(src.name, 'VMA: the archive holds only the VM state (vmstate), no disk');
  const all = disks.map((d) => new VmaContainer(src, header, d, indexes, scan.extents));
  all[0]!.moreDisks = all.slice(1).map((c) => ({ label: `${src.name}:${c.index.device.name} (VMA device ${c.index.device.devId})`, container: c }));
  (all[0] as unknown as { owner: boolean }).owner = true;
  return all;
}

async function openVma(src: ByteSource, _ctx: OpenContext): Promise<Container> {
  return (await openVmaDevices(src))[0]!;
}

export const vmaFormat: ContainerFormat = {
  name: 'vma',
  probe: (head) => head.length >= 8 && head.toString('latin1', 0, 4) === VMA_MAGIC && head.readUInt32BE(4) === 1,
  open: (src, ctx) => openVma(src, ctx),
};
