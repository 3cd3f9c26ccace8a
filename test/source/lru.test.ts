import { describe, expect, it } from 'vitest';
import { byteLru, InFlight, Lru } from '../../src/source/lru.js';

describe('Lru', () => {
  it('never holds more than max entries, and always the most recent max/2', () => {
    const c = new Lru<number, number>(100);
    let largest = 0;
    const missing: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      c.set(i, i * 2);
      largest = Math.max(largest, c.size);
      for (let k = Math.max(0, i - 49); k <= i; k++) if (!c.has(k)) missing.push(k);
    }
    expect(largest).toBe(100);
    expect(missing).toEqual([]);
    for (let k = 10_000 - 50; k < 10_000; k++) expect(c.get(k)).toBe(k * 2);
  });

  it('keeps an entry that is used, however many others pass through', () => {
    const c = new Lru<string, number>(10);
    c.set('hot', 1);
    let lost = 0;
    for (let i = 0; i < 1000; i++) {
      c.set(`cold${i}`, i);
      if (c.get('hot') !== 1) lost++;
    }
    expect(lost).toBe(0);
    expect(c.get('cold0')).toBeUndefined();
  });

  it('holds null and other falsy values as values, not as misses', () => {
    const c = new Lru<number, number | null>(4);
    c.set(1, null);
    c.set(2, 0);
    expect(c.has(1)).toBe(true);
    expect(c.get(1)).toBeNull();
    expect(c.get(2)).toBe(0);
    expect(c.get(3)).toBeUndefined();
  });

  it('replaces, deletes and clears', () => {
    const c = new Lru<number, string>(8);
    for (let i = 0; i < 6; i++) c.set(i, `a${i}`);
    c.set(1, 'b1');
    expect(c.get(1)).toBe('b1');
    c.delete(1);
    expect(c.has(1)).toBe(false);
    expect(c.keys().sort()).toEqual([0, 2, 3, 4, 5].filter((k) => c.has(k)).sort());
    c.clear();
    expect(c.size).toBe(0);
    expect(c.get(0)).toBeUndefined();
  });

  it('bounded by bytes: the total length stays within the bound; one value larger than the bound is still kept until the next', () => {
    const c = byteLru<number, Buffer>(1000);
    const lengths = new Map<number, number>();
    for (let i = 0; i < 200; i++) {
      lengths.set(i, 1 + ((i * 37) % 120));
      c.set(i, Buffer.alloc(lengths.get(i)!));
      expect(c.keys().reduce((n, k) => n + lengths.get(k)!, 0)).toBeLessThanOrEqual(1000);
      expect(c.get(i)!.length).toBe(lengths.get(i));
    }
    c.set(1000, Buffer.alloc(5000));
    expect(c.get(1000)!.length).toBe(5000);
    c.set(1001, Buffer.alloc(10));
    c.set(1002, Buffer.alloc(600));
    expect(c.has(1000)).toBe(false);
  });
});

describe('InFlight', () => {
  it('callers of one key share one load while it runs, and load again after it settled', async () => {
    const f = new InFlight<number, string>();
    let loads = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const load = async () => {
      loads++;
      await gate;
      return `v${loads}`;
    };
    const a = f.run(1, load);
    const b = f.run(1, load);
    expect(f.size).toBe(1);
    release();
    expect(await a).toBe('v1');
    expect(await b).toBe('v1');
    expect(f.size).toBe(0);
    expect(await f.run(1, load)).toBe('v2');
    expect(loads).toBe(2);
  });

  it('a failed load is not remembered: every waiting caller gets the error, the next caller loads again', async () => {
    const f = new InFlight<string, number>();
    let n = 0;
    const failing = async () => {
      n++;
      throw new Error('bad sector');
    };
    const both = [f.run('k', failing), f.run('k', failing)];
    for (const p of both) await expect(p).rejects.toThrow('bad sector');
    expect(n).toBe(1);
    expect(await f.run('k', async () => 7)).toBe(7);
  });

  it('a load that throws before returning a promise rejects and leaves nothing behind', async () => {
    const f = new InFlight<number, number>();
    await expect(
      f.run(1, () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
    expect(f.size).toBe(0);
  });
});
