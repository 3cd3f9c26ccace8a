/**
 * The zero-copy read path: pump() through a ring of reused buffers and readInto() on the
 * pass-through sources. The oracle is the host file's own bytes (read with node:fs) and the
 * parts `split` wrote.
 */
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { seededBytes } from '../../scripts/images/tree.js';
import { pump } from '../../src/source/chunks.js';
import { FileSource } from '../../src/source/file.js';
import { SplitSource } from '../../src/source/split.js';
import { CachedSource } from '../../src/source/cache.js';
import { readInto, SliceSource, type ByteSource } from '../../src/source/source.js';

const dir = mkdtempSync(join(tmpdir(), 'diskpick-pump-'));
const file = join(dir, 'data.bin');
writeFileSync(file, seededBytes(17, 3 * 1024 * 1024 + 4099));
const bytes = readFileSync(file);
execFileSync('split', ['-d', '-b', '1000003', file, join(dir, 'part.')]);
const parts = readdirSync(dir).filter((n) => n.startsWith('part.')).sort().map((n) => join(dir, n));

async function collect(src: ByteSource, opts: Parameters<typeof pump>[2] = {}, slowSink = false): Promise<{ data: Buffer; offsets: number[] }> {
  const got: Buffer[] = [];
  const offsets: number[] = [];
  await pump(src, async (chunk, off) => {
    offsets.push(off);
    const copy = Buffer.from(chunk);
    if (slowSink) await new Promise((r) => setTimeout(r, 2));
    // The view must still hold the same bytes when the sink finishes (no refill while in use).
    expect(chunk.equals(copy)).toBe(true);
    got.push(copy);
  }, opts);
  return { data: Buffer.concat(got), offsets };
}

describe('pump and readInto', () => {
  it('copies a file in order through reused buffers, whatever the chunk size', async () => {
    const src = await FileSource.open(file);
    try {
      for (const chunkSize of [1 << 20, 65536 + 3, 4096]) {
        const { data, offsets } = await collect(src, { chunkSize, ahead: 2 }, chunkSize === 65539);
        expect(data.equals(bytes)).toBe(true);
        expect(offsets).toEqual(offsets.map((_, i) => i * chunkSize));
      }
    } finally {
      await src.close();
    }
  });

  it('copies a window [start, end) of slices, cached and split sources', async () => {
    const f = await FileSource.open(file);
    const split = await SplitSource.open(parts);
    try {
      expect(parts.length).toBeGreaterThan(2);
      const slice = new SliceSource(f, 12345, bytes.length - 12345 - 777);
      const cached = new CachedSource(split, 4096, 1 << 20);
      const cases: [ByteSource, Buffer][] = [
        [slice, bytes.subarray(12345, bytes.length - 777)],
        [split, bytes],
        [cached, bytes],
      ];
      for (const [src, want] of cases) {
        const { data } = await collect(src, { chunkSize: 300_001, start: 999_999, end: want.length - 5 });
        expect(createHash('sha256').update(data).digest('hex')).toBe(createHash('sha256').update(want.subarray(999_999, want.length - 5)).digest('hex'));
      }
      // Small reads through the cache cross block borders and part borders alike.
      const target = Buffer.alloc(10_000, 0xaa);
      for (const at of [0, 4095, 999_998, 2_000_005]) {
        const n = await readInto(cached, target, 17, at, 9_000);
        expect(n).toBe(9_000);
        expect(target.subarray(17, 17 + n).equals(bytes.subarray(at, at + n))).toBe(true);
        expect(target[16]).toBe(0xaa);
      }
    } finally {
      await f.close();
      await split.close();
    }
  });

  it('runs several sink calls at once, in order, never refilling a buffer a sink still holds', async () => {
    const f = await FileSource.open(file);
    try {
      for (const sinks of [2, 3]) {
        const out = Buffer.alloc(bytes.length, 0xee);
        const offsets: number[] = [];
        let running = 0;
        let most = 0;
        const chunkSize = 100_003;
        const got = await pump(f, async (chunk, off) => {
          offsets.push(off);
          running++;
          most = Math.max(most, running);
          const copy = Buffer.from(chunk);
          // Uneven times, so later calls end before earlier ones.
          await new Promise((r) => setTimeout(r, 1 + ((off / chunkSize) % 3) * 2));
          expect(chunk.equals(copy)).toBe(true);
          chunk.copy(out, off);
          running--;
        }, { chunkSize, ahead: 2, sinks });
        expect(got).toBe(bytes.length);
        expect(out.equals(bytes)).toBe(true);
        expect(offsets).toEqual(offsets.map((_, i) => i * chunkSize));
        expect(most).toBe(sinks);
      }
      // A failing sink stops the copy with its error, after the calls under way have ended.
      let calls = 0;
      let open = 0;
      await expect(pump(f, async () => {
        open++;
        await new Promise((r) => setTimeout(r, 2));
        open--;
        if (++calls === 4) throw new Error('disk full');
      }, { chunkSize: 65536, sinks: 3 })).rejects.toThrow('disk full');
      expect(open).toBe(0);
      expect(calls).toBeLessThan(10);
    } finally {
      await f.close();
    }
  });

  it('stops at the end of the source and reports a failing read once', async () => {
    const f = await FileSource.open(file);
    try {
      expect(await readInto(f, Buffer.alloc(100), 0, bytes.length - 10, 100)).toBe(10);
      expect(await readInto(f, Buffer.alloc(100), 0, bytes.length, 100)).toBe(0);
      let reads = 0;
      const failing: ByteSource = {
        name: 'failing', size: f.size,
        read: (o, l) => f.read(o, l),
        readInto: async (t, at, o, l) => {
          if (++reads === 3) throw new Error('disk on fire');
          return readInto(f, t, at, o, l);
        },
        close: async () => undefined,
      };
      await expect(collect(failing, { chunkSize: 1 << 20 })).rejects.toThrow('disk on fire');
    } finally {
      await f.close();
    }
    // Opened read-only, read many times: the file is as it was written.
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });
});
