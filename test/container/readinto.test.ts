/**
 * The zero-copy read path of every container: `readInto` (through pump and the free
 * function) must give the bytes of the oracle — `qemu-img convert -O raw`, or for images
 * from the spec writers, the writer's expected bytes that the format's own tests check
 * against vhdimount/qemu — for reads that cross cluster, grain, block and extent boundaries,
 * land in holes, fall through to parents, and cover compressed clusters whole (decoded
 * straight into the target) or in part (decoded into the cache). Bytes around the target
 * range must stay untouched. `diskpick dd` (file, sparse, and stdout) is checked the same way.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openContainer } from '../../src/container/open.js';
import type { Container } from '../../src/container/container.js';
import { pump } from '../../src/source/chunks.js';
import { readInto } from '../../src/source/source.js';
import { diskpick, sha256File } from '../helpers/tools.js';
import { CASES } from './cases.js';

const MiB = 1024 * 1024;
const TMP = mkdtempSync(join(tmpdir(), 'diskpick-readinto-'));
afterAll(() => rmSync(TMP, { recursive: true, force: true }));

/** A tiny seeded generator, so a failure names a read that can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    return x / 2 ** 32;
  };
}

/** Reads with readInto into the middle of a guarded buffer; checks count, bytes and guards. */
async function checkRead(c: Container, want: Buffer, offset: number, length: number): Promise<void> {
  const GUARD = 37;
  const target = Buffer.alloc(GUARD + length + GUARD, 0xe5);
  const n = await readInto(c, target, GUARD, offset, length);
  const expectN = Math.max(0, Math.min(length, c.size - offset));
  const where = `${c.name}: readInto(${offset}, ${length})`;
  expect(n, where).toBe(expectN);
  const got = target.subarray(GUARD, GUARD + n);
  if (!got.equals(want.subarray(offset, offset + n))) {
    let i = 0;
    while (got[i] === want[offset + i]) i++;
    expect.fail(`${where}: first difference at virtual offset ${offset + i}`);
  }
  expect(target.subarray(0, GUARD).every((b) => b === 0xe5), `${where}: wrote before its range`).toBe(true);
  expect(target.subarray(GUARD + n).every((b) => b === 0xe5), `${where}: wrote past its range`).toBe(true);
}

describe('readInto through every container equals the oracle', () => {
  for (const k of CASES) {
    it(`${k.name}: pump with odd chunks, reads across boundaries, in holes and parents, concurrent reads`, async () => {
      const path = k.path();
      const want = k.oracle(path);
      const sha = await sha256File(path);
      const c = await openContainer(path);
      try {
        expect(typeof c.readInto, 'readInto is native').toBe('function');
        expect(c.size).toBe(want.length);

        // A chunk size that is no multiple of any cluster, grain or block size.
        let next = 0;
        const delivered = await pump(
          c,
          (chunk, off) => {
            expect(off).toBe(next);
            if (!chunk.equals(want.subarray(off, off + chunk.length))) expect.fail(`${path}: pump chunk at ${off} differs`);
            next += chunk.length;
          },
          { chunkSize: MiB + 4608, ahead: 3 },
        );
        expect(delivered).toBe(want.length);

        const r = rng(want.length);
        const lengths = [1, 511, 4096, 65535, 65536, 65537, 300_001, 2 * MiB + 3];
        for (let i = 0; i < 48; i++) {
          // Near a boundary of 64 KiB (most clusters and grains), or anywhere.
          const near = Math.floor(r() * (want.length / 65536)) * 65536;
          const offset = i % 2 ? Math.max(0, near - Math.floor(r() * 700)) : Math.floor(r() * want.length);
          await checkRead(c, want, offset, lengths[i % lengths.length]!);
        }
        // Part of a cluster first (decoded into the cache), then the whole of it (decoded
        // straight into the target), then a part again (from the cache).
        for (const at of [3 * MiB, 5 * MiB + 65536]) {
          if (at + 2 * 65536 > want.length) continue;
          await checkRead(c, want, at + 100, 200);
          await checkRead(c, want, at, 65536);
          await checkRead(c, want, at, 2 * 65536);
          await checkRead(c, want, at + 65000, 1000);
        }
        // The end of the disk: short only there.
        await checkRead(c, want, want.length - 1000, 5000);
        await checkRead(c, want, want.length, 10);
        // Concurrent reads of one container (pump and FUSE keep several in flight).
        await Promise.all(
          Array.from({ length: 6 }, (_, i) => checkRead(c, want, Math.floor((want.length / 7) * i) + i * 4097, MiB + i * 8191)),
        );
      } finally {
        await c.close();
      }
      expect(await sha256File(path), `${path} unchanged`).toBe(sha);
    });
  }
});

describe('diskpick dd', () => {
  const sample = ['qcow2 zlib clusters', 'vmdk streamOptimized', 'vhdx differencing', 'qcow2 three-level chain'];
  for (const name of sample) {
    it(`${name}: -o FILE (zero chunks left as holes) and -o - equal the oracle`, () => {
      const k = CASES.find((x) => x.name === name)!;
      const path = k.path();
      const want = k.oracle(path);
      const out = join(TMP, 'dd.raw');
      const r = diskpick(['dd', '-q', path, '-o', out]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const got = readFileSync(out);
      expect(got.length).toBe(want.length);
      expect(got.equals(want)).toBe(true);
      // Every chunk of zeros (dd copies in 2 MiB chunks) is a hole: the file holds at most the other chunks.
      const CH = 2 * MiB;
      let dataChunks = 0;
      for (let o = 0; o < want.length; o += CH) if (!want.subarray(o, o + CH).equals(Buffer.alloc(Math.min(CH, want.length - o)))) dataChunks++;
      expect(statSync(out).blocks * 512).toBeLessThanOrEqual(dataChunks * CH + 64 * 1024);
      rmSync(out);
      const s = diskpick(['dd', '-q', path, '-o', '-']);
      expect(s.status).toBe(0);
      expect(s.stdout.equals(want)).toBe(true);
    });
  }
});
