/**
 * LZO1X decompression, written from the bitstream description in the Linux kernel's
 * Documentation/staging/lzo.rst (the format the kernel's lzo1x_1_compress writes for Btrfs).
 * No npm LZO package was both maintained and safe on hostile input (the popular ones are
 * native bindings or an FFmpeg build for browsers), so this is a small bounded decoder: every
 * read is checked against the input, every write against the output limit, and every match
 * distance against what was already written. Tested against the kernel's output on every LZO
 * extent of the test images (test/btrfs).
 */

export class LzoError extends Error {}

/**
 * Decodes one LZO1X stream from src[start … end) into dst[0 …]; returns the bytes written.
 * Stops at the end marker; fails on anything that would read or write out of bounds.
 */
export function lzo1xDecompress(src: Buffer, start: number, end: number, dst: Buffer): number {
  let ip = start;
  let op = 0;
  const limit = dst.length;
  const byte = (): number => {
    if (ip >= end) throw new LzoError('input overrun');
    return src[ip++]!;
  };
  /** Length with the zero-byte extension: `base` plus 255 per zero byte plus the first non-zero byte. */
  const longLength = (base: number): number => {
    let n = 0;
    let b = byte();
    while (b === 0) {
      n += 255;
      if (n > limit + 255) throw new LzoError('length overrun');
      b = byte();
    }
    return base + n + b;
  };
  const literals = (n: number) => {
    if (ip + n > end) throw new LzoError('input overrun');
    if (op + n > limit) throw new LzoError('output overrun');
    src.copy(dst, op, ip, ip + n);
    ip += n;
    op += n;
  };
  const match = (dist: number, n: number) => {
    if (dist > op || dist <= 0) throw new LzoError('lookbehind overrun');
    if (op + n > limit) throw new LzoError('output overrun');
    let from = op - dist;
    // Byte by byte: a match may overlap what it writes (a run).
    for (let k = 0; k < n; k++) dst[op++] = dst[from++]!;
  };

  // state: literals copied by the previous instruction (0..3), 4 after a longer literal run.
  let state = 0;
  if (end - start < 3) throw new LzoError('input too short');
  const first = src[ip]!;
  if (first === 17) throw new LzoError('versioned (LZO-RLE) streams are not written by Btrfs');
  if (first > 17) {
    ip++;
    const t = first - 17;
    literals(t);
    state = t < 4 ? t : 4;
  }
  for (;;) {
    const inst = byte();
    let s: number;
    if (inst >= 128) {
      // 1 L L D D D S S: 5..8 bytes within 2 KiB.
      const h = byte();
      s = inst & 3;
      match((h << 3) + ((inst >> 2) & 7) + 1, 5 + ((inst >> 5) & 3));
    } else if (inst >= 64) {
      // 0 1 L D D D S S: 3..4 bytes within 2 KiB.
      const h = byte();
      s = inst & 3;
      match((h << 3) + ((inst >> 2) & 7) + 1, 3 + ((inst >> 5) & 1));
    } else if (inst >= 32) {
      // 0 0 1 L L L L L: within 16 KiB, LE16 distance follows.
      const l = inst & 31;
      const n = 2 + (l || longLength(31));
      const v = byte() | (byte() << 8);
      s = v & 3;
      match((v >> 2) + 1, n);
    } else if (inst >= 16) {
      // 0 0 0 1 H L L L: within 16..48 KiB; distance 16384 ends the stream.
      const l = inst & 7;
      const n = 2 + (l || longLength(7));
      const v = byte() | (byte() << 8);
      const dist = 16384 + ((inst & 8) << 11) + (v >> 2);
      if (dist === 16384) return op;
      s = v & 3;
      match(dist, n);
    } else if (state === 0) {
      // 0 0 0 0 L L L L after no literals: a literal run of 4.. bytes.
      literals(3 + (inst || longLength(15)));
      state = 4;
      continue;
    } else if (state < 4) {
      // 0 0 0 0 D D S S after 1..3 literals: 2 bytes within 1 KiB.
      const h = byte();
      s = inst & 3;
      match((h << 2) + ((inst >> 2) & 3) + 1, 2);
    } else {
      // 0 0 0 0 D D S S after a literal run: 3 bytes at 2..3 KiB.
      const h = byte();
      s = inst & 3;
      match((h << 2) + ((inst >> 2) & 3) + 2049, 3);
    }
    literals(s);
    state = s;
  }
}
