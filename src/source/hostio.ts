/**
 * Kernel hints for reading image files (posix_fadvise through src/source/native/hostio.c,
 * built by scripts/native.ts): where the binding is not built, every hint is skipped and reads
 * are the same, only slower when cold. Loaded on the first hint, not at start-up.
 *
 * Measured on the bench's NTFS image (100 folders of 1000 files), first `find` of a fresh
 * mount (issue 27):
 * - willNeed for the MFT records of the root's 100 sub-folders before reading them (they lie
 *   ~1000 records apart; each was a cold synchronous read of its own, 111 one after another
 *   on the main thread): the root's listing 20 -> 12 ms.
 * - spans (reads from 128 KiB to 1 MiB) through a second descriptor marked
 *   POSIX_FADV_RANDOM (FileSource): the kernel's readahead had taken the folders' INDX reads
 *   for a sequential file read and read past each one; the walk read 34 MiB of the image, now
 *   20 MiB (what the folders hold). Data reads keep the first descriptor and its readahead: a
 *   cold `cat` of a 256 MiB file read wholly through a POSIX_FADV_RANDOM descriptor took
 *   230 ms against 203 ms.
 * Both together, medians of 10 walks alternated with the build before them: image evicted
 * from the page cache 98.1 -> 89.5 ms, all caches dropped 126.9 -> 115.8 ms.
 */
import { loadAddon } from './addon.js';
import { hostRunsOf, type ByteSource } from './source.js';

interface HostioBinding {
  fadvise(fd: number, offset: number, length: number, advice: number): number;
}

/** Linux's numbering (hostio.c checks it at build time). */
const POSIX_FADV_RANDOM = 1;
const POSIX_FADV_WILLNEED = 3;

let native: HostioBinding | null | undefined;

function binding(): HostioBinding | null {
  if (native === undefined) native = loadAddon<HostioBinding>('hostio');
  return native;
}

/** Whether hints reach the kernel here (the binding loads). */
export function hintsAvailable(): boolean {
  return binding() !== null;
}

/** Marks host file `fd` as read at random: the kernel reads what is asked and no more. */
export function adviseRandom(fd: number): boolean {
  const b = binding();
  return b !== null && b.fadvise(fd, 0, 0, POSIX_FADV_RANDOM) === 0;
}

/**
 * Asks the kernel to start reading, side by side, the bytes of `src` at each [offset, length]
 * of `pieces` that lie as they are in host files (hostRunsOf), so that the reads that follow
 * find them in the page cache. Bytes that need decoding (compressed containers, caches) are
 * left to their reads. Never fails: a hint that cannot be given is skipped.
 */
export async function willNeed(src: ByteSource, pieces: Iterable<readonly [number, number]>): Promise<void> {
  const b = binding();
  if (b === null || !src.hostRuns) return;
  const asked: Promise<void>[] = [];
  for (const [offset, length] of pieces) {
    asked.push(hostRunsOf(src, offset, length).then((runs) => {
      for (const r of runs ?? []) if (r.fd >= 0) b.fadvise(r.fd, r.offset, r.length, POSIX_FADV_WILLNEED);
    }).catch(() => undefined));
  }
  await Promise.all(asked);
}
