export type { ByteSource } from './source.js';
export { readExact, SliceSource, BufferSource, ZeroSource } from './source.js';
export { FileSource, READ_ONLY_FLAGS, inputFileAt, refuseInput, type HostIdentity } from './file.js';
export { SplitSource } from './split.js';
export { CachedSource } from './cache.js';

import { FileSource } from './file.js';
import { SplitSource } from './split.js';
import type { ByteSource } from './source.js';

/** Opens a host file read-only, joining the parts of a split raw image. */
export async function openHostFile(path: string): Promise<ByteSource> {
  const parts = await SplitSource.partsOf(path);
  if (parts) return SplitSource.open(parts);
  // The image the user named may be a block device (a disk, a loop device); files an image
  // refers to never are.
  return FileSource.open(path, { allowBlockDevice: true });
}
export { Lru, byteLru, InFlight } from './lru.js';
