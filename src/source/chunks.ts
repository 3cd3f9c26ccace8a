import { readInto, type ByteSource } from './source.js';

/**
 * Reads a source front to back in chunks, keeping one read ahead in flight so the next
 * chunk is being fetched while the caller writes the current one. Memory: two chunks.
 * Each chunk is a fresh buffer the caller may keep; for plain copying use `pump`.
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

export interface PumpOptions {
  chunkSize?: number;
  start?: number;
  end?: number;
  /** Reads kept in flight while the sink works on the current chunk. */
  ahead?: number;
  /**
   * Sink calls that may run at once (default 1: each waits for the one before). Calls start in
   * order of the chunks; a sink that writes each chunk at its own offset (extract's positioned
   * writes) can take more, so its writes queue in the thread pool back to back instead of each
   * waiting for the event loop to come round between them.
   */
  sinks?: number;
}

/**
 * Like `pump` over the whole source, but the holes the source reports (ByteSource.dataRanges)
 * are not read: `hole(offset, length)` gets each one instead, in order between the data
 * chunks. A source that reports nothing is pumped whole. Returns the data bytes delivered.
 */
export async function pumpData(
  src: ByteSource,
  sink: (chunk: Buffer, offset: number) => void | Promise<void>,
  hole: (offset: number, length: number) => void | Promise<void>,
  opts: Omit<PumpOptions, 'start' | 'end'> = {},
): Promise<number> {
  if (!src.dataRanges) return pump(src, sink, opts);
  let pos = 0;
  let delivered = 0;
  for (const [offset, length] of src.dataRanges(0, src.size)) {
    if (offset > pos) await hole(pos, offset - pos);
    const got = await pump(src, sink, { ...opts, start: offset, end: offset + length });
    delivered += got;
    if (got < length) return delivered;
    pos = offset + length;
  }
  if (pos < src.size) await hole(pos, src.size - pos);
  return delivered;
}

/**
 * Copies [start, end) of a source to `sink`, front to back, through a small pool of buffers
 * that are reused for the whole copy: `ahead` reads run while the sink handles the current
 * chunk (and, with `sinks` > 1, while earlier sink calls still run). The chunk handed to the
 * sink is a view of a pool buffer, valid until the sink's promise settles; a sink that keeps
 * bytes must copy them. Memory: (ahead + sinks) chunks, whatever the size of the source.
 * Returns the bytes delivered (less than asked only where the source ends early).
 */
export async function pump(
  src: ByteSource,
  sink: (chunk: Buffer, offset: number) => void | Promise<void>,
  { chunkSize = 1 << 20, start = 0, end = src.size, ahead = 2, sinks = 1 }: PumpOptions = {},
): Promise<number> {
  end = Math.min(end, src.size);
  if (end <= start) return 0;
  const size = Math.min(chunkSize, end - start);
  const free: Buffer[] = [];
  const queue: { got: Promise<number>; buf: Buffer; off: number; len: number }[] = [];
  /** Sink calls under way, oldest first, each with the buffer it holds. */
  const running: { done: Promise<void>; buf: Buffer }[] = [];
  let next = start;
  const issue = () => {
    const len = Math.min(size, end - next);
    const buf = free.pop() ?? Buffer.allocUnsafe(size);
    const got = readInto(src, buf, 0, next, len);
    // Reads still queued when an earlier one fails are awaited by nobody: keep their
    // rejections from surfacing as unhandled.
    got.catch(() => undefined);
    queue.push({ got, buf, off: next, len });
    next += len;
  };
  /** Waits for the oldest sink call; its buffer is free again. */
  const settle = async () => {
    const r = running.shift()!;
    await r.done;
    free.push(r.buf);
  };
  while (queue.length <= ahead && next < end) issue();
  let delivered = 0;
  try {
    while (queue.length) {
      const c = queue.shift()!;
      const got = await c.got;
      if (got > 0) {
        const done = Promise.resolve(sink(c.buf.subarray(0, got), c.off));
        done.catch(() => undefined);
        running.push({ done, buf: c.buf });
        delivered += got;
        while (running.length >= Math.max(1, sinks)) await settle();
      } else free.push(c.buf);
      if (got < c.len) break;
      if (next < end) issue();
    }
    while (running.length) await settle();
  } finally {
    // Let reads and sink calls still under way finish before their buffers go back to the
    // caller's world.
    await Promise.allSettled([...queue.map((c) => c.got), ...running.map((r) => r.done)]);
  }
  return delivered;
}
