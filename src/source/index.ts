export type { ByteSource } from './source.js';
export { readExact, SliceSource, BufferSource, ZeroSource } from './source.js';
export { FileSource, READ_ONLY_FLAGS } from './file.js';
export { SplitSource } from './split.js';
export { CachedSource } from './cache.js';

import { FileSource } from './file.js';
import { SplitSource } from './split.js';
import type { ByteSource } from './source.js';

/** Opens a host file read-only, joining the parts of a split raw image. */
export async function openHostFile(path: string): Promise<ByteSource> {
  const parts = await SplitSource.partsOf(path);
  if (parts) return SplitSource.open(parts);
  return FileSource.open(path);
}
export { Lru, byteLru, InFlight } from './lru.js';
