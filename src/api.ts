/**
 * diskpick as a library: `import { openImage } from 'diskpick'`. A thin façade over the engine
 * the CLI uses (Vfs for opening and reading, the restore engine for extracting); nothing here
 * reads a format itself. Its types are declared here, on their own, so that the published
 * `.d.ts` does not depend on the engine's internals. Documented in docs/api.md.
 */
import { Readable } from 'node:stream';
import { DiskpickError } from './errors.js';
import { restore } from './restore/restore.js';
import { Vfs, type VfsNode } from './vfs/vfs.js';
import type { ByteSource } from './source/source.js';

export interface OpenOptions {
  /** Folders where parents (snapshot chains) and extents are looked for, as --parent-dir. */
  parentDirs?: string[];
  /** Further disks of the same machine (a volume group over several disks), as --disk. */
  disks?: string[];
  /** Images by URL (http://, https://, s3://): extra request headers, TLS checks, S3 endpoint and region. */
  remote?: { headers?: string[]; insecure?: boolean; endpoint?: string; region?: string };
}

export type EntryType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket';

export interface Entry {
  /** Path inside the image: /p1/Users/anna/report.docx. */
  path: string;
  name: string;
  type: EntryType;
  /** Bytes (a symlink: the length of its target; a volume: its size). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtime: Date | null;
  /** A symlink's target, as stored. */
  target?: string;
}

export interface Volume {
  /** Its name at the top of the tree: p1, p2, vg/lv, p2@vss1. */
  name: string;
  size: number;
  /** What the volume holds (a partition type, "LVM2 PV of VG …"). */
  what: string;
  /** The filesystem read on it, or null (with `error` saying why). */
  filesystem: { type: string; label: string | null } | null;
  error: string | null;
}

export interface ExtractOptions {
  /** Overwrite files that exist already (otherwise they are refused, one by one). */
  force?: boolean;
  /** Leave files that exist already as they are. */
  skipExisting?: boolean;
  /** Stops the extraction after the file being written. */
  signal?: AbortSignal;
  /** Called as files and bytes are written. */
  onProgress?: (p: { filesDone: number; filesTotal: number; bytesDone: number; bytesTotal: number }) => void;
}

export interface ExtractResult {
  /** Files, folders and links written: where from, where to. */
  written: Array<{ source: string; target: string; type: string; size: number }>;
  skipped: Array<{ source: string; target: string; reason: string }>;
  failed: Array<{ source: string; target: string | null; error: string }>;
  bytes: number;
  cancelled: boolean;
}

/** Thrown for every diskpick error: one line (`message`), and the CLI's exit code for it. */
export interface DiskpickFailure extends Error {
  exitCode: number;
}

/** Opens a disk image (a local path or a URL) read-only. Close it when done. */
export async function openImage(image: string, opts: OpenOptions = {}): Promise<Image> {
  const vfs = await wrap(() => Vfs.open(image, {
    parentDirs: opts.parentDirs,
    disks: opts.disks,
    remote: opts.remote ? { headers: opts.remote.headers, insecure: opts.remote.insecure, endpoint: opts.remote.endpoint, region: opts.remote.region } : undefined,
  }));
  return new Image(vfs);
}

/** An open image: its volumes and the one tree of files over them (/p1/…, /p2/…). */
export class Image {
  /** @internal */
  constructor(private readonly vfs: Vfs) {}

  /** The image as given. */
  get path(): string {
    return this.vfs.imagePath;
  }

  /** Warnings found while opening (a damaged table, a missing member …). */
  get warnings(): string[] {
    return [...this.vfs.container.warnings, ...this.vfs.info().warnings];
  }

  volumes(): Volume[] {
    return this.vfs.info().volumes.map((v) => ({
      name: v.name,
      size: v.size,
      what: v.what,
      filesystem: v.filesystem ? { type: v.filesystem.type, label: v.filesystem.label ?? null } : null,
      error: v.error,
    }));
  }

  async stat(path: string): Promise<Entry> {
    return entryOf(await wrap(() => this.vfs.lookup(path)));
  }

  /** A folder's entries, in the order the filesystem keeps them. */
  async list(path: string): Promise<Entry[]> {
    return wrap(async () => (await this.vfs.readdir(await this.dirNode(path))).map(entryOf));
  }

  /** Every entry under `path` (not `path` itself), folders before what they hold, depth first. */
  async *walk(path = '/'): AsyncGenerator<Entry> {
    const stack: VfsNode[] = [await this.dirNode(path)];
    while (stack.length) {
      const dir = stack.pop()!;
      const kids = await wrap(() => this.vfs.readdir(dir));
      for (const n of kids) {
        yield entryOf(n);
      }
      for (let i = kids.length - 1; i >= 0; i--) if (kids[i]!.stat.type === 'dir') stack.push(kids[i]!);
    }
  }

  /** A file's bytes as a Node stream (`start`/`end` inclusive, as fs.createReadStream). */
  async createReadStream(path: string, opts: { start?: number; end?: number; highWaterMark?: number } = {}): Promise<Readable> {
    const node = await wrap(() => this.vfs.lookup(path));
    if (node.stat.type !== 'file') throw failure(new DiskpickError('usage', `not a file (${node.stat.type})`, path));
    const src: ByteSource = await wrap(() => this.vfs.openFile(node));
    const chunk = opts.highWaterMark ?? 1 << 20;
    let pos = opts.start ?? 0;
    const end = Math.min(src.size, opts.end === undefined ? src.size : opts.end + 1);
    return new Readable({
      highWaterMark: chunk,
      read() {
        if (pos >= end) return void this.push(null);
        const n = Math.min(chunk, end - pos);
        src.read(pos, n).then((buf) => {
          pos += buf.length;
          this.push(buf.length ? buf : null);
        }, (err) => this.destroy(failure(err)));
      },
      destroy(err, cb) {
        src.close().then(() => cb(err), () => cb(err));
      },
    });
  }

  /** A whole file in memory. */
  async readFile(path: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const b of await this.createReadStream(path)) parts.push(b as Buffer);
    return Buffer.concat(parts);
  }

  /** Copies files or folders (with everything under them) into `outDir`, keeping times and modes. */
  async extract(paths: string | string[], outDir: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
    const nodes = await wrap(() => Promise.all((Array.isArray(paths) ? paths : [paths]).map((p) => this.vfs.lookup(p))));
    const s = await wrap(() => restore(this.vfs, nodes.map((node) => ({ node })), {
      outDir, force: opts.force, skipExisting: opts.skipExisting, signal: opts.signal,
      onProgress: opts.onProgress ? (p) => opts.onProgress!({ filesDone: p.filesDone, filesTotal: p.filesTotal, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }) : undefined,
    }));
    return { written: s.written, skipped: s.skipped, failed: s.failed, bytes: s.bytes, cancelled: s.cancelled };
  }

  async close(): Promise<void> {
    await this.vfs.close();
  }

  private async dirNode(path: string): Promise<VfsNode> {
    const node = await wrap(() => this.vfs.lookup(path));
    if (node.stat.type !== 'dir') throw failure(new DiskpickError('usage', `not a folder (${node.stat.type})`, path));
    return node;
  }
}

function entryOf(n: VfsNode): Entry {
  const st = n.stat;
  const size = n.place.kind === 'volume' ? n.place.vol.volume.size : st.size;
  return {
    path: n.path, name: n.name, type: st.type as EntryType, size, mode: st.mode, uid: st.uid, gid: st.gid,
    mtime: st.mtime ? new Date(st.mtime.sec * 1000 + Math.floor(st.mtime.nsec / 1e6)) : null,
    ...(st.type === 'symlink' && st.symlinkTarget !== undefined ? { target: st.symlinkTarget } : {}),
  };
}

/** Engine errors become one-line Errors carrying the CLI's exit code. */
function failure(err: unknown): Error {
  if (err instanceof DiskpickError) return Object.assign(new Error(err.toLine()), { exitCode: err.exitCode, name: 'DiskpickError' });
  return err as Error;
}

async function wrap<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    throw failure(err);
  }
}
