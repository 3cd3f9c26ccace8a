/**
 * lzop's file framing (what `vzdump --compress lzo` writes) around the LZO1X decoder of lzo.ts:
 * a header (magic 89 4C 5A 4F 00 0D 0A 1A 0A, versions, method, flags, mode, mtime, the original
 * name, a checksum), then blocks, each: uncompressed length (BE32, 0 ends the stream),
 * compressed length (BE32), the checksums the flags ask for, then the data, stored as is when
 * both lengths are equal. Blocks are independent (256 KiB from lzop). Fields as lzop 1.04 writes
 * them; the Adler-32 of each decoded block is checked where the flags carry it.
 */
import { lzo1xDecompress } from './lzo.js';

export const LZOP_MAGIC = Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]);
const F_ADLER32_D = 0x1;
const F_ADLER32_C = 0x2;
const F_H_EXTRA_FIELD = 0x40;
const F_CRC32_D = 0x100;
const F_CRC32_C = 0x200;
const F_H_FILTER = 0x800;
/** lzop's own limit on a block (MAX_BLOCK_SIZE). */
const MAX_BLOCK = 64 << 20;

export class LzopError extends Error {}

function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (let i = 0; i < b.length; ) {
    // 5552 bytes keep the sums below 2^32 between reductions (zlib's NMAX).
    const end = Math.min(b.length, i + 5552);
    for (; i < end; i++) {
      a += b[i]!;
      s += a;
    }
    a %= 65521;
    s %= 65521;
  }
  return ((s << 16) | a) >>> 0;
}

/**
 * A push decoder: input in pieces of any size, decoded blocks out. Holds at most one block of
 * input (64 MiB at worst, 256 KiB from lzop).
 */
export class LzopDecoder {
  private pending: Buffer = Buffer.alloc(0);
  private flags = -1;
  private ended = false;
  private out = Buffer.alloc(0);

  push(input: Buffer, sink: (piece: Buffer) => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, input]) : input;
    let at = 0;
    for (;;) {
      const used = this.ended ? -1 : this.flags < 0 ? this.header(at) : this.block(at, sink);
      if (used <= 0) break;
      at += used;
    }
    if (this.ended && at < this.pending.length && this.pending.subarray(at).some((x) => x !== 0)) throw new LzopError('data after the end-of-stream block');
    this.pending = Buffer.from(this.pending.subarray(at));
  }

  end(): void {
    if (this.flags < 0) throw new LzopError('cut short inside the lzop header');
    if (!this.ended) throw new LzopError('cut short: the stream ends before its end-of-stream block');
  }

  /** Parses the header at `at`; the bytes it takes, or 0 when more input is needed. */
  private header(at: number): number {
    const b = this.pending;
    const need = (n: number) => at + n <= b.length;
    if (!need(9 + 7)) return 0;
    if (!b.subarray(at, at + 9).equals(LZOP_MAGIC)) throw new LzopError('no lzop magic');
    let p = at + 9;
    const version = b.readUInt16BE(p);
    p += 4; // version, lib_version
    if (version >= 0x0940) p += 2; // version_needed_to_extract
    if (!need(p - at + 2)) return 0;
    const method = b[p++]!;
    if (method < 1 || method > 3) throw new LzopError(`compression method ${method} is not LZO1X`);
    if (version >= 0x0940) p++; // level
    if (!need(p - at + 4)) return 0;
    const flags = b.readUInt32BE(p);
    p += 4;
    if (flags & F_H_FILTER) throw new LzopError('an lzop filter is set (not written by vzdump)');
    p += 8; // mode, mtime_low
    if (version >= 0x0940) p += 4; // mtime_high
    if (!need(p - at + 1)) return 0;
    const nameLen = b[p]!;
    p += 1 + nameLen + 4; // name, header checksum
    if (flags & F_H_EXTRA_FIELD) {
      if (!need(p - at + 4)) return 0;
      const extra = b.readUInt32BE(p);
      if (extra > MAX_BLOCK) throw new LzopError(`extra field of ${extra} bytes`);
      p += 4 + extra + 4;
    }
    if (!need(p - at)) return 0;
    this.flags = flags;
    return p - at;
  }

  /** Decodes the block at `at`; the bytes it takes, or 0 when more input is needed. */
  private block(at: number, sink: (piece: Buffer) => void): number {
    const b = this.pending;
    if (at + 4 > b.length) return 0;
    const dstLen = b.readUInt32BE(at);
    if (dstLen === 0) {
      this.ended = true;
      return 4;
    }
    if (at + 8 > b.length) return 0;
    const srcLen = b.readUInt32BE(at + 4);
    if (dstLen > MAX_BLOCK || srcLen > dstLen || srcLen === 0) throw new LzopError(`a block of ${srcLen} bytes decoding to ${dstLen} bytes`);
    const f = this.flags;
    let p = at + 8;
    let adler: number | null = null;
    if (f & F_ADLER32_D) {
      if (p + 4 > b.length) return 0;
      adler = b.readUInt32BE(p);
      p += 4;
    }
    if (f & F_CRC32_D) p += 4;
    if (srcLen < dstLen) {
      if (f & F_ADLER32_C) p += 4;
      if (f & F_CRC32_C) p += 4;
    }
    if (p + srcLen > b.length) return 0;
    let data: Buffer;
    if (srcLen === dstLen) data = b.subarray(p, p + srcLen);
    else {
      if (this.out.length < dstLen) this.out = Buffer.allocUnsafe(dstLen);
      const got = lzo1xDecompress(b, p, p + srcLen, this.out.subarray(0, dstLen));
      if (got !== dstLen) throw new LzopError(`a block decodes to ${got} bytes, its header says ${dstLen}`);
      data = this.out.subarray(0, dstLen);
    }
    if (adler !== null && adler32(data) !== adler) throw new LzopError('a block does not match its Adler-32 (damaged data)');
    sink(data);
    return p + srcLen - at;
  }
}
