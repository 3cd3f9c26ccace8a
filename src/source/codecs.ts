/**
 * zstd decoding and many-sector CRC-32C checks through the native binding
 * (src/source/native/codecs.c → dist/native/codecs.node, linked to the system's libzstd), with
 * pure JavaScript forms where the binding is not built or cannot load: fzstd and the
 * slicing-by-8 CRC-32C of bytes.ts. Both forms are tested against each other and against the
 * kernel's extents (test/btrfs/decoders.test.ts).
 *
 * Measured on the bench's 256 MiB zstd file (128 KiB extents), one core of this machine:
 * libzstd ~1.2 GiB/s, fzstd ~50 MiB/s; CRC-32C of 4 KiB sectors: SSE4.2 ~8 GiB/s, JavaScript
 * ~1 GiB/s.
 */
import { loadAddon } from './addon.js';
import { decompress as fzstdDecompress, Decompress as FzstdStream } from 'fzstd';
import { crc32cUpdate } from './bytes.js';

interface CodecsBinding {
  zstdDecompress(src: Uint8Array, dst: Uint8Array): number;
  zstdDecompressAsync(src: Uint8Array, dst: Uint8Array, done: (err: string | null, n: number) => void): void;
  zstdVersion: number;
  zstdStreamNew?(): object;
  zstdStreamDecompress?(decoder: object, src: Uint8Array, dst: Uint8Array, pos: Float64Array): number;
  zstdCompress?(src: Uint8Array, dst: Uint8Array, level: number): number;
  zstdCompressAsync?(src: Uint8Array, dst: Uint8Array, level: number, done: (err: string | null, n: number) => void): void;
  crc32cSectors?(buf: Uint8Array, start: number, end: number, sectorSize: number, csums: Uint8Array, csumAt: number): number;
}

let native: CodecsBinding | null | undefined;

function binding(): CodecsBinding | null {
  if (native !== undefined) return native;
  // libzstd.so.1 missing at run time, or a binding built for another Node: the JavaScript forms.
  native = process.env.DISKPICK_NATIVE_CODECS === '0' ? null : loadAddon<CodecsBinding>('codecs');
  return native;
}

/** Which zstd decoder runs: 'libzstd 1.5.4' or 'fzstd' (for info, the tests and the bench). */
export function zstdDecoderName(): string {
  const n = binding();
  if (!n) return 'fzstd';
  const v = n.zstdVersion;
  return `libzstd ${Math.floor(v / 10000)}.${Math.floor(v / 100) % 100}.${v % 100}`;
}

/** Tests: `false` forces the JavaScript forms, `true` goes back to the binding where built. */
export function useNativeCodecs(on: boolean): void {
  native = on ? undefined : null;
}

/**
 * Decodes zstd frame(s) `src` into `dst`; the bytes written. Output that would not fit in `dst`
 * is an error (libzstd: "Destination buffer is too small"; fzstd's own bound), never a larger
 * buffer. Errors are thrown as plain Errors with the decoder's message.
 */
export function zstdDecompressInto(src: Uint8Array, dst: Uint8Array): number {
  const n = binding();
  if (n) return n.zstdDecompress(src, dst);
  // fzstd leaves bytes it takes for zeros unwritten (it expects a fresh buffer).
  dst.fill(0);
  const out = fzstdDecompress(src, dst);
  if (out.buffer !== dst.buffer || out.byteOffset !== dst.byteOffset) {
    if (out.length > dst.length) throw new Error('decoded data is larger than its room');
    dst.set(out);
  }
  return out.length;
}

/** The same in libuv's thread pool where the binding is there (src and dst must stay untouched until it settles). */
export function zstdDecompressIntoAsync(src: Uint8Array, dst: Uint8Array): Promise<number> {
  const n = binding();
  if (!n) return new Promise((res, rej) => {
    try {
      res(zstdDecompressInto(src, dst));
    } catch (err) {
      rej(err);
    }
  });
  return new Promise((res, rej) => n.zstdDecompressAsync(src, dst, (err, got) => (err === null ? res(got) : rej(new Error(err)))));
}

/** True when zstd is decoded in the thread pool (worth decoding ahead). */
export function zstdAsyncInUse(): boolean {
  return binding() !== null;
}

/**
 * The first sector of buf[start, end) (whole `sectorSize` sectors) whose standard CRC-32C is not
 * the little-endian word at csums[csumAt + 4 i], or -1 when all match.
 */
export function crc32cFirstMismatch(buf: Uint8Array, start: number, end: number, sectorSize: number, csums: Uint8Array, csumAt: number): number {
  const n = binding();
  if (n?.crc32cSectors) return n.crc32cSectors(buf, start, end, sectorSize, csums, csumAt);
  for (let i = 0, o = start; o < end; i++, o += sectorSize) {
    const c = (crc32cUpdate(0xffffffff, buf, o, o + sectorSize) ^ 0xffffffff) >>> 0;
    const at = csumAt + 4 * i;
    const want = (csums[at]! | (csums[at + 1]! << 8) | (csums[at + 2]! << 16) | (csums[at + 3]! << 24)) >>> 0;
    if (c !== want) return i;
  }
  return -1;
}

/**
 * One long zstd stream (a .vma.zst of many GiB, one frame or several) decoded piece by piece:
 * `push` hands each decoded piece to `sink` (the piece is reused: copy what you keep). libzstd's
 * streaming decoder where the binding is built, fzstd's streaming class otherwise.
 */
export class ZstdStreamDecoder {
  private readonly native: CodecsBinding | null;
  private readonly decoder: object | null;
  private readonly out = Buffer.allocUnsafe(1 << 20);
  private readonly pos = new Float64Array(2);
  private readonly fallback: InstanceType<typeof FzstdStream> | null = null;
  private sink: (piece: Buffer) => void = () => undefined;
  /** libzstd's last hint: 0 when the last frame ended (anything else at the end: cut short). */
  private hint = 0;
  private fallbackEnded = false;

  constructor() {
    const n = binding();
    this.native = n?.zstdStreamNew && n.zstdStreamDecompress ? n : null;
    this.decoder = this.native ? this.native.zstdStreamNew!() : null;
    if (!this.native) {
      this.fallback = new FzstdStream((chunk: Uint8Array, final?: boolean) => {
        if (final) this.fallbackEnded = true;
        if (chunk.length) this.sink(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      });
    }
  }

  /** Decodes `input`; errors (bad data) are thrown with the decoder's message. */
  push(input: Buffer, sink: (piece: Buffer) => void): void {
    this.sink = sink;
    if (this.fallback) {
      this.fallback.push(input, false);
      return;
    }
    const pos = this.pos;
    pos[0] = 0;
    // Until the input is used up and the decoder has nothing more to give (a full output piece
    // may leave decoded bytes inside it).
    for (;;) {
      pos[1] = 0;
      this.hint = this.native!.zstdStreamDecompress!(this.decoder!, input, this.out, pos);
      if (pos[1] > 0) sink(this.out.subarray(0, pos[1]));
      if (pos[0] >= input.length && pos[1] < this.out.length) break;
    }
  }

  /** The input ended: throws when the stream was cut short (a frame not finished). */
  end(sink: (piece: Buffer) => void): void {
    this.sink = sink;
    if (this.fallback) {
      if (!this.fallbackEnded) this.fallback.push(new Uint8Array(0), true);
      return;
    }
    if (this.hint !== 0) throw new Error('the zstd stream ends inside a frame (cut short)');
  }
}

/**
 * One zstd frame of `src` at `level` into a fresh buffer, or null where the binding is not
 * built (callers then use another codec).
 */
export function zstdCompress(src: Uint8Array, level: number): Buffer | null {
  const n = binding();
  if (!n?.zstdCompress) return null;
  // ZSTD_compressBound for inputs below 128 KiB is a little larger; this room covers both.
  const room = Buffer.allocUnsafe(src.length + (src.length >>> 8) + 512);
  const got = n.zstdCompress(src, room, level);
  return room.subarray(0, got);
}

/**
 * `zstdCompress` in libuv's thread pool (`src` must stay untouched until it settles), or null
 * where the binding is not built.
 */
export function zstdCompressAsync(src: Uint8Array, level: number): Promise<Buffer> | null {
  const n = binding();
  if (!n?.zstdCompressAsync) return null;
  const room = Buffer.allocUnsafe(src.length + (src.length >>> 8) + 512);
  return new Promise((res, rej) => n.zstdCompressAsync!(src, room, level, (err, got) => (err === null ? res(room.subarray(0, got)) : rej(new Error(err)))));
}
