/**
 * Opening an image by URL (http://, https://, s3://) as one virtual disk, the way open.ts opens
 * a local file: the same format probes, and the files an image names (VMDK extents, snapshot
 * parents) resolved relative to its URL under the same rule as local files — only in the
 * image's own "folder" (URL path or S3 key prefix) or in a `--parent-dir` URL given by the user.
 * A parent recorded as a local path (`C:\VMs\base.vhd`) is looked for by its file name there.
 */
import { posix } from 'node:path';
import { DiskpickError, fileWarning } from '../errors.js';
import { HttpFetcher, redactUrl, type HttpOptions } from '../source/http.js';
import { RemoteSource, type RemoteCacheOptions } from '../source/remote.js';
import { S3Fetcher, parseS3Url, type S3Options } from '../source/s3.js';
import type { ByteSource } from '../source/source.js';
import { NotThisFormat, type Container, type ContainerFormat, type OpenContext, type ParentRef } from './container.js';
import { containerFormats } from './formats.js';
import { HostFile } from './hostfile.js';
import { RawContainer, rawFormat } from './raw.js';

export interface RemoteOptions extends HttpOptions, S3Options, RemoteCacheOptions {}

export function isRemote(path: string): boolean {
  return /^(https?|s3):\/\//i.test(path);
}

const HEAD_BYTES = 64 * 1024;

/** The "folder" of a URL: everything up to its last "/". */
function folderOf(url: string): string {
  return url.slice(0, url.lastIndexOf('/') + 1);
}

/** A name recorded in an image, as a URL next to `from` (local absolute paths: by file name). */
export function resolveRemoteRef(ref: string, from: string): string {
  if (isRemote(ref)) return ref;
  const local = /^[a-zA-Z]:[\\/]|^\\\\|^\//.test(ref) || ref.includes('\\');
  const rel = local ? ref.split(/[\\/]/).pop()! : ref;
  if (from.toLowerCase().startsWith('s3://')) {
    const { bucket, key } = parseS3Url(from);
    const joined = posix.normalize(posix.join(posix.dirname(key), rel));
    if (joined.startsWith('..')) return `s3://${bucket}/../${joined}`;
    return `s3://${bucket}/${joined.replace(/^\//, '')}`;
  }
  return new URL(rel.split('/').map(encodeURIComponent).join('/').replace(/%2E/gi, '.'), from).href;
}

export async function openRemoteContainer(url: string, opts: RemoteOptions & { parentDirs?: string[]; maxChainLength?: number; ignoreParentId?: boolean }): Promise<Container> {
  const allowed = [folderOf(url), ...(opts.parentDirs ?? []).filter(isRemote).map((d) => (d.endsWith('/') ? d : `${d}/`))];
  const session = new RemoteSession(allowed, opts);
  try {
    const top = await session.openAt(url, []);
    const t = session.opened[0] instanceof RemoteSource ? session.opened[0].fetcher.lastModified : null;
    if (t !== null) top.remoteMtimeMs = t;
    for (const w of session.warnings) if (!top.warnings.includes(w)) top.warnings.push(w);
    return top;
  } catch (err) {
    await Promise.all(session.opened.map((s) => s.close().catch(() => undefined)));
    throw err;
  }
}

class RemoteSession {
  readonly warnings: string[] = [];
  readonly opened: ByteSource[] = [];

  constructor(private readonly allowed: string[], private readonly opts: RemoteOptions & { maxChainLength?: number; ignoreParentId?: boolean }) {}

  private isAllowed(url: string): boolean {
    return !url.includes('/../') && this.allowed.some((d) => url.startsWith(d));
  }

  private async source(url: string): Promise<RemoteSource> {
    const fetcher = url.toLowerCase().startsWith('s3://') ? await S3Fetcher.open(url, this.opts) : await HttpFetcher.open(url, this.opts);
    const src = new RemoteSource(fetcher, this.opts);
    this.opened.push(src);
    return src;
  }

  /** A missing file is null (the next candidate is tried); anything else is an error. */
  private async tryOpen(url: string, stack: string[]): Promise<Container | null> {
    try {
      return await this.openAt(url, stack);
    } catch (err) {
      if (err instanceof DiskpickError && /no such (file on the server|object)/.test(err.message)) return null;
      throw err;
    }
  }

  async openAt(url: string, stack: string[]): Promise<Container> {
    const name = url.toLowerCase().startsWith('s3://') ? url : redactUrl(url);
    if (stack.includes(url)) throw new DiskpickError('image', `parent chain loops back to ${name}`, stack[stack.length - 1]);
    if (stack.length >= (this.opts.maxChainLength ?? 64)) throw new DiskpickError('image', `parent chain longer than ${this.opts.maxChainLength ?? 64} levels`, name);
    const file = await this.source(url);
    const src = new HostFile(file);
    const head = await src.read(0, HEAD_BYTES);
    const tail = file.size > 512 ? await src.read(file.size - 512, 512) : undefined;
    const format: ContainerFormat = containerFormats.find((f) => f.probe(head, src, tail)) ?? rawFormat;
    if (format === rawFormat) return new RawContainer(src, 'raw');
    try {
      return await format.open(src, this.contextFor(url, [...stack, url]));
    } catch (err) {
      if (!(err instanceof NotThisFormat)) throw err;
      const raw = new RawContainer(src, 'raw');
      raw.warnings.push(fileWarning(name, `${err.message}; read as a raw image`));
      return raw;
    }
  }

  private async mismatch(why: string, from: string, parent: Container): Promise<void> {
    if (this.opts.ignoreParentId) {
      this.warnings.push(fileWarning(from, `parent ${parent.name} does not match (${why}); read anyway because of --ignore-parent-id`));
      return;
    }
    await parent.close().catch(() => undefined);
    throw new DiskpickError('image', `parent ${parent.name} does not match: ${why}; it is not the disk this image was made over (--ignore-parent-id reads it anyway)`, from);
  }

  private async openParent(ref: ParentRef, from: string, self: string, stack: string[]): Promise<Container> {
    const paths = [...new Set(ref.paths.filter((p) => p !== ''))];
    if (paths.length === 0) throw new DiskpickError('image', 'the image names no parent file', from);
    const tried: string[] = [];
    // Where the image says the parent is, then its file name in the image's folder and in
    // every --parent-dir URL.
    const candidates = [...paths.map((p) => ({ url: resolveRemoteRef(p, self), found: false }))];
    for (const p of paths) {
      const base = p.split(/[\\/]/).pop()!;
      for (const dir of this.allowed) candidates.push({ url: resolveRemoteRef(base, `${dir}x`), found: true });
    }
    const seen = new Set<string>();
    for (const c of candidates) {
      if (seen.has(c.url)) continue;
      seen.add(c.url);
      if (!this.isAllowed(c.url)) {
        tried.push(`${c.url} (outside the image's folder; allow it with --parent-dir ${folderOf(c.url)})`);
        continue;
      }
      const parent = await this.tryOpen(c.url, stack);
      if (!parent) continue;
      const why = ref.check?.(parent) ?? (c.found ? ref.checkFound?.(parent) : null) ?? null;
      if (why && c.found && !this.opts.ignoreParentId) {
        await parent.close().catch(() => undefined);
        tried.push(`${c.url} (${why})`);
        continue;
      }
      if (why) await this.mismatch(why, from, parent);
      if (c.found) this.warnings.push(fileWarning(from, `parent ${paths[0]} is not where the image says; using ${c.url}`));
      return parent;
    }
    throw new DiskpickError('image', `parent image not found: needs ${paths[0]}${tried.length ? `; not used: ${tried.join('; ')}` : ''}; give its folder with --parent-dir URL`, from);
  }

  private contextFor(self: string, stack: string[]): OpenContext {
    const session = this;
    return {
      async openReferenced(ref, from, what) {
        const url = resolveRemoteRef(ref, self);
        if (!session.isAllowed(url)) throw new DiskpickError('image', `${what} ${url} is outside the image's folder; allow it with --parent-dir ${folderOf(url)}`, from);
        if (stack.includes(url)) throw new DiskpickError('image', `${what} refers back to ${url}`, from);
        return new HostFile(await session.source(url));
      },
      openParent(ref, from) {
        return session.openParent(ref, from, self, stack);
      },
      // A web server lists no folders and a bucket may hold thousands of objects: parents named
      // by identity only (VDI) must be given where they are recorded, or by --parent-dir.
      async searchParent() {
        return null;
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
