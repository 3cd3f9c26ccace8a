import { readdir, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { cannotOpen, corrupt, DiskpickError, fromSystemError } from '../errors.js';
import { FileSource } from '../source/file.js';
import { HostFile } from './hostfile.js';
import { openHostFile } from '../source/index.js';
import { SplitSource } from '../source/split.js';
import type { ByteSource } from '../source/source.js';
import type { Container, ContainerFormat, OpenContext } from './container.js';
import { RawContainer, rawFormat } from './raw.js';
import { containerFormats } from './formats.js';

export interface OpenContainerOptions {
  /** Extra folders where referenced files (parents, extents) may be opened. */
  parentDirs?: string[];
  /** Longest chain of parents accepted (a guard against hostile images). */
  maxChainLength?: number;
}

const HEAD_BYTES = 64 * 1024;

/** Opens an image file and every file it references, read-only, as one virtual disk. */
export async function openContainer(path: string, opts: OpenContainerOptions = {}): Promise<Container> {
  const real = await realpathOrFail(path);
  const allowed = [dirname(real)];
  for (const d of opts.parentDirs ?? []) allowed.push(await realpathOrFail(d));
  const warnings: string[] = [];
  const opened: ByteSource[] = [];
  const session = new ChainSession(allowed, opts.maxChainLength ?? 64, warnings, opened);
  try {
    const top = await session.openAt(path, real, []);
    for (const w of warnings) if (!top.warnings.includes(w)) top.warnings.push(w);
    return top;
  } catch (err) {
    await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
    throw err;
  }
}

async function realpathOrFail(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    throw fromSystemError(err, p);
  }
}

class ChainSession {
  constructor(
    private readonly allowed: string[],
    private readonly maxChain: number,
    readonly warnings: string[],
    private readonly opened: ByteSource[],
  ) {}

  private isAllowed(real: string): boolean {
    return this.allowed.some((d) => real === d || real.startsWith(d.endsWith(sep) ? d : d + sep));
  }

  /** Resolves `ref` (as written in `from`) to a real host path inside the allowed folders. */
  async resolveRef(ref: string, from: string, what: string): Promise<string> {
    if (ref.includes('\0')) throw corrupt(from, `${what} name contains a NUL byte`);
    const wanted = isAbsolute(ref) ? ref : resolve(dirname(from), ref);
    let real: string;
    try {
      real = await realpath(wanted);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ENOENT' || e.code === 'ENOTDIR') {
        throw cannotOpen(from, `${what} not found: ${wanted}`);
      }
      throw fromSystemError(err, wanted);
    }
    if (!this.isAllowed(real)) {
      throw new DiskpickError(
        'image',
        `${what} ${wanted} is outside the image's folder; allow it with --parent-dir ${dirname(real)}`,
        from,
      );
    }
    return real;
  }

  async openAt(display: string, real: string, stack: string[]): Promise<Container> {
    if (stack.includes(real)) {
      throw corrupt(stack[stack.length - 1]!, `parent chain loops back to ${real}`);
    }
    if (stack.length >= this.maxChain) {
      throw corrupt(display, `parent chain longer than ${this.maxChain} levels`);
    }
    let st;
    try {
      st = await stat(real);
    } catch (err) {
      throw fromSystemError(err, display);
    }
    if (st.isDirectory()) throw cannotOpen(display, 'is a folder, not a disk image');
    const file = stack.length === 0 ? await openHostFile(display) : await FileSource.open(real);
    this.opened.push(file);
    if (file.size === 0) throw cannotOpen(display, 'empty file, not a disk image');
    const src = new HostFile(file);
    const head = await src.read(0, HEAD_BYTES);
    const tail = file.size > 512 ? await src.read(file.size - 512, 512) : undefined;
    const format: ContainerFormat = containerFormats.find((f) => f.probe(head, src, tail)) ?? rawFormat;
    const ctx = this.contextFor(real, [...stack, real]);
    if (format === rawFormat) return new RawContainer(src, file instanceof SplitSource ? 'split raw' : 'raw');
    return format.open(src, ctx);
  }

  private contextFor(self: string, stack: string[]): OpenContext {
    const session = this;
    return {
      async openReferenced(ref, from, what) {
        const real = await session.resolveRef(ref, from, what);
        if (stack.includes(real)) throw corrupt(from, `${what} refers back to ${real}`);
        const s = await FileSource.open(real);
        session.opened.push(s);
        return new HostFile(s);
      },
      async openParent(ref, from) {
        const real = await session.resolveRef(ref, from, 'parent image');
        return session.openAt(real, real, stack);
      },
      async candidateFiles(from) {
        const out: string[] = [];
        for (const d of new Set([dirname(from), ...session.allowed])) {
          try {
            for (const n of await readdir(d)) out.push(join(d, n));
          } catch {
            /* an unreadable folder offers no candidates */
          }
        }
        return out.filter((p) => p !== self);
      },
      async openParentFile(path, _from) {
        const real = await realpathOrFail(path);
        if (!session.isAllowed(real)) {
          throw cannotOpen(self, `parent image ${real} is outside the allowed folders`);
        }
        return session.openAt(real, real, stack);
      },
      warn(message) {
        session.warnings.push(message);
      },
    };
  }
}
