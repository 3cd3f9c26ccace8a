/**
 * Opening an image by URL (http://, https://, s3://) as one virtual disk, the way open.ts opens
 * a local file: the same format probes, and the files an image names (VMDK extents, snapshot
 * parents) resolved relative to its URL under the same rule as local files — only in the
 * image's own "folder" (URL path or S3 key prefix) or in a `--parent-dir` URL given by the user.
 * A parent recorded as a local path (`C:\VMs\base.vhd`) is looked for by its file name there.
 */
import { posix } from 'node:path';
import { DiskpickError, cannotOpen, corrupt, fileWarning, unsupported } from '../errors.js';
import { HttpFetcher, listHttpFolder, redactUrl, type HttpOptions } from '../source/http.js';
import { RemoteBlockCache, RemoteSource, type RemoteCacheOptions } from '../source/remote.js';
import { S3Fetcher, listS3Folder, listS3Glob, parseS3Url, type S3Options } from '../source/s3.js';
import type { ByteSource } from '../source/source.js';
import { SplitSource } from '../source/split.js';
import { NotThisFormat, type Container, type ContainerFormat, type OpenContext, type ParentRef } from './container.js';
import { containerFormats } from './formats.js';
import { HostFile } from './hostfile.js';
import { chainLevel } from './point.js';
import { RawContainer, rawFormat } from './raw.js';

export interface RemoteOptions extends HttpOptions, S3Options, RemoteCacheOptions {}

export function isRemote(path: string): boolean {
  return /^(https?|s3):\/\//i.test(path);
}

const HEAD_BYTES = 64 * 1024;

/** An image argument as every message, listing and log shows it: a URL without its user information or query. */
export function displayImageName(path: string): string {
  if (!/^https?:\/\//i.test(path)) return path;
  try {
    return redactUrl(path);
  } catch {
    return path.replace(/\/\/[^/@]*@/, '//');
  }
}

/** A URL without user information, for comparing folders (credentials are not part of where a file is). */
function withoutUser(url: string): string {
  return url.replace(/^(https?:\/\/)[^/@]*@/i, '$1');
}

/** The "folder" of a URL: everything up to its last "/". */
function folderOf(url: string): string {
  return url.slice(0, url.lastIndexOf('/') + 1);
}

/** A name recorded in an image, as a URL next to `from` (local absolute paths: by file name). */
export function resolveRemoteRef(ref: string, from: string): string {
  if (isRemote(ref)) {
    // A name the opener built from a displayed name (no credentials), on the image's own
    // server: it is read with the image's credentials.
    const user = /^https?:\/\/([^/@]*)@/i.exec(from)?.[1];
    if (user && !/^https?:\/\/[^/@]*@/i.test(ref) && new URL(ref).origin === new URL(from).origin) return ref.replace(/^(https?:\/\/)/i, `$1${user}@`);
    return ref;
  }
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

/**
 * The images an image argument by URL names, each with its modification time (Last-Modified;
 * ms since 1970, null if the server gives none): an s3:// key with a glob (`2026-11-*.vhdx`)
 * lists the bucket (ListObjectsV2) and is every matching object, in name order; any other URL
 * is itself. A glob matching nothing is a one-line error.
 */
export async function remoteImagesOf(url: string, opts: RemoteOptions = {}): Promise<{ url: string; mtimeMs: number | null }[]> {
  if (url.toLowerCase().startsWith('s3://')) {
    const listed = await listS3Glob(url, opts);
    if (listed.length === 0) throw new DiskpickError('notFound', 'no object in the bucket matches', url);
    if (listed.length > 1 || listed[0]!.url !== url) return listed.map((o) => ({ url: o.url, mtimeMs: o.lastModified }));
  }
  const f = url.toLowerCase().startsWith('s3://') ? await S3Fetcher.open(url, opts) : await HttpFetcher.open(url, opts);
  try {
    return [{ url, mtimeMs: f.lastModified }];
  } finally {
    await f.close();
  }
}

type RemoteOpenOptions = RemoteOptions & { parentDirs?: string[]; maxChainLength?: number; ignoreParentId?: boolean };

/**
 * Level `level` of the chain of the image at `url` (`URL@level:N`, as open.ts does for local
 * files): the file at that level opened as the image, its own parents below it, the image's
 * folder still allowed for them. The level's file is recorded without credentials; on the image's
 * own server it is read with the image's (resolveRemoteRef).
 */
export async function openRemoteLevel(arg: string, url: string, level: number, opts: RemoteOpenOptions): Promise<Container> {
  const at = await chainLevel(await openRemoteContainer(url, opts), level, arg);
  if ('top' in at) return at.top;
  const file = resolveRemoteRef(at.file, url);
  return openRemoteContainer(file, { ...opts, parentDirs: [folderOf(url), ...(opts.parentDirs ?? [])] });
}

/** `snapshot`: the QCOW2 internal snapshot to read (`URL@snap:NAME`). */
export async function openRemoteContainer(url: string, opts: RemoteOpenOptions & { snapshot?: string }): Promise<Container> {
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

  /** One cache bound for every file of the image (parts, extents, parents). */
  private readonly cache: RemoteBlockCache;

  constructor(private readonly allowed: string[], private readonly opts: RemoteOptions & { maxChainLength?: number; ignoreParentId?: boolean; snapshot?: string }) {
    const blockSize = opts.blockSize ?? 256 * 1024;
    this.cache = new RemoteBlockCache(Math.max(8, Math.floor((opts.cacheBytes ?? 256 * 1024 * 1024) / blockSize)), blockSize);
  }

  private isAllowed(url: string): boolean {
    return !url.includes('/../') && this.allowed.some((d) => withoutUser(url).startsWith(withoutUser(d)));
  }

  /** `firstBlock`: the file's first block comes with the opening request (its head is read next). */
  private async source(url: string, firstBlock = true): Promise<RemoteSource> {
    const fetcher = url.toLowerCase().startsWith('s3://') ? await S3Fetcher.open(url, this.opts) : await HttpFetcher.open(url, this.opts, firstBlock ? (this.opts.blockSize ?? 256 * 1024) : 1);
    const src = new RemoteSource(fetcher, { ...this.opts, sharedCache: this.cache });
    this.opened.push(src);
    return src;
  }

  /**
   * The image named, or, for `NAME.001` (or `.000`) whose next part exists beside it, all the
   * parts of a split raw image as one source: `NAME.002`, `NAME.003` … in the same folder
   * (prefix), up to the first that is missing — as for local files.
   */
  private async imageSource(url: string): Promise<{ src: ByteSource; split: boolean }> {
    const first = await this.source(url);
    const m = /^(.*\.)(\d{3,})$/.exec(url);
    const part = m && !url.includes('?') ? SplitSource.partName(url.slice(url.lastIndexOf('/') + 1)) : null;
    if (!m || !part) return { src: first, split: false };
    const parts: ByteSource[] = [first];
    for (let i = part.first + 1; i < part.first + 100_000; i++) {
      const next = `${m[1]}${String(i).padStart(part.digits, '0')}`;
      try {
        parts.push(await this.source(next, false));
      } catch (err) {
        if (err instanceof DiskpickError && /no such (file on the server|object)/.test(err.message)) break;
        throw err;
      }
    }
    return parts.length >= 2 ? { src: SplitSource.of(parts, first.name), split: true } : { src: first, split: false };
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
    if (stack.includes(url)) throw corrupt(stack[stack.length - 1]!, `parent chain loops back to ${name}`);
    if (stack.length >= (this.opts.maxChainLength ?? 64)) throw corrupt(name, `parent chain longer than ${this.opts.maxChainLength ?? 64} levels`);
    const { src: file, split } = stack.length === 0 ? await this.imageSource(url) : { src: await this.source(url), split: false };
    const src = new HostFile(file);
    const head = await src.read(0, HEAD_BYTES);
    // The file's last 512 bytes only when a format that looks there comes before the one the
    // head shows (a fixed VHD): elsewhere the tail would cost a round trip (20 ms and more) and
    // decide nothing.
    let format: ContainerFormat | undefined = containerFormats.find((f) => f.probe(head, src));
    const at = format ? containerFormats.indexOf(format) : containerFormats.length;
    if (file.size > 512 && containerFormats.slice(0, at + 1).some((f) => f.probesTail)) {
      const tail = await src.read(file.size - 512, 512);
      format = containerFormats.find((f) => f.probe(head, src, tail));
    }
    format ??= rawFormat;
    const snapshot = stack.length === 0 ? this.opts.snapshot : undefined;
    if (snapshot !== undefined && format.name !== 'qcow2') {
      throw unsupported(name, `@snap: a ${format.name} image holds no internal snapshots (QCOW2 images do)`);
    }
    if (format === rawFormat) return new RawContainer(src, split ? 'split raw' : 'raw');
    try {
      return await format.open(src, this.contextFor(url, [...stack, url], snapshot));
    } catch (err) {
      if (!(err instanceof NotThisFormat)) throw err;
      const raw = new RawContainer(src, split ? 'split raw' : 'raw');
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
    throw cannotOpen(from, `parent ${parent.name} does not match: ${why}; it is not the disk this image was made over (--ignore-parent-id reads it anyway)`);
  }

  private async openParent(ref: ParentRef, from: string, self: string, stack: string[]): Promise<Container> {
    const paths = [...new Set(ref.paths.filter((p) => p !== ''))];
    if (paths.length === 0) throw corrupt(from, 'the image names no parent file');
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
    throw cannotOpen(from, `parent image not found: needs ${paths[0]}${tried.length ? `; not used: ${tried.join('; ')}` : ''}; give its folder with --parent-dir URL`);
  }

  /** The first `n` bytes of the file at `url`, or null (missing, shorter, unreadable). */
  private async header(url: string, n: number): Promise<Buffer | null> {
    let f: HttpFetcher | S3Fetcher;
    try {
      f = url.toLowerCase().startsWith('s3://') ? await S3Fetcher.open(url, this.opts) : await HttpFetcher.open(url, this.opts);
    } catch {
      return null;
    }
    try {
      return f.size >= n ? await f.fetch(0, n) : null;
    } catch {
      return null;
    } finally {
      await f.close();
    }
  }

  /**
   * A parent named by identity only (VDI), searched for by URL: only in the image's folder and
   * the --parent-dir URLs. The likely names first (one request each), then the folder's files
   * with the image's own extension — a bucket lists its prefixes (ListObjectsV2), a web server
   * only if it answers the folder URL with an index page (nginx autoindex and the like). Only
   * headers are read (`headerBytes` each).
   */
  async searchParent(self: string, stack: string[], headerBytes: number, matches: (head: Buffer) => boolean, likelyNames: string[]): Promise<Container | null> {
    const dirs = [...new Set([folderOf(self), ...this.allowed])].filter((d) => this.isAllowed(`${d}x`));
    const seen = new Set<string>(stack);
    const check = async (url: string): Promise<Container | null> => {
      if (seen.has(url) || !this.isAllowed(url)) return null;
      seen.add(url);
      const head = await this.header(url, headerBytes);
      return head && matches(head) ? this.openAt(url, stack) : null;
    };
    for (const dir of dirs) {
      for (const n of likelyNames) {
        const found = await check(resolveRemoteRef(n, `${dir}x`));
        if (found) return found;
      }
    }
    const ext = /\.[^./]*$/.exec(self.replace(/\?.*$/, ''))?.[0]?.toLowerCase() ?? '';
    let checked = 0;
    for (const dir of dirs) {
      let listed: string[] | null;
      if (dir.toLowerCase().startsWith('s3://')) listed = await listS3Folder(dir, this.opts);
      else listed = (await listHttpFolder(dir, this.opts))?.map((n) => resolveRemoteRef(n, `${dir}x`)) ?? null;
      if (listed === null) {
        this.warnings.push(fileWarning(redactUrl(dir), `the server does not list this folder: a parent named by its identity only is looked for there by the name ${likelyNames.join(', ') || '(none)'} alone`));
        continue;
      }
      for (const url of listed) {
        if (!url.toLowerCase().endsWith(ext)) continue;
        // Bounded: a header read per candidate.
        if (++checked > 1000) throw cannotOpen(redactUrl(self), 'more than 1000 candidate parents in the allowed folders; give the parent\'s folder alone with --parent-dir');
        const found = await check(url);
        if (found) return found;
      }
    }
    return null;
  }

  private contextFor(self: string, stack: string[], snapshot?: string): OpenContext {
    const session = this;
    return {
      remote: true,
      ...(snapshot !== undefined ? { snapshot } : {}),
      async openReferenced(ref, from, what) {
        const url = resolveRemoteRef(ref, self);
        if (!session.isAllowed(url)) throw cannotOpen(from, `${what} ${url} is outside the image's folder; allow it with --parent-dir ${folderOf(url)}`);
        if (stack.includes(url)) throw corrupt(from, `${what} refers back to ${url}`);
        // Not the first block: a disk of 250 flat extents would pay 250 of them at opening.
        return new HostFile(await session.source(url, false));
      },
      openParent(ref, from) {
        return session.openParent(ref, from, self, stack);
      },
      searchParent(from, headerBytes, matches, likelyNames) {
        return session.searchParent(self, stack, headerBytes, matches, likelyNames ?? []);
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
