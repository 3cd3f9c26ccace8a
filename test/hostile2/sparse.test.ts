/**
 * Issue 26 item 4 and issue 24 item 10: holes. Filesystems report them (ext extent gaps, NTFS
 * sparse runs); extract never reads them and keeps them holes, cat writes them from zeros in
 * memory; blocks that read as zeros (a FAT file, which has no holes) are not written either.
 * A 1 TiB ext4 file with one data block (i_size set by debugfs sif) restores as a 1 TiB
 * sparse file whose one block equals the block debugfs bmap names in the image. A kill timer
 * guards each run: before, it read 1 TiB of holes.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildSparseExt, buildZeroFat, type SparsePlan } from '../../scripts/images/hostile2.js';
import { CLI, cachedImage, diskpick, sha256, sha256File } from '../helpers/tools.js';
import { debugfsBatch } from '../ext/helpers.js';
import { ntfsSmall } from '../cli/helpers.js';
import { expectCleanOutput } from './common.js';

const img = cachedImage('h2-sparse-ext.img', (p) => void buildSparseExt(p));
const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as SparsePlan;

function run(args: string[]): { status: number | null; stdout: Buffer; stderr: string; killed: boolean } {
  const r = spawnSync(process.execPath, [CLI, ...args], { timeout: 120_000, killSignal: 'SIGKILL', maxBuffer: 1 << 20 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr.toString(), killed: r.signal === 'SIGKILL' };
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

describe('holes stay holes (issue 26 item 4, issue 24 item 10)', () => {
  it('debugfs: /sparse.bin is 1 TiB with one data block (the oracle)', () => {
    const [st, bmap] = debugfsBatch(img, ['stat /sparse.bin', 'bmap /sparse.bin 0']);
    expect(st).toMatch(new RegExp(`Size: ${plan.hugeSize}\\b`));
    expect(Number(bmap!.trim())).toBeGreaterThan(0);
  });

  it('ls -l shows the exact size; extract restores 1 TiB as a sparse file, its block as in the image', async () => {
    const before = await sha256File(img);
    const l = diskpick(['ls', '-l', img, '/p0/sparse.bin']);
    expect(l.stdout.toString()).toContain(` ${plan.hugeSize} `);
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-sparse-'));
    try {
      const r = run(['extract', img, '/p0/sparse.bin', '-o', out]);
      expect(r.killed, 'extract read the holes').toBe(false);
      expect(r.status, r.stderr).toBe(0);
      const f = join(out, 'sparse.bin');
      const st = statSync(f);
      expect(st.size).toBe(plan.hugeSize);
      expect(st.blocks * 512).toBeLessThanOrEqual(1 << 20);
      const block = Number(debugfsBatch(img, ['bmap /sparse.bin 0'])[0]!.trim());
      expect(readAt(f, 0, 4096).equals(readAt(img, block * 4096, 4096))).toBe(true);
      expect(readAt(f, 0, 4096).toString('hex')).toBe(plan.blockHex);
      expect(readAt(f, plan.hugeSize - 4096, 4096).equals(Buffer.alloc(4096))).toBe(true);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });

  it('cat of a 256 MiB file with one block into a pipe: every byte, zeros from memory', async () => {
    const r = spawnSync('bash', ['-c', `node ${CLI} cat ${img} /p0/gig.bin | sha256sum`], { encoding: 'utf8', timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    // Expected: the block, then zeros up to its size (hashed here in 64 MiB steps).
    const h = (await import('node:crypto')).createHash('sha256');
    h.update(Buffer.from(plan.blockHex, 'hex'));
    const zeros = Buffer.alloc(64 << 20);
    let left = plan.gigSize - 4096;
    while (left > 0) {
      const n = Math.min(left, zeros.length);
      h.update(zeros.subarray(0, n));
      left -= n;
    }
    expect(r.stdout.split(' ')[0]).toBe(h.digest('hex'));
  });

  it('NTFS sparse runs: extract keeps the holes, bytes equal the manifest', () => {
    const { img: ntfs, manifest, extra } = ntfsSmall();
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-ntfs-sparse-'));
    try {
      const r = diskpick(['extract', ntfs, '/p0/sparse', '-o', out]);
      expect(r.status, r.stderr).toBe(0);
      expectCleanOutput(r, 'extract');
      for (const [p, written] of Object.entries(extra.sparse)) {
        const f = join(out, p.slice(1));
        const m = manifest.find((e) => e.path === p)!;
        expect(sha256(readFileSync(f)), p).toBe(m.sha256);
        expect(statSync(f).size).toBe(m.size);
        // Allocated: what was written, rounded up to blocks, far below the size.
        expect(statSync(f).blocks * 512, p).toBeLessThanOrEqual(written + 16 * 4096);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('FAT (no holes): blocks of zeros are not written; the bytes equal what mcopy wrote', () => {
    const fat = cachedImage('h2-zero-fat.img', (p) => void buildZeroFat(p));
    const z = JSON.parse(readFileSync(`${fat}.plan.json`, 'utf8')) as { size: number; dataAt: number };
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-zero-'));
    try {
      const r = diskpick(['extract', fat, '/p0/zeros.bin', '-o', out]);
      expect(r.status, r.stderr).toBe(0);
      const f = join(out, 'zeros.bin');
      const mtools = spawnSync('mtype', ['-i', fat, '::/zeros.bin'], { maxBuffer: 1 << 26 }).stdout;
      expect(readFileSync(f).equals(mtools)).toBe(true);
      expect(statSync(f).size).toBe(z.size);
      expect(statSync(f).blocks * 512).toBeLessThanOrEqual(64 * 1024);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
