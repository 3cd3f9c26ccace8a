/**
 * zisofs (mkzftree / libisofs "pz"), announced by a Rock Ridge ZF entry: the file's data is a
 * 16-byte header (magic 37 E4 53 96 C9 DB D6 07, uncompressed size, header size / 4, log2 of
 * the block size), a table of (blocks + 1) little-endian u32 byte offsets, then each block
 * zlib-compressed; a block whose two offsets are equal is all zeros.
 */
import { corrupt } from '../../errors.js';
import { inflateInto } from '../../container/inflate.js';
import { readExact, readIntoNew, readIntoSpan, type ByteSource } from '../../source/source.js';

const MAGIC = Buffer.from([0x37, 0xe4, 0x53, 0x96, 0xc9, 0xdb, 0xd6, 0x07]);
/** Block pointer tables above this (a 64 GiB file of 32 KiB blocks) are hostile. */
const MAX_BLOCKS = 1 << 21;

export class ZisofsSource implements ByteSource {
  private pointers: Uint32Array | null = null;
  private blockSize = 0;
  private cached: { index: number; data: Buffer } | null = null;

  constructor(
    private readonly raw: ByteSource,
    readonly size: number,
    readonly name: string,
  ) {}

  private async table(): Promise<Uint32Array> {
    if (this.pointers) return this.pointers;
    const h = await readExact(this.raw, 0, 16, 'zisofs header');
    if (!h.subarray(0, 8).equals(MAGIC)) throw corrupt(this.name, 'zisofs: bad header magic');
    const headerSize = h[12]! * 4;
    const log2 = h[13]!;
    if (log2 < 15 || log2 > 17) throw corrupt(this.name, `zisofs: block size 2^${log2} (15–17 allowed)`);
    if (h.readUInt32LE(8) !== this.size) throw corrupt(this.name, `zisofs: header says ${h.readUInt32LE(8)} bytes, Rock Ridge ZF says ${this.size}`);
    this.blockSize = 1 << log2;
    const blocks = Math.ceil(this.size / this.blockSize);
    if (blocks > MAX_BLOCKS) throw corrupt(this.name, `zisofs: ${blocks} blocks`);
    const t = await readExact(this.raw, headerSize, (blocks + 1) * 4, 'zisofs block pointers');
    const p = new Uint32Array(blocks + 1);
    for (let i = 0; i <= blocks; i++) {
      p[i] = t.readUInt32LE(i * 4);
      if (i > 0 && p[i]! < p[i - 1]!) throw corrupt(this.name, `zisofs: block pointer ${i} goes backwards`);
    }
    if (p[blocks]! > this.raw.size) throw corrupt(this.name, 'zisofs: block pointers reach past the file data');
    this.pointers = p;
    return p;
  }

  private async block(i: number): Promise<Buffer> {
    if (this.cached?.index === i) return this.cached.data;
    const p = await this.table();
    const len = Math.min(this.blockSize, this.size - i * this.blockSize);
    const out = Buffer.alloc(len);
    const from = p[i]!;
    const to = p[i + 1]!;
    if (to > from) {
      if (to - from > 2 * this.blockSize + 1024) throw corrupt(this.name, `zisofs: block ${i} is ${to - from} bytes compressed`);
      const z = await readExact(this.raw, from, to - from, 'zisofs block');
      let r;
      try {
        r = inflateInto('zlib', z, out, 0, len, false);
      } catch (err) {
        throw corrupt(this.name, `zisofs: block ${i} does not decompress (${(err as Error).message})`);
      }
      if (r.written !== len) throw corrupt(this.name, `zisofs: block ${i} decompresses to ${r.written} bytes, expected ${len}`);
    }
    this.cached = { index: i, data: out };
    return out;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return readIntoNew(this as ZisofsSource & { readInto: ZisofsSource['readInto'] }, offset, length);
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    await this.table();
    let done = 0;
    while (done < n) {
      const pos = offset + done;
      const i = Math.floor(pos / this.blockSize);
      const b = await this.block(i);
      const inB = pos - i * this.blockSize;
      done += b.copy(target, at + done, inB, Math.min(b.length, inB + n - done));
    }
    return n;
  }

  async close(): Promise<void> {}
}
