import { cannotOpen } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import { fsFormats } from './formats.js';
import type { FileSystem } from './types.js';

const HEAD_BYTES = 64 * 1024;

/** Opens the filesystem on a volume, chosen by its on-disk signature. */
export async function openFilesystem(src: ByteSource): Promise<FileSystem> {
  const head = await src.read(0, HEAD_BYTES);
  for (const f of fsFormats) {
    if (f.probe(head, src)) return f.open(src);
  }
  throw cannotOpen(src.name, 'unknown filesystem');
}
