/**
 * A ZIP archive written front to back as its members are read (APPNOTE 6.3.x): nothing is
 * staged on disk and memory stays at one read buffer. Members are stored (method 0: most
 * restored files are documents and media that do not shrink, and deflating would cost more
 * CPU than the transfer it saves on a LAN); each has a data descriptor (general purpose bit 3:
 * the CRC is known only after the data), ZIP64 sizes and offsets (so members and archives past
 * 4 GiB work), names in UTF-8 (bit 11) and the modification time both as DOS time and as the
 * UTC "extended timestamp" extra field (0x5455) that unzip and 7-Zip honour.
 */
import { crc32 } from 'node:zlib';
import type { Timespec } from '../fs/types.js';

interface CentralRecord {
  name: Buffer;
  crc: number;
  size: number;
  offset: number;
  dosTime: number;
  dosDate: number;
  mtime: number;
  dir: boolean;
  mode: number;
}

/** Sink of the archive's bytes; resolves when the bytes may be reused. */
export type ZipSink = (chunk: Buffer) => Promise<void>;

function dosDateTime(t: Timespec | undefined): { time: number; date: number } {
  const d = new Date((t?.sec ?? 315532800) * 1000);
  if (Number.isNaN(d.getTime()) || d.getUTCFullYear() < 1980) return { time: 0, date: (1 << 5) | 1 };
  const y = Math.min(d.getUTCFullYear(), 2107);
  return {
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
    date: ((y - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
  };
}

function extendedTimestamp(sec: number): Buffer {
  const b = Buffer.alloc(9);
  b.writeUInt16LE(0x5455, 0);
  b.writeUInt16LE(5, 2);
  b[4] = 1; // modification time present
  b.writeInt32LE(Math.max(-0x80000000, Math.min(0x7fffffff, sec)), 5);
  return b;
}

export class ZipWriter {
  private offset = 0;
  private readonly central: CentralRecord[] = [];

  constructor(private readonly sink: ZipSink) {}

  private async out(b: Buffer): Promise<void> {
    this.offset += b.length;
    await this.sink(b);
  }

  /** A folder member ("name/"). */
  async addFolder(path: string, mtime: Timespec | undefined): Promise<void> {
    await this.add(path.endsWith('/') ? path : `${path}/`, mtime, 0o755, true, async () => 0);
  }

  /**
   * A file member: `write` is called once with a function that takes the member's bytes in
   * order; it resolves to the number of bytes it wrote.
   */
  async addFile(path: string, mtime: Timespec | undefined, mode: number, write: (put: (chunk: Buffer) => Promise<void>) => Promise<number>): Promise<void> {
    await this.add(path, mtime, mode, false, write);
  }

  private async add(path: string, mtime: Timespec | undefined, mode: number, dir: boolean, write: (put: (chunk: Buffer) => Promise<void>) => Promise<number>): Promise<void> {
    const name = Buffer.from(path, 'utf8');
    const { time, date } = dosDateTime(mtime);
    const sec = mtime?.sec ?? 0;
    const offset = this.offset;
    const ext = extendedTimestamp(sec);
    // ZIP64 extra in the local header with zero sizes: the real ones follow in the descriptor.
    const z64 = Buffer.alloc(20);
    z64.writeUInt16LE(0x0001, 0);
    z64.writeUInt16LE(16, 2);
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(45, 4); // version needed: ZIP64
    lh.writeUInt16LE((1 << 3) | (1 << 11), 6);
    lh.writeUInt16LE(0, 8);
    lh.writeUInt16LE(time, 10);
    lh.writeUInt16LE(date, 12);
    lh.writeUInt32LE(0, 14);
    lh.writeUInt32LE(0xffffffff, 18);
    lh.writeUInt32LE(0xffffffff, 22);
    lh.writeUInt16LE(name.length, 26);
    lh.writeUInt16LE(z64.length + ext.length, 28);
    await this.out(Buffer.concat([lh, name, z64, ext]));
    let crc = 0;
    let size = 0;
    const put = async (chunk: Buffer) => {
      crc = crc32(chunk, crc);
      size += chunk.length;
      await this.out(chunk);
    };
    await write(put);
    const dd = Buffer.alloc(24);
    dd.writeUInt32LE(0x08074b50, 0);
    dd.writeUInt32LE(crc >>> 0, 4);
    dd.writeBigUInt64LE(BigInt(size), 8);
    dd.writeBigUInt64LE(BigInt(size), 16);
    await this.out(dd);
    this.central.push({ name, crc: crc >>> 0, size, offset, dosTime: time, dosDate: date, mtime: sec, dir, mode });
  }

  /** The central directory and the (ZIP64) end records. */
  async finish(): Promise<void> {
    const cdStart = this.offset;
    for (const r of this.central) {
      const z64 = Buffer.alloc(28);
      z64.writeUInt16LE(0x0001, 0);
      z64.writeUInt16LE(24, 2);
      z64.writeBigUInt64LE(BigInt(r.size), 4);
      z64.writeBigUInt64LE(BigInt(r.size), 12);
      z64.writeBigUInt64LE(BigInt(r.offset), 20);
      const ext = extendedTimestamp(r.mtime);
      const ch = Buffer.alloc(46);
      ch.writeUInt32LE(0x02014b50, 0);
      ch.writeUInt16LE((3 << 8) | 45, 4); // made by: Unix (so the mode below counts), spec 4.5
      ch.writeUInt16LE(45, 6);
      ch.writeUInt16LE((1 << 3) | (1 << 11), 8);
      ch.writeUInt16LE(0, 10);
      ch.writeUInt16LE(r.dosTime, 12);
      ch.writeUInt16LE(r.dosDate, 14);
      ch.writeUInt32LE(r.crc, 16);
      ch.writeUInt32LE(0xffffffff, 20);
      ch.writeUInt32LE(0xffffffff, 24);
      ch.writeUInt16LE(r.name.length, 28);
      ch.writeUInt16LE(z64.length + ext.length, 30);
      ch.writeUInt16LE(0, 32);
      ch.writeUInt16LE(0, 34);
      ch.writeUInt16LE(0, 36);
      const unixMode = (r.dir ? 0o040000 : 0o100000) | (r.mode & 0o7777);
      ch.writeUInt32LE(((unixMode << 16) | (r.dir ? 0x10 : 0)) >>> 0, 38);
      ch.writeUInt32LE(0xffffffff, 42);
      await this.out(Buffer.concat([ch, r.name, z64, ext]));
    }
    const cdSize = this.offset - cdStart;
    const eocd64At = this.offset;
    const e64 = Buffer.alloc(56);
    e64.writeUInt32LE(0x06064b50, 0);
    e64.writeBigUInt64LE(44n, 4);
    e64.writeUInt16LE((3 << 8) | 45, 12);
    e64.writeUInt16LE(45, 14);
    e64.writeUInt32LE(0, 16);
    e64.writeUInt32LE(0, 20);
    e64.writeBigUInt64LE(BigInt(this.central.length), 24);
    e64.writeBigUInt64LE(BigInt(this.central.length), 32);
    e64.writeBigUInt64LE(BigInt(cdSize), 40);
    e64.writeBigUInt64LE(BigInt(cdStart), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeUInt32LE(0, 4);
    loc.writeBigUInt64LE(BigInt(eocd64At), 8);
    loc.writeUInt32LE(1, 16);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(0x06054b50, 0);
    eocd.writeUInt16LE(0xffff, 8);
    eocd.writeUInt16LE(0xffff, 10);
    eocd.writeUInt32LE(0xffffffff, 12);
    eocd.writeUInt32LE(0xffffffff, 16);
    await this.out(Buffer.concat([e64, loc, eocd]));
  }
}
