/**
 * XPRESS Huffman ("LZ77+Huffman", [MS-XCA] 2.1 and 2.2) decompression, as used by WOF's
 * XPRESS4K/8K/16K system compression: each WOF chunk is one independent stream.
 *
 * Stream layout ([MS-XCA] 2.1.4, 2.2.4), per 65536 bytes of output:
 *   - 256 bytes: the code lengths of the 512 symbols, 4 bits each, low nibble first;
 *   - a bit stream read as little-endian 16-bit words, most significant bit first, with
 *     whole bytes (long match lengths) interleaved at the current word position.
 * Symbols 0..255 are literals. Symbol 256+x is a match: length header x & 15 (15 = longer,
 * from the next byte, and 255 there = from the next 16-bit word, 0 there = from a 32-bit word),
 * log2 of the offset x >> 4, followed by that many low offset bits.
 *
 * The decoder keeps the spec's state: at least 16 bits are in the buffer after every
 * consumption, so a byte read after a symbol lands exactly where the spec says.
 */
import { corrupt } from '../../errors.js';
import { ENTRY_LEN_MASK, ENTRY_SYM_SHIFT, HuffmanTable } from './huffman.js';

const NUM_SYMBOLS = 512;
const TABLE_BYTES = NUM_SYMBOLS / 2;
const MAX_CODE_LEN = 15;
const TABLE_BITS = 11;
const BLOCK_OUTPUT = 65536;
const MIN_MATCH = 3;

// One table is reused: decoding is synchronous, so calls never interleave.
const table = new HuffmanTable(NUM_SYMBOLS, TABLE_BITS, MAX_CODE_LEN);

/**
 * Decompresses an XPRESS Huffman stream to exactly `outSize` bytes, into `into` when given
 * (a buffer of at least `outSize` bytes; callers decoding many chunks save an allocation each).
 * Throws a DiskpickError (image) naming `name` on any inconsistency.
 */
export function decompressXpressHuffman(input: Buffer, outSize: number, name = 'XPRESS stream', into?: Buffer): Buffer {
  if (!Number.isSafeInteger(outSize) || outSize < 0) throw corrupt(name, `XPRESS: invalid output size ${outSize}`);
  const out = into && into.length >= outSize ? into.subarray(0, outSize) : Buffer.allocUnsafe(outSize);
  const inLen = input.length;
  const lookup = table.lookup;
  let op = 0;
  let pos = 0;
  while (op < outSize) {
    // A new Huffman table every 64 KiB of output, at the current input position.
    if (inLen - pos < TABLE_BYTES + 4) throw corrupt(name, `XPRESS: truncated stream (no Huffman table at input offset ${pos})`);
    if (!table.buildFromNibbles(input, pos) || table.empty) throw corrupt(name, `XPRESS: invalid Huffman table at input offset ${pos}`);
    pos += TABLE_BYTES;
    // 32 bits up front, as the spec's NextBits.
    let bitbuf = ((input[pos]! | (input[pos + 1]! << 8)) << 16) | input[pos + 2]! | (input[pos + 3]! << 8);
    let bitcount = 32;
    pos += 4;
    const blockEnd = Math.min(outSize, op + BLOCK_OUTPUT);
    while (op < blockEnd) {
      let e = lookup[bitbuf >>> (32 - TABLE_BITS)]!;
      // Runs of literals with short codes: the common case on code and binary data.
      // The 16-bit refill below is written out at each of its three places on purpose: the bit
      // buffer, count and position are locals of this loop, and a helper would need them in an
      // object or closure, which costs the per-symbol speed this decoder exists for (XPRESS4K
      // is measured at ~150 MiB/s, the floor).
      while (e !== 0 && e < 256 << ENTRY_SYM_SHIFT) {
        const l = e & ENTRY_LEN_MASK;
        bitbuf <<= l;
        bitcount -= l;
        if (bitcount < 16) {
          if (pos + 1 < inLen) bitbuf |= (input[pos]! | (input[pos + 1]! << 8)) << (16 - bitcount);
          else if (pos < inLen) bitbuf |= input[pos]! << (16 - bitcount);
          bitcount += 16;
          pos += 2;
        }
        out[op++] = e >>> ENTRY_SYM_SHIFT;
        if (op >= blockEnd) break;
        e = lookup[bitbuf >>> (32 - TABLE_BITS)]!;
      }
      if (op >= blockEnd) break;
      if (e === 0) {
        e = table.decodeLong(bitbuf >>> (32 - MAX_CODE_LEN));
        if (e < 0) throw corrupt(name, `XPRESS: invalid Huffman code at output offset ${op}`);
      }
      const len = e & ENTRY_LEN_MASK;
      bitbuf <<= len;
      bitcount -= len;
      if (bitcount < 16) {
        // Past the end of the input the words read as zero; a valid stream never uses
        // them (checked below), but the lookahead may touch them.
        if (pos + 1 < inLen) bitbuf |= (input[pos]! | (input[pos + 1]! << 8)) << (16 - bitcount);
        else if (pos < inLen) bitbuf |= input[pos]! << (16 - bitcount);
        bitcount += 16;
        pos += 2;
      }
      const sym = e >>> ENTRY_SYM_SHIFT;
      if (sym < 256) {
        out[op++] = sym;
        continue;
      }
      let length = sym & 15;
      const offsetBits = (sym >>> 4) & 15;
      if (length === 15) {
        if (pos >= inLen) throw corrupt(name, `XPRESS: truncated stream (match length at input offset ${pos})`);
        length = input[pos++]!;
        if (length === 255) {
          if (pos + 2 > inLen) throw corrupt(name, `XPRESS: truncated stream (match length at input offset ${pos})`);
          length = input[pos]! | (input[pos + 1]! << 8);
          pos += 2;
          if (length === 0) {
            if (pos + 4 > inLen) throw corrupt(name, `XPRESS: truncated stream (match length at input offset ${pos})`);
            length = input.readUInt32LE(pos);
            pos += 4;
          }
          if (length < 15) throw corrupt(name, `XPRESS: invalid match length at output offset ${op}`);
          length -= 15;
        }
        length += 15;
      }
      length += MIN_MATCH;
      let offset = 1 << offsetBits;
      if (offsetBits !== 0) {
        offset |= bitbuf >>> (32 - offsetBits);
        bitbuf <<= offsetBits;
        bitcount -= offsetBits;
        if (bitcount < 16) {
          if (pos + 1 < inLen) bitbuf |= (input[pos]! | (input[pos + 1]! << 8)) << (16 - bitcount);
          else if (pos < inLen) bitbuf |= input[pos]! << (16 - bitcount);
          bitcount += 16;
          pos += 2;
        }
      }
      if (offset > op) throw corrupt(name, `XPRESS: match at output offset ${op} reaches ${offset} bytes back, before the start of the data`);
      if (length > outSize - op) throw corrupt(name, `XPRESS: match at output offset ${op} runs ${length} bytes past the end of the ${outSize}-byte chunk`);
      let from = op - offset;
      if (offset >= length && length > 32) {
        out.copyWithin(op, from, from + length);
        op += length;
      } else {
        // Overlapping (a run) or short: byte by byte, as the spec's copy semantics require.
        const end = op + length;
        while (op < end) out[op++] = out[from++]!;
      }
    }
    // Bits actually used must all have been in the input: the buffer's lookahead may run
    // past the end, but no decoded code may.
    if (pos * 8 - bitcount > inLen * 8) throw corrupt(name, `XPRESS: truncated stream (${inLen} bytes for ${outSize} bytes of output)`);
  }
  return out;
}
