/**
 * The NTFS/WOF codecs on their own:
 *   - XPRESS Huffman and LZX against wimlib's compressors (test/helpers/wofpack.c): every
 *     chunk wimlib compresses must decompress to the original bytes; hand-made LZX streams
 *     wimlib cannot produce (uncompressed blocks) must decompress as wimlib's decompressor does;
 *   - LZNT1 against ntfs-3g's compressor: the compression units ntfs-3g wrote into an image
 *     (located through `ntfsinfo -v`'s run list) must decompress to the bytes written;
 *   - hostile input: hand-made bad streams and random corruption give a DiskpickError, never
 *     another exception, a hang or a wrong-sized buffer.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, cachedImage, corpusFile, readManifest, sha256, sha256File } from '../helpers/tools.js';
import { buildLznt1Image, lznt1Files, seededX86, wofpackBinary } from '../../scripts/images/wof.js';
import { seededBytes, seededText, SeededRandom } from '../../scripts/images/tree.js';
import { decompressXpressHuffman } from '../../src/fs/ntfs/xpress.js';
import { decompressLzx } from '../../src/fs/ntfs/lzx.js';
import { decompressLznt1Unit } from '../../src/fs/ntfs/lznt1.js';
import { DiskpickError } from '../../src/errors.js';
import { Vfs } from '../../src/vfs/vfs.js';

const WORK = join(CACHE, 'ntfs-codecs-work');
mkdirSync(WORK, { recursive: true });
const wofpack = wofpackBinary(CACHE);

type Codec = 'xpress' | 'lzx';

/** wimlib's compression of one chunk, or null when it does not shrink. */
function wimCompress(codec: Codec, chunkSize: number, level: number, data: Buffer): Buffer | null {
  const inPath = join(WORK, `c-${process.pid}.in`);
  const outPath = join(WORK, `c-${process.pid}.out`);
  writeFileSync(inPath, data);
  const r = spawnSync(wofpack, ['compress', codec, String(chunkSize), String(level), inPath, outPath]);
  if (r.status === 3) return null;
  if (r.status !== 0) throw new Error(`wofpack compress failed: ${r.stderr}`);
  return readFileSync(outPath);
}

/** wimlib's decompression of one chunk, or null when wimlib rejects it. */
function wimDecompress(codec: Codec, chunkSize: number, outSize: number, data: Buffer): Buffer | null {
  const inPath = join(WORK, `d-${process.pid}.in`);
  const outPath = join(WORK, `d-${process.pid}.out`);
  writeFileSync(inPath, data);
  const r = spawnSync(wofpack, ['decompress', codec, String(chunkSize), String(outSize), inPath, outPath]);
  if (r.status === 4) return null;
  if (r.status !== 0) throw new Error(`wofpack decompress failed: ${r.stderr}`);
  return readFileSync(outPath);
}

/** Inputs that exercise literals, short and long matches, long-length escapes, runs, E8. */
function samples(chunk: number): Array<[string, Buffer]> {
  return [
    ['text', seededText(11, chunk)],
    ['text, short tail', seededText(12, chunk - 1234)],
    ['tiny', seededText(13, 40)],
    ['x86 with E8 calls', seededX86(14, chunk)],
    ['run of one byte (long-length escapes)', Buffer.alloc(chunk, 0x41)],
    ['text then zeros', Buffer.concat([seededText(15, chunk / 4), Buffer.alloc((chunk * 3) / 4)])],
    ['half random', Buffer.concat([seededText(16, chunk / 2), seededBytes(17, chunk / 2)])],
    ['short repeats', Buffer.from(Array.from({ length: chunk }, (_, i) => (i * 7) % 13))],
  ];
}

const XPRESS_CHUNKS = [4096, 8192, 16384];
const LEVELS = [1, 50, 100];

describe('XPRESS Huffman against wimlib', () => {
  for (const chunk of XPRESS_CHUNKS) {
    it(`decompresses wimlib's ${chunk / 1024}K chunks to the original bytes`, () => {
      let compressed = 0;
      for (const level of LEVELS) {
        for (const [what, data] of samples(chunk)) {
          const c = wimCompress('xpress', chunk, level, data);
          if (!c) continue;
          compressed++;
          expect(decompressXpressHuffman(c, data.length).equals(data), `${what}, level ${level}`).toBe(true);
        }
      }
      expect(compressed).toBeGreaterThanOrEqual(LEVELS.length * 6);
    });
  }
});

describe('LZX (WIM flavour) against wimlib', () => {
  it("decompresses wimlib's 32K chunks (verbatim and aligned blocks, E8 translation) to the original bytes", () => {
    let compressed = 0;
    for (const level of LEVELS) {
      for (const [what, data] of [...samples(32768), ['x86, short', seededX86(21, 20000)] as [string, Buffer]]) {
        const c = wimCompress('lzx', 32768, level, data);
        if (!c) continue;
        compressed++;
        expect(decompressLzx(c, data.length).equals(data), `${what}, level ${level}`).toBe(true);
      }
    }
    expect(compressed).toBeGreaterThanOrEqual(LEVELS.length * 6);
  });

  it('reads uncompressed blocks (which wimlib never writes) as wimlib decompresses them', () => {
    // Block 1: uncompressed, 101 bytes (odd: a pad byte follows), with E8 bytes to translate.
    // Block 2: uncompressed, the rest.
    const a = Buffer.concat([Buffer.from([0xe8, 0x10, 0x00, 0x00, 0x00]), seededText(31, 90), Buffer.from([0xe8, 0xf0, 0xff, 0xff, 0xff, 0x41])]);
    const b = Buffer.concat([seededText(32, 200), Buffer.from([0xe8, 0x00, 0x01, 0x00, 0x00]), seededText(33, 50)]);
    const stream = Buffer.concat([lzxUncompressedBlock(a, [1, 2, 3]), lzxUncompressedBlock(b, [4, 5, 6])]);
    const theirs = wimDecompress('lzx', 32768, a.length + b.length, stream);
    expect(theirs).not.toBeNull();
    expect(decompressLzx(stream, a.length + b.length).equals(theirs!)).toBe(true);
  });
});

/** An LZX uncompressed block: header bits, alignment, R0..R2, the bytes, a pad byte if odd. */
function lzxUncompressedBlock(data: Buffer, recent: number[]): Buffer {
  // 3 bits type (3), 1 bit "default size" (0), 16 bits size: 20 bits, padded to 32.
  const bits = (3 << 17) | (0 << 16) | data.length;
  const w0 = (bits >>> 4) & 0xffff;
  const w1 = (bits & 0xf) << 12;
  const head = Buffer.alloc(4 + 12);
  head.writeUInt16LE(w0, 0);
  head.writeUInt16LE(w1, 2);
  recent.forEach((r, i) => head.writeUInt32LE(r, 4 + i * 4));
  return Buffer.concat([head, data, Buffer.alloc(data.length & 1)]);
}

/** The data runs of a file's unnamed $DATA as `ntfsinfo -v` prints them: vcn → lcn or null. */
function clusterMap(img: string, path: string): { clusters: Array<number | null>; unitClusters: number; dataSize: number } {
  const out = execFileSync('ntfsinfo', ['-F', path, '-v', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const data = out.slice(out.indexOf('Dumping attribute $DATA'));
  const unit = Number(/Compression unit:\s+(\d+)/.exec(data)![1]);
  const dataSize = Number(/Data size:\s+(\d+)/.exec(data)![1]);
  const clusters: Array<number | null> = [];
  for (const m of data.matchAll(/^\s+0x([0-9a-f]+)\s+(0x[0-9a-f]+|<HOLE>)\s+0x([0-9a-f]+)$/gm)) {
    const vcn = parseInt(m[1]!, 16);
    const len = parseInt(m[3]!, 16);
    for (let i = 0; i < len; i++) clusters[vcn + i] = m[2] === '<HOLE>' ? null : parseInt(m[2]!, 16) + i;
  }
  return { clusters, unitClusters: unit ? 2 ** unit : 0, dataSize };
}

describe('LZNT1 against ntfs-3g', () => {
  // 16-cluster units: 64 KiB with mkntfs's default 4 KiB clusters, 8 KiB with 512-byte ones.
  it.each([
    ['ntfs-codecs-lznt1.img', undefined],
    ['ntfs-codecs-lznt1-c512.img', 512],
  ])('decompresses every compression unit ntfs-3g wrote to the bytes written (%s)', async (name, cluster) => {
    const img = cachedImage(name, (p) => buildLznt1Image(p, cluster));
    const before = await sha256File(img);
    const clusterSize = Number(/Cluster Size:\s+(\d+)/.exec(execFileSync('ntfsinfo', ['-m', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }))![1]);
    const manifest = readManifest(img + '.manifest.json');
    const fd = openSync(img, 'r');
    const counts = { compressed: 0, raw: 0, sparse: 0 };
    try {
      for (const f of lznt1Files()) {
        const original = Buffer.from(f.content!);
        expect(manifest.find((m) => m.path === '/' + f.path)?.size).toBe(original.length);
        const { clusters, unitClusters, dataSize } = clusterMap(img, '/' + f.path);
        expect(dataSize).toBe(original.length);
        expect(unitClusters, f.path).toBe(16);
        const unitSize = unitClusters * clusterSize;
        for (let u = 0; u * unitSize < dataSize; u++) {
          const lcns = clusters.slice(u * unitClusters, (u + 1) * unitClusters);
          const stored = lcns.filter((l): l is number => l !== null && l !== undefined);
          const want = Buffer.alloc(unitSize);
          original.copy(want, 0, u * unitSize, Math.min(dataSize, (u + 1) * unitSize));
          if (stored.length === unitClusters) {
            counts.raw++;
            continue;
          }
          if (stored.length === 0) {
            counts.sparse++;
            expect(want.equals(Buffer.alloc(unitSize)), `${f.path} unit ${u} is a hole`).toBe(true);
            continue;
          }
          counts.compressed++;
          const input = Buffer.alloc(stored.length * clusterSize);
          stored.forEach((lcn, i) => readSync(fd, input, i * clusterSize, clusterSize, lcn * clusterSize));
          const got = decompressLznt1Unit(input, unitSize);
          expect(got.length).toBe(unitSize);
          expect(got.equals(want), `${f.path} unit ${u}`).toBe(true);
        }
      }
    } finally {
      closeSync(fd);
    }
    expect(counts.compressed).toBeGreaterThanOrEqual(10);
    expect(counts.raw).toBeGreaterThanOrEqual(1);
    expect(counts.sparse).toBeGreaterThan(0);
    expect(await sha256File(img)).toBe(before);
  });

  it('returns a shorter unit (a tail) as the front of the full unit', async () => {
    const img = cachedImage('ntfs-codecs-lznt1.img', (p) => buildLznt1Image(p));
    const { clusters } = clusterMap(img, '/c/text.txt');
    const stored = clusters.slice(0, 16).filter((l): l is number => l !== null);
    expect(stored.length).toBeLessThan(16);
    const input = Buffer.alloc(stored.length * 4096);
    const fd = openSync(img, 'r');
    stored.forEach((lcn, i) => readSync(fd, input, i * 4096, 4096, lcn * 4096));
    closeSync(fd);
    const original = Buffer.from(lznt1Files()[0]!.content!);
    expect(decompressLznt1Unit(input, 10_000).equals(original.subarray(0, 10_000))).toBe(true);
  });
});

describe('LZNT1 files end to end (NTFS reader + decoder, through the Vfs)', () => {
  it.each([
    ['ntfs-codecs-lznt1.img', undefined],
    ['ntfs-codecs-lznt1-c512.img', 512],
  ])('reads every compressed file as written, as ntfscat and TSK icat do (%s)', async (name, cluster) => {
    const img = cachedImage(name, (p) => buildLznt1Image(p, cluster));
    const before = await sha256File(img);
    const fls = execFileSync('fls', ['-r', '-p', img], { encoding: 'utf8' });
    const vfs = await Vfs.open(img);
    try {
      for (const m of readManifest(img + '.manifest.json').filter((e) => e.type === 'file')) {
        const src = await vfs.openFile(await vfs.lookup('/p0' + m.path));
        const parts: Buffer[] = [];
        for (let o = 0; o < src.size; o += 50_000) parts.push(Buffer.from(await src.read(o, 50_000)));
        const ours = sha256(Buffer.concat(parts));
        expect(ours, m.path).toBe(m.sha256);
        expect(sha256(execFileSync('ntfscat', [img, m.path], { maxBuffer: 1 << 28 })), `ntfscat ${m.path}`).toBe(ours);
        const inode = new RegExp(`^r/r (\\d+)-128-\\d+:\\t${m.path.slice(1).replace(/[.]/g, '\\.')}$`, 'm').exec(fls)![1]!;
        expect(sha256(execFileSync('icat', [img, inode], { maxBuffer: 1 << 28 })), `icat ${m.path}`).toBe(ours);
      }
    } finally {
      await vfs.close();
    }
    expect(await sha256File(img)).toBe(before);
  });
});

describe('LZNT1 as Windows writes it', () => {
  it('decodes the compressed units of ntfs-ramslack (Windows 10, compression enabled) as icat reads the files', () => {
    const gz = corpusFile('ntfs-ramslack.raw.gz');
    if (!gz) return;
    // Same unpacked copy as test/ntfs/realworld.test.ts.
    const img = join(CACHE, 'ntfs-rw-ramslack.raw');
    if (!existsSync(img)) {
      execFileSync('bash', ['-c', 'gzip -dc "$1" | cp --sparse=always /dev/stdin "$2"', '_', gz, `${img}.tmp`]);
      renameSync(`${img}.tmp`, img);
    }
    const part = execFileSync('mmls', [img], { encoding: 'utf8' }).split('\n').find((l) => /NTFS/.test(l))!;
    const start = Number(part.trim().split(/\s+/)[2]);
    const cs = Number(/Cluster Size: (\d+)/.exec(execFileSync('fsstat', ['-o', String(start), img], { encoding: 'utf8' }))![1]);
    let units = 0;
    const fd = openSync(img, 'r');
    try {
      for (const line of execFileSync('fls', ['-o', String(start), '-r', '-p', img], { encoding: 'utf8' }).split('\n')) {
        const m = /^r\/r (\d+)-128-(\d+):\t(.*)$/.exec(line);
        if (!m) continue;
        const istat = execFileSync('istat', ['-o', String(start), img, m[1]!], { encoding: 'utf8' });
        const data = istat.slice(istat.indexOf(`Type: $DATA (128-${m[2]})`));
        if (!/^Type: \$DATA \S+\s+Name: N\/A\s+Non-Resident, Compressed/.test(data)) continue;
        // istat lists the attribute's clusters, 0 for the sparse ones of a compression unit.
        const lines = data.split('\n').slice(1);
        const next = lines.findIndex((l) => l.startsWith('Type:'));
        const clusters = (next < 0 ? lines : lines.slice(0, next)).join(' ').trim().split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number);
        const want = execFileSync('icat', ['-o', String(start), img, `${m[1]}-128-${m[2]}`], { maxBuffer: 1 << 28 });
        for (let u = 0; u * 16 < clusters.length && u * 16 * cs < want.length; u++) {
          const stored = clusters.slice(u * 16, u * 16 + 16).filter((c) => c !== 0);
          if (stored.length === 0 || stored.length === 16) continue;
          const input = Buffer.alloc(stored.length * cs);
          stored.forEach((c, i) => readSync(fd, input, i * cs, cs, start * 512 + c * cs));
          const got = decompressLznt1Unit(input, 16 * cs);
          const end = Math.min(want.length, (u + 1) * 16 * cs);
          expect(got.subarray(0, end - u * 16 * cs).equals(want.subarray(u * 16 * cs, end)), `${m[3]} unit ${u}`).toBe(true);
          units++;
        }
      }
    } finally {
      closeSync(fd);
    }
    expect(units).toBeGreaterThan(0);
  });
});

/** Asserts that `f` either returns exactly `size` bytes or throws a DiskpickError. */
function survives(f: () => Buffer, size: number): 'ok' | 'error' {
  try {
    const out = f();
    expect(out.length).toBe(size);
    return 'ok';
  } catch (err) {
    if (!(err instanceof DiskpickError)) throw err;
    expect(err.kind).toBe('image');
    return 'error';
  }
}

function expectCorrupt(f: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(DiskpickError);
  expect((caught as DiskpickError).kind).toBe('image');
  expect((caught as DiskpickError).message).toMatch(pattern);
}

/** Mutations of a valid stream: flipped bytes, cut tails, overwritten runs. */
function* mutations(valid: Buffer, seed: number, count: number): Generator<Buffer> {
  const r = new SeededRandom(seed);
  for (let i = 0; i < count; i++) {
    const b = Buffer.from(valid);
    switch (i % 4) {
      case 0:
        for (let k = 0; k < 1 + r.int(4); k++) b[r.int(b.length)] ^= 1 << r.int(8);
        yield b;
        break;
      case 1:
        yield b.subarray(0, r.int(b.length));
        break;
      case 2: {
        const at = r.int(b.length);
        b.fill(r.int(256), at, Math.min(b.length, at + 1 + r.int(64)));
        yield b;
        break;
      }
      default:
        yield seededBytes(seed * 1000 + i, 1 + r.int(valid.length * 2));
    }
  }
}

describe('hostile input', () => {
  it('XPRESS: short input, impossible Huffman tables, matches before the start, cut streams', () => {
    expectCorrupt(() => decompressXpressHuffman(Buffer.alloc(100), 4096), /truncated/);
    // Every symbol with a 1-bit code: the lengths over-subscribe the code space.
    expectCorrupt(() => decompressXpressHuffman(Buffer.alloc(300, 0x11), 4096), /invalid Huffman table/);
    // No symbol at all.
    expectCorrupt(() => decompressXpressHuffman(Buffer.alloc(300), 4096), /invalid Huffman table/);
    // Symbol 0 -> "0", symbol 256 (match, length 3, offset 1) -> "1"; the stream starts with 1.
    const early = Buffer.alloc(260);
    early[0] = 0x01;
    early[128] = 0x01;
    early.writeUInt16LE(0x8000, 256);
    expectCorrupt(() => decompressXpressHuffman(early, 4096), /before the start/);
    const valid = wimCompress('xpress', 4096, 50, seededText(41, 4096))!;
    expectCorrupt(() => decompressXpressHuffman(valid.subarray(0, valid.length >> 1), 4096), /truncated|invalid|before the start|past the end/);
  });

  it('LZX: bad block types, empty blocks, cut streams', () => {
    expectCorrupt(() => decompressLzx(Buffer.alloc(64), 32768), /invalid block type 0/);
    // Verbatim block with an explicit size of 0.
    expectCorrupt(() => decompressLzx(Buffer.from([0x00, 0x20, 0x00, 0x00, 0x00, 0x00]), 100), /block of 0 bytes/);
    // Uncompressed block longer than the chunk.
    expectCorrupt(() => decompressLzx(lzxUncompressedBlock(Buffer.alloc(200), [1, 1, 1]), 100), /does not fit/);
    expectCorrupt(() => decompressLzx(lzxUncompressedBlock(Buffer.alloc(200), [1, 0, 1]), 200), /zero recent offset/);
    expectCorrupt(() => decompressLzx(lzxUncompressedBlock(Buffer.alloc(200), [1, 1, 1]).subarray(0, 100), 200), /cut short/);
    const valid = wimCompress('lzx', 32768, 50, seededText(42, 32768))!;
    expectCorrupt(() => decompressLzx(valid.subarray(0, valid.length >> 1), 32768), /truncated|invalid|before the start|past the end/);
    expectCorrupt(() => decompressLzx(valid, 40000), /window/);
  });

  it('LZNT1: bad signatures, chunks past the unit, copies before the chunk, overlong chunks', () => {
    expect(decompressLznt1Unit(Buffer.alloc(0), 65536).equals(Buffer.alloc(65536))).toBe(true);
    expectCorrupt(() => decompressLznt1Unit(Buffer.from([0x10, 0x40, 1, 2, 3]), 65536), /signature/);
    expectCorrupt(() => decompressLznt1Unit(Buffer.from([0xff, 0xbf, 0, 1, 2]), 65536), /needs 4096 bytes/);
    // Flag byte 0x01: the first token is a copy, with nothing before it to copy.
    expectCorrupt(() => decompressLznt1Unit(Buffer.from([0x02, 0xb0, 0x01, 0x00, 0x00]), 65536), /before the start/);
    // A copy of 4095 bytes after one literal: 4096 bytes, then one literal more than the chunk holds.
    const over = Buffer.from([0x04, 0xb0, 0x02, 0x41, 0xfc, 0x0f, 0x42]);
    expectCorrupt(() => decompressLznt1Unit(over, 65536), /more than 4096|past the end/);
  });

  it('random corruption of valid streams never escapes as anything but a DiskpickError', () => {
    const t0 = Date.now();
    const tally = { ok: 0, error: 0 };
    const text = seededText(51, 16384);
    const xp = wimCompress('xpress', 16384, 50, text)!;
    for (const m of mutations(xp, 1, 400)) tally[survives(() => decompressXpressHuffman(m, 16384), 16384)]++;
    const lzx = wimCompress('lzx', 32768, 100, Buffer.concat([text, seededX86(52, 16384)]))!;
    for (const m of mutations(lzx, 2, 400)) tally[survives(() => decompressLzx(m, 32768), 32768)]++;
    // An LZNT1 unit from the ntfs-3g image's first compressed unit.
    const img = cachedImage('ntfs-codecs-lznt1.img', (p) => buildLznt1Image(p));
    const { clusters } = clusterMap(img, '/c/text.txt');
    const stored = clusters.slice(0, 16).filter((l): l is number => l !== null);
    const unit = Buffer.alloc(stored.length * 4096);
    const fd = openSync(img, 'r');
    stored.forEach((lcn, i) => readSync(fd, unit, i * 4096, 4096, lcn * 4096));
    closeSync(fd);
    for (const m of mutations(unit, 3, 400)) tally[survives(() => decompressLznt1Unit(m, 65536), 65536)]++;
    expect(tally.ok + tally.error).toBe(1200);
    expect(tally.error).toBeGreaterThan(100);
    expect(Date.now() - t0).toBeLessThan(60_000);
  });
});
