/**
 * EWF2 (.Ex01) test images. No tool on Debian writes (or reads) EWF2: libewf 20140813's
 * `ewfacquire -f encase7-v2` says "Unsupported EWF format defaulting to: encase6", and its
 * ewfinfo/ewfexport reject the "EVF2" signature. So this is a writer made from the published
 * description only (libyal's "Expert Witness Compression Format 2 (EWF2)" document: file
 * header, section descriptors after their data pointing back, device information and case data
 * as zlib-compressed UTF-16 object strings, 16-byte aligned chunks, sector tables with
 * offset/size/flags entries, MD5 and SHA1 hash sections, next/done). It shares no code with the
 * reader (its own Adler-32); the oracle for the tests is the raw disk each image is made from
 * (its bytes, its md5sum/sha1sum, its file manifest).
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { seededBytes } from './tree.js';
import { ewfSourceDisk } from './ewf.js';
import { writeFileSync } from 'node:fs';

export interface Ex01Variant {
  /** Folder under the cache holding `disk.Ex01`, `disk.Ex02` … */
  name: string;
  /** 'fat-gpt': the FAT tests' 100 MiB GPT disk (with its manifest); 'odd': a 3 MiB + 7 sectors seeded disk. */
  source: 'fat-gpt' | 'odd';
  /** File header compression method: 1 zlib, 0 none (chunks stored with an Adler-32). */
  compression: 0 | 1;
  sectorsPerChunk: number;
  /** Chunks per segment file (undefined: one segment). */
  chunksPerSegment?: number;
  /** Chunks per sector data + sector table pair. */
  chunksPerTable: number;
  /** All-zero chunks written as pattern fill (COMPRESSED | PATTERNFILL, no data). */
  patternFill?: boolean;
}

export const EX01_VARIANTS: Ex01Variant[] = [
  { name: 'ex01-zlib', source: 'fat-gpt', compression: 1, sectorsPerChunk: 64, chunksPerTable: 4096 },
  { name: 'ex01-split-pattern', source: 'fat-gpt', compression: 1, sectorsPerChunk: 128, chunksPerSegment: 700, chunksPerTable: 300, patternFill: true },
  { name: 'ex01-none-odd', source: 'odd', compression: 0, sectorsPerChunk: 16, chunksPerTable: 100 },
];

function adler(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65521;
    s = (s + a) % 65521;
  }
  return (s * 65536 + a) >>> 0;
}

const pad16 = (n: number) => (16 - (n % 16)) % 16;

/** The raw disk a variant images. */
export function ex01Source(cache: string, v: Ex01Variant): string {
  if (v.source === 'fat-gpt') return ewfSourceDisk(cache);
  const p = join(cache, 'ex01-odd.raw');
  if (!existsSync(p)) {
    // Seeded data, a zero run (pattern or zlib of zeros), and a size that ends inside a chunk.
    const b = Buffer.alloc((3 << 20) + 7 * 512);
    seededBytes(23, 1 << 20).copy(b, 0);
    seededBytes(24, (1 << 20) + 7 * 512).copy(b, 2 << 20);
    writeFileSync(`${p}.tmp`, b);
    renameSync(`${p}.tmp`, p);
  }
  return p;
}

class SegmentWriter {
  private fd: number;
  private at = 0;
  private previous = 0;
  constructor(path: string, n: number, compression: number, setId: Buffer) {
    this.fd = openSync(path, 'w+');
    const h = Buffer.alloc(32);
    Buffer.from('EVF2\r\n\x81\0', 'latin1').copy(h, 0);
    h[8] = 2;
    h[9] = 1;
    h.writeUInt16LE(compression, 10);
    h.writeUInt32LE(n, 12);
    setId.copy(h, 16);
    this.write(h);
  }
  get offset(): number {
    return this.at;
  }
  write(b: Buffer): void {
    writeSync(this.fd, b, 0, b.length, this.at);
    this.at += b.length;
  }
  /** Ends the current section (whose data was written since the last descriptor) with its descriptor. */
  descriptor(type: number, dataStart: number, paddingSize: number, flags = 0x1): void {
    const dataSize = this.at - dataStart;
    const data = Buffer.alloc(dataSize);
    readSync(this.fd, data, 0, dataSize, dataStart);
    const d = Buffer.alloc(64);
    d.writeUInt32LE(type, 0);
    d.writeUInt32LE(flags, 4);
    d.writeBigUInt64LE(BigInt(this.previous), 8);
    d.writeBigUInt64LE(BigInt(dataSize), 16);
    d.writeUInt32LE(64, 24);
    d.writeUInt32LE(paddingSize, 28);
    if (flags & 1) createHash('md5').update(data).digest().copy(d, 32);
    d.writeUInt32LE(adler(d.subarray(0, 60)), 60);
    this.previous = this.at;
    this.write(d);
  }
  /** A section holding `data`, padded to 16 bytes. */
  section(type: number, data: Buffer): void {
    const start = this.at;
    const p = pad16(data.length);
    this.write(Buffer.concat([data, Buffer.alloc(p)]));
    this.descriptor(type, start, p);
  }
  close(): void {
    closeSync(this.fd);
  }
}

function objectString(tags: Array<[string, string]>, compression: number): Buffer {
  const text = `1\nmain\n${tags.map(([t]) => t).join('\t')}\n${tags.map(([, v]) => v).join('\t')}\n\n`;
  const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
  return compression === 1 ? deflateSync(utf16) : utf16;
}

/** Writes the variant's segment files; returns the path of its .Ex01. */
export function buildEx01(cache: string, v: Ex01Variant): string {
  return writeEx01(ex01Source(cache, v), join(cache, v.name), v);
}

/** Writes `raw` as EWF2 segment files `disk.Ex01` … into `dir`; returns the .Ex01's path. */
export function writeEx01(raw: string, dir: string, v: Omit<Ex01Variant, 'source'>): string {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const fd = openSync(raw, 'r');
  const size = fstatSync(fd).size;
  const chunkSize = v.sectorsPerChunk * 512;
  const chunks = Math.ceil(size / chunkSize);
  const setId = createHash('md5').update(v.name).digest();
  const md5 = createHash('md5');
  const sha1 = createHash('sha1');
  const perSegment = v.chunksPerSegment ?? chunks;
  const segments = Math.ceil(chunks / perSegment);
  let ci = 0;
  for (let s = 1; s <= segments; s++) {
    const name = `disk.Ex${String(s).padStart(2, '0')}`;
    const w = new SegmentWriter(join(tmp, name), s, v.compression, setId);
    w.section(0x01, objectString([
      ['sn', 'DP-SERIAL-23'], ['md', 'diskpick test disk'], ['lb', ''], ['ts', String(size / 512)], ['hs', ''], ['dc', ''],
      ['dt', 'f'], ['pid', ''], ['rs', ''], ['ls', ''], ['bp', '512'], ['ph', '1'],
    ], v.compression));
    w.section(0x02, objectString([
      ['nm', 'fat gpt disk (EWF2)'], ['cn', 'case 23'], ['en', 'evidence 2'], ['ex', 'diskpick tests'], ['nt', 'made by scripts/images/ewf2.ts'],
      ['av', '7.04'], ['os', 'Linux'], ['tt', '1700000000'], ['at', '1700000000'], ['tb', String(chunks)],
      ['cp', v.compression ? '1' : ''], ['sb', String(v.sectorsPerChunk)], ['gr', String(v.sectorsPerChunk)], ['wb', ''],
    ], v.compression));
    const end = Math.min(chunks, s * perSegment);
    while (ci < end) {
      const tableFirst = ci;
      const tableEnd = Math.min(end, ci + v.chunksPerTable);
      const entries: Buffer[] = [];
      const dataStart = w.offset;
      for (; ci < tableEnd; ci++) {
        const len = Math.min(chunkSize, size - ci * chunkSize);
        const chunk = Buffer.alloc(len);
        readSync(fd, chunk, 0, len, ci * chunkSize);
        md5.update(chunk);
        sha1.update(chunk);
        const e = Buffer.alloc(16);
        if (v.patternFill && chunk.every((x) => x === 0)) {
          e.writeUInt32LE(0x1 | 0x4, 12);
          entries.push(e);
          continue;
        }
        const z = v.compression === 1 ? deflateSync(chunk, { level: 6 }) : null;
        let stored: Buffer;
        let flags: number;
        if (z && z.length < len) {
          stored = z;
          flags = 0x1;
        } else {
          const sum = Buffer.alloc(4);
          sum.writeUInt32LE(adler(chunk));
          stored = Buffer.concat([chunk, sum]);
          flags = 0x2;
        }
        e.writeBigUInt64LE(BigInt(w.offset), 0);
        e.writeUInt32LE(stored.length, 8);
        e.writeUInt32LE(flags, 12);
        entries.push(e);
        w.write(Buffer.concat([stored, Buffer.alloc(pad16(stored.length))]));
      }
      w.descriptor(0x03, dataStart, 0);
      const head = Buffer.alloc(32);
      head.writeBigUInt64LE(BigInt(tableFirst), 0);
      head.writeUInt32LE(entries.length, 8);
      head.writeUInt32LE(adler(head.subarray(0, 16)), 16);
      const body = Buffer.concat(entries);
      const foot = Buffer.alloc(16);
      foot.writeUInt32LE(adler(body), 0);
      const tableStart = w.offset;
      w.write(Buffer.concat([head, body, foot]));
      w.descriptor(0x04, tableStart, 12);
    }
    if (s < segments) w.section(0x0d, Buffer.alloc(0));
    else {
      const m = md5.digest();
      const h = sha1.digest();
      const ms = Buffer.alloc(20);
      m.copy(ms);
      ms.writeUInt32LE(adler(m), 16);
      w.section(0x08, ms);
      const hs = Buffer.alloc(24);
      h.copy(hs);
      hs.writeUInt32LE(adler(h), 20);
      w.section(0x09, hs);
      w.section(0x0f, Buffer.alloc(0));
    }
    w.close();
  }
  closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return join(dir, 'disk.Ex01');
}

export function ex01Image(cache: string, v: Ex01Variant): string {
  const p = join(cache, v.name, 'disk.Ex01');
  return existsSync(p) ? p : buildEx01(cache, v);
}
