/**
 * The decoders on hostile input (the own LZO1X one above all): the kernel's zlib, LZO and zstd extents of the test image (located
 * with dump-tree and btrfs-map-logical, not with diskpick), decoded whole (their content is
 * checked against the kernel mount by btrfs.test.ts), then cut short and mutated thousands of
 * times: every outcome is the decoded bytes or a one-line corrupt error, never another
 * exception, never more output than the extent's size.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DiskpickError } from '../../src/errors.js';
import { decompressExtent, decompressExtentIntoAsync } from '../../src/fs/btrfs/compression.js';
import { crc32cFirstMismatch, useNativeCodecs, zstdDecoderName } from '../../src/source/codecs.js';
import { crc32c } from '../../src/source/bytes.js';
import { tool } from '../helpers/tools.js';
import { btrfsImage } from './helpers.js';

describe('compressed extents on hostile input', () => {
  it.each([[1, 'zlib'], [2, 'lzo'], [3, 'zstd']] as const)('%i (%s): decode, and survive truncation and mutation with one-line errors', (alg, name) => {
    const { img } = btrfsImage('kernel');
    const dump = tool('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', img]);
    const re = new RegExp(String.raw`extent data disk byte (\d+) nr (\d+)\s+extent data offset \d+ nr \d+ ram (\d+)\s+extent compression ${alg} \(${name}\)`, 'g');
    const extents = [...dump.matchAll(re)].map((m) => ({ logical: Number(m[1]), len: Number(m[2]), ram: Number(m[3]) }));
    expect(extents.length).toBeGreaterThan(5);
    const fd = openSync(img, 'r');
    let rng = 12345;
    const next = () => (rng = (Math.imul(rng, 1103515245) + 12345) >>> 0);
    let errors = 0;
    try {
      for (const e of extents.slice(0, 6)) {
        const phys = Number(/physical (\d+)/.exec(tool('btrfs-map-logical', ['-l', String(e.logical), img]))![1]);
        const raw = Buffer.alloc(e.len);
        readSync(fd, raw, 0, e.len, phys);
        const good = decompressExtent(alg, raw, e.ram, 4096, 'f', 'x');
        expect(good.length).toBe(e.ram);
        for (let k = 0; k < (alg === 3 ? 40 : 150); k++) {
          const m = Buffer.from(raw.subarray(0, k % 3 === 0 ? next() % raw.length : raw.length));
          for (let j = 0; j < 1 + (next() % 8); j++) if (m.length) m[next() % m.length] = next() & 0xff;
          try {
            expect(decompressExtent(alg, m, e.ram, 4096, 'f', 'x').length).toBe(e.ram);
          } catch (err) {
            expect(err).toBeInstanceOf(DiskpickError);
            expect((err as DiskpickError).toLine()).not.toMatch(/\n/);
            errors++;
          }
        }
      }
    } finally {
      closeSync(fd);
    }
    expect(errors).toBeGreaterThan(20);
  });

  it('zstd: the native libzstd form (sync and in the thread pool) and fzstd give the same bytes on every zstd extent, and bounded output or one-line errors on mutants', async () => {
    expect(zstdDecoderName()).toMatch(/^libzstd \d+\.\d+\.\d+$/);
    const { img } = btrfsImage('kernel');
    const dump = tool('btrfs', ['inspect-internal', 'dump-tree', '-t', 'fs', img]);
    const re = /extent data disk byte (\d+) nr (\d+)\s+extent data offset \d+ nr \d+ ram (\d+)\s+extent compression 3 \(zstd\)/g;
    const extents = [...dump.matchAll(re)].map((m) => ({ logical: Number(m[1]), len: Number(m[2]), ram: Number(m[3]) }));
    expect(extents.length).toBeGreaterThan(5);
    const fd = openSync(img, 'r');
    let rng = 777;
    const next = () => (rng = (Math.imul(rng, 1103515245) + 12345) >>> 0);
    const verdict = (f: () => Buffer, ram: number): string => {
      try {
        const out = f();
        expect(out.length).toBe(ram);
        return createHash('sha256').update(out).digest('hex');
      } catch (err) {
        expect(err).toBeInstanceOf(DiskpickError);
        return 'error';
      }
    };
    let bad = 0;
    let same = 0;
    try {
      for (const e of extents) {
        const phys = Number(/physical (\d+)/.exec(tool('btrfs-map-logical', ['-l', String(e.logical), img]))![1]);
        const raw = Buffer.alloc(e.len);
        readSync(fd, raw, 0, e.len, phys);
        const native = decompressExtent(3, raw, e.ram, 4096, 'f', 'x');
        const pooled = Buffer.alloc(e.ram, 0xaa);
        await decompressExtentIntoAsync(3, raw, pooled, 4096, 'f', 'x');
        useNativeCodecs(false);
        const js = decompressExtent(3, raw, e.ram, 4096, 'f', 'x');
        useNativeCodecs(true);
        expect(native.equals(js)).toBe(true);
        expect(pooled.equals(js)).toBe(true);
        for (let k = 0; k < 20; k++) {
          const m = Buffer.from(raw);
          for (let j = 0; j < 1 + (next() % 4); j++) m[next() % m.length] = next() & 0xff;
          const a = verdict(() => decompressExtent(3, m, e.ram, 4096, 'f', 'x'), e.ram);
          useNativeCodecs(false);
          const b = verdict(() => decompressExtent(3, m, e.ram, 4096, 'f', 'x'), e.ram);
          useNativeCodecs(true);
          // On damaged data the two decoders check different things and may make different
          // garbage; each gives ram_bytes of output or a one-line error (verdict() checks).
          if (a === 'error') bad++;
          else if (b !== 'error') same += a === b ? 1 : 0;
        }
      }
    } finally {
      useNativeCodecs(true);
      closeSync(fd);
    }
    expect(bad).toBeGreaterThan(10);
    // Mutated literals decode alike in both: the comparison above ran.
    expect(same).toBeGreaterThan(10);
  });

  it('crc32c of many sectors: the SSE4.2 binding and the JavaScript form find the same first bad sector', () => {
    const ss = 4096;
    const buf = Buffer.alloc(16 * ss + 3);
    let x = 99;
    for (let i = 0; i < buf.length; i++) buf[i] = (x = (Math.imul(x, 1103515245) + 12345) >>> 0) >>> 24;
    const at = 3; // an unaligned start, as a sector run inside a larger read
    const csums = Buffer.alloc(4 + 16 * 4);
    for (let i = 0; i < 16; i++) csums.writeUInt32LE(crc32c(buf.subarray(at + i * ss, at + (i + 1) * ss)), 4 + 4 * i);
    const both = (): number[] => {
      const n = crc32cFirstMismatch(buf, at, at + 16 * ss, ss, csums, 4);
      useNativeCodecs(false);
      const j = crc32cFirstMismatch(buf, at, at + 16 * ss, ss, csums, 4);
      useNativeCodecs(true);
      return [n, j];
    };
    expect(both()).toEqual([-1, -1]);
    buf[at + 5 * ss + 77]! ^= 1;
    buf[at + 9 * ss]! ^= 0x80;
    expect(both()).toEqual([5, 5]);
  });
});
