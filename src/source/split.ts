import { readdir } from './host-fs.js';
import { basename, dirname, join } from 'node:path';
import { cannotOpen } from '../errors.js';
import { FileSource } from './file.js';
import { appendRun, hostRunsOf, readInto, type ByteSource, type HostRun, readSpan } from './source.js';

/**
 * A raw image cut into numbered parts (`name.000`, `name.001`, … or `name.001`, `name.002`, …),
 * as written by `split -d`, FTK Imager and dd-style tools, read as one source.
 */
export class SplitSource implements ByteSource {
  readonly size: number;
  private readonly starts: number[];

  private constructor(private readonly parts: ByteSource[], readonly name: string) {
    this.starts = [];
    let at = 0;
    for (const p of parts) {
      this.starts.push(at);
      at += p.size;
    }
    this.size = at;
  }

  /** The part files of a split image, in order, if `path` is the first part of one; else null. */
  static async partsOf(path: string): Promise<string[] | null> {
    const m = /^(.*)\.(\d{3,})$/.exec(basename(path));
    if (!m) return null;
    const [, stem, num] = m as unknown as [string, string, string];
    const first = Number(num);
    if (first !== 0 && first !== 1) return null;
    const dir = dirname(path);
    let names: Set<string>;
    try {
      names = new Set(await readdir(dir));
    } catch {
      return null;
    }
    const parts: string[] = [];
    for (let i = first; ; i++) {
      const n = `${stem}.${String(i).padStart(num.length, '0')}`;
      if (!names.has(n)) break;
      parts.push(join(dir, n));
    }
    return parts.length >= 2 ? parts : null;
  }

  static async open(paths: string[]): Promise<SplitSource> {
    const parts: FileSource[] = [];
    try {
      for (const p of paths) parts.push(await FileSource.open(p));
    } catch (err) {
      await Promise.all(parts.map((p) => p.close()));
      throw err;
    }
    return SplitSource.of(parts, paths[0]!);
  }

  /** Parts already opened (files on a server: remote-open.ts), read as one source named `name`. */
  static of(parts: ByteSource[], name: string): SplitSource {
    for (let i = 0; i < parts.length - 1; i++) {
      if (parts[i]!.size === 0) {
        throw cannotOpen(parts[i]!.name, 'split image part is empty');
      }
    }
    return new SplitSource(parts, name);
  }

  /** `name.001` → stem `name`, first number 1, digits 3 (only for parts numbered from 0 or 1). */
  static partName(name: string): { stem: string; first: number; digits: number } | null {
    const m = /^(.*)\.(\d{3,})$/.exec(name);
    if (!m) return null;
    const first = Number(m[2]);
    return first === 0 || first === 1 ? { stem: m[1]!, first, digits: m[2]!.length } : null;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    let i = this.partAt(offset);
    const first = await this.parts[i]!.read(offset - this.starts[i]!, n);
    if (first.length === n) return first;
    const out = Buffer.allocUnsafe(n);
    first.copy(out);
    let done = first.length;
    while (done < n && ++i < this.parts.length) {
      const chunk = await this.parts[i]!.read(0, n - done);
      chunk.copy(out, done);
      done += chunk.length;
    }
    return out.subarray(0, done);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    let i = this.partAt(offset);
    let done = await readInto(this.parts[i]!, target, at, offset - this.starts[i]!, n);
    while (done < n && ++i < this.parts.length) {
      done += await readInto(this.parts[i]!, target, at + done, 0, n - done);
    }
    return done;
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = Math.min(length, this.size - offset);
    const runs: HostRun[] = [];
    let done = 0;
    for (let i = this.partAt(offset); done < n && i < this.parts.length; i++) {
      const part = this.parts[i]!;
      const at = offset + done - this.starts[i]!;
      const take = Math.min(n - done, part.size - at);
      const got = await hostRunsOf(part, at, take);
      if (!got) return null;
      for (const r of got) appendRun(runs, r);
      done += take;
    }
    return done === n ? runs : null;
  }

  private partAt(offset: number): number {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.starts[mid]! <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  async close(): Promise<void> {
    await Promise.all(this.parts.map((p) => p.close()));
  }
}
