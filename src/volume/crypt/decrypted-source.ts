/**
 * The plaintext of an encrypted volume as a ByteSource: a list of segments, each a run of the
 * volume's bytes that is either encrypted with a sector cipher or stored as it is (LUKS2
 * "linear" segments during re-encryption). Reads are widened to whole sectors, read straight
 * into the caller's buffer where they are aligned, and decrypted in place, many sectors per
 * cipher call (see sector-cipher.ts for why).
 */
import { corrupt } from '../../errors.js';
import { hostRunsOf, readInto, readIntoNew, readIntoSpan, type ByteSource } from '../../source/source.js';
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
/** Reads at least this big go to the fused read-and-decrypt jobs (sector-cipher.ts ASYNC_MIN). */
const FUSED_MIN = 256 * 1024;
/** A fused read is cut into jobs of about this size, run side by side on libuv's threads. */
const FUSED_JOB = 512 * 1024;

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
        if (len >= FUSED_MIN && (await this.readDecrypted(seg, c, target, out, pos, len))) {
          pos += len;
          out += len;
          continue;
        }
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

  /**
   * The fast path of a big aligned read (issue 22): where the encrypted bytes lie in host files
   * as they are (raw and fixed images: ByteSource.hostRuns), each piece is one libuv job that
   * preads and decrypts in the same thread, several jobs side by side so both cores work.
   * Before it, a read was a pread job, a return to JavaScript, then a decryption job. `cat` of
   * 256 MiB (bench/luks.ts, 2 cores at load 17-25): CPU 0.17-0.18 s against 0.11-0.12 s
   * unencrypted, where decrypting 256 MiB alone costs 0.046 s on one core (so ~0.72x is the
   * most a fully busy machine can show); wall 0.72-1.03x, was 0.49x on an idle machine
   * (docs/formats/luks.md). False: not possible here, the caller reads through the source.
   */
  private async readDecrypted(seg: PlainSegment, c: SectorCipher, target: Buffer, at: number, rel: number, length: number): Promise<boolean> {
    const job = c.readDecryptAsync;
    if (!job || this.noHostRuns) return false;
    const ss = c.sectorSize;
    const runs = await hostRunsOf(this.base, seg.sourceOffset + rel, length, 64);
    if (!runs) {
      // A source that cannot say for one read (qcow2, vmdk, ...) will not for the next.
      if (!this.base.hostRuns) this.noHostRuns = true;
      return false;
    }
    if (runs.some((r) => r.fd < 0 || r.length % ss !== 0)) return false;
    const jobs: Promise<void>[] = [];
    let done = 0;
    for (const r of runs) {
      for (let o = 0; o < r.length; ) {
        const take = Math.min(r.length - o, Math.max(ss, Math.floor(FUSED_JOB / ss) * ss));
        const iv = seg.firstIv + ((rel + done) / ss) * c.ivStep;
        jobs.push(job(r.fd, r.offset + o, target, at + done, take, iv));
        o += take;
        done += take;
      }
    }
    const settled = await Promise.allSettled(jobs);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      const why = (failed.reason as Error).message;
      const from = seg.sourceOffset + rel;
      if (why === 'short') throw corrupt(this.name, `truncated: encrypted bytes ${from}…${from + length} are past the end of ${this.base.name}`);
      throw corrupt(this.base.name, `read failed at ${from} (${length} bytes): ${why}`);
    }
    return true;
  }

  private noHostRuns = false;

  private async fill(target: Buffer, at: number, offset: number, length: number): Promise<void> {
    const got = await readInto(this.base, target, at, offset, length);
    if (got < length) {
      throw corrupt(this.name, `truncated: encrypted bytes ${offset + got}…${offset + length} are past the end of ${this.base.name}`);
    }
  }

  async close(): Promise<void> {}
}
