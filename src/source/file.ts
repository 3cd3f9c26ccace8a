import { open, stat, type FileHandle } from 'node:fs/promises';
import { constants, readSync } from 'node:fs';
import { cannotOpen, fromSystemError } from '../errors.js';
import { readIntoNew, type ByteSource, type HostRun, readSpan } from './source.js';

/**
 * The only way diskpick opens an image file: O_RDONLY, never anything that can write.
 * (test/readonly.test.ts scans the code for other open calls.)
 */
export const READ_ONLY_FLAGS = constants.O_RDONLY;

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

export class FileSource implements ByteSource {
  private constructor(
    private readonly fh: FileHandle,
    readonly name: string,
    readonly size: number,
  ) {}

  static async open(path: string): Promise<FileSource> {
    let st;
    try {
      st = await stat(path);
    } catch (err) {
      throw fromSystemError(err, path);
    }
    if (st.isDirectory()) throw cannotOpen(path, 'is a folder, not a disk image');
    let fh: FileHandle;
    try {
      fh = await open(path, READ_ONLY_FLAGS);
    } catch (err) {
      throw fromSystemError(err, path);
    }
    let size = st.size;
    if (st.isBlockDevice()) {
      // A block device reports size 0 in stat; its end is where reads stop.
      size = await blockDeviceSize(fh);
    }
    return new FileSource(fh, path, size);
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
          ? readSync(this.fh.fd, target, at + done, n - done, offset + done)
          : (await this.fh.read(target, at + done, n - done, offset + done)).bytesRead;
        if (bytesRead === 0) break;
        done += bytesRead;
      }
    } catch (err) {
      throw fromSystemError(err, this.name);
    }
    return done;
  }

  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = Math.min(length, this.size - offset);
    return n > 0 ? [{ length: n, fd: this.fh.fd, offset }] : null;
  }

  async close(): Promise<void> {
    await this.fh.close().catch(() => undefined);
  }
}

async function blockDeviceSize(fh: FileHandle): Promise<number> {
  // Binary search for the last readable byte: no ioctl from Node.
  const probe = Buffer.alloc(1);
  let lo = 0;
  let hi = 1;
  while ((await fh.read(probe, 0, 1, hi - 1)).bytesRead === 1) {
    lo = hi;
    hi *= 2;
    if (hi > 2 ** 52) break;
  }
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if ((await fh.read(probe, 0, 1, mid - 1)).bytesRead === 1) lo = mid;
    else hi = mid;
  }
  return lo;
}
