/**
 * Hostile BitLocker metadata, made by patching copies of a Windows-made volume (aes-xts_128):
 * metadata blocks that point at each other, all three copies bad, entries whose sizes lie. Each
 * gives one line with its exit code (or falls back to a good copy with a warning), no hang;
 * the source image is never changed.
 */
import { closeSync, copyFileSync, existsSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CACHE, diskpick, sha256File } from '../helpers/tools.js';
import { bdeDir as corpusDir } from './corpus.js';

const DIR = corpusDir();
const bdeDir = (): string => DIR!;

const PW = 'password12!@';
let base: string;
let offsets: number[];


function patch(path: string, at: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, at);
  closeSync(fd);
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}

function variant(name: string, edit: (p: string) => void): string {
  const p = join(CACHE, `bde-hostile-${name}.bin`);
  copyFileSync(base, p);
  edit(p);
  return p;
}

beforeAll(async () => {
  if (!DIR) return;
  base = join(bdeDir(), 'aes-xts_128.bin');
  const fd = openSync(base, 'r');
  const s0 = Buffer.alloc(512);
  readSync(fd, s0, 0, 512, 0);
  closeSync(fd);
  offsets = [176, 184, 192].map((o) => Number(s0.readBigUInt64LE(o)));
});

function run(img: string, args: string[]): { status: number; out: string; err: string } {
  const r = diskpick([...args.slice(0, 1), img, ...args.slice(1)], { env: { DISKPICK_PASSPHRASE: PW } });
  return { status: r.status, out: r.stdout.toString(), err: r.stderr };
}

describe.runIf(DIR)('hostile BitLocker metadata', () => {
  it('three header offsets naming one block, whose own list points elsewhere: bounded, one line (exit 3)', async () => {
    const before = await sha256File(base);
    const img = variant('loop', (p) => {
      for (const o of [176, 184, 192]) patch(p, o, u64(offsets[0]!));
      // Block 1 lists three other places (none of them itself): it is not a valid copy, and its
      // list is not followed in circles.
      patch(p, offsets[0]! + 32, Buffer.concat([u64(offsets[1]!), u64(offsets[2]!), u64(offsets[1]!)]));
    });
    const r = run(img, ['ls', '/p0']);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/BitLocker metadata: no valid copy \(copy at \d+: its own offset \d+ is not among the offsets it lists\)/);
    expect(r.status).toBe(3);
    expect(await sha256File(base)).toBe(before);
  });

  it('the first copy damaged: the second is used, and info says so', () => {
    const img = variant('first-bad', (p) => patch(p, offsets[0]!, Buffer.from('-XXX-XX-')));
    const r = run(img, ['info']);
    expect(r.status).toBe(0);
    expect(r.out).toContain('opened with a password');
    expect(r.out).toMatch(new RegExp(`warning: +p0: BitLocker metadata copy at ${offsets[0]}: no -FVE-FS- signature`));
  });

  it('all three copies damaged: one line (exit 3)', () => {
    const img = variant('all-bad', (p) => {
      for (const o of offsets) patch(p, o, Buffer.from('-XXX-XX-'));
    });
    const r = run(img, ['ls', '/p0']);
    expect(r.status).toBe(3);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/BitLocker metadata: no valid copy \(copy at \d+: no -FVE-FS- signature; copy at \d+: no -FVE-FS- signature; copy at \d+: no -FVE-FS- signature\)/);
  });

  it('a metadata size of 4 GiB and an entry larger than its list: one line (exit 3)', () => {
    const img = variant('sizes', (p) => {
      const big = Buffer.alloc(4);
      big.writeUInt32LE(0xffffffff);
      patch(p, offsets[0]! + 64, big);
      patch(p, offsets[1]! + 64, big);
      // Third copy: the first entry claims 0xfff0 bytes.
      const e = Buffer.alloc(2);
      e.writeUInt16LE(0xfff0);
      patch(p, offsets[2]! + 64 + 48, e);
    });
    const r = run(img, ['ls', '/p0']);
    expect(r.status).toBe(3);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toMatch(/metadata size 4294967295 is out of range.*an entry at 48 of 65520 bytes does not fit its list/);
  });
});
