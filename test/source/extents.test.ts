import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BufferSource, readInto } from '../../src/source/source.js';
import { ExtentSource, HOLE, checkExtents, type Extent } from '../../src/source/extents.js';

// A volume of distinct bytes, and a file laid out over it by a map the test writes down: the
// expected file is built from the same map by plain copying, independently of ExtentSource.
const volume = Buffer.from(Array.from({ length: 64 * 1024 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
const map: Extent[] = [
  { logical: 0, physical: 8192, length: 4096 },
  { logical: 4096, physical: HOLE, length: 4096 }, // an unwritten extent
  // bytes 8192…12287: a hole no extent covers
  { logical: 12288, physical: 0, length: 5000 },
  { logical: 17288, physical: 40000, length: 20000 },
];
const size = 45000; // a hole at the end too

function expected(): Buffer {
  const out = Buffer.alloc(size);
  for (const e of map) if (e.physical !== HOLE) volume.copy(out, e.logical, e.physical, e.physical + e.length);
  return out;
}

describe('ExtentSource', () => {
  const src = new ExtentSource(new BufferSource(volume, 'vol'), checkExtents(map, volume.length, 'f'), size, 'f');

  it('reads every offset and length as the map says, holes as zeros', async () => {
    const want = expected();
    for (const [off, len] of [[0, size], [100, 4096], [4000, 9000], [12287, 2], [17000, 1000], [44990, 100], [45000, 10]] as const) {
      const got = await src.read(off, len);
      expect(got.equals(want.subarray(off, Math.min(size, off + len)))).toBe(true);
      const into = Buffer.alloc(len + 3, 0xee);
      const n = await readInto(src, into, 3, off, len);
      expect(into.subarray(3, 3 + n).equals(want.subarray(off, Math.min(size, off + len)))).toBe(true);
    }
    expect(createHash('sha256').update(await src.read(0, size)).digest('hex')).toBe(createHash('sha256').update(want).digest('hex'));
  });

  it('reports the data ranges and nothing else', () => {
    expect([...src.dataRanges()]).toEqual([[0, 4096], [12288, 25000]]); // touching extents: one range
    expect([...src.dataRanges(2000, 12000)]).toEqual([[2000, 2096], [12288, 1712]]);
  });

  it('refuses overlapping, unsorted and out-of-volume maps with one-line errors', () => {
    expect(() => checkExtents([{ logical: 0, physical: 0, length: 10 }, { logical: 5, physical: 100, length: 10 }], 1000, 'f')).toThrow(/overlapping extents/);
    expect(() => checkExtents([{ logical: 0, physical: 990, length: 20 }], 1000, 'f')).toThrow(/past the end of the volume/);
    expect(() => checkExtents([{ logical: -1, physical: 0, length: 20 }], 1000, 'f')).toThrow(/invalid extent/);
  });

  it('says truncated when the volume ends before an extent', async () => {
    const short = new ExtentSource(new BufferSource(volume.subarray(0, 10000), 'vol'), [{ logical: 0, physical: 8192, length: 4096 }], 4096, 'f');
    await expect(short.read(0, 4096)).rejects.toThrow(/truncated/);
  });
});
