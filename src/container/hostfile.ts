/**
 * A host file as a container format sees it: small reads (headers, tables, bitmaps) go
 * through a block cache, and the bytes of the virtual disk can be read around it with
 * `direct()`. Passing the disk's data through the 64 KiB block cache cost a fresh block, a
 * copy and an eviction of tables per read: in the bench's compressed QCOW2 copy, 3066 small
 * reads of compressed clusters became 503 block reads into fresh buffers.
 */
import { CachedSource } from '../source/cache.js';
import type { ByteSource } from '../source/source.js';

export class HostFile extends CachedSource {
  constructor(readonly uncached: ByteSource) {
    super(uncached);
  }
}

/** The file itself, without the block cache, for reads of disk data. */
export function direct(src: ByteSource): ByteSource {
  return src instanceof HostFile ? src.uncached : src;
}
