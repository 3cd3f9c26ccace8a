/**
 * Builds the FAT/partition-table test images into .cache/images (the tests build the same
 * files on demand through cachedImage; this script builds them ahead, e.g. for a fresh cache).
 * Other formats' builders live beside it (scripts/images/<format>.ts) and are built by their
 * tests on first use.
 *   npx tsx scripts/make-images.ts
 */
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBareFloppy, buildGpt4kFatDisk, buildGptFatDisk, buildMbrFatDisk, ensureImage } from './images/fat.js';

const cache = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), '.cache', 'images');
for (const [name, build] of [
  ['fat-mbr.img', buildMbrFatDisk],
  ['fat-gpt.img', buildGptFatDisk],
  ['fat-gpt4k.img', buildGpt4kFatDisk],
  ['fat-floppy.img', buildBareFloppy],
] as const) {
  const t0 = Date.now();
  const p = ensureImage(cache, name, build);
  console.log(`${p} (${Date.now() - t0} ms)`);
}
