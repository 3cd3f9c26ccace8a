/**
 * Deflate decoding of one compressed block (a QCOW2 cluster, a VMDK grain) straight into
 * the caller's buffer. `inflateSync` builds a new zlib stream per call and gathers its output
 * in 16 KiB pieces that are then concatenated into a fresh buffer: per 64 KiB cluster that
 * cost about twice the decoding itself (measured on the bench's 1 GiB compressed QCOW2:
 * Buffer.concat inside zlib 880 ms of a 5.2 s copy; one reused stream writing into the
 * target: 3–7× less per cluster than inflateRawSync). So one zlib stream per kind is kept
 * and reset for each block, driven through the binding node's own inflateSync uses; where
 * that binding is not there (another runtime), the public inflateSync + copy does the work.
 */
import { constants as zc, createInflate, createInflateRaw, inflateRawSync, inflateSync } from 'node:zlib';

/** The zlib binding behind a stream, as node:zlib's own processChunkSync drives it. */
interface ZlibHandle {
  writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
  reset(): void;
  onerror: (message: string, errno: number) => void;
}

export type DeflateWrapper = 'raw' | 'zlib';

export interface InflateResult {
  /** Bytes written to the output. */
  written: number;
  /** The data decodes to more than the room given (a block larger than its cluster). */
  overflow: boolean;
}

export class Inflater {
  private readonly handle: ZlibHandle | null;
  private readonly state: Uint32Array | null;
  private error: string | null = null;
  private readonly probe = Buffer.allocUnsafe(1);

  /** `binding` false: always the public inflateSync (tests compare the two ways). */
  constructor(
    private readonly wrapper: DeflateWrapper,
    binding = true,
  ) {
    const stream = (wrapper === 'raw' ? createInflateRaw() : createInflate()) as unknown as { _handle?: ZlibHandle; _writeState?: Uint32Array };
    const h = stream._handle;
    const st = stream._writeState;
    if (binding && h && typeof h.writeSync === 'function' && typeof h.reset === 'function' && st instanceof Uint32Array && st.length >= 2) {
      this.handle = h;
      this.state = st;
      // Errors come back through this callback during writeSync; the stream object itself
      // is never written to, so nothing else listens.
      h.onerror = (message) => {
        this.error = message;
      };
    } else {
      this.handle = null;
      this.state = null;
    }
  }

  /**
   * Decodes `input` into out[at, at+room). `finish`: the data must be a whole stream (a
   * truncated one is an error); otherwise whatever decodes is taken (qcow2 reads this way).
   * Throws an Error naming zlib's complaint on bad data. Bytes of the room past `written`
   * may be overwritten too (node's zlib copies in wide chunks): callers fill them.
   */
  inflateInto(input: Buffer, out: Buffer, at: number, room: number, finish: boolean): InflateResult {
    // The binding aborts the process on an out-of-range write: check here, as a bug report.
    if (!(at >= 0 && room > 0 && at + room <= out.length)) throw new RangeError(`inflate into [${at}, ${at + room}) of a ${out.length}-byte buffer`);
    const flush = finish ? zc.Z_FINISH : zc.Z_SYNC_FLUSH;
    const h = this.handle;
    if (!h) return this.fallback(input, out, at, room, flush);
    this.error = null;
    h.reset();
    h.writeSync(flush, input, 0, input.length, out, at, room);
    if (this.error) throw new Error(this.error);
    const written = room - this.state![0]!;
    let overflow = false;
    if (written === room && this.state![1]! > 0) {
      // Full, with input left: the checksum or padding after the stream's end, or more
      // data than fits. One more byte of room tells which.
      const left = this.state![1]!;
      h.writeSync(flush, input, input.length - left, left, this.probe, 0, 1);
      if (this.error) throw new Error(this.error);
      overflow = this.state![0] === 0;
    }
    return { written, overflow };
  }

  private fallback(input: Buffer, out: Buffer, at: number, room: number, flush: number): InflateResult {
    const decode = (max: number) => {
      const opts = { finishFlush: flush, maxOutputLength: max, chunkSize: Math.max(64, room + 1) };
      return this.wrapper === 'raw' ? inflateRawSync(input, opts) : inflateSync(input, opts);
    };
    let b: Buffer;
    try {
      b = decode(room + 1);
    } catch (err) {
      // More than fits: decode once more with a bounded margin to keep the first `room` bytes
      // (qcow2 takes them, as qemu does); data that inflates far beyond is an error.
      if ((err as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw err;
      b = decode(4 * room + 65536);
    }
    const written = Math.min(room, b.length);
    b.copy(out, at, 0, written);
    return { written, overflow: b.length > room };
  }
}

const inflaters: Partial<Record<DeflateWrapper, Inflater>> = {};

/**
 * Decodes one deflate block into out[at, at+room) through a reused zlib stream (decoding is
 * synchronous, so one stream per wrapper serves every caller in turn).
 */
export function inflateInto(wrapper: DeflateWrapper, input: Buffer, out: Buffer, at: number, room: number, finish: boolean): InflateResult {
  const inf = (inflaters[wrapper] ??= new Inflater(wrapper));
  return inf.inflateInto(input, out, at, room, finish);
}
