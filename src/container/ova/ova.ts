/**
 * OVA (DMTF DSP0243 §5.3): a tar holding the OVF descriptor first, then the disks (usually
 * streamOptimized VMDK). The archive is indexed in place (tar.ts), the descriptor parsed
 * (ovf.ts), and every disk of the DiskSection is opened as a container of its own over its
 * bytes inside the tar (a file split in ovf:chunkSize chunks: over its members in a row). The
 * first disk is this container; the others are its `moreDisks` (/disk2, /disk3 … in the tree,
 * docs/formats/ova.md).
 */
import { corrupt, unsupported, cannotOpen } from '../../errors.js';
import { SliceSource, type ByteSource } from '../../source/source.js';
import { SplitSource } from '../../source/split.js';
import type { ChainLevel, Container, ContainerFormat, FurtherDisk, OpenContext } from '../container.js';
import { direct, HostFile } from '../hostfile.js';
import { RawContainer } from '../raw.js';
import { WrappingContainer } from '../wrapping.js';
import { probeOva } from '../magic.js';
import { readTarIndex, type TarMember } from './tar.js';
import { parseOvf, type OvfDescriptor, type OvfDisk, type OvfFile } from './ovf.js';

const MAX_DESCRIPTOR = 16 << 20;
/**
 * Disks opened at once, each with its own block cache: a hostile descriptor listing the same
 * file 100 000 times ends here. A VM has fewer (vSphere: 256 virtual disks at most).
 */
const MAX_DISKS = 256;
/** DSP0243 §5.3 names chunk i of file F `F.` + i in 9 decimal digits. */
const CHUNK_DIGITS = 9;

class OvaContainer extends WrappingContainer {
  readonly format = 'ova';
  readonly variant: string;
  readonly details: Record<string, string>;

  constructor(
    archive: ByteSource,
    disk: Container,
    ovf: OvfDescriptor,
    descriptorName: string,
    firstFile: string,
    more: FurtherDisk[],
  ) {
    super(disk, archive.name, more, [...more.map((d) => d.container), archive]);
    this.variant = `OVF ${descriptorName}, ${ovf.disks.length} disk${ovf.disks.length === 1 ? '' : 's'}`;
    this.details = { descriptor: descriptorName, 'shown disk': firstFile };
    if (ovf.vmName) this.details['VM name'] = ovf.vmName;
    if (ovf.osType || ovf.osDescription || ovf.osId) this.details['OS type'] = [ovf.osType, ovf.osDescription, ovf.osId ? `id ${ovf.osId}` : null].filter(Boolean).join(', ');
    ovf.disks.forEach((d, i) => {
      const f = ovf.files.find((x) => x.id === d.fileRef);
      const extras = [d.capacity !== null ? `capacity ${d.capacity} bytes` : null, f?.compression ?? null, f?.chunkSize ? `in chunks of ${f.chunkSize} bytes` : null].filter(Boolean);
      this.details[`disk ${i + 1}`] = `${d.diskId}: ${f ? f.href : 'no file'}${extras.map((e) => `, ${e}`).join('')}; shown as /${i === 0 ? '' : `disk${i + 1}/`}…`;
    });
  }

  get chain(): ChainLevel[] {
    return [{ format: this.format, variant: this.variant, virtualSize: this.size, file: this.name }, ...this.disk.chain];
  }
}

/** Opens a disk's bytes in the archive as a container, chosen by its magic like any image file. */
async function openWindow(window: ByteSource, ctx: OpenContext): Promise<Container> {
  const slice = new HostFile(window);
  const head = await slice.read(0, 64 * 1024);
  const tail = window.size > 512 ? await slice.read(window.size - 512, 512) : undefined;
  // Imported here: the registry imports this module.
  const { containerFormats } = await import('../formats.js');
  const f = containerFormats.find((x) => x.name !== 'ova' && x.probe(head, slice, tail));
  return f ? f.open(slice, ctx) : new RawContainer(slice);
}

function memberNamed(members: TarMember[], href: string): TarMember | undefined {
  return members.find((m) => m.name === href || m.name.endsWith(`/${href}`));
}

/**
 * A file split by ovf:chunkSize: members `href.000000000`, `href.000000001` … read in a row as
 * one source. Every chunk but the last is chunkSize bytes; ovf:size, when given, is the
 * whole file's size, so a missing last chunk shows too.
 */
function chunkedWindow(archive: ByteSource, members: TarMember[], file: OvfFile): ByteSource {
  const chunkSize = file.chunkSize!;
  const chunks: TarMember[] = [];
  const prefix = `${file.href}.`;
  const numbered = members.filter((m) => {
    const at = m.name.lastIndexOf(prefix);
    return at >= 0 && (at === 0 || m.name[at - 1] === '/') && /^\d+$/.test(m.name.slice(at + prefix.length));
  });
  const byNumber = new Map<number, TarMember>();
  for (const m of numbered) byNumber.set(Number(m.name.slice(m.name.lastIndexOf(prefix) + prefix.length)), m);
  if (byNumber.size === 0) throw cannotOpen(archive.name, `OVA: disk file ${file.href} (in chunks) is not in the archive: no member ${prefix}${'0'.repeat(CHUNK_DIGITS)}`);
  const last = Math.max(...byNumber.keys());
  for (let i = 0; i <= last; i++) {
    const m = byNumber.get(i);
    const name = `${prefix}${String(i).padStart(CHUNK_DIGITS, '0')}`;
    if (!m) throw cannotOpen(archive.name, `OVA: chunk ${name} of disk file ${file.href} is not in the archive (chunks 0…${last} expected)`);
    if (i < last && m.size !== chunkSize) throw corrupt(archive.name, `OVA: chunk ${m.name} is ${m.size} bytes, not the ovf:chunkSize ${chunkSize} (a chunk cut short)`);
    if (i === last && (m.size > chunkSize || m.size === 0)) throw corrupt(archive.name, `OVA: last chunk ${m.name} is ${m.size} bytes (ovf:chunkSize ${chunkSize})`);
    chunks.push(m);
  }
  const total = chunks.reduce((n, m) => n + m.size, 0);
  if (file.size !== null && total !== file.size) {
    const missing = file.size > total ? `; chunk ${prefix}${String(last + 1).padStart(CHUNK_DIGITS, '0')} or a part of chunk ${chunks[last]!.name} is missing` : '';
    throw corrupt(archive.name, `OVA: the chunks of ${file.href} hold ${total} bytes, ovf:size says ${file.size}${missing}`);
  }
  const parts = chunks.map((m) => new SliceSource(direct(archive), m.offset, m.size, `${archive.name}:${m.name}`));
  return SplitSource.of(parts, `${archive.name}:${file.href}`);
}

/** One disk of the DiskSection as a container, and the member name(s) it is read from. */
async function openDisk(src: ByteSource, members: TarMember[], ovf: OvfDescriptor, d: OvfDisk, ctx: OpenContext): Promise<{ container: Container; href: string }> {
  const file = ovf.files.find((f) => f.id === d.fileRef);
  if (!file) throw corrupt(src.name, `OVA: disk ${d.diskId} refers to file ${JSON.stringify(d.fileRef)}, which References does not list`);
  if (file.compression && file.compression !== 'gzip') throw unsupported(src.name, `OVA: disk file ${file.href} is ${file.compression}-compressed (ovf:compression), not supported (gzip is)`);
  if (file.chunkSize) return { container: await openWindow(chunkedWindow(src, members, file), ctx), href: file.href };
  const member = memberNamed(members, file.href);
  if (!member) throw cannotOpen(src.name, `OVA: disk file ${file.href} is not in the archive`);
  return { container: await openWindow(new SliceSource(direct(src), member.offset, member.size, `${src.name}:${member.name}`), ctx), href: member.name };
}

async function openOva(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const members = await readTarIndex(src);
  const desc = members.find((m) => m.name.toLowerCase().endsWith('.ovf'));
  if (!desc) throw corrupt(src.name, 'OVA: no .ovf descriptor in the archive');
  if (desc.size > MAX_DESCRIPTOR) throw corrupt(src.name, `OVA: the descriptor ${desc.name} is ${desc.size} bytes`);
  const ovf = parseOvf((await src.read(desc.offset, desc.size)).toString('utf8'));
  if (ovf.disks.length === 0) throw corrupt(src.name, `OVA: the descriptor ${desc.name} lists no disk (DiskSection)`);
  if (ovf.disks.length > MAX_DISKS) throw corrupt(src.name, `OVA: the descriptor ${desc.name} lists ${ovf.disks.length} disks (at most ${MAX_DISKS} are read)`);
  const opened: Array<{ container: Container; href: string }> = [];
  try {
    for (const d of ovf.disks) opened.push(await openDisk(src, members, ovf, d, ctx));
  } catch (err) {
    for (const o of opened) await o.container.close().catch(() => undefined);
    throw err;
  }
  const more = opened.slice(1).map((o, i) => ({ label: `${src.name}:${o.href} (OVF disk ${ovf.disks[i + 1]!.diskId})`, container: o.container }));
  return new OvaContainer(src, opened[0]!.container, ovf, desc.name, opened[0]!.href, more);
}

export const ovaFormat: ContainerFormat = {
  name: 'ova',
  probe: probeOva,
  open: (src, ctx) => openOva(src, ctx),
};
