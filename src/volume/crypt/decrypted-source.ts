/**
 * The plaintext of an encrypted volume as a ByteSource: a list of segments, each a run of the
 * volume's bytes that is either encrypted with a sector cipher or stored as it is (LUKS2
 * "linear" segments during re-encryption). Reads are widened to whole sectors, read straight
 * into the caller's buffer where they are aligned, and decrypted in place, many sectors per
 * cipher call (see sector-cipher.ts for why).
 */
import { corrupt } from '../../errors.js';
import { readInto, readIntoNew, readIntoSpan, type ByteSource } from '../../source/source.js';
import type { SectorCipher } from './sector-cipher.js';

export interface PlainSegment {
  /** Where the segment starts in the plaintext. */
  start: number;
  length: number;
  /** Where its bytes lie in the underlying source. */
  sourceOffset: number;
  /** null: stored unencrypted. */
  cipher: SectorCipher | null;
  /** IV number of the segment's first sector. */
  firstIv: number;
}

/** Decrypting more than this per cipher call buys nothing and costs scratch memory. */
const MAX_BATCH = 4 << 20;

export class DecryptedSource implements ByteSource {
  readonly size: number;

  constructor(
    private readonly base: ByteSource,
    private readonly segments: PlainSegment[],
    readonly name: string,
  ) {
    let end = 0;
    for (const s of segments) {
      if (s.start !== end) throw new Error('segments must be contiguous');
      end += s.length;
    }
    this.size = end;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    return readIntoNew(this, offset, length);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    let done = 0;
    for (const seg of this.segments) {
      if (done >= n) break;
      const pos = offset + done;
      if (pos >= seg.start + seg.length || pos < seg.start) continue;
      const take = Math.min(n - done, seg.start + seg.length - pos);
      await this.readSegment(seg, target, at + done, pos - seg.start, take);
      done += take;
    }
    return done;
  }

  private async readSegment(seg: PlainSegment, target: Buffer, at: number, rel: number, length: number): Promise<void> {
    const c = seg.cipher;
    if (!c) return this.fill(target, at, seg.sourceOffset + rel, length);
    const ss = c.sectorSize;
    let pos = rel;
    let out = at;
    const end = rel + length;
    while (pos < end) {
      const first = Math.floor(pos / ss) * ss;
      const head = pos - first;
      // Aligned and whole sectors: straight into the target, decrypted there.
      if (head === 0 && end - pos >= ss) {
        const len = Math.min(Math.floor((end - pos) / ss) * ss, MAX_BATCH);
        await this.fill(target, out, seg.sourceOffset + pos, len);
        const iv = seg.firstIv + (pos / ss) * c.ivStep;
        if (c.decryptAsync) await c.decryptAsync(target, out, len, iv);
        else c.decrypt(target, out, len, iv);
        pos += len;
        out += len;
        continue;
      }
      // A partial sector at either end: through a scratch buffer.
      const lastEnd = Math.min(Math.ceil(end / ss) * ss, first + MAX_BATCH);
      const span = lastEnd - first;
      const tmp = Buffer.allocUnsafe(span);
      await this.fill(tmp, 0, seg.sourceOffset + first, span);
      c.decrypt(tmp, 0, span, seg.firstIv + (first / ss) * c.ivStep);
      const take = Math.min(end - pos, span - head);
      tmp.copy(target, out, head, head + take);
      pos += take;
      out += take;
    }
  }

  private async fill(target: Buffer, at: number, offset: number, length: number): Promise<void> {
    const got = await readInto(this.base, target, at, offset, length);
    if (got < length) {
      throw corrupt(this.name, `truncated: encrypted bytes ${offset + got}…${offset + length} are past the end of ${this.base.name}`);
    }
  }

  async close(): Promise<void> {}
}
