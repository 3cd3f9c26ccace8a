import { readdir, realpath, stat } from '../source/host-fs.js';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { cannotOpen, corrupt, DiskpickError, fileWarning, fromSystemError } from '../errors.js';
import { FileSource } from '../source/file.js';
import { HostFile } from './hostfile.js';
import { openHostFile } from '../source/index.js';
import { SplitSource } from '../source/split.js';
import type { ByteSource } from '../source/source.js';
import { NotThisFormat, type Container, type ContainerFormat, type OpenContext, type ParentRef } from './container.js';
import { RawContainer, rawFormat } from './raw.js';
import { containerFormats } from './formats.js';
import { isRemote, openRemoteContainer, openRemoteLevel, type RemoteOptions } from './remote-open.js';
import { chainLevel, parseImageArg } from './point.js';
import { openHyperVFolder } from './hyperv.js';

export interface OpenContainerOptions {
  /**
   * Extra folders where referenced files (parents, extents) may be opened, and where a parent
   * whose recorded path does not exist is looked for by its file name.
   */
  parentDirs?: string[];
  /** Longest chain of parents accepted (a guard against hostile images). */
  maxChainLength?: number;
  /**
   * Read over a parent whose identity does not match the child's record (VHD UniqueId, VMDK
   * CID, VHDX DataWriteGuid, VDI uuidModify) with a warning instead of refusing it.
   */
  ignoreParentId?: boolean;
  /** For images given by URL (http://, https://, s3://): credentials, TLS, endpoint, cache. */
  remote?: RemoteOptions;
}

const HEAD_BYTES = 64 * 1024;

/**
 * Opens an image file and every file it references, read-only, as one virtual disk. The
 * argument may name a point (src/container/point.ts): `@level:N` reads the chain only up to
 * level N (counted from the base, 1), `@snap:NAME` a QCOW2 internal snapshot; `@vss:K` is the
 * volume layer's (src/vfs) and leaves the disk as it is.
 */
export async function openContainer(arg: string, opts: OpenContainerOptions = {}): Promise<Container> {
  const { file: path, point } = await parseImageArg(arg);
  if (isRemote(path)) {
    const remote = { ...opts.remote, parentDirs: opts.parentDirs, maxChainLength: opts.maxChainLength, ignoreParentId: opts.ignoreParentId };
    if (point?.kind === 'level') return openRemoteLevel(arg, path, point.level, remote);
    return openRemoteContainer(path, { ...remote, ...(point?.kind === 'snap' ? { snapshot: point.name } : {}) });
  }
  // A folder is a Hyper-V export (src/container/hyperv.ts): its files opened as chains here.
  if (await isFolder(path)) return openHyperVFolder(arg, path, point, (file) => openLocal(file, opts));
  if (point?.kind === 'level') return openLevel(arg, path, point.level, opts);
  return openLocal(path, opts, point?.kind === 'snap' ? point.name : undefined);
}

/**
 * Level N of the chain: the file at that level opened as the image, so its own parents (and
 * nothing above it) are read — the disk as it was when the level above was started. The image's
 * folder stays allowed for the parents, as it was for the whole chain.
 */
async function openLevel(arg: string, path: string, level: number, opts: OpenContainerOptions): Promise<Container> {
  const at = await chainLevel(await openLocal(path, opts), level, arg);
  if ('top' in at) return at.top;
  return openLocal(at.file, { ...opts, parentDirs: [dirname(await realpathOrFail(path)), ...(opts.parentDirs ?? [])] });
}

async function openLocal(path: string, opts: OpenContainerOptions, snapshot?: string): Promise<Container> {
  const real = await realpathOrFail(path);
  const allowed = [dirname(real)];
  for (const d of opts.parentDirs ?? []) allowed.push(await realpathOrFail(d));
  const warnings: string[] = [];
  const opened: ByteSource[] = [];
  const session = new ChainSession(allowed, allowed.slice(1), opts.maxChainLength ?? 64, warnings, opened, opts.ignoreParentId ?? false);
  session.snapshot = snapshot;
  try {
    const top = await session.openAt(path, real, []);
    for (const w of warnings) if (!top.warnings.includes(w)) top.warnings.push(w);
    return top;
  } catch (err) {
    await Promise.all(opened.map((s) => s.close().catch(() => undefined)));
    throw err;
  }
}

async function isFolder(p: string): Promise<boolean> {
  return (await stat(p).catch(() => null))?.isDirectory() ?? false;
}

async function realpathOrFail(p: string): Promise<string> {
  try {
    return await realpath(p);
  } catch (err) {
    // `-` and a piped /dev/stdin: say what is supported rather than "no such file" (issue 20).
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && /^(-|\/dev\/stdin|\/dev\/fd\/0|\/proc\/self\/fd\/0)$/.test(p)) {
      throw new DiskpickError('usage', 'an image cannot be read from a pipe or standard input: diskpick reads images at random offsets; give a file (`< image` redirected from a file works as /dev/stdin), an http(s):// or s3:// URL', p);
    }
    throw fromSystemError(err, p);
  }
}

/** The real path of `p`, or null when it does not exist (other errors are thrown). */
async function realpathIfExists(p: string): Promise<string | null> {
  try {
    return await realpath(p);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' || e.code === 'ENOTDIR' || e.code === 'ELOOP') return null;
    throw fromSystemError(err, p);
  }
}

/** The last component of a recorded path, whichever separator its maker used. */
function fileNameOf(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] ?? '';
}

class ChainSession {
  /** The top image's internal snapshot to read (`@snap:NAME`). */
  snapshot: string | undefined;

  constructor(
    /** Real paths of the folders files may be opened from: the image's, then --parent-dir ones. */
    private readonly allowed: string[],
    private readonly parentDirs: string[],
    private readonly maxChain: number,
    readonly warnings: string[],
    private readonly opened: ByteSource[],
    private readonly ignoreParentId: boolean,
  ) {}

  private isAllowed(real: string): boolean {
    return this.allowed.some((d) => real === d || real.startsWith(d.endsWith(sep) ? d : d + sep));
  }

  /** Resolves `ref` (as written in `from`) to a real host path inside the allowed folders. */
  async resolveRef(ref: string, from: string, what: string): Promise<string> {
    if (ref.includes('\0')) throw corrupt(from, `${what} name contains a NUL byte`);
    const wanted = isAbsolute(ref) ? ref : resolve(dirname(from), ref);
    const real = await realpathIfExists(wanted);
    if (real === null) throw cannotOpen(from, `${what} not found: ${wanted}`);
    if (!this.isAllowed(real)) throw this.outside(what, wanted, real, from);
    return real;
  }

  private outside(what: string, wanted: string, real: string, from: string): DiskpickError {
    return cannotOpen(from, `${what} ${wanted} is outside the image's folder; allow it with --parent-dir ${dirname(real)}`);
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
    // A parent must be a regular file: opening a FIFO waits forever for a writer.
    if (stack.length > 0 && !st.isFile()) {
      const what = st.isFIFO() ? 'a FIFO' : st.isSocket() ? 'a socket' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : 'not a regular file';
      throw cannotOpen(display, `is ${what}${what.startsWith('not') ? '' : ', not a regular file'}, so it cannot be a parent image`);
    }
    const file = stack.length === 0 ? await openHostFile(display) : await FileSource.open(real);
    this.opened.push(file);
    if (file.size === 0) throw cannotOpen(display, 'empty file, not a disk image');
    const src = new HostFile(file);
    const head = await src.read(0, HEAD_BYTES);
    const tail = file.size > 512 ? await src.read(file.size - 512, 512) : undefined;
    const format: ContainerFormat = containerFormats.find((f) => f.probe(head, src, tail)) ?? rawFormat;
    const ctx = this.contextFor(real, [...stack, real], stack.length === 0 ? this.snapshot : undefined);
    if (ctx.snapshot !== undefined && format.name !== 'qcow2') {
      throw new DiskpickError('unsupported', `@snap: a ${format.name} image holds no internal snapshots (QCOW2 images do)`, display);
    }
    if (format === rawFormat) return new RawContainer(src, file instanceof SplitSource ? 'split raw' : 'raw');
    try {
      return await format.open(src, ctx);
    } catch (err) {
      if (!(err instanceof NotThisFormat)) throw err;
      const raw = new RawContainer(src, file instanceof SplitSource ? 'split raw' : 'raw');
      raw.warnings.push(fileWarning(display, `${err.message}; read as a raw image`));
      return raw;
    }
  }

  /** See OpenContext.parentMismatch. */
  async mismatch(why: string, from: string, parent: Container): Promise<void> {
    if (this.ignoreParentId) {
      this.warnings.push(fileWarning(from, `parent ${parent.name} does not match (${why}); read anyway because of --ignore-parent-id`));
      return;
    }
    await parent.close().catch(() => undefined);
    throw new DiskpickError(
      'image',
      `parent ${parent.name} does not match: ${why}; it is not the disk this image was made over (--ignore-parent-id reads it anyway)`,
      from,
    );
  }

  /** See OpenContext.openParent. */
  async openParent(ref: ParentRef, from: string, self: string, stack: string[]): Promise<Container> {
    const paths = [...new Set(ref.paths.filter((p) => p !== ''))];
    if (paths.length === 0) throw cannotOpen(from, 'the image names no parent file');
    let outside: DiskpickError | null = null;
    // 1. Where the image says the parent is.
    for (const p of paths) {
      if (p.includes('\0')) throw corrupt(from, 'parent image name contains a NUL byte');
      const wanted = isAbsolute(p) ? p : resolve(dirname(from), p);
      const real = await realpathIfExists(wanted);
      if (real === null) continue;
      // Checked on the resolved path, before anything is opened.
      if (!this.isAllowed(real)) {
        outside ??= this.outside('parent image', wanted, real, from);
        continue;
      }
      const parent = await this.openAt(real, real, stack);
      const why = ref.check?.(parent);
      if (why) await this.mismatch(why, from, parent);
      return parent;
    }
    // 2. A file of the same name next to the image or in a --parent-dir folder (a snapshot
    // child copied alone, a parent moved): used only when its identity checks.
    const names = [...new Set(paths.map(fileNameOf).filter((n) => n !== '' && n !== '.' && n !== '..'))];
    const dirs = [...new Set([dirname(self), ...this.parentDirs])];
    const passedOver: string[] = [];
    for (const name of names) {
      for (const dir of dirs) {
        const candidate = join(dir, name);
        const real = await realpathIfExists(candidate);
        if (real === null || stack.includes(real)) continue;
        if (!this.isAllowed(real)) {
          passedOver.push(`${candidate} (a link out of the allowed folders, not opened)`);
          continue;
        }
        const st = await stat(real).catch(() => null);
        if (!st?.isFile()) continue;
        let parent: Container;
        try {
          parent = await this.openAt(real, real, stack);
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          passedOver.push(`${real} (${err.message})`);
          continue;
        }
        const why = ref.check?.(parent) ?? ref.checkFound?.(parent) ?? null;
        if (why && !this.ignoreParentId) {
          await parent.close().catch(() => undefined);
          passedOver.push(`${real} (${why})`);
          continue;
        }
        const how = why ? `it does not match (${why}); read anyway because of --ignore-parent-id` : ref.check || ref.checkFound ? 'found by name, identity checked' : 'found by name';
        this.warnings.push(fileWarning(from, `parent ${paths[0]} does not exist; using ${real} (${how})`));
        return parent;
      }
    }
    if (outside && passedOver.length === 0) throw outside;
    const where = paths[0] === names[0] ? '' : ` (recorded as ${paths[0]})`;
    const skipped = (passedOver.length ? `; not used: ${passedOver.join('; ')}` : '') + (outside ? `; ${outside.message}` : '');
    throw new DiskpickError(
      'image',
      `parent image not found: needs ${names[0] ?? paths[0]}${where}${skipped}; put it next to the image or give its folder with --parent-dir DIR`,
      from,
    );
  }

  /** See OpenContext.searchParent. */
  async searchParent(from: string, self: string, stack: string[], headerBytes: number, matches: (head: Buffer) => boolean): Promise<Container | null> {
    for (const dir of new Set([dirname(self), ...this.parentDirs])) {
      let names: string[];
      try {
        names = await readdir(dir);
      } catch {
        continue; // an unreadable folder offers no candidates
      }
      for (const n of names.sort()) {
        const real = await realpathIfExists(join(dir, n)).catch(() => null);
        // The allowed-folder check comes before any open: a link out of the folders is never
        // followed, whatever it points at.
        if (real === null || !this.isAllowed(real)) continue;
        const head = await readHeaderOf(real, headerBytes);
        // A match already in the chain (itself included) is a loop, reported by openAt.
        if (head && matches(head)) return this.openAt(real, real, stack);
      }
    }
    return null;
  }

  private contextFor(self: string, stack: string[], snapshot?: string): OpenContext {
    const session = this;
    return {
      ...(snapshot !== undefined ? { snapshot } : {}),
      async openReferenced(ref, from, what) {
        const real = await session.resolveRef(ref, from, what);
        if (stack.includes(real)) throw corrupt(from, `${what} refers back to ${real}`);
        const s = await FileSource.open(real);
        session.opened.push(s);
        return new HostFile(s);
      },
      openParent(ref, from) {
        return session.openParent(ref, from, self, stack);
      },
      searchParent(from, headerBytes, matches) {
        return session.searchParent(from, self, stack, headerBytes, matches);
      },
      parentMismatch(why, from, parent) {
        return session.mismatch(why, from, parent);
      },
      warn(message, file) {
        session.warnings.push(fileWarning(file, message));
      },
    };
  }
}

/**
 * The first `n` bytes of a regular file, or null (not a regular file, unreadable, shorter).
 * Checked with stat before the open, so a FIFO or device in the folder is never opened.
 */
async function readHeaderOf(path: string, n: number): Promise<Buffer | null> {
  const st = await stat(path).catch(() => null);
  if (!st?.isFile() || st.size < n) return null;
  let f: FileSource;
  try {
    f = await FileSource.open(path);
  } catch {
    return null;
  }
  try {
    const b = await f.read(0, n);
    return b.length === n ? b : null;
  } catch {
    return null;
  } finally {
    await f.close();
  }
}
