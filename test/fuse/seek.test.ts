/**
 * Issue 26 item 4 through the mount: SEEK_DATA / SEEK_HOLE (the libfuse3 binding's lseek,
 * answered from the file's data ranges) on a 1 TiB ext4 file with one data block and on NTFS
 * sparse files. Oracles: debugfs's extent list (`ex`) and block map (`bmap`) for ext4, the
 * builder's manifest (what was written where, and each file's sha256) for NTFS. A `cp` of the
 * 1 TiB file finishes in seconds (it used to read 1 TiB of zeros) and is sparse with the block
 * debugfs names. Each command runs under a kill timer, so a regression fails instead of hanging.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildSparseExt, type SparsePlan } from '../../scripts/images/hostile2.js';
import { cachedImage, sha256, sha256File } from '../helpers/tools.js';
import { debugfsBatch } from '../ext/helpers.js';
import { ntfsSmall } from '../cli/helpers.js';
import { mountDaemon, newMountpoint, q, release, releaseAll } from './mounts.js';

const tmp = mkdtempSync(join(tmpdir(), 'dp-fuse-seek-'));
afterAll(() => {
  releaseAll();
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * The file's data ranges as lseek(SEEK_DATA/SEEK_HOLE) gives them, walked from 0 (python3's
 * os.lseek: the system call as it is), and the errno of SEEK_DATA/SEEK_HOLE at the size.
 */
function seekMap(path: string): { ranges: Array<[number, number]>; atEnd: string[]; ms: number } {
  const py = `
import os, sys, json, errno, time
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
t = time.monotonic()
out, pos = [], 0
while pos < size:
    try:
        d = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError as e:
        if e.errno != errno.ENXIO: raise
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    out.append([d, h - d])
    pos = h
ms = (time.monotonic() - t) * 1000
end = []
for w in (os.SEEK_DATA, os.SEEK_HOLE):
    try:
        os.lseek(fd, size, w); end.append('ok')
    except OSError as e:
        end.append(errno.errorcode[e.errno])
print(json.dumps({"ranges": out, "atEnd": end, "ms": ms}))
`;
  const r = spawnSync('python3', ['-c', py, path], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`seek map of ${path} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as { ranges: Array<[number, number]>; atEnd: string[]; ms: number };
}

/** lseek(fd, offset, whence) for each [offset, 'data' | 'hole']: the offset found, or the errno's name. */
function seekAt(path: string, asks: Array<[number, 'data' | 'hole']>): Array<number | string> {
  const py = `
import os, sys, json, errno
fd = os.open(sys.argv[1], os.O_RDONLY)
out = []
for off, w in json.loads(sys.argv[2]):
    try:
        out.append(os.lseek(fd, off, os.SEEK_DATA if w == 'data' else os.SEEK_HOLE))
    except OSError as e:
        out.append(errno.errorcode[e.errno])
print(json.dumps(out))
`;
  const r = spawnSync('python3', ['-c', py, path, JSON.stringify(asks)], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  if (r.status !== 0) throw new Error(`lseek on ${path} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Array<number | string>;
}

function run(cmd: string): { status: number | null; stderr: string; killed: boolean; ms: number } {
  const t = Date.now();
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  return { status: r.status, stderr: r.stderr, killed: r.signal === 'SIGKILL', ms: Date.now() - t };
}

function readAt(path: string, at: number, n: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, at);
    return b;
  } finally {
    closeSync(fd);
  }
}

/** debugfs `ex`: the file's extents as byte ranges (uninitialized ones are holes), adjacent ones merged. */
function debugfsExtents(image: string, path: string, size: number): Array<[number, number]> {
  const text = debugfsBatch(image, [`ex ${path}`])[0]!;
  const out: Array<[number, number]> = [];
  // Leaf lines: "Level Entries  Logical  Physical Length Flags": " 0/ 0   1/  1     0 -     0 1234 -  1234      1 [Uninit]"
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\/\s*(\d+)\s+\d+\/\s*\d+\s+(\d+)\s+-\s+(\d+)\s+\d+\s+-\s+\d+\s+(\d+)\s*(Uninit)?/.exec(line);
    if (!m || m[1] !== m[2] || m[6]) continue;
    const start = Number(m[3]) * 4096;
    const end = Math.min(size, (Number(m[4]) + 1) * 4096);
    const last = out[out.length - 1];
    if (last && last[0] + last[1] === start) last[1] = end - last[0];
    else out.push([start, end - start]);
  }
  return out;
}

/**
 * Through fuse-native (libfuse2, the fallback where the binding was not built) there is no
 * lseek operation: the kernel then treats the whole file as data (SEEK_DATA answers the offset
 * given, SEEK_HOLE the size), as docs/fuse.md says. That project checks this answer and skips
 * the 1 TiB copy, which would read every zero.
 */
const LIBFUSE2 = process.env.DISKPICK_FUSE === 'libfuse2';

describe('SEEK_DATA / SEEK_HOLE through the mount (issue 26 item 4)', () => {
  it.runIf(LIBFUSE2)('through fuse-native: no lseek, the kernel reports the whole file as data', () => {
    const img = cachedImage('h2-sparse-ext.img', (p) => void buildSparseExt(p));
    const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as SparsePlan;
    const mnt = newMountpoint('seek-ext2');
    const m = mountDaemon(img, mnt);
    try {
      const map = seekMap(join(mnt, 'p0', 'sparse.bin'));
      expect(map.ranges).toEqual([[0, plan.hugeSize]]);
    } finally {
      release(m);
    }
  });

  it.skipIf(LIBFUSE2)('ext4: a 1 TiB file with one block maps as debugfs ex says, instantly; cp copies it sparse with its block', async () => {
    const img = cachedImage('h2-sparse-ext.img', (p) => void buildSparseExt(p));
    const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as SparsePlan;
    const before = await sha256File(img);
    const mnt = newMountpoint('seek-ext');
    const m = mountDaemon(img, mnt);
    try {
      for (const [name, size] of [['sparse.bin', plan.hugeSize], ['gig.bin', plan.gigSize]] as const) {
        const f = join(mnt, 'p0', name);
        expect(statSync(f).size).toBe(size);
        const oracle = debugfsExtents(img, `/${name}`, size);
        expect(oracle.length, `debugfs ex /${name}`).toBeGreaterThan(0);
        const map = seekMap(f);
        expect(map.ranges, name).toEqual(oracle);
        expect(map.atEnd, 'SEEK_DATA and SEEK_HOLE at the size').toEqual(['ENXIO', 'ENXIO']);
        expect(map.ms, `${name}: the map took ${map.ms} ms`).toBeLessThan(5000);
      }

      // Offsets inside data and inside holes (the gig file: one block at 0, then a hole to 256 MiB).
      expect(seekAt(join(mnt, 'p0', 'gig.bin'), [[1, 'data'], [1, 'hole'], [4095, 'hole'], [4096, 'data'], [5000, 'hole'], [plan.gigSize - 1, 'hole'], [plan.gigSize + 1, 'data']]))
        .toEqual([1, 4096, 4096, 'ENXIO', 5000, plan.gigSize - 1, 'ENXIO']);

      // cp finds the data with SEEK_DATA (coreutils >= 9) and skips the holes.
      const block = Number(debugfsBatch(img, ['bmap /sparse.bin 0'])[0]!.trim());
      const out = join(tmp, 'sparse.bin');
      const c = run(`cp --sparse=always ${q(join(mnt, 'p0', 'sparse.bin'))} ${q(out)}`);
      expect(c.killed, 'cp read the holes').toBe(false);
      expect(c.status, c.stderr).toBe(0);
      const st = statSync(out);
      expect(st.size).toBe(plan.hugeSize);
      expect(st.blocks * 512).toBeLessThanOrEqual(1 << 20);
      expect(readAt(out, 0, 4096).equals(readAt(img, block * 4096, 4096))).toBe(true);
      // The copy's own data map (the host filesystem's answer) lies within the source's.
      for (const [at, len] of seekMap(out).ranges) expect(at + len, 'data in the copy beyond the source block').toBeLessThanOrEqual(1 << 20);
      rmSync(out);

      // Plain cp (sparse=auto) of the 256 MiB file: every byte equals the block and its zeros.
      const gig = join(tmp, 'gig.bin');
      const g = run(`cp ${q(join(mnt, 'p0', 'gig.bin'))} ${q(gig)}`);
      expect(g.status, g.stderr).toBe(0);
      const h = createHash('sha256');
      h.update(Buffer.from(plan.blockHex, 'hex'));
      h.update(Buffer.alloc(plan.gigSize - 4096));
      expect(await sha256File(gig)).toBe(h.digest('hex'));
      expect(statSync(gig).blocks * 512).toBeLessThanOrEqual(1 << 20);
      rmSync(gig);
    } finally {
      release(m);
    }
    expect(await sha256File(img)).toBe(before);
  }, 180_000);

  it.skipIf(LIBFUSE2)('NTFS sparse runs: every written piece lies in the data map, holes around them; cp gives the manifest bytes', async () => {
    const { img, manifest, extra } = ntfsSmall();
    const before = await sha256File(img);
    const mnt = newMountpoint('seek-ntfs');
    const m = mountDaemon(img, mnt);
    try {
      // The builder's pieces (scripts/images/ntfs.ts): what was written where.
      const pieces: Record<string, Array<[number, number]>> = {
        '/sparse/holes.bin': [[0, 5000], [3 << 20, 70_000], [(8 << 20) - 100, 100]],
        '/sparse/all-hole.bin': [],
      };
      for (const [p, written] of Object.entries(extra.sparse)) {
        const f = join(mnt, 'p0', p.slice(1));
        const entry = manifest.find((e) => e.path === p)!;
        const map = seekMap(f);
        const data = map.ranges.reduce((s, [, n]) => s + n, 0);
        // NTFS allocates whole compression units of sparse files (16 clusters): data is at most that much more.
        expect(data, p).toBeLessThanOrEqual(written + 3 * 16 * 4096);
        for (const [at, len] of pieces[p] ?? []) {
          expect(map.ranges.some(([d, n]) => d <= at && at + len <= d + n), `${p}: [${at}, +${len}) in ${JSON.stringify(map.ranges)}`).toBe(true);
        }
        if (written === 0) expect(map.ranges).toEqual([]);
        const out = join(tmp, 'ntfs-copy');
        const c = run(`cp --sparse=always ${q(f)} ${q(out)}`);
        expect(c.status, c.stderr).toBe(0);
        expect(sha256(readFileSync(out)), p).toBe(entry.sha256);
        expect(statSync(out).blocks * 512, p).toBeLessThanOrEqual(written + 3 * 16 * 4096);
        rmSync(out);
      }
      expect(Object.keys(extra.sparse).length).toBeGreaterThan(0);
    } finally {
      release(m);
    }
    expect(await sha256File(img)).toBe(before);
  }, 180_000);
});
