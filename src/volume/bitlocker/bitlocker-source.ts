/**
 * The decrypted BitLocker volume as a ByteSource: the sectors decrypted in place, except where
 * BitLocker keeps something else (libbde specification, §"Virtual sector(s)"):
 * - Windows 7 and later, To Go: the first sectors of the volume are stored, encrypted, at the
 *   volume header offset; there they are read from. The FVE metadata blocks and that stored copy
 *   read as zeros, as Windows shows them.
 * - Vista: sector 0 is the BitLocker header with "NTFS    " and the MFT mirror cluster put back;
 *   sectors 1–15 are not encrypted; the metadata blocks read as zeros.
 * - Past the encrypted size (a volume being encrypted or decrypted) the sectors are plaintext.
 */
import { readInto, readIntoNew, readIntoSpan, type ByteSource } from '../../source/source.js';

export interface Piece {
  start: number;
  length: number;
  /** null: zeros. */
  from: ByteSource | null;
  offset: number;
}

export class RemappedSource implements ByteSource {
  private readonly pieces: Piece[];

  /** `pieces` override `base` (read at the same offsets) where they lie. */
  constructor(private readonly base: ByteSource, pieces: Piece[], readonly size: number, readonly name: string) {
    this.pieces = pieces.filter((p) => p.length > 0 && p.start < size).sort((a, b) => a.start - b.start);
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return readIntoNew(this, offset, length);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    let done = 0;
    while (done < n) {
      const pos = offset + done;
      // Where pieces overlap (a metadata block inside a plaintext tail), zeros win.
      const here = this.pieces.filter((x) => pos >= x.start && pos < x.start + x.length);
      const p = here.find((x) => !x.from) ?? here[0];
      const next = this.pieces.find((x) => x.start > pos);
      const take = Math.min(n - done, p ? p.start + p.length - pos : Infinity, (next?.start ?? Infinity) - pos);
      if (p && !p.from) target.fill(0, at + done, at + done + take);
      else {
        const src = p ? p.from! : this.base;
        const from = p ? p.offset + (pos - p.start) : pos;
        const got = await readInto(src, target, at + done, from, take);
        if (got < take) return done + got;
      }
      done += take;
    }
    return done;
  }

  async close(): Promise<void> {}
}
