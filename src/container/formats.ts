import type { ByteSource } from '../source/source.js';
import type { ContainerFormat } from './container.js';
import { probeCompressed, probeEwf, probeOva, probeQcow, probeQcow2, probeVdi, probeVhd, probeVhdx, probeVma, probeVmdk } from './magic.js';

/**
 * A registry line: the format's name, its probe (magic.ts: a few bytes compared, no import of
 * the format's module) and a loader that imports the module only once the probe matched, so a
 * start loads one format, not all (issue 27). `probesTail`: see ContainerFormat.
 */
function lazy(name: string, probe: ContainerFormat['probe'], load: () => Promise<ContainerFormat>, probesTail?: true): ContainerFormat {
  return { name, probe, ...(probesTail ? { probesTail } : {}), open: async (src: ByteSource, ctx) => (await load()).open(src, ctx) };
}

/**
 * Every container format, tried in this order by magic bytes; raw is the fallback and is
 * not listed. Add a format by adding its probe to magic.ts and a line here.
 */
export const containerFormats: ContainerFormat[] = [
  lazy('qcow', probeQcow, async () => (await import('./qcow.js')).qcowFormat),
  lazy('qcow2', probeQcow2, async () => (await import('./qcow2.js')).qcow2Format),
  lazy('vhdx', probeVhdx, async () => (await import('./vhdx.js')).vhdxFormat),
  lazy('vdi', probeVdi, async () => (await import('./vdi.js')).vdiFormat),
  lazy('vmdk', probeVmdk, async () => (await import('./vmdk/vmdk.js')).vmdkFormat),
  lazy('vhd', probeVhd, async () => (await import('./vhd.js')).vhdFormat, true),
  lazy('ewf', probeEwf, async () => (await import('./ewf/ewf.js')).ewfFormat),
  lazy('ova', probeOva, async () => (await import('./ova/ova.js')).ovaFormat),
  lazy('vma', probeVma, async () => (await import('./vma/vma.js')).vmaFormat),
  lazy('compressed', probeCompressed, async () => (await import('./compressed.js')).compressedFormat),
];
