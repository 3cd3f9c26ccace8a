/**
 * Images cut short (a copy stopped early, `head -c`, a full disk): the allocation tables a
 * sparse format reads at open say where its data lies, so the end of the file they need is
 * known, and a file shorter than that is opened with one warning naming how much is missing
 * (issue 20: `head -c 100M` of a 120 MB VMDK opened without a word, then every file needing
 * the cut part failed). Reads of the missing part fail, for the files that need them; the
 * rest is read, as `qemu-img convert` of the same file does. A cut-short raw image already
 * behaves this way.
 */
import { readExact, type ByteSource } from '../source/source.js';
import type { OpenContext } from './container.js';

/** Tables larger than this are not scanned at open (a 64 MiB VMDK grain map covers 1 TiB). */
const SCAN_LIMIT = 64 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/** The word that marks a damage warning: `info` shows it in its summary and its JSON. */
export const DAMAGED = 'damaged';

export function isDamageWarning(w: string): boolean {
  return w.includes(`: ${DAMAGED}: `) || w.startsWith(`${DAMAGED}: `);
}

/**
 * The largest end `endOf(entry index, value)` gives over a table of `count` entries of
 * `width` bytes (4 or 8; little-endian unless `bigEndian`: VHD, QCOW2) at `start`; 0 for none, null when the table is too big to
 * scan at open or is not all in the file (the caller reports that itself).
 */
export async function tableEnd(
  ctx: OpenContext, src: ByteSource, start: number, count: number, width: 4 | 8,
  endOf: (i: number, value: number) => number, bigEndian = false,
): Promise<number | null> {
  const bytes = count * width;
  if (ctx.remote || bytes > SCAN_LIMIT || start + bytes > src.size) return null;
  let end = 0;
  for (let at = 0; at < bytes; at += CHUNK) {
    const b = await readExact(src, start + at, Math.min(CHUNK, bytes - at), 'allocation table');
    const first = at / width;
    for (let k = 0; k + width <= b.length; k += width) {
      // 64-bit entries as two 32-bit halves: no BigInt per entry (one allocation each, ~8 000
      // of them for a QCOW2 refcount table at every open). One rounding, as Number(BigInt).
      const v = width === 4 ? (bigEndian ? b.readUInt32BE(k) : b.readUInt32LE(k))
        : bigEndian ? b.readUInt32BE(k) * 2 ** 32 + b.readUInt32BE(k + 4) : b.readUInt32LE(k + 4) * 2 ** 32 + b.readUInt32LE(k);
      const e = endOf(first + k / width, v);
      if (e > end) end = e;
    }
  }
  return end;
}

/**
 * The index of the last nonzero entry of a table of `count` entries of `width` bytes at
 * `start` (-1 for none), read from its end a chunk at a time; null as tableEnd gives null.
 */
export async function lastTableEntry(ctx: OpenContext, src: ByteSource, start: number, count: number, width: number): Promise<number | null> {
  const bytes = count * width;
  if (ctx.remote || bytes > SCAN_LIMIT || start + bytes > src.size) return null;
  const chunk = CHUNK - (CHUNK % width);
  for (let at = Math.floor((bytes - 1) / chunk) * chunk; at >= 0; at -= chunk) {
    const b = await readExact(src, start + at, Math.min(chunk, bytes - at), 'allocation table');
    const last = lastNonZeroEntry(b, width);
    if (last >= 0) return at / width + last;
  }
  return -1;
}

/**
 * Index of the last `width`-byte entry of `b` that is not all zero bytes, or -1: whole zero
 * stretches compared natively (Buffer.equals), so a mostly empty table costs no per-entry loop;
 * the last stretch that is not all zero is then halved the same way down to a few entries. (A
 * byte loop over one 4 KiB stretch ran long enough for V8 to optimise it on a background thread
 * at every open of a QCOW2: ~1.4 ms of CPU of a ~60 ms `info`, issue 27.)
 */
export function lastNonZeroEntry(b: Uint8Array, width: number): number {
  const STRETCH = 4096 - (4096 % width);
  const zero = Buffer.alloc(STRETCH);
  const isZero = (start: number, end: number) => Buffer.from(b.buffer, b.byteOffset + start, end - start).equals(zero.subarray(0, end - start));
  let end = b.length - (b.length % width);
  while (end > 0) {
    const start = Math.max(0, end - STRETCH);
    if (!isZero(start, end)) break;
    end = start;
  }
  if (end === 0) return -1;
  // [lo, end) holds a nonzero byte, and every entry from `end` on is zero.
  let lo = Math.max(0, end - STRETCH);
  while (end - lo > 8 * width) {
    const mid = lo + Math.floor((end - lo) / 2 / width) * width;
    if (isZero(mid, end)) end = mid;
    else lo = mid;
  }
  for (let e = end / width - 1; e >= lo / width; e--) {
    for (let i = e * width; i < (e + 1) * width; i++) if (b[i] !== 0) return e;
  }
  return -1;
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Warns once when `src` is shorter than `needed` (the end of the data its tables reference):
 * how many bytes are missing and what share of the stored data that is.
 */
export function checkFileEnd(ctx: OpenContext, src: ByteSource, needed: number | null, what: string): void {
  if (needed === null || needed <= src.size) return;
  const missing = needed - src.size;
  const pct = ((missing / needed) * 100).toFixed(1);
  ctx.warn(`${DAMAGED}: cut short: the file has ${src.size} bytes but its ${what} reference data up to byte ${needed}: ${missing} bytes (${mib(missing)}, ${pct} % of the file) are missing; files that need them fail to read, everything else is read`, src.name);
}
