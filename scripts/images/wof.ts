/**
 * Test images for NTFS compression:
 *   - buildWofImage: WOF (CompactOS) files made without Windows. wimlib's XPRESS and LZX
 *     compressors (test/helpers/wofpack.c, linked with libwim) write each file's
 *     WofCompressedData stream the WOF way; ntfs-3g (streams_interface=windows) stores that
 *     stream, the sparse unnamed $DATA of the logical size, and the WOF reparse point.
 *   - buildLznt1Image: files written through ntfs-3g's `compression` option into a folder
 *     with the compressed attribute, so ntfs-3g's LZNT1 compressor wrote them.
 * Every file's original bytes are kept in `<image>.tree/` and listed in `<image>.manifest.json`
 * (the manifest of the host tree, never diskpick's view).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { manifestOf, seededBytes, seededText, SeededRandom, writeTree, type TreeFile } from './tree.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const WOFPACK_SOURCE = join(ROOT, 'test', 'helpers', 'wofpack.c');

export type WofAlgorithmName = 'xpress4k' | 'xpress8k' | 'xpress16k' | 'lzx';
export const WOF_ALGORITHM_IDS: Record<WofAlgorithmName, number> = { xpress4k: 0, lzx: 1, xpress8k: 2, xpress16k: 3 };
export const WOF_CHUNK_SIZES: Record<WofAlgorithmName, number> = { xpress4k: 4096, xpress8k: 8192, xpress16k: 16384, lzx: 32768 };

/** Compiles wofpack (once per source version) next to the images; returns its path. */
export function wofpackBinary(cacheDir: string): string {
  const src = readFileSync(WOFPACK_SOURCE);
  const bin = join(cacheDir, `wofpack-${createHash('sha256').update(src).digest('hex').slice(0, 12)}`);
  if (!existsSync(bin)) {
    mkdirSync(cacheDir, { recursive: true });
    execFileSync('cc', ['-O2', '-o', bin + '.tmp', WOFPACK_SOURCE, '-lwim'], { stdio: 'pipe' });
    execFileSync('mv', [bin + '.tmp', bin]);
  }
  return bin;
}

/**
 * x86-like bytes: text with CALL (E8 rel32) instructions mixed in, so LZX's E8 translation
 * has targets to translate. With `edgeCases`, also targets that need the "compensating"
 * translation (rel >= 12000000 - position) and E8 bytes in the last 10 bytes of each 32 KiB
 * chunk (which must stay untranslated); without, neither occurs.
 */
export function seededX86(seed: number, size: number, edgeCases = true): Buffer {
  const r = new SeededRandom(seed);
  const out = Buffer.alloc(size);
  const text = seededText(seed, size);
  let i = 0;
  while (i < size) {
    const k = r.int(10);
    if (k < 3 && i + 5 <= size) {
      out[i] = 0xe8;
      const kind = r.int(edgeCases ? 4 : 3);
      // Targets near the call, anywhere in the first MiB, far back, past the 12000000 limit.
      const rel = kind === 0 ? r.int(4000) - 2000 : kind === 1 ? r.int(1 << 20) : kind === 2 ? -(i % 30000) - r.int(50) : 12_000_000 - (i % 32768) - r.int(100);
      out.writeInt32LE(rel | 0, i + 1);
      i += 5;
    } else if (k < 4) {
      out[i++] = 0xe8;
    } else {
      const n = Math.min(size - i, 1 + r.int(12));
      text.copy(out, i, i, i + n);
      i += n;
    }
  }
  if (!edgeCases) {
    for (let end = Math.min(size, 32768); ; end = Math.min(size, end + 32768)) {
      for (let j = Math.max(0, end - 10); j < end; j++) if (out[j] === 0xe8) out[j] = 0x90;
      if (end === size) break;
    }
  }
  return out;
}

export interface WofCase {
  /** File name in the image root. */
  name: string;
  algorithm: WofAlgorithmName;
  content: Buffer;
}

/** The WOF files every WOF image holds: each algorithm, partial last chunks, raw chunks, empty. */
export function wofCases(): WofCase[] {
  const mixed = (seed: number, chunk: number) =>
    Buffer.concat([seededText(seed, chunk * 2), seededBytes(seed + 1, chunk), seededText(seed + 2, chunk + 777), seededBytes(seed + 3, 100)]);
  return [
    { name: 'xpress4k-text.txt', algorithm: 'xpress4k', content: seededText(401, 100_000) },
    { name: 'xpress8k-text.txt', algorithm: 'xpress8k', content: seededText(402, 50_001) },
    { name: 'xpress16k-text.txt', algorithm: 'xpress16k', content: seededText(403, 70_000) },
    { name: 'lzx-text.txt', algorithm: 'lzx', content: seededText(404, 200_000) },
    { name: 'lzx-x86.bin', algorithm: 'lzx', content: seededX86(420, 3 * 32768 + 5000, false) },
    { name: 'lzx-x86-edges.bin', algorithm: 'lzx', content: seededX86(405, 3 * 32768) },
    { name: 'xpress4k-mixed.bin', algorithm: 'xpress4k', content: mixed(406, 4096) },
    { name: 'xpress16k-mixed.bin', algorithm: 'xpress16k', content: mixed(410, 16384) },
    { name: 'lzx-mixed.bin', algorithm: 'lzx', content: mixed(414, 32768) },
    { name: 'xpress8k-random.bin', algorithm: 'xpress8k', content: seededBytes(418, 20_000) },
    { name: 'xpress4k-five-bytes.txt', algorithm: 'xpress4k', content: Buffer.from('tiny\n') },
    { name: 'lzx-one-byte.txt', algorithm: 'lzx', content: Buffer.from('x') },
    { name: 'xpress4k-empty.txt', algorithm: 'xpress4k', content: Buffer.alloc(0) },
    // More than 1024 chunks: the chunk table spans several of WofSource's table pages.
    { name: 'xpress4k-large.bin', algorithm: 'xpress4k', content: Buffer.concat([seededText(421, 3 << 20), seededX86(422, 2 << 20, false), seededBytes(423, 12345)]) },
  ];
}

/** The reparse point (REPARSE_DATA_BUFFER) of a WOF file-provider file. */
export function wofReparsePoint(algorithm: WofAlgorithmName): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(0x80000017, 0); // IO_REPARSE_TAG_WOF
  b.writeUInt16LE(16, 4); // ReparseDataLength
  b.writeUInt32LE(1, 8); // WOF_EXTERNAL_INFO.Version
  b.writeUInt32LE(2, 12); // WOF_EXTERNAL_INFO.Provider = file provider
  b.writeUInt32LE(1, 16); // FILE_PROVIDER_EXTERNAL_INFO_V1.Version
  b.writeUInt32LE(WOF_ALGORITHM_IDS[algorithm], 20);
  return b;
}

/** Compresses `content` with wimlib the WOF way (chunk table + chunks). */
export function wofPack(cacheDir: string, algorithm: WofAlgorithmName, content: Buffer, work: string): Buffer {
  const bin = wofpackBinary(cacheDir);
  mkdirSync(work, { recursive: true });
  const inPath = join(work, 'wofpack.in');
  const outPath = join(work, 'wofpack.out');
  writeFileSync(inPath, content);
  execFileSync(bin, ['pack', algorithm, inPath, outPath], { stdio: 'pipe' });
  const packed = readFileSync(outPath);
  rmSync(inPath);
  rmSync(outPath);
  return packed;
}

/** Runs a bash script that mounts `image` with ntfs-3g (foreground, so we can wait for it to
 * finish writing) at `mnt`, runs `body`, and unmounts. */
function withNtfs3g(image: string, mnt: string, options: string, body: string): void {
  mkdirSync(mnt, { recursive: true });
  const script = `
set -euo pipefail; [ -n "\${WOF_DEBUG:-}" ] && set -x
ntfs-3g -o no_detach${options ? ',' + options : ''} "$1" "$2" >/dev/null 2>&1 &
pid=$!
for i in $(seq 1 100); do mountpoint -q "$2" && break; sleep 0.05; done
mountpoint -q "$2" || { echo "ntfs-3g did not mount $1" >&2; exit 1; }
status=0
( cd "$2" && ${body} ) || status=$?
umount "$2"
wait $pid || true
exit $status
`;
  const r = spawnSync('bash', ['-c', script, 'withNtfs3g', image, mnt], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building ${image} failed (${r.status}): ${r.stderr}${r.stdout}`);
}

function mkntfs(path: string, sizeMiB: number, clusterSize?: number): void {
  rmSync(path, { force: true });
  execFileSync('truncate', ['-s', `${sizeMiB}M`, path]);
  execFileSync('mkntfs', ['-F', '-Q', '-q', ...(clusterSize ? ['-c', String(clusterSize)] : []), path], { stdio: 'pipe' });
}

/**
 * Builds an NTFS image at `path` holding `cases` as WOF files, plus one plain file.
 * ntfs-3g's streams_interface=windows opens "file:stream" as a path, so the stream is written
 * with cp (xattrs, the other interface, stop at 64 KiB).
 */
export function buildWofImage(path: string, cases: WofCase[] = wofCases(), sizeMiB = 16): void {
  const cacheDir = dirname(path);
  const tree = path + '.tree';
  const work = path + '.work';
  // A plain file next to them: WOF handling must not touch it.
  const plain = { path: 'plain.txt', content: seededText(499, 5000) };
  writeTree(tree, [...cases.map((c) => ({ path: c.name, content: c.content })), plain]);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const lines: string[] = [];
  for (const [i, c] of cases.entries()) {
    const packed = join(work, `${i}.wof`);
    writeFileSync(packed, wofPack(cacheDir, c.algorithm, c.content, work));
    const q = JSON.stringify(c.name);
    // Order that ntfs-3g accepts: the stream first, then the logical size (a sparse unnamed
    // $DATA), then the reparse point — after it, ntfs-3g no longer lets the file be written.
    lines.push(`touch ${q}`);
    lines.push(`cp ${JSON.stringify(packed)} ${JSON.stringify(c.name + ':WofCompressedData')}`);
    lines.push(`truncate -s ${c.content.length} ${q}`);
    lines.push(`setfattr -n system.ntfs_reparse_data -v 0x${wofReparsePoint(c.algorithm).toString('hex')} ${q}`);
  }
  lines.push(`cp ${JSON.stringify(join(tree, plain.path))} ${plain.path}`);
  mkntfs(path + '.tmp', sizeMiB);
  withNtfs3g(path + '.tmp', join(work, 'mnt'), 'streams_interface=windows', lines.join(' && '));
  writeFileSync(path + '.manifest.json', JSON.stringify(manifestOf(tree), null, 1));
  rmSync(work, { recursive: true, force: true });
  execFileSync('mv', [path + '.tmp', path]);
}

/** Files of the LZNT1 image: compressible, incompressible, partly compressible, sparse. */
export function lznt1Files(): TreeFile[] {
  return [
    { path: 'c/text.txt', content: seededText(301, 300_000) },
    { path: 'c/random.bin', content: seededBytes(302, 100_000) },
    { path: 'c/mixed.bin', content: Buffer.concat([seededText(303, 70_000), seededBytes(304, 70_000), seededText(305, 70_001)]) },
    { path: 'c/zeros-and-text.bin', content: Buffer.concat([Buffer.alloc(200_000), seededText(306, 1000), Buffer.alloc(100_000)]) },
    { path: 'c/small.txt', content: seededText(307, 3000) },
    { path: 'c/runs.bin', content: Buffer.concat(Array.from({ length: 50 }, (_, i) => Buffer.alloc(1000 + i * 37, i))) },
  ];
}

/**
 * Builds an NTFS image whose folder /c has the compressed attribute, filled through ntfs-3g's
 * `compression` option (LZNT1, 16-cluster units) with `files` (paths under c/).
 * `clusterSize` defaults to mkntfs's 4096.
 */
export function buildLznt1Image(path: string, clusterSize?: number, files: TreeFile[] = lznt1Files()): void {
  const tree = path + '.tree';
  writeTree(tree, files);
  const body = [
    'mkdir c',
    // FILE_ATTRIBUTE_COMPRESSED on the folder: files created in it are compressed.
    'setfattr -n system.ntfs_attrib_be -v 0x00000800 c',
    ...files.map((f) => `cp ${JSON.stringify(join(tree, f.path))} ${JSON.stringify(f.path)}`),
  ].join(' && ');
  const bytes = files.reduce((s, f) => s + (f.content?.length ?? f.size ?? 0), 0);
  mkntfs(path + '.tmp', Math.max(32, Math.ceil((bytes * 1.2) / 2 ** 20) + 16), clusterSize);
  withNtfs3g(path + '.tmp', path + '.mnt', 'compression', body);
  rmSync(path + '.mnt', { recursive: true, force: true });
  writeFileSync(path + '.manifest.json', JSON.stringify(manifestOf(tree), null, 1));
  execFileSync('mv', [path + '.tmp', path]);
}
