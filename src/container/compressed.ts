/**
 * An image inside one compressed stream (zstd, gzip, lzop: vzdump's .vma.zst/.vma.gz/.vma.lzo,
 * a gzipped disk of an OVA): the stream is decoded once into a cache that allows random access
 * (src/source/stream-cache.ts), and the decoded bytes are opened like any image file, by magic.
 */
import { probeCompressed } from './magic.js';
import { openStreamCache, streamCodecOf, type StreamCacheSource } from '../source/stream-cache.js';
import type { ByteSource, HostRun } from '../source/source.js';
import type { ChainLevel, Container, ContainerFormat, FurtherDisk, OpenContext } from './container.js';
import { direct, HostFile } from './hostfile.js';
import { RawContainer } from './raw.js';
import { WrappingContainer } from './wrapping.js';

class CompressedContainer extends WrappingContainer {
  readonly format: string;
  readonly variant: string;
  readonly details: Record<string, string>;

  constructor(
    input: ByteSource,
    /** The decoded stream (its stats and side records: tests). */
    readonly cache: StreamCacheSource,
    inner: Container,
    codec: string,
  ) {
    // The inner image's further disks (a VMA's second device …) are its own to close.
    super(inner, input.name, inner.moreDisks, [cache, input]);
    // One level, the inner image's, marked compressed: the stream is no level of a chain of its
    // own (as a level it showed up as a point in time, `@level:1`, of the same file).
    this.format = inner.format;
    this.variant = `${inner.variant}, in a ${codec} stream`;
    this.details = {
      ...(inner.details ?? {}),
      'stream cache': cache.cachePath ? `${cache.cachePath} (${cache.reused ? 'reused' : 'made now'})` : 'temporary (removed on exit; keep one with --cache DIR)',
      'decompressed size': `${cache.size} bytes`,
    };
  }

  get chain(): ChainLevel[] {
    const [own, ...below] = this.disk.chain;
    return [{ ...own!, variant: this.variant, file: this.name }, ...below];
  }

  override hostRuns(): Promise<HostRun[] | null> {
    // The bytes are decoded from the cache: never a plain run of a host file.
    return Promise.resolve(null);
  }
}

async function openCompressed(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const head = await src.read(0, 16);
  const codec = streamCodecOf(head)!;
  const cache = await openStreamCache(direct(src), codec, (m) => ctx.warn(m, src.name));
  try {
    const file = new HostFile(cache);
    const inner64 = await file.read(0, 64 * 1024);
    const tail = cache.size > 512 ? await file.read(cache.size - 512, 512) : undefined;
    // Imported here: the registry imports this module. A stream inside a stream is not followed.
    const { containerFormats } = await import('./formats.js');
    const f = containerFormats.find((x) => x.name !== 'compressed' && x.probe(inner64, file, tail));
    const inner = f ? await f.open(file, ctx) : new RawContainer(file);
    return new CompressedContainer(src, cache, inner, codec);
  } catch (err) {
    await cache.close();
    throw err;
  }
}

export const compressedFormat: ContainerFormat = {
  name: 'compressed',
  probe: probeCompressed,
  open: (src, ctx) => openCompressed(src, ctx),
};
