/**
 * Canonical Huffman decoding tables for the two Huffman-based NTFS/WOF codecs: XPRESS Huffman
 * ([MS-XCA] 2.1.4 / 2.2.4) and LZX ([MS-PATCH] 2.2, WIM flavour). Both transmit only the code
 * lengths; codes are canonical: shorter codes first, and within one length in symbol order,
 * bits read most-significant first (MS-XCA 2.1.4.1 "Huffman code construction").
 *
 * The table is a single-level lookup on the first `tableBits` bits of the stream. Codes longer
 * than `tableBits` are rare by construction (they belong to rare symbols), so instead of
 * sub-tables they leave a 0 in the lookup table and are decoded by `decodeLong` from the
 * canonical first-code/count arrays. That keeps building a table cheap — XPRESS4K builds one
 * per 4 KiB chunk — and bounds its memory by `1 << tableBits` whatever the input says.
 */

/** A lookup entry is `symbol << 5 | length`; 0 means "longer code, or no code at all". */
export const ENTRY_LEN_MASK = 31;
export const ENTRY_SYM_SHIFT = 5;

export class HuffmanTable {
  /** Lookup on the next `tableBits` bits. */
  readonly lookup: Uint16Array;
  /** first[len]: the first canonical code of that length (as a `len`-bit number). */
  private readonly first = new Int32Array(17);
  /** count[len]: how many symbols have a code of that length. */
  private readonly count = new Int32Array(17);
  /** index[len]: where symbols of that length start in `sorted`. */
  private readonly index = new Int32Array(17);
  /** Symbols ordered by (length, symbol). */
  private readonly sorted: Uint16Array;
  private readonly next = new Int32Array(17);
  /** True when no symbol has a code (LZX allows an empty length tree). */
  empty = true;

  constructor(
    readonly numSyms: number,
    readonly tableBits: number,
    readonly maxLen: number,
  ) {
    this.lookup = new Uint16Array(1 << tableBits);
    this.sorted = new Uint16Array(numSyms);
  }

  /**
   * Rebuilds the table from code lengths (0 = symbol unused). Returns false when the lengths
   * over-subscribe the code space (no prefix code has them): the caller reports corrupt data.
   * Incomplete codes are accepted; a bit pattern that matches no code fails in decoding.
   */
  build(lens: Uint8Array): boolean {
    const { numSyms, maxLen, count } = this;
    count.fill(0);
    for (let s = 0; s < numSyms; s++) {
      const l = lens[s]!;
      if (l > maxLen) return false;
      count[l]!++;
    }
    if (!this.prepare()) return false;
    let end = 0;
    for (let s = 0; s < numSyms; s++) {
      const l = lens[s]!;
      if (l !== 0) end = this.assign(s, l, end);
    }
    this.lookup.fill(0, end);
    return true;
  }

  /**
   * The same from 4-bit lengths packed two per byte, low nibble first (XPRESS's table:
   * `numSyms / 2` bytes at `at`), without unpacking them first: this runs once per 4 KiB
   * chunk of XPRESS4K, so it is worth the duplication.
   */
  buildFromNibbles(packed: Uint8Array, at: number): boolean {
    const { numSyms, count } = this;
    count.fill(0);
    const end = at + (numSyms >> 1);
    for (let i = at; i < end; i++) {
      const b = packed[i]!;
      count[b & 15]!++;
      count[b >>> 4]!++;
    }
    if (!this.prepare()) return false;
    let filled = 0;
    for (let i = at, s = 0; i < end; i++, s += 2) {
      const b = packed[i]!;
      const lo = b & 15;
      const hi = b >>> 4;
      if (lo !== 0) filled = this.assign(s, lo, filled);
      if (hi !== 0) filled = this.assign(s + 1, hi, filled);
    }
    this.lookup.fill(0, filled);
    return true;
  }

  /** After `count` is filled: checks the code fits (Kraft) and sets up canonical assignment. */
  private prepare(): boolean {
    const { tableBits, maxLen, first, count, index, next } = this;
    count[0] = 0;
    // Kraft: the number of codes of each length must fit in what the shorter ones left free.
    let left = 1;
    let code = 0;
    let at = 0;
    for (let l = 1; l <= maxLen; l++) {
      left = (left << 1) - count[l]!;
      if (left < 0) return false;
      first[l] = code;
      index[l] = at;
      code = (code + count[l]!) << 1;
      at += count[l]!;
    }
    this.empty = at === 0;
    // Symbols come in symbol order, which is the canonical order within a length: short
    // codes go straight into the lookup table (MSB-first codes index it directly), long ones
    // into `sorted` for decodeLong.
    for (let l = 1; l <= maxLen; l++) next[l] = l <= tableBits ? first[l]! << (tableBits - l) : index[l]!;
    return true;
  }

  /**
   * Gives symbol `s` (code length `l`) its code; returns how far the lookup table is filled.
   * Codes of length <= tableBits fill the table from entry 0 upwards without gaps; what
   * follows is prefixes of longer codes or of no code, which the caller sets to 0.
   */
  private assign(s: number, l: number, filled: number): number {
    const next = this.next;
    if (l > this.tableBits) {
      this.sorted[next[l]!++] = s;
      return filled;
    }
    const span = 1 << (this.tableBits - l);
    const at = next[l]!;
    next[l] = at + span;
    const e = (s << ENTRY_SYM_SHIFT) | l;
    const lookup = this.lookup;
    if (span <= 16) {
      for (let k = at, stop = at + span; k < stop; k++) lookup[k] = e;
    } else {
      lookup.fill(e, at, at + span);
    }
    return at + span > filled ? at + span : filled;
  }

  /**
   * Decodes a code longer than `tableBits` (or finds none) from `bits`, the next `maxLen`
   * bits of the stream, most significant first. Returns `symbol << 5 | length`, or -1.
   */
  decodeLong(bits: number): number {
    const { maxLen, first, count, index, sorted } = this;
    for (let l = this.tableBits + 1; l <= maxLen; l++) {
      const c = bits >>> (maxLen - l);
      const k = c - first[l]!;
      if (k >= 0 && k < count[l]!) return (sorted[index[l]! + k]! << ENTRY_SYM_SHIFT) | l;
    }
    // Codes no longer than tableBits that the table did not hold cannot exist: the bit
    // pattern matches no code of an incomplete (or empty) code.
    return -1;
  }
}
