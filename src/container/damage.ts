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
      const v = width === 4 ? (bigEndian ? b.readUInt32BE(k) : b.readUInt32LE(k)) : Number(bigEndian ? b.readBigUInt64BE(k) : b.readBigUInt64LE(k));
      const e = endOf(first + k / width, v);
      if (e > end) end = e;
    }
  }
  return end;
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
