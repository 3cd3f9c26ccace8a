import { closeSync, constants, fstatSync, openSync, read, readSync } from 'node:fs';
import { cannotOpen, DiskpickError, fromSystemError } from '../errors.js';
import { adviseRandom, hintsAvailable } from './hostio.js';
import { readIntoNew, type ByteSource, type HostRun, readSpan } from './source.js';

/**
 * The only way diskpick opens an image file: O_RDONLY, never anything that can write.
 * (test/readonly.test.ts scans the code for other open calls.) O_NONBLOCK: opening a FIFO
 * for reading waits for a writer, forever (issue 26: a FIFO as the image, an extent or a
 * parent hung `open`); non-blocking, it opens at once, and fstat then refuses it. On regular
 * files and block devices the flag changes nothing.
 */
export const READ_ONLY_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK;

export interface FileSourceOptions {
  /** A block device is accepted (the image the user named; never a file an image refers to). */
  allowBlockDevice?: boolean;
}

/** Identity of a host file: device and inode (a hard link or another path to it has the same). */
export interface HostIdentity {
  dev: number;
  ino: number;
  /** For a block device: its device number (two nodes of one disk share it, not dev+ino). */
  rdev?: number;
  isBlockDevice?(): boolean;
}

/** Every host file the open images read, by "dev:ino": path and how many sources hold it. */
const inputs = new Map<string, { path: string; count: number }>();

const idKey = (id: HostIdentity) => `${id.dev}:${id.ino}`;

/**
 * The image file (of the open chain: the image, its extents, split parts and parents) that
 * `id` is, or null. Every writer asks before it writes (issue 26: `dd IMAGE -o IMAGE --force`
 * truncated the backup): a path, a hard link or a symlink to an input all share its identity.
 */
export function inputFileAt(id: HostIdentity): string | null {
  const byNode = inputs.get(idKey(id))?.path;
  if (byNode !== undefined) return byNode;
  if (id.isBlockDevice?.() && id.rdev) return inputs.get(`blockdev:${id.rdev}`)?.path ?? null;
  return null;
}

/** Throws when `id` (an output's fstat or lstat) is a file the open images read. */
export function refuseInput(id: HostIdentity, output: string): void {
  const input = inputFileAt(id);
  if (input !== null) throw new DiskpickError('output', `is a file the image reads (${input}); diskpick never writes onto its own input, --force or not`, output);
}

function describeHostFile(st: { isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  return st.isFIFO() ? 'a FIFO' : st.isCharacterDevice() ? 'a character device' : st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
}

/**
 * Reads up to this size are made synchronously (pread on the main thread). An asynchronous read
 * goes to libuv's thread pool and back: two thread wake-ups, which on these virtual machines
 * cost more than a 64 KiB read from the page cache (measured: ~260 us of main-thread time per
 * metadata read in `ls -R`; through a FUSE mount, 128 KiB reads ran at ~1.4 s per GiB against
 * ~0.9 s synchronously). Larger reads (cat, extract, dd: 2 MiB chunks, two in flight) stay
 * asynchronous so that reading overlaps writing. The cost: a read that must wait for the disk
 * holds the event loop for that long.
 */
const SYNC_READ_MAX = 128 * 1024;

/**
 * Reads above SYNC_READ_MAX and below this size are spans of metadata (a folder's INDX blocks,
 * a run of MFT records, an ext inode table), each read whole as it is needed: they go through
 * a second descriptor of the same file marked POSIX_FADV_RANDOM, so that the kernel reads no
 * more than each one (see hostio.ts). Smaller reads keep the first descriptor's small initial
 * readahead, which serves neighbouring records; from this size on, reads are a file's bytes in
 * order (cat, extract, dd: 1 MiB chunks, two in flight), which readahead serves.
 */
const SPAN_READ_MAX = 1024 * 1024;

/** One pread on the thread pool (fs.read: no FileHandle, so no node:fs/promises; see host-fs.ts). */
function readAsync(fd: number, target: Buffer, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, target, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * The image file on a plain file descriptor. Opened, checked and closed synchronously: a
 * FileHandle (node:fs/promises) cost the load of that module and libuv's thread pool for calls
 * of microseconds (see host-fs.ts); large reads stay asynchronous.
 */
export class FileSource implements ByteSource {
  private closed = false;
  /** Asynchronous reads in flight: close() waits for them, so that the fd is not reused under one. */
  private readonly reading = new Set<Promise<number>>();
  /** The descriptor for spans (SPAN_READ_MAX), opened on the first: the fd itself where none could be made; -1 until then. */
  private spanFd = -1;

  private constructor(
    private readonly fd: number,
    readonly name: string,
    readonly size: number,
    readonly identity: HostIdentity,
    private readonly deviceKey: string | null,
  ) {}

  private keys(): string[] {
    return this.deviceKey ? [idKey(this.identity), this.deviceKey] : [idKey(this.identity)];
  }

  /**
   * Opens non-blocking, then decides on fstat of what was opened (not a stat of the path
   * before, which a swap could dodge): anything but a regular file, or a block device where
   * allowed, is refused before the first read.
   */
  static async open(path: string, opts: FileSourceOptions = {}): Promise<FileSource> {
    let fd: number;
    try {
      fd = openSync(path, READ_ONLY_FLAGS);
    } catch (err) {
      throw fromSystemError(err, path);
    }
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw cannotOpen(path, 'is a folder, not a disk image');
      const device = st.isBlockDevice() && opts.allowBlockDevice;
      if (!st.isFile() && !device) {
        const why = opts.allowBlockDevice ? 'only regular files and block devices are read' : 'only regular files are read';
        throw cannotOpen(path, `is ${describeHostFile(st)}, not a disk image file (${why})`);
      }
      // A block device reports size 0 in stat; its end is where reads stop.
      const size = device ? blockDeviceSize(fd) : st.size;
      const src = new FileSource(fd, path, size, { dev: st.dev, ino: st.ino }, device ? `blockdev:${st.rdev}` : null);
      for (const k of src.keys()) {
        const e = inputs.get(k);
        if (e) e.count++;
        else inputs.set(k, { path, count: 1 });
      }
      return src;
    } catch (err) {
      try {
        closeSync(fd);
      } catch {
        // Closing a file only read: nothing to report over the error that ends the open.
      }
      throw err instanceof DiskpickError ? err : fromSystemError(err, path);
    }
  }

  read(offset: number, length: number): Promise<Buffer> {
    return readIntoNew(this, offset, length);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return 0;
    let done = 0;
    try {
      while (done < n) {
        const bytesRead = n <= SYNC_READ_MAX
          ? readSync(this.fd, target, at + done, n - done, offset + done)
          : await this.readLarge(target, at + done, n - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw fromSystemError(err, this.name);
    }
    return done;
  }

  private async readLarge(target: Buffer, at: number, length: number, position: number): Promise<number> {
    if (this.closed) throw Object.assign(new Error('file closed'), { code: 'EBADF' });
    const fd = length < SPAN_READ_MAX ? (this.spanFd < 0 ? this.openSpanFd() : this.spanFd) : this.fd;
    const r = readAsync(fd, target, at, length, position);
    this.reading.add(r);
    try {
      return await r;
    } finally {
      this.reading.delete(r);
    }
  }

  /**
   * A second open file description of the same file (through /proc/self/fd: the file opened,
   * not whatever its path names now), with readahead off. The fd itself where that cannot be
   * made (no /proc, no binding to say POSIX_FADV_RANDOM): reads are the same, only wider.
   */
  private openSpanFd(): number {
    this.spanFd = this.fd;
    if (!hintsAvailable()) return this.fd;
    const opened = `/proc/self/fd/${this.fd}`;
    let fd: number;
    try {
      fd = openSync(opened, READ_ONLY_FLAGS);
    } catch {
      return this.fd;
    }
    let same = false;
    try {
      const a = fstatSync(this.fd);
      const b = fstatSync(fd);
      same = a.dev === b.dev && a.ino === b.ino && adviseRandom(fd);
    } catch {
      // Either descriptor cannot be stat'ed: reads stay on the first.
    }
    if (!same) closeSync(fd);
    if (same) this.spanFd = fd;
    return this.spanFd;
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = Math.min(length, this.size - offset);
    return n > 0 ? [{ length: n, fd: this.fd, offset }] : null;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const k of this.keys()) {
      const e = inputs.get(k);
      if (e && --e.count === 0) inputs.delete(k);
    }
    if (this.reading.size) await Promise.allSettled(this.reading);
    for (const fd of this.spanFd >= 0 && this.spanFd !== this.fd ? [this.spanFd, this.fd] : [this.fd]) {
      try {
        closeSync(fd);
      } catch {
        // A file only read: nothing to report on close.
      }
    }
  }
}

function blockDeviceSize(fd: number): number {
  // Binary search for the last readable byte: no ioctl from Node.
  const probe = Buffer.alloc(1);
  let lo = 0;
  let hi = 1;
  while (readSync(fd, probe, 0, 1, hi - 1) === 1) {
    lo = hi;
    hi *= 2;
    if (hi > 2 ** 52) break;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (readSync(fd, probe, 0, 1, mid - 1) === 1) lo = mid;
    else hi = mid;
  }
  return lo;
}
