/**
 * An LVM (old-style, dm-snapshot) snapshot: the origin LV as it was when the snapshot was
 * taken. The snapshot's COW LV holds dm's persistent exception store (the kernel's
 * Documentation/admin-guide/device-mapper/snapshot.rst; layout in dm-snap-persistent): chunk 0
 * a `disk_header` {magic "SnAp" 0x70416e53, valid, version 1, chunk_size (sectors)}; then
 * metadata areas, area `i` at chunk 1 + i × (exceptions_per_area + 1), each a chunk of
 * `disk_exception` {old_chunk u64, new_chunk u64} pairs (exceptions_per_area = chunk bytes / 16),
 * followed by the data chunks it describes. The list ends at the first exception whose
 * new_chunk is 0 (chunk 0 is the header, so no exception can point there). Each exception says
 * the origin's chunk `old_chunk` was copied to the COW's chunk `new_chunk` before the origin
 * changed: the snapshot reads those from the COW and the rest from the origin.
 */
import { corrupt } from '../../errors.js';
import { readExact, readSpan, type ByteSource } from '../../source/source.js';

export const SNAP_MAGIC = 0x70416e53;
const DISK_EXCEPTION = 16;

/** disk_header. */
export interface SnapshotHeader {
  magic: number;
  valid: number;
  version: number;
  /** Sectors. */
  chunk_size: number;
}

export async function openSnapshot(name: string, origin: ByteSource, cow: ByteSource, chunkBytes: number, size: number): Promise<ByteSource> {
  const b = await readExact(cow, 0, 16, 'snapshot exception store header');
  const h: SnapshotHeader = { magic: b.readUInt32LE(0), valid: b.readUInt32LE(4), version: b.readUInt32LE(8), chunk_size: b.readUInt32LE(12) };
  if (h.magic !== SNAP_MAGIC) throw corrupt(name, 'the snapshot\'s COW store has no exception store header (wrong magic)');
  if (h.valid === 0) throw corrupt(name, 'the snapshot was invalidated (its COW store overflowed or failed): its contents are lost');
  if (h.version !== 1) throw corrupt(name, `snapshot exception store version ${h.version} is not 1`);
  const chunk = h.chunk_size * 512;
  if (chunk < 4096 || chunk > 1 << 30 || chunk & (chunk - 1)) throw corrupt(name, `snapshot chunk size ${chunk} is invalid`);
  if (chunkBytes && chunkBytes !== chunk) throw corrupt(name, `snapshot chunk size ${chunkBytes} (LVM metadata) differs from the store's ${chunk}`);
  if (size > origin.size) throw corrupt(name, `snapshot of ${size} bytes is larger than its origin (${origin.size})`);
  const perArea = chunk / DISK_EXCEPTION;
  const cowChunks = Math.floor(cow.size / chunk);
  const originChunks = Math.ceil(size / chunk);
  const map = new Map<number, number>();
  let ended = false;
  for (let area = 0; !ended; area++) {
    const at = 1 + (perArea + 1) * area;
    if (at >= cowChunks) throw corrupt(name, `snapshot exception list runs past the end of its COW store (area ${area})`);
    const a = await readExact(cow, at * chunk, chunk, 'snapshot exception area');
    for (let i = 0; i < perArea; i++) {
      const oldChunk = a.readBigUInt64LE(i * DISK_EXCEPTION);
      const newChunk = a.readBigUInt64LE(i * DISK_EXCEPTION + 8);
      if (newChunk === 0n) {
        ended = true;
        break;
      }
      const o = Number(oldChunk);
      const n = Number(newChunk);
      // A data chunk lies inside the store and is none of the metadata chunks.
      if (newChunk >= BigInt(cowChunks) || (n - 1) % (perArea + 1) === 0) throw corrupt(name, `snapshot exception ${map.size}: COW chunk ${newChunk} is invalid`);
      if (oldChunk >= BigInt(originChunks)) throw corrupt(name, `snapshot exception ${map.size}: origin chunk ${oldChunk} is past the origin's end`);
      map.set(o, n);
    }
  }
  return new SnapshotSource(name, size, origin, cow, chunk, map);
}

class SnapshotSource implements ByteSource {
  constructor(
    readonly name: string,
    readonly size: number,
    private readonly origin: ByteSource,
    private readonly cow: ByteSource,
    private readonly chunk: number,
    private readonly exceptions: Map<number, number>,
  ) {}

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(n);
    await this.readInto(out, 0, offset, n);
    return out;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    for (let done = 0; done < n; ) {
      const pos = offset + done;
      const c = Math.floor(pos / this.chunk);
      const within = pos - c * this.chunk;
      // Runs of chunks from the same side are read at once.
      const fromCow = this.exceptions.get(c);
      let len = Math.min(this.chunk - within, n - done);
      if (fromCow === undefined) {
        while (done + len < n && !this.exceptions.has(c + Math.floor((within + len) / this.chunk))) len = Math.min(len + this.chunk, n - done);
      }
      const b = fromCow === undefined
        ? await readExact(this.origin, pos, len, 'snapshot origin')
        : await readExact(this.cow, fromCow * this.chunk + within, len, 'snapshot COW chunk');
      b.copy(target, at + done);
      done += len;
    }
    return n;
  }

  async close(): Promise<void> {}
}
