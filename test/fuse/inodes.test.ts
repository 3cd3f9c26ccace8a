/**
 * The inode map's properties (docs/fuse.md): 32-bit numbers, one per (volume, Stat.ino), the
 * same number for the same file every time (hard links), none shared between different files,
 * across volumes and across the direct and the assigned ranges.
 */
import { describe, expect, it } from 'vitest';
import { InodeMap } from '../../src/fuse/inodes.js';

describe('InodeMap', () => {
  it('gives distinct, stable 32-bit numbers to small, huge (exFAT byte offsets) and many-volume inodes', () => {
    const m = new InodeMap();
    const keys: Array<[number, number]> = [];
    for (const vol of [0, 1, 2, 5, 14, 15, 40]) {
      for (const ino of [0, 1, 2, 11, 12345, 2 ** 27 - 1, 2 ** 27, 2 ** 31 + 7, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER]) keys.push([vol, ino]);
    }
    const first = keys.map(([v, i]) => m.forFile(v, i));
    for (const n of first) {
      expect(Number.isInteger(n)).toBe(true);
      expect(n).toBeGreaterThan(1000);
      expect(n).toBeLessThanOrEqual(0xffffffff);
    }
    expect(new Set(first).size).toBe(keys.length);
    // Asked again in another order: the same numbers (hard links and repeated lookups agree).
    const again = [...keys].reverse().map(([v, i]) => m.forFile(v, i)).reverse();
    expect(again).toEqual(first);
    // Small inodes on the first 15 volumes do not depend on the order they were seen in.
    expect(new InodeMap().forFile(1, 12345)).toBe(m.forFile(1, 12345));
  });
});
