import { InFlight, Lru } from './lru.js';
import { hostRunsOf, readInto, type ByteSource, type HostRun, readSpan } from './source.js';

/**
 * An LRU cache of fixed-size blocks in front of a source. Metadata reads (FAT sectors,
 * MFT records, grain tables) are small and repeat; file data is read in large chunks
 * that go straight through so a big `cat` does not evict the metadata.
 */
export class CachedSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private readonly blocks: Lru<number, Buffer>;
  private readonly pending = new InFlight<number, Buffer>();

  constructor(
    private readonly base: ByteSource,
    private readonly blockSize = 64 * 1024,
    cacheBytes = 32 * 1024 * 1024,
  ) {
    this.name = base.name;
    this.size = base.size;
    this.blocks = new Lru(Math.max(4, Math.floor(cacheBytes / blockSize)));
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    if (n >= this.blockSize * 4) return this.base.read(offset, n);
    const first = Math.floor(offset / this.blockSize);
    const last = Math.floor((offset + n - 1) / this.blockSize);
    if (first === last) {
      const b = await this.block(first);
      const at = offset - first * this.blockSize;
      return b.subarray(at, Math.min(b.length, at + n));
    }
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    for (let i = first; i <= last && done < n; i++) {
      const b = await this.block(i);
      const at = i === first ? offset - first * this.blockSize : 0;
      const take = Math.min(b.length - at, n - done);
      if (take <= 0) break;
      b.copy(out, done, at, at + take);
      done += take;
    }
    return done === n ? out : out.subarray(0, done);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    // File data goes around the cache: FUSE asks in 128 KiB requests (libfuse2's largest), so
    // the pass-through starts at two blocks; copying those through cached blocks cost the mount
    // twice the CPU per GiB and pushed metadata out of the cache.
    if (n >= this.blockSize * 2) return readInto(this.base, target, at, offset, n);
    const b = await this.read(offset, n);
    return b.copy(target, at);
  }

  /** The cache holds copies of the base's bytes: where they lie is the base's answer. */
  hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    return hostRunsOf(this.base, offset, length);
  }

  private async block(index: number): Promise<Buffer> {
    const hit = this.blocks.get(index);
    if (hit) return hit;
    return this.pending.run(index, async () => {
      const b = await this.base.read(index * this.blockSize, this.blockSize);
      this.blocks.set(index, b);
      return b;
    });
  }

  async close(): Promise<void> {
    this.blocks.clear();
    await this.base.close();
  }
}
