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
import { hostRunsOf, type ByteSource, type HostRun } from './source.js';

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
  const list = [...pieces].filter(([, length]) => length > 0);
  if (list.length === 0) return;
  const advise = (runs: HostRun[] | null) => {
    for (const r of runs ?? []) if (r.fd >= 0) b.fadvise(r.fd, r.offset, r.length, POSIX_FADV_WILLNEED);
  };
  if (list.length > 1 && (await adviseWithin(src, list, b))) return;
  await Promise.all(list.map(([offset, length]) => hostRunsOf(src, offset, length).then(advise).catch(() => undefined)));
}

/**
 * willNeed for many pieces by one question: the host runs of the span they lie in, each piece's
 * part of them found by a binary search. A question per piece went down every layer once per
 * piece. The 100 MFT records of the NTFS bench image's root, asked for before its listing can be
 * answered (traced in a first walk, three runs each): 1.8-1.9 ms -> 1.3-1.6 ms on the main
 * thread, most of what is left being the kernel's (WILLNEED allocates the pages and sends the
 * reads in the calling thread).
 * False, having asked nothing, where the span is larger than SPAN_MAX or lies in more than
 * SPAN_RUNS_MAX runs (a fragmented or sparse container): then each piece is asked for alone.
 */
async function adviseWithin(src: ByteSource, pieces: (readonly [number, number])[], b: HostioBinding): Promise<boolean> {
  let lo = Infinity;
  let hi = 0;
  for (const [offset, length] of pieces) {
    lo = Math.min(lo, offset);
    hi = Math.max(hi, offset + length);
  }
  if (hi - lo > SPAN_MAX) return false;
  const runs = await hostRunsOf(src, lo, hi - lo, SPAN_RUNS_MAX).catch(() => null);
  if (!runs) return false;
  // starts[i]: where run i begins in src (the runs cover [lo, hi) in order).
  const starts = new Float64Array(runs.length + 1);
  starts[0] = lo;
  for (let i = 0; i < runs.length; i++) starts[i + 1] = starts[i]! + runs[i]!.length;
  for (const [offset, length] of pieces) {
    let l = 0;
    let h = runs.length - 1;
    while (l < h) {
      const m = (l + h + 1) >>> 1;
      if (starts[m]! <= offset) l = m;
      else h = m - 1;
    }
    for (let i = l, at = offset, end = offset + length; i < runs.length && at < end; i++) {
      const r = runs[i]!;
      const n = Math.min(end, starts[i + 1]!) - at;
      if (r.fd >= 0 && n > 0) b.fadvise(r.fd, r.offset + (at - starts[i]!), n, POSIX_FADV_WILLNEED);
      at += n;
    }
  }
  return true;
}

/** adviseWithin's limits: a span of at most 1 GiB, in at most 4096 host runs. */
const SPAN_MAX = 1 << 30;
const SPAN_RUNS_MAX = 4096;
