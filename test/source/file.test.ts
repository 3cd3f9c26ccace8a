/**
 * FileSource, the image file: reads of every size class (small ones synchronous, spans through
 * a second descriptor with readahead off, large ones on the first) give the bytes written to
 * the file; the second descriptor is the file opened, read-only, even after its path names
 * another file, and close() leaves no descriptor open. willNeed (src/source/hostio.ts) brings
 * the asked ranges into the page cache, as util-linux's fincore reports, and nothing else.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hasTool, sha256File, tool } from '../helpers/tools.js';
import { FileSource } from '../../src/source/file.js';
import { readInto, type ByteSource, type HostRun } from '../../src/source/source.js';
import { hintsAvailable, willNeed } from '../../src/source/hostio.js';

const MiB = 1024 * 1024;

/** This process's descriptors open on `path`, with their open flags (octal, from fdinfo). */
function descriptorsOn(path: string): Array<{ fd: number; flags: number }> {
  const out: Array<{ fd: number; flags: number }> = [];
  for (const name of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${name}`);
    } catch {
      continue;
    }
    if (target !== path) continue;
    const info = readFileSync(`/proc/self/fdinfo/${name}`, 'utf8');
    out.push({ fd: Number(name), flags: parseInt(/^flags:\s+([0-7]+)/m.exec(info)![1]!, 8) });
  }
  return out;
}

/** Bytes of `path` in the page cache, as fincore counts them. */
function residentBytes(path: string): number {
  return Number(tool('fincore', ['--bytes', '--noheadings', '--output', 'RES', path]).trim());
}

describe('FileSource reads', () => {
  let dir: string;
  let image: string;
  let data: Buffer;
  let sha: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'diskpick-file-'));
    image = join(dir, 'disk.img');
    data = randomBytes(12 * MiB);
    writeFileSync(image, data);
    sha = await sha256File(image);
  });

  afterAll(async () => {
    // Nothing read through FileSource changes the file.
    expect(await sha256File(image)).toBe(sha);
    rmSync(dir, { recursive: true, force: true });
  });

  it('every read size gives the bytes written, up to the end of the file', async () => {
    const src = await FileSource.open(image);
    try {
      // Small (synchronous), spans (128 KiB … 1 MiB, the second descriptor), large (the first).
      const cases: Array<[number, number]> = [
        [0, 1], [511, 4096], [3 * MiB + 17, 128 * 1024], [5 * MiB + 1, 128 * 1024 + 1], [7 * MiB - 3, 212_992],
        [1 * MiB, MiB - 1], [9 * MiB + 5, MiB], [2 * MiB + 9, 2 * MiB], [data.length - 300_000, 300_000], [data.length - 100, 1 * MiB],
      ];
      for (const [offset, length] of cases) {
        const want = data.subarray(offset, Math.min(data.length, offset + length));
        const target = Buffer.alloc(length + 8, 0xee);
        const got = await readInto(src, target, 8, offset, length);
        expect(got, `${length} bytes at ${offset}`).toBe(want.length);
        expect(target.subarray(8, 8 + got).equals(want), `${length} bytes at ${offset}`).toBe(true);
        // Nothing written around the bytes read.
        expect(target.subarray(0, 8).every((b) => b === 0xee)).toBe(true);
        expect(target.subarray(8 + got).every((b) => b === 0xee)).toBe(true);
        expect((await src.read(offset, length)).equals(want)).toBe(true);
      }
    } finally {
      await src.close();
    }
  });

  it.skipIf(!hintsAvailable())('spans go through a second read-only descriptor of the file opened, closed with the source', async () => {
    const src = await FileSource.open(image);
    const before = descriptorsOn(image);
    expect(before).toHaveLength(1);
    // The path now names another file: the source still reads the one it opened.
    const other = join(dir, 'other.img');
    writeFileSync(other, Buffer.alloc(data.length, 0x5a));
    renameSync(image, join(dir, 'moved.img'));
    renameSync(other, image);
    try {
      const span = Buffer.alloc(300_000);
      expect(await readInto(src, span, 0, 4 * MiB, span.length)).toBe(span.length);
      expect(span.equals(data.subarray(4 * MiB, 4 * MiB + span.length))).toBe(true);
      const open = descriptorsOn(join(dir, 'moved.img'));
      expect(open).toHaveLength(2);
      // O_ACCMODE: read-only, both.
      for (const d of open) expect(d.flags & 3).toBe(0);
    } finally {
      await src.close();
      renameSync(image, other);
      renameSync(join(dir, 'moved.img'), image);
      rmSync(other);
    }
    expect(descriptorsOn(image)).toHaveLength(0);
  });
});

describe.skipIf(!hintsAvailable() || !hasTool('fincore') || !hasTool('dd'))('willNeed', () => {
  let dir: string;
  let image: string;
  let sha: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'diskpick-willneed-'));
    image = join(dir, 'disk.img');
    writeFileSync(image, randomBytes(16 * MiB));
    sha = await sha256File(image);
  });

  afterAll(async () => {
    // Hints read; they never write.
    expect(await sha256File(image)).toBe(sha);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Out of the page cache (written back, then GNU dd: iflag=nocache with count=0 drops the whole file's pages); what stays resident. */
  const evict = (): number => {
    tool('sync', [image]);
    tool('dd', [`if=${image}`, 'iflag=nocache', 'count=0', 'status=none']);
    return residentBytes(image);
  };

  /** Resident bytes of `path` once at least `want` are (WILLNEED starts the reads; they land within moments), or after a second. */
  const residentAfter = async (want: number, path = image): Promise<number> => {
    let resident = residentBytes(path);
    for (let i = 0; i < 100 && resident < want; i++) {
      await new Promise((r) => setTimeout(r, 10));
      resident = residentBytes(path);
    }
    return resident;
  };

  it('brings the asked ranges of the file into the page cache', async () => {
    const evicted = evict();
    const src = await FileSource.open(image);
    try {
      const pieces: Array<[number, number]> = [];
      for (let i = 0; i < 12; i++) pieces.push([i * MiB + 4096, 64 * 1024]);
      await willNeed(src, pieces);
      const resident = await residentAfter(evicted + 12 * 64 * 1024);
      expect(resident).toBeGreaterThanOrEqual(evicted + 12 * 64 * 1024);
      // What was asked, not the whole file (the kernel rounds each range to its pages).
      expect(resident).toBeLessThan(evicted + 8 * MiB);
    } finally {
      await src.close();
    }
  });

  it('pieces over several host runs (two files, a hole between) are asked for where the runs put them, and only there', async () => {
    const other = join(dir, 'other.img');
    writeFileSync(other, randomBytes(8 * MiB));
    const otherSha = await sha256File(other);
    const dropped = (path: string, skip64k: number, count64k: number) => tool('dd', [`if=${path}`, 'of=/dev/null', 'bs=64K', `skip=${skip64k}`, `count=${count64k}`, 'iflag=nocache', 'status=none']);
    const evictedA = evict();
    tool('sync', [other]);
    tool('dd', [`if=${other}`, 'iflag=nocache', 'count=0', 'status=none']);
    const evictedB = residentBytes(other);
    const a = await FileSource.open(image);
    const b = await FileSource.open(other);
    try {
      // Bytes [0, 4 MiB) lie at 12 MiB of the image, [4, 5) MiB are a hole, [5, 9) MiB lie at 0 of the other file.
      const segments = [
        { from: 0, length: 4 * MiB, file: a as FileSource | null, at: 12 * MiB },
        { from: 4 * MiB, length: MiB, file: null, at: 0 },
        { from: 5 * MiB, length: 4 * MiB, file: b as FileSource | null, at: 0 },
      ];
      const spread: ByteSource = {
        name: 'spread',
        size: 9 * MiB,
        read: async () => Buffer.alloc(0),
        hostRuns: async (o, l) => {
          const runs: HostRun[] = [];
          for (const s of segments) {
            const from = Math.max(o, s.from);
            const to = Math.min(o + l, s.from + s.length);
            if (to <= from) continue;
            if (!s.file) runs.push({ fd: -1, offset: 0, length: to - from });
            else runs.push(...(await s.file.hostRuns!(s.at + (from - s.from), to - from))!);
          }
          return runs;
        },
        close: async () => undefined,
      };
      // Crossing both run boundaries, and one inside the last run.
      await willNeed(spread, [[3.5 * MiB, 2 * MiB], [7 * MiB, 64 * 1024]]);
      expect(await residentAfter(evictedA + MiB / 2)).toBeGreaterThanOrEqual(evictedA + MiB / 2);
      expect(await residentAfter(evictedB + MiB / 2 + 64 * 1024, other)).toBeGreaterThanOrEqual(evictedB + MiB / 2 + 64 * 1024);
      // Dropping exactly the ranges the runs name leaves neither file with more than before.
      dropped(image, (15.5 * MiB) / (64 * 1024), 8);
      dropped(other, 0, 8);
      dropped(other, (2 * MiB) / (64 * 1024), 1);
      expect(residentBytes(image)).toBe(evictedA);
      expect(residentBytes(other)).toBe(evictedB);
    } finally {
      await a.close();
      await b.close();
    }
    expect(await sha256File(other)).toBe(otherSha);
  });

  it('a piece whose host runs cannot be found is skipped; the others are still asked for', async () => {
    const evicted = evict();
    const file = await FileSource.open(image);
    try {
      // The file seen through a source whose runs fail below 8 MiB (as a damaged map would).
      const partly: ByteSource = {
        name: 'partly mapped',
        size: file.size,
        read: (o, l) => file.read(o, l),
        hostRuns: async (o, l) => {
          if (o < 8 * MiB) throw new Error('no runs here');
          return file.hostRuns(o, l);
        },
        close: async () => undefined,
      };
      await expect(willNeed(partly, [[MiB, MiB], [12 * MiB, MiB]])).resolves.toBeUndefined();
      const resident = await residentAfter(evicted + MiB);
      expect(resident).toBeGreaterThanOrEqual(evicted + MiB);
      expect(resident).toBeLessThan(evicted + 2 * MiB);
      // A source with no host runs at all (bytes in memory): nothing is asked for, nothing read.
      const memory: ByteSource = { name: 'memory', size: 100, read: async () => Buffer.alloc(0), close: async () => undefined };
      const before = residentBytes(image);
      await expect(willNeed(memory, [[0, 100]])).resolves.toBeUndefined();
      expect(residentBytes(image)).toBe(before);
    } finally {
      await file.close();
    }
  });
});
