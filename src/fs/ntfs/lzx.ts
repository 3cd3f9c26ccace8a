/**
 * LZX decompression in the WIM flavour that WOF's "LZX" system compression uses: every
 * 32 KiB chunk is an independent LZX stream with a 32 KiB window, no stream header, and E8
 * call translation always applied with the fixed "file size" 12000000. The format is the one
 * of [MS-PATCH] 2.2–2.3 (LZX DELTA without the DELTA extensions) and the 1997 "Microsoft LZX
 * Data Compression Format"; the WIM restrictions are described in wimlib's documentation.
 *
 * Bit stream: little-endian 16-bit words, most significant bit first.
 * Blocks until the output is full, each:
 *   3 bits block type (1 verbatim, 2 aligned offset, 3 uncompressed)
 *   1 bit: 1 = block size 32768; 0 = 16 bits of block size (+ 8 more bits when the window
 *     is 64 KiB or larger)
 *   aligned: 8 x 3-bit aligned-offset code lengths, then as verbatim
 *   verbatim: main code lengths 0..255, then 256..end, then the 249 length-code lengths, each
 *     group sent through a 20-symbol pretree (4-bit lengths) as deltas against the previous
 *     block's lengths (0 at the start of the stream) with run-length symbols 17, 18, 19
 *   uncompressed: align to the next 16-bit word (a whole word when already aligned), R0 R1 R2
 *     as 32-bit little-endian, the bytes, a pad byte when the size is odd.
 * Main symbol < 256 is a literal; else (sym - 256) = slot * 8 + length header. Slots 0..2 reuse
 * the recent offsets R0..R2; other slots carry extra offset bits (the last 3 through the
 * aligned-offset code in aligned blocks, for slots with 3+ extra bits).
 */
import { corrupt } from '../../errors.js';
import { ENTRY_LEN_MASK, ENTRY_SYM_SHIFT, HuffmanTable } from './huffman.js';

const NUM_CHARS = 256;
const NUM_PRIMARY_LENS = 7;
const NUM_LEN_HEADERS = 8;
const MIN_MATCH = 2;
const LENCODE_NUM_SYMBOLS = 249;
const PRECODE_NUM_SYMBOLS = 20;
const ALIGNED_NUM_SYMBOLS = 8;
const MIN_ALIGNED_SLOT = 8;
const MAX_OFFSET_SLOTS = 50;
const MAX_CODE_LEN = 16;
const DEFAULT_BLOCK_SIZE = 32768;
const E8_FILE_SIZE = 12000000;
const BLOCKTYPE_VERBATIM = 1;
const BLOCKTYPE_ALIGNED = 2;
const BLOCKTYPE_UNCOMPRESSED = 3;

/** Extra offset bits per offset slot: 0,0,0,0,1,1,2,2,… capped at 17. */
const EXTRA_BITS = new Uint8Array(MAX_OFFSET_SLOTS);
/** Offset of each slot's first match offset, already minus the 2 that slots 0..2 stand for. */
const SLOT_BASE = new Int32Array(MAX_OFFSET_SLOTS + 1);
{
  let base = 0;
  for (let s = 0; s < MAX_OFFSET_SLOTS; s++) {
    EXTRA_BITS[s] = s < 4 ? 0 : Math.min(17, (s >> 1) - 1);
    SLOT_BASE[s] = base - 2;
    base += 1 << EXTRA_BITS[s]!;
  }
  SLOT_BASE[MAX_OFFSET_SLOTS] = base - 2;
}

/** Offset slots a window needs: enough to reach window - 3 back (the format never needs window - 2). */
function numOffsetSlots(windowSize: number): number {
  const maxOffset = windowSize - MIN_MATCH - 1;
  let n = 30;
  while (n < MAX_OFFSET_SLOTS && maxOffset >= SLOT_BASE[n]!) n++;
  return n;
}

class Tables {
  readonly mainLens: Uint8Array;
  readonly lenLens = new Uint8Array(LENCODE_NUM_SYMBOLS);
  readonly alignedLens = new Uint8Array(ALIGNED_NUM_SYMBOLS);
  readonly preLens = new Uint8Array(PRECODE_NUM_SYMBOLS);
  readonly main: HuffmanTable;
  readonly len = new HuffmanTable(LENCODE_NUM_SYMBOLS, 10, MAX_CODE_LEN);
  readonly aligned = new HuffmanTable(ALIGNED_NUM_SYMBOLS, 7, 7);
  readonly pre = new HuffmanTable(PRECODE_NUM_SYMBOLS, 8, 15);
  constructor(readonly numMainSyms: number) {
    this.mainLens = new Uint8Array(numMainSyms);
    this.main = new HuffmanTable(numMainSyms, 11, MAX_CODE_LEN);
  }
}
// Decoding is synchronous, so one set of tables per window size can be reused.
const tablesByMainSyms = new Map<number, Tables>();

/** The bit reader: `buf` holds `count` bits left-justified (next bit = bit 31). */
class Bits {
  buf = 0;
  count = 0;
  pos: number;
  constructor(
    readonly input: Buffer,
    readonly name: string,
    start: number,
  ) {
    this.pos = start;
  }
  /** Makes at least 16 bits available. Words past the input read as zero (see `overrun`). */
  fill(): void {
    if (this.count < 16) {
      const p = this.pos;
      const inp = this.input;
      const w = p + 1 < inp.length ? inp[p]! | (inp[p + 1]! << 8) : 0;
      this.buf |= w << (16 - this.count);
      this.count += 16;
      this.pos = p + 2;
    }
  }
  /** Reads n (0..16) bits. */
  read(n: number): number {
    if (n === 0) return 0;
    this.fill();
    const v = this.buf >>> (32 - n);
    this.buf <<= n;
    this.count -= n;
    return v;
  }
  /** Decodes one symbol of `t`. */
  sym(t: HuffmanTable): number {
    this.fill();
    let e = t.lookup[this.buf >>> (32 - t.tableBits)]!;
    if (e === 0) {
      e = t.decodeLong(this.buf >>> (32 - t.maxLen));
      if (e < 0) throw corrupt(this.name, 'LZX: invalid Huffman code');
    }
    const l = e & ENTRY_LEN_MASK;
    this.buf <<= l;
    this.count -= l;
    return e >>> ENTRY_SYM_SHIFT;
  }
  /** Bits consumed from the start of the input. */
  consumed(): number {
    return this.pos * 8 - this.count;
  }
  /** Restarts the bit stream at byte `p` (after an uncompressed block). */
  restart(p: number): void {
    this.pos = p;
    this.buf = 0;
    this.count = 0;
  }
  overrun(): boolean {
    return this.consumed() > this.input.length * 8;
  }
}

/**
 * Decompresses one LZX stream (one WOF chunk) to exactly `outSize` bytes, into `into` when
 * given. `windowSize` is the LZX window (32768 for WOF; a power of two from 2^15 to 2^21).
 */
export function decompressLzx(input: Buffer, outSize: number, windowSize = 32768, name = 'LZX stream', into?: Buffer): Buffer {
  if (!Number.isSafeInteger(outSize) || outSize < 0) throw corrupt(name, `LZX: invalid output size ${outSize}`);
  if (!(windowSize >= 1 << 15 && windowSize <= 1 << 21 && (windowSize & (windowSize - 1)) === 0)) {
    throw corrupt(name, `LZX: unsupported window size ${windowSize}`);
  }
  if (outSize > windowSize) throw corrupt(name, `LZX: ${outSize} bytes do not fit the ${windowSize}-byte window`);
  const numMainSyms = NUM_CHARS + numOffsetSlots(windowSize) * NUM_LEN_HEADERS;
  let t = tablesByMainSyms.get(numMainSyms);
  if (!t) {
    t = new Tables(numMainSyms);
    tablesByMainSyms.set(numMainSyms, t);
  }
  const out = into && into.length >= outSize ? into.subarray(0, outSize) : Buffer.allocUnsafe(outSize);
  const bits = new Bits(input, name, 0);
  // Delta coding of code lengths starts from all zeros in every stream.
  t.mainLens.fill(0);
  t.lenLens.fill(0);
  let r0 = 1;
  let r1 = 1;
  let r2 = 1;
  let op = 0;
  while (op < outSize) {
    const type = bits.read(3);
    if (type !== BLOCKTYPE_VERBATIM && type !== BLOCKTYPE_ALIGNED && type !== BLOCKTYPE_UNCOMPRESSED) {
      throw corrupt(name, `LZX: invalid block type ${type} at output offset ${op}`);
    }
    let blockSize: number;
    if (bits.read(1)) blockSize = DEFAULT_BLOCK_SIZE;
    else {
      blockSize = bits.read(16);
      if (windowSize >= 65536) blockSize = (blockSize << 8) | bits.read(8);
    }
    if (blockSize < 1 || blockSize > outSize - op) {
      throw corrupt(name, `LZX: block of ${blockSize} bytes at output offset ${op} does not fit the ${outSize}-byte chunk`);
    }
    if (type === BLOCKTYPE_UNCOMPRESSED) {
      // Align to the next 16-bit word; when already aligned a whole word of padding follows.
      const at = (Math.floor(bits.consumed() / 16) + 1) * 2;
      if (at + 12 + blockSize > input.length) throw corrupt(name, `LZX: uncompressed block at output offset ${op} is cut short`);
      r0 = input.readUInt32LE(at);
      r1 = input.readUInt32LE(at + 4);
      r2 = input.readUInt32LE(at + 8);
      if (r0 === 0 || r1 === 0 || r2 === 0) throw corrupt(name, 'LZX: uncompressed block with a zero recent offset');
      input.copy(out, op, at + 12, at + 12 + blockSize);
      op += blockSize;
      bits.restart(at + 12 + blockSize + (blockSize & 1));
      continue;
    }
    const aligned = type === BLOCKTYPE_ALIGNED;
    if (aligned) {
      for (let i = 0; i < ALIGNED_NUM_SYMBOLS; i++) t.alignedLens[i] = bits.read(3);
      if (!t.aligned.build(t.alignedLens)) throw corrupt(name, 'LZX: invalid aligned offset code');
    }
    readLens(bits, t, t.mainLens, 0, NUM_CHARS);
    readLens(bits, t, t.mainLens, NUM_CHARS, numMainSyms);
    readLens(bits, t, t.lenLens, 0, LENCODE_NUM_SYMBOLS);
    if (!t.main.build(t.mainLens) || t.main.empty) throw corrupt(name, 'LZX: invalid main code');
    if (!t.len.build(t.lenLens)) throw corrupt(name, 'LZX: invalid length code');
    if (bits.overrun()) throw corrupt(name, 'LZX: truncated stream (block header)');

    const blockEnd = op + blockSize;
    const main = t.main;
    const lenTable = t.len;
    const alignedTable = t.aligned;
    const minAlignedSlot = aligned ? MIN_ALIGNED_SLOT : MAX_OFFSET_SLOTS;
    while (op < blockEnd) {
      const sym = bits.sym(main);
      if (sym < NUM_CHARS) {
        out[op++] = sym;
        continue;
      }
      const m = sym - NUM_CHARS;
      let length = m & 7;
      const slot = m >>> 3;
      if (length === NUM_PRIMARY_LENS) {
        if (lenTable.empty) throw corrupt(name, 'LZX: long match with an empty length code');
        length += bits.sym(lenTable);
      }
      length += MIN_MATCH;
      let offset: number;
      if (slot < 3) {
        if (slot === 0) offset = r0;
        else if (slot === 1) {
          offset = r1;
          r1 = r0;
        } else {
          offset = r2;
          r2 = r0;
        }
      } else {
        const extra = EXTRA_BITS[slot]!;
        if (slot >= minAlignedSlot) {
          offset = (readWide(bits, extra - 3) << 3) | bits.sym(alignedTable);
        } else {
          offset = readWide(bits, extra);
        }
        offset += SLOT_BASE[slot]!;
        r2 = r1;
        r1 = r0;
      }
      r0 = offset;
      if (offset > op) throw corrupt(name, `LZX: match at output offset ${op} reaches ${offset} bytes back, before the start of the data`);
      if (length > blockEnd - op) throw corrupt(name, `LZX: match at output offset ${op} runs past the end of its block`);
      let from = op - offset;
      const stop = op + length;
      if (offset >= length && length > 32) {
        out.copyWithin(op, from, from + length);
        op = stop;
      } else {
        while (op < stop) out[op++] = out[from++]!;
      }
    }
    if (bits.overrun()) throw corrupt(name, `LZX: truncated stream (${input.length} bytes for ${outSize} bytes of output)`);
  }
  undoE8(out);
  return out;
}

/** Reads up to 17 bits (the reader takes 16 at a time). */
function readWide(bits: Bits, n: number): number {
  if (n <= 16) return bits.read(n);
  const hi = bits.read(n - 16);
  return hi * 65536 + bits.read(16);
}

/** Reads code lengths [from, to) of `lens` through a freshly sent pretree. */
function readLens(bits: Bits, t: Tables, lens: Uint8Array, from: number, to: number): void {
  for (let i = 0; i < PRECODE_NUM_SYMBOLS; i++) t.preLens[i] = bits.read(4);
  if (!t.pre.build(t.preLens) || t.pre.empty) throw corrupt(bits.name, 'LZX: invalid pretree');
  let i = from;
  while (i < to) {
    const p = bits.sym(t.pre);
    if (p < 17) {
      // A delta against the previous length, modulo 17.
      lens[i] = (lens[i]! - p + 17) % 17;
      i++;
      continue;
    }
    let run: number;
    let value: number;
    if (p === 17) {
      run = 4 + bits.read(4);
      value = 0;
    } else if (p === 18) {
      run = 20 + bits.read(5);
      value = 0;
    } else {
      run = 4 + bits.read(1);
      const q = bits.sym(t.pre);
      if (q > 17) throw corrupt(bits.name, 'LZX: invalid code length run');
      value = (lens[i]! - q + 17) % 17;
    }
    // A run reaching past the group is tolerated (as other decoders do); the excess is dropped.
    const end = Math.min(to, i + run);
    lens.fill(value, i, end);
    i = end;
    if (bits.overrun()) throw corrupt(bits.name, 'LZX: truncated stream (code lengths)');
  }
}

/**
 * Undoes the E8 (x86 CALL) translation: every E8 byte before the last 10 bytes is followed by
 * a 32-bit value that the compressor turned from relative to absolute; turn it back. After any
 * E8 byte the next 4 bytes are skipped, translated or not.
 */
function undoE8(out: Buffer): void {
  const size = out.length;
  if (size <= 10) return;
  const limit = size - 10;
  let i = out.indexOf(0xe8);
  while (i >= 0 && i < limit) {
    const abs = out.readInt32LE(i + 1);
    if (abs >= 0) {
      if (abs < E8_FILE_SIZE) out.writeInt32LE(abs - i, i + 1);
    } else if (abs >= -i) {
      out.writeInt32LE(abs + E8_FILE_SIZE, i + 1);
    }
    i = out.indexOf(0xe8, i + 5);
  }
}
