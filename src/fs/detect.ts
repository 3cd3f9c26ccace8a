import { cannotOpen } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import { fsFormats } from './formats.js';
import type { FileSystem, FsOpenOptions } from './types.js';

/** 64 KiB, plus the 4 KiB Btrfs superblock that starts right there. */
const HEAD_BYTES = 68 * 1024;

/** Opens the filesystem on a volume, chosen by its on-disk signature. */
export async function openFilesystem(src: ByteSource, opts: FsOpenOptions = {}): Promise<FileSystem> {
  const head = await src.read(0, HEAD_BYTES);
  for (const f of fsFormats) {
    if (f.probe(head, src)) return f.open(src, opts);
  }
  throw cannotOpen(src.name, 'unknown filesystem');
}
