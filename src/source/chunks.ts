import type { ByteSource } from './source.js';

/**
 * Reads a source front to back in chunks, keeping one read ahead in flight so the next
 * chunk is being fetched while the caller writes the current one. Memory: two chunks.
 */
export async function* chunksOf(src: ByteSource, chunkSize = 1 << 20, start = 0, end = src.size): AsyncGenerator<Buffer> {
  let off = start;
  let next: Promise<Buffer> | null = off < end ? src.read(off, Math.min(chunkSize, end - off)) : null;
  while (next) {
    const buf = await next;
    off += buf.length;
    next = buf.length > 0 && off < end ? src.read(off, Math.min(chunkSize, end - off)) : null;
    if (buf.length === 0) break;
    yield buf;
  }
}
