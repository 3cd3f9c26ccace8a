/**
 * Decoders for Btrfs compressed extents (btrfs_file_extent_item.compression): zlib (a zlib
 * stream, node:zlib), LZO (the kernel's per-sector framing around LZO1X segments, own
 * decoder in lzo.ts) and zstd (one frame: the system's libzstd through the native binding,
 * fzstd where that is not built; src/source/codecs.ts). Output is bounded by the extent's ram_bytes
 * (at most 128 KiB for regular extents: BTRFS_MAX_UNCOMPRESSED), so a hostile extent cannot
 * make memory grow; bytes a stream does not produce read as zeros, as in the kernel.
 */
import { inflateSync, constants as zc } from 'node:zlib';
import { corrupt, unsupported } from '../../errors.js';
import { zstdAsyncInUse, zstdDecompressInto, zstdDecompressIntoAsync } from '../../source/codecs.js';
import { LzoError, lzo1xDecompress } from '../../source/lzo.js';
import { COMPRESS } from './items.js';

export const COMPRESSION_NAMES = ['none', 'zlib', 'lzo', 'zstd'];
/** BTRFS_MAX_UNCOMPRESSED: the kernel never writes a larger compressed extent. */
export const MAX_UNCOMPRESSED = 128 * 1024;

/** `data` decoded to exactly `ramBytes` bytes. `what` names the file and offset in errors. */
export function decompressExtent(compression: number, data: Buffer, ramBytes: number, sectorsize: number, file: string, what: string): Buffer {
  const out = Buffer.allocUnsafe(ramBytes);
  decompressExtentInto(compression, data, out, sectorsize, file, what);
  return out;
}

/**
 * `data` decoded into all of `out` (its length is the extent's ram_bytes): bytes the stream
 * does not produce read as zeros, as in the kernel; more than fits is an error.
 */
export function decompressExtentInto(compression: number, data: Buffer, out: Buffer, sectorsize: number, file: string, what: string): void {
  let n: number;
  try {
    switch (compression) {
      case COMPRESS.ZLIB: {
        const d = inflateSync(data, { finishFlush: zc.Z_SYNC_FLUSH, maxOutputLength: Math.max(out.length, 1) });
        n = d.copy(out, 0, 0, Math.min(d.length, out.length));
        break;
      }
      case COMPRESS.LZO:
        n = lzoFramed(data, out, sectorsize);
        break;
      case COMPRESS.ZSTD:
        n = zstdDecompressInto(zstdFrame(data), out);
        break;
      default:
        throw unsupported(file, `${what}: Btrfs compression type ${compression} is unknown`);
    }
  } catch (err) {
    if (err instanceof Error && err.name === 'DiskpickError') throw err;
    throw corrupt(file, `${what}: ${COMPRESSION_NAMES[compression]} data cannot be decoded (${(err as Error).message})`);
  }
  out.fill(0, n);
}

/**
 * decompressExtentInto, with zstd decoded in libuv's thread pool where the native binding is
 * there, so a sequential read decodes the extents ahead of it on the other core while the
 * main thread reads, checks and writes (the zstd row of bench/btrfs.ts). `out` must stay
 * untouched until the promise settles.
 */
export async function decompressExtentIntoAsync(compression: number, data: Buffer, out: Buffer, sectorsize: number, file: string, what: string): Promise<void> {
  if (compression !== COMPRESS.ZSTD || !zstdAsyncInUse()) return decompressExtentInto(compression, data, out, sectorsize, file, what);
  let n: number;
  try {
    n = await zstdDecompressIntoAsync(zstdFrame(data), out);
  } catch (err) {
    throw corrupt(file, `${what}: zstd data cannot be decoded (${(err as Error).message})`);
  }
  out.fill(0, n);
}

/**
 * fs/btrfs/lzo.c framing: LE32 total length (itself included), then segments, each LE32
 * compressed length and an LZO1X stream of one sector's worth of data. A segment header never
 * straddles a sector: with fewer than 4 bytes left in a sector, the next header starts at the
 * next sector.
 */
function lzoFramed(d: Buffer, out: Buffer, sectorsize: number): number {
  if (d.length < 4) throw new LzoError('no length header');
  const total = d.readUInt32LE(0);
  if (total > d.length || total < 4) throw new LzoError(`total length ${total} does not fit the ${d.length} stored bytes`);
  let ip = 4;
  let op = 0;
  const seg = Buffer.allocUnsafe(Math.max(sectorsize, 4096));
  while (ip < total && op < out.length) {
    const left = sectorsize - (ip % sectorsize);
    if (left < 4) {
      ip += left;
      if (ip >= total) break;
    }
    if (ip + 4 > total) throw new LzoError('segment header cut short');
    const len = d.readUInt32LE(ip);
    ip += 4;
    if (len === 0 || ip + len > total) throw new LzoError(`segment of ${len} bytes does not fit`);
    const n = lzo1xDecompress(d, ip, ip + len, seg);
    seg.copy(out, op, 0, Math.min(n, out.length - op));
    op += n;
    ip += len;
  }
  return Math.min(op, out.length);
}

/** One zstd frame (RFC 8878), then zero padding to the sector: the frame alone is decoded (libzstd would take the zeros for another frame, fzstd refuses them). */
function zstdFrame(d: Buffer): Buffer {
  return d.subarray(0, zstdFrameEnd(d));
}

/** Where the zstd frame at d[0] ends, walking its block headers. */
function zstdFrameEnd(d: Buffer): number {
  if (d.length < 6 || d.readUInt32LE(0) !== 0xfd2fb528) throw new Error('no zstd frame magic');
  const fhd = d[4]!;
  const single = (fhd >> 5) & 1;
  const at0 = 5 + (single ? 0 : 1) + [0, 1, 2, 4][fhd & 3]! + [single, 2, 4, 8][fhd >> 6]!;
  let at = at0;
  for (;;) {
    if (at + 3 > d.length) throw new Error('zstd frame cut short');
    const bh = d[at]! | (d[at + 1]! << 8) | (d[at + 2]! << 16);
    const type = (bh >> 1) & 3;
    if (type === 3) throw new Error('reserved zstd block type');
    at += 3 + (type === 1 ? 1 : bh >>> 3);
    if (bh & 1) break;
  }
  at += (fhd >> 2) & 1 ? 4 : 0;
  if (at > d.length) throw new Error('zstd frame cut short');
  return at;
}
