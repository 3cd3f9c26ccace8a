/**
 * LZNT1 ([MS-XCA] 2.5): the compression of NTFS "compressed" files. NTFS compresses each
 * compression unit (normally 16 clusters = 64 KiB) on its own; the unit as stored is a
 * sequence of chunks, each standing for 4096 bytes of output:
 *
 *   chunk header (16 bits, little-endian)
 *     bits 0..11  chunk data size - 1 (the data after the header, so 1..4096 bytes)
 *     bits 12..14 signature, always 3
 *     bit  15     1 = data is compressed, 0 = stored as-is
 *   a header of 0 ends the unit; the rest of the unit reads as zeros.
 *
 * Compressed chunk data is groups of one flag byte and 8 tokens (least significant flag bit
 * first): 0 = one literal byte, 1 = a 16-bit little-endian copy token. The token splits into
 * displacement (high bits) and length (low bits) according to how much of the chunk has been
 * output so far: the displacement gets just enough bits to reach back to the chunk start
 * (at least 4), the length the remaining 12..4 bits. displacement = d + 1, length = l + 3.
 * A chunk that decompresses to less than 4096 bytes is followed by zeros up to 4096 (the next
 * chunk always begins at the next 4 KiB of output).
 */
import { corrupt } from '../../errors.js';

export const LZNT1_CHUNK_SIZE = 4096;
const HEADER_SIZE_MASK = 0x0fff;
const HEADER_SIGNATURE_MASK = 0x7000;
const HEADER_SIGNATURE = 0x3000;
const HEADER_COMPRESSED = 0x8000;

/**
 * Decompresses one LZNT1 compression unit as stored (`input`: its clusters, possibly with
 * slack after the end marker) to exactly `unitSize` bytes.
 */
export function decompressLznt1Unit(input: Buffer, unitSize: number, name = 'LZNT1 unit'): Buffer {
  if (!Number.isSafeInteger(unitSize) || unitSize < 0) throw corrupt(name, `LZNT1: invalid unit size ${unitSize}`);
  // Chunks always stand for 4096 bytes; a caller asking for a shorter tail gets the front.
  const whole = Math.ceil(unitSize / LZNT1_CHUNK_SIZE) * LZNT1_CHUNK_SIZE;
  // Every byte is written below (data, or zeros after short chunks and after the end).
  const out = Buffer.allocUnsafe(whole);
  const inLen = input.length;
  let ip = 0;
  let chunkStart = 0;
  while (chunkStart < whole && ip + 2 <= inLen) {
    const header = input[ip]! | (input[ip + 1]! << 8);
    if (header === 0) break;
    ip += 2;
    if ((header & HEADER_SIGNATURE_MASK) !== HEADER_SIGNATURE) {
      throw corrupt(name, `LZNT1: bad chunk signature 0x${header.toString(16).padStart(4, '0')} at input offset ${ip - 2}`);
    }
    const size = (header & HEADER_SIZE_MASK) + 1;
    if (ip + size > inLen) throw corrupt(name, `LZNT1: chunk at input offset ${ip - 2} needs ${size} bytes, only ${inLen - ip} left in the unit`);
    let produced: number;
    if ((header & HEADER_COMPRESSED) === 0) {
      // Stored chunk: its bytes as they are (normally all 4096; the size field cannot say more).
      input.copy(out, chunkStart, ip, ip + size);
      produced = chunkStart + size;
    } else {
      produced = decompressChunk(input, ip, ip + size, out, chunkStart, name);
    }
    out.fill(0, produced, chunkStart + LZNT1_CHUNK_SIZE);
    ip += size;
    chunkStart += LZNT1_CHUNK_SIZE;
  }
  out.fill(0, chunkStart);
  return whole === unitSize ? out : out.subarray(0, unitSize);
}

/** Decodes one compressed chunk at `chunkStart`; returns where its output ends. */
function decompressChunk(input: Buffer, ip: number, end: number, out: Buffer, chunkStart: number, name: string): number {
  const chunkEnd = chunkStart + LZNT1_CHUNK_SIZE;
  let op = chunkStart;
  // The displacement/length split: `lenBits` length bits while the chunk's output is at most
  // `splitLimit` bytes; it shrinks by one each time the output passes the limit.
  let lenBits = 12;
  let lenMask = 0x0fff;
  let splitLimit = chunkStart + 16;
  while (ip < end) {
    const flags = input[ip++]!;
    if (flags === 0 && ip + 8 <= end && op + 8 <= chunkEnd) {
      // Eight literals (common in code and binary data): no per-token checks needed.
      for (let k = 0; k < 8; k++) out[op + k] = input[ip + k]!;
      op += 8;
      ip += 8;
      continue;
    }
    for (let bit = 0; bit < 8 && ip < end; bit++) {
      if (op >= chunkEnd) throw corrupt(name, `LZNT1: chunk at output offset ${chunkStart} holds more than ${LZNT1_CHUNK_SIZE} bytes`);
      if ((flags & (1 << bit)) === 0) {
        out[op++] = input[ip++]!;
        continue;
      }
      if (ip + 2 > end) throw corrupt(name, `LZNT1: copy token cut short at input offset ${ip}`);
      const token = input[ip]! | (input[ip + 1]! << 8);
      ip += 2;
      while (op > splitLimit) {
        lenBits--;
        lenMask >>>= 1;
        splitLimit = chunkStart + ((splitLimit - chunkStart) << 1);
      }
      const displacement = (token >>> lenBits) + 1;
      const length = (token & lenMask) + 3;
      let from = op - displacement;
      if (from < chunkStart) throw corrupt(name, `LZNT1: copy token at output offset ${op} reaches before the start of its chunk`);
      if (length > chunkEnd - op) throw corrupt(name, `LZNT1: copy token at output offset ${op} runs past the end of its chunk`);
      const stop = op + length;
      if (displacement >= length && length > 32) {
        out.copyWithin(op, from, stop - displacement);
        op = stop;
      } else {
        while (op < stop) out[op++] = out[from++]!;
      }
    }
  }
  return op;
}
