/**
 * Reused buffers for bytes that are decoded and dropped: the compressed bytes of one read
 * (QCOW2 compressed clusters, VMDK grains), folder blocks parsed into names. A fresh buffer
 * per read costs more than reading into it: in the streamOptimized bench, reads into fresh
 * buffers spent 238 ms on the main thread against 82 ms for the same reads into reused ones,
 * plus the garbage collector's share; each first touch of a fresh page is a page fault
 * (~15-20 us on these virtual machines).
 */
export class ScratchBuffers {
  private readonly free: Buffer[] = [];

  constructor(
    /** Buffers kept for reuse (reads in flight at once: pump keeps two, FUSE a few). */
    private readonly keep = 4,
    /** Larger requests get a buffer of their own that is dropped afterwards. */
    private readonly maxBytes = 16 * 1024 * 1024,
  ) {}

  /** A buffer of at least `n` bytes, the caller's until it gives it back. */
  take(n: number): Buffer {
    for (let i = 0; i < this.free.length; i++) {
      if (this.free[i]!.length >= n) return this.free.splice(i, 1)[0]!;
    }
    // Rounded up so that spans of slightly different sizes can share buffers.
    return Buffer.allocUnsafeSlow(n <= this.maxBytes ? Math.min(this.maxBytes, Math.max(1 << 20, 2 ** Math.ceil(Math.log2(n)))) : n);
  }

  give(b: Buffer): void {
    if (b.length > this.maxBytes) return;
    if (this.free.length < this.keep) this.free.push(b);
    else {
      // Keep the largest ones.
      let min = 0;
      for (let i = 1; i < this.free.length; i++) if (this.free[i]!.length < this.free[min]!.length) min = i;
      if (this.free[min]!.length < b.length) this.free[min] = b;
    }
  }
}

/**
 * The one pool every container and filesystem shares (reads are decoded on the main thread,
 * one at a time): a disk of hundreds of extents, or a long parent chain, keeps no more
 * buffers than one image.
 */
export const scratch = new ScratchBuffers();
