/**
 * NTFS codecs: MiB/s of output of diskpick's LZNT1, XPRESS Huffman and LZX decoders (target:
 * LZNT1 and XPRESS >= 150 MiB/s), with node:zlib's inflate of the same bytes (native code)
 * measured in the same run as the reference row value.
 *
 * Data: the first 32 MiB of the node binary (real x86-64 code, like the files CompactOS
 * compresses in C:\Windows) and 32 MiB of seeded text. LZNT1 units come from ntfs-3g's
 * compressor (an NTFS image built with the `compression` option; the units are located through
 * `ntfsinfo -v`'s run list); XPRESS and LZX chunks from wimlib's compressors (wofpack).
 * Times are CPU seconds of this process (process.cpuUsage), best of several runs: the machine
 * is shared, and CPU time is what the decoder costs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, readSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { BENCH_CACHE, type BenchRow } from './harness.js';
import { buildLznt1Image, wofPack, WOF_CHUNK_SIZES, type WofAlgorithmName } from '../scripts/images/wof.js';
import { seededText } from '../scripts/images/tree.js';
import { decompressLznt1Unit } from '../src/fs/ntfs/lznt1.js';
import { decompressXpressHuffman } from '../src/fs/ntfs/xpress.js';
import { decompressLzx } from '../src/fs/ntfs/lzx.js';

const SIZE = 32 << 20;
const TARGET = 150;

/** Best CPU time over `runs` runs of `f`, in seconds. */
function cpuTime(f: () => void, runs = 5): number {
  f();
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.cpuUsage();
    f();
    const u = process.cpuUsage(t0);
    best = Math.min(best, (u.user + u.system) / 1e6);
  }
  return best;
}

/** LZNT1 and XPRESS have the target; LZX (no target) is reported only. */
function row(what: string, bytes: number, oursSec: number, referenceSec: number, hasTarget = true): BenchRow {
  const ours = bytes / oursSec / 2 ** 20;
  const theirs = bytes / referenceSec / 2 ** 20;
  return {
    area: 'ntfs-codecs',
    what,
    ours,
    reference: 'node:zlib inflate, same bytes',
    theirs,
    unit: 'MiB/s',
    ratio: ours / theirs,
    target: hasTarget ? `>= ${TARGET} MiB/s` : 'report only',
    met: hasTarget ? ours >= TARGET : true,
  };
}

/** zlib inflate of the same bytes, in pieces of `piece` (as the chunks are). */
function inflateReference(data: Buffer, piece: number): number {
  const parts: Buffer[] = [];
  for (let o = 0; o < data.length; o += piece) parts.push(deflateRawSync(data.subarray(o, o + piece)));
  return cpuTime(() => {
    for (const p of parts) inflateRawSync(p);
  });
}

function samples(): Array<[string, Buffer]> {
  const node = readFileSync(process.execPath);
  return [
    ['x86-64 code', node.subarray(0, Math.min(SIZE, node.length))],
    ['text', seededText(7, SIZE)],
  ];
}

function wofRows(alg: WofAlgorithmName, label: string, data: Buffer): BenchRow {
  const cs = WOF_CHUNK_SIZES[alg];
  const packed = wofPack(BENCH_CACHE, alg, data, join(BENCH_CACHE, 'ntfs-codecs-work'));
  const n = Math.ceil(data.length / cs);
  const table = (n - 1) * 4;
  const at = (i: number) => (i === 0 ? 0 : i === n ? packed.length - table : packed.readUInt32LE((i - 1) * 4));
  const chunks: Array<[Buffer, number]> = [];
  for (let i = 0; i < n; i++) {
    const len = Math.min(cs, data.length - i * cs);
    const c = packed.subarray(table + at(i), table + at(i + 1));
    if (c.length < len) chunks.push([c, len]); // raw chunks cost nothing to "decode"
  }
  const out = Buffer.allocUnsafe(cs);
  const bytes = chunks.reduce((s, [, len]) => s + len, 0);
  const ours = cpuTime(() => {
    for (const [c, len] of chunks) {
      if (alg === 'lzx') decompressLzx(c, len, 32768, 'bench', out);
      else decompressXpressHuffman(c, len, 'bench', out);
    }
  });
  return row(`${alg.toUpperCase()} decode, ${label}`, bytes, ours, inflateReference(data, cs), alg !== 'lzx');
}

function lznt1Row(label: string, data: Buffer, name: string): BenchRow {
  const img = join(BENCH_CACHE, name);
  if (!existsSync(img)) buildLznt1Image(img, undefined, [{ path: 'c/data.bin', content: data }]);
  const info = execFileSync('ntfsinfo', ['-F', '/c/data.bin', '-v', img], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const runs = [...info.slice(info.indexOf('Dumping attribute $DATA')).matchAll(/^\s+0x([0-9a-f]+)\s+(0x[0-9a-f]+|<HOLE>)\s+0x([0-9a-f]+)$/gm)];
  const clusters: Array<number | null> = [];
  for (const m of runs) for (let i = 0; i < parseInt(m[3]!, 16); i++) clusters[parseInt(m[1]!, 16) + i] = m[2] === '<HOLE>' ? null : parseInt(m[2]!, 16) + i;
  const units: Buffer[] = [];
  const fd = openSync(img, 'r');
  for (let u = 0; u * 16 < clusters.length; u++) {
    const lcns = clusters.slice(u * 16, u * 16 + 16).filter((l): l is number => l !== null && l !== undefined);
    if (lcns.length === 0 || lcns.length === 16) continue; // holes and stored units: no LZNT1
    const b = Buffer.alloc(lcns.length * 4096);
    lcns.forEach((lcn, i) => readSync(fd, b, i * 4096, 4096, lcn * 4096));
    units.push(b);
  }
  closeSync(fd);
  const ours = cpuTime(() => {
    for (const u of units) decompressLznt1Unit(u, 65536);
  });
  return row(`LZNT1 decode (ntfs-3g units), ${label}`, units.length * 65536, ours, inflateReference(data, 65536));
}

export async function run(): Promise<BenchRow[]> {
  mkdirSync(BENCH_CACHE, { recursive: true });
  const rows: BenchRow[] = [];
  for (const [label, data] of samples()) {
    rows.push(lznt1Row(label, data, `ntfs-codecs-lznt1-${label === 'text' ? 'text' : 'x86'}.img`));
    for (const alg of ['xpress4k', 'xpress16k', 'lzx'] as const) rows.push(wofRows(alg, label, data));
  }
  return rows;
}
