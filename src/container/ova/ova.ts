/**
 * OVA (DMTF DSP0243 §5.3): a tar holding the OVF descriptor first, then the disks (usually
 * streamOptimized VMDK). The archive is indexed in place (tar.ts), the descriptor parsed
 * (ovf.ts), and the first disk is opened as a container of its own over its bytes inside the
 * tar. Showing every disk as its own top-level entry needs the volume-layer rebuild (see
 * docs/formats/ova.md); until then `info` lists all disks and the tree shows the first.
 */
import { corrupt, DiskpickError, unsupported } from '../../errors.js';
import { SliceSource, type ByteSource, type HostRun } from '../../source/source.js';
import type { ChainLevel, Container, ContainerFormat, OpenContext } from '../container.js';
import { direct, HostFile } from '../hostfile.js';
import { RawContainer } from '../raw.js';
import { isTarHeader, readTarIndex, type TarMember } from './tar.js';
import { parseOvf, type OvfDescriptor } from './ovf.js';

const MAX_DESCRIPTOR = 16 << 20;

class OvaContainer implements Container {
  readonly format = 'ova';
  readonly variant: string;
  readonly name: string;
  readonly size: number;
  readonly sectorSize: number;
  readonly warnings: string[];
  readonly details: Record<string, string>;

  constructor(
    private readonly archive: ByteSource,
    private readonly disk: Container,
    ovf: OvfDescriptor,
    descriptorName: string,
    diskMember: TarMember,
  ) {
    this.name = archive.name;
    this.size = disk.size;
    this.sectorSize = disk.sectorSize;
    this.warnings = disk.warnings;
    this.variant = `OVF ${descriptorName}, disk 1 of ${ovf.disks.length}`;
    this.details = { descriptor: descriptorName, 'shown disk': diskMember.name };
    if (ovf.vmName) this.details['VM name'] = ovf.vmName;
    if (ovf.osType || ovf.osDescription || ovf.osId) this.details['OS type'] = [ovf.osType, ovf.osDescription, ovf.osId ? `id ${ovf.osId}` : null].filter(Boolean).join(', ');
    ovf.disks.forEach((d, i) => {
      const f = ovf.files.find((x) => x.id === d.fileRef);
      this.details[`disk ${i + 1}`] = `${d.diskId}: ${f ? f.href : 'no file'}${d.capacity !== null ? `, capacity ${d.capacity} bytes` : ''}${f?.compression ? `, ${f.compression}` : ''}`;
    });
  }

  get chain(): ChainLevel[] {
    return [{ format: this.format, variant: this.variant, virtualSize: this.size, file: this.name }, ...this.disk.chain];
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.disk.read(offset, length);
  }

  readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    return this.disk.readInto ? this.disk.readInto(target, at, offset, length) : this.disk.read(offset, length).then((b) => b.copy(target, at));
  }

  hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    return this.disk.hostRuns ? this.disk.hostRuns(offset, length) : Promise.resolve(null);
  }

  async close(): Promise<void> {
    await this.disk.close().catch(() => undefined);
    await this.archive.close().catch(() => undefined);
  }
}

/** Opens a tar member as a container, chosen by its magic like any image file. */
async function openMember(archive: ByteSource, m: TarMember, ctx: OpenContext): Promise<Container> {
  const slice = new HostFile(new SliceSource(direct(archive), m.offset, m.size, `${archive.name}:${m.name}`));
  const head = await slice.read(0, 64 * 1024);
  const tail = m.size > 512 ? await slice.read(m.size - 512, 512) : undefined;
  // Imported here: the registry imports this module.
  const { containerFormats } = await import('../formats.js');
  const f = containerFormats.find((x) => x.name !== 'ova' && x.probe(head, slice, tail));
  return f ? f.open(slice, ctx) : new RawContainer(slice);
}

async function openOva(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const members = await readTarIndex(src);
  const desc = members.find((m) => m.name.toLowerCase().endsWith('.ovf'));
  if (!desc) throw corrupt(src.name, 'OVA: no .ovf descriptor in the archive');
  if (desc.size > MAX_DESCRIPTOR) throw corrupt(src.name, `OVA: the descriptor ${desc.name} is ${desc.size} bytes`);
  const ovf = parseOvf((await src.read(desc.offset, desc.size)).toString('utf8'));
  if (ovf.disks.length === 0) throw corrupt(src.name, `OVA: the descriptor ${desc.name} lists no disk (DiskSection)`);
  const d = ovf.disks[0]!;
  const file = ovf.files.find((f) => f.id === d.fileRef);
  if (!file) throw corrupt(src.name, `OVA: disk ${d.diskId} refers to file ${JSON.stringify(d.fileRef)}, which References does not list`);
  if (file.compression && file.compression !== 'gzip') throw unsupported(src.name, `OVA: disk file ${file.href} is ${file.compression}-compressed (ovf:compression), not supported (gzip is)`);
  if (file.chunkSize) throw unsupported(src.name, `OVA: disk file ${file.href} is split in chunks (ovf:chunkSize), not supported yet`);
  const member = members.find((m) => m.name === file.href || m.name.endsWith(`/${file.href}`));
  if (!member) throw new DiskpickError('image', `OVA: disk file ${file.href} is not in the archive`, src.name);
  const disk = await openMember(src, member, ctx);
  return new OvaContainer(src, disk, ovf, desc.name, member);
}

export const ovaFormat: ContainerFormat = {
  name: 'ova',
  // A ustar header whose first member is the descriptor (the OVF spec puts it first).
  probe: (head) => isTarHeader(head) && /\.ovf\0/i.test(head.toString('latin1', 0, 101)),
  open: (src, ctx) => openOva(src, ctx),
};
