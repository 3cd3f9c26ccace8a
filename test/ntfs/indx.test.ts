/**
 * The folder index walk and the column listing (src/fs/ntfs/indx.ts) on index nodes built
 * here by hand, byte by byte as docs/formats/ntfs.md describes INDEX_HEADER and INDEX_ENTRY:
 * the expected order is the tree's in-order walk as built, the expected names the ones
 * written. The images in the other tests (mkntfs + ntfs-3g) check the same code against
 * ntfsls and fls; these cover shapes they do not make: a mixed Latin-1 / wider folder, a "/"
 * in a name, child links that loop or point nowhere, blocks no link reaches.
 */
import { describe, expect, it } from 'vitest';
import { IndexColumns, walkIndexInOrder, type IndexBlocks } from '../../src/fs/ntfs/indx.js';
import { DiskpickError } from '../../src/errors.js';

const DIR = 5;
const FILE_ATTRIBUTE_DIRECTORY = 0x10000000;

interface Key {
  record: number;
  name: string;
  parent?: number;
  attributes?: number;
  subnode?: number;
}

/** One INDEX_ENTRY: its key a $FILE_NAME (WIN32 namespace), its child VCN last when it has one. */
function entry(k: Key): Buffer {
  const nameBytes = Buffer.from(k.name, 'utf16le');
  const keyLength = 66 + nameBytes.length;
  const length = ((16 + keyLength + 7) & ~7) + (k.subnode === undefined ? 0 : 8);
  const b = Buffer.alloc(length);
  b.writeUIntLE(k.record, 0, 6);
  b.writeUInt16LE(length, 8);
  b.writeUInt16LE(keyLength, 10);
  b.writeUInt16LE(k.subnode === undefined ? 0 : 1, 12);
  b.writeUIntLE(k.parent ?? DIR, 16, 6);
  b.writeUInt32LE(k.attributes ?? 0, 16 + 56);
  b[16 + 64] = k.name.length;
  b[16 + 65] = 1;
  nameBytes.copy(b, 16 + 66);
  if (k.subnode !== undefined) b.writeBigUInt64LE(BigInt(k.subnode), length - 8);
  return b;
}

/** The end entry (flag 2), with its child VCN when it has one (flag 1). */
function endEntry(subnode?: number): Buffer {
  const b = Buffer.alloc(subnode === undefined ? 16 : 24);
  b.writeUInt16LE(b.length, 8);
  b.writeUInt16LE(2 | (subnode === undefined ? 0 : 1), 12);
  if (subnode !== undefined) b.writeBigUInt64LE(BigInt(subnode), 16);
  return b;
}

/** A node: `before` bytes (the root value's fields, or an INDX block's header), then INDEX_HEADER and entries. */
function node(before: number, keys: Key[], endSubnode?: number): Buffer {
  const entries = Buffer.concat([...keys.map(entry), endEntry(endSubnode)]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16, 0);
  hdr.writeUInt32LE(16 + entries.length, 4);
  hdr.writeUInt32LE(16 + entries.length, 8);
  hdr[12] = keys.some((k) => k.subnode !== undefined) || endSubnode !== undefined ? 1 : 0;
  return Buffer.concat([Buffer.alloc(before), hdr, entries]);
}

const root = (keys: Key[], endSubnode?: number) => node(16, keys, endSubnode);
const block = (keys: Key[], endSubnode?: number) => node(24, keys, endSubnode);

/**
 * `blocks` by VCN, `vcnsPerBlock` VCNs per block (VCNs count clusters, a block may span
 * several), laid in one buffer as a listing reads them, each block at its own offset.
 */
function list(rootValue: Buffer, blocks: [number, Buffer][], cols = new IndexColumns('test'), vcnsPerBlock = 1) {
  const size = Math.max(0, ...blocks.map(([, b]) => b.length));
  const all = Buffer.alloc(size * blocks.length + 8);
  const read: IndexBlocks = { buf: [], at: [], size, vcnsPerBlock };
  blocks.forEach(([vcn, b], k) => {
    // Blocks at odd offsets, after 8 bytes of something else: nothing may assume a block starts its buffer.
    b.copy(all, 8 + k * size);
    read.buf[vcn / vcnsPerBlock] = all;
    read.at[vcn / vcnsPerBlock] = 8 + k * size;
  });
  walkIndexInOrder(rootValue, read, 'test', (b, at, end, childDone, vcn, base) => cols.take(b, at, end, childDone, vcn, base, 1000));
  return { cols, names: cols.names(), records: cols.records.slice(0, cols.count) };
}

const leaf = (...names: string[]) => names.map((name, i) => ({ record: 100 + name.charCodeAt(0) * 10 + i, name }));

describe('NTFS folder index walk', () => {
  it('lists a two-level tree in order (each key after its child node), whatever the disk order of its blocks', () => {
    const r = root([{ record: 50, name: 'm', subnode: 8 }], 16);
    // Disk order: the block after "m" first.
    const { names } = list(r, [[16, block(leaf('x', 'y'))], [8, block(leaf('a', 'b'))]]);
    expect(names).toEqual(['a', 'b', 'm', 'x', 'y']);
  });

  it('lists three levels in order', () => {
    const r = root([{ record: 60, name: 'n', subnode: 1 }], 2);
    const left = block([{ record: 61, name: 'f', subnode: 3 }], 4);
    const right = block(leaf('p', 'q'), 5);
    const { names } = list(r, [[5, block(leaf('t'))], [4, block(leaf('h'))], [3, block(leaf('a', 'c'))], [2, right], [1, left]]);
    expect(names).toEqual(['a', 'c', 'f', 'h', 'n', 'p', 'q', 't']);
  });

  it('keeps names Latin-1 until a wider one, then decodes the rest as UTF-16 (and a "/" inside a name in both)', () => {
    const narrow = list(root(leaf('abc', 'Grüße', 'a/b', 'ÿ')), []);
    expect(narrow.names).toEqual(['abc', 'Grüße', 'a/b', 'ÿ']);
    const mixed = list(root(leaf('abc', 'Grüße', '日本語', 'x/y', 'zz', '\ud83c\udf89')), []);
    expect(mixed.names).toEqual(['abc', 'Grüße', '日本語', 'x/y', 'zz', '\ud83c\udf89']);
    expect(list(root([]), []).names).toEqual([]);
  });

  it('passes over child links to no block and links back up (a loop), and lists blocks no link reaches last', () => {
    // Block 8 links back to itself, and to 16 (the root end entry's child too); "n" to no block.
    const r = root([{ record: 50, name: 'm', subnode: 8 }, { record: 51, name: 'n', subnode: 99 }], 16);
    const b8 = block([{ record: 52, name: 'a', subnode: 8 }, { record: 53, name: 'b', subnode: 16 }]);
    const b16 = block(leaf('x'));
    const lost = block(leaf('zz'));
    const { names } = list(r, [[8, b8], [16, b16], [24, lost]]);
    // b16 is walked as b's child (first reached there), not again at the end.
    expect(names).toEqual(['a', 'x', 'b', 'm', 'n', 'zz']);
  });

  it('finds blocks by VCN where a block spans several VCNs, and passes over a VCN inside a block', () => {
    // 8 VCNs per block (4 KiB blocks, 512-byte VCN units): VCN 16 is block 2, VCN 12 no block's start.
    const r = root([{ record: 50, name: 'm', subnode: 16 }, { record: 51, name: 'n', subnode: 12 }], 8);
    const { names } = list(r, [[16, block(leaf('a', 'b'))], [8, block(leaf('x'))]], new IndexColumns('test'), 8);
    expect(names).toEqual(['a', 'b', 'm', 'n', 'x']);
  });

  it('finds a child block far past the others (blocks by number stay sparse, not one slot each)', () => {
    // Block 1 000 000 alone past block 8: a hostile bitmap can mark blocks that far apart.
    const r = root([{ record: 50, name: 'm', subnode: 1_000_000 }], 8);
    const before = process.memoryUsage().heapUsed;
    const { names } = list(r, [[1_000_000, block(leaf('a', 'b'))], [8, block(leaf('x'))]]);
    expect(names).toEqual(['a', 'b', 'm', 'x']);
    // A dense array of 10^6 slots would be 8 MB of heap; the visited bytes (1 MB) are off-heap.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(4 * 2 ** 20);
  });

  it('says which node is damaged: an entry running past its node', () => {
    const b = block(leaf('a', 'b'));
    b.writeUInt16LE(0x4000, 24 + 16 + 8); // the first entry's length
    let err: unknown;
    try {
      list(root([], 8), [[8, b]]);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DiskpickError);
    expect((err as Error).message).toMatch(/index block at VCN 8: index entry at 40 has bad length/);
  });

  it('keeps the whole key only of the entries asked for, and shows every entry in order (listed: null) when all belong', () => {
    const keys = [
      { record: 30, name: 'sub', attributes: FILE_ATTRIBUTE_DIRECTORY },
      { record: 31, name: 'plain.txt' },
      { record: 7, name: '$Boot' },
    ];
    const cols = new IndexColumns('test', false, FILE_ATTRIBUTE_DIRECTORY, 16);
    list(root(keys), [], cols);
    expect(cols.key(0).name).toBe('sub');
    expect(() => cols.key(1)).toThrow();
    expect(cols.key(2).name).toBe('$Boot');
    expect(cols.listed(DIR)).toBeNull();
    // An entry of another folder, and the folder's own record, are not shown.
    const other = list(root([{ record: 40, name: 'a' }, { record: 41, name: 'b', parent: 77 }, { record: DIR, name: 'self' }]), []);
    expect(other.cols.listed(DIR)).toEqual([0]);
    expect(other.records).toEqual([40, 41, DIR]);
    // Told the folder's record up front, the columns notice such keys as they come.
    const told = (k: Key[]) => list(root(k), [], new IndexColumns('test', true, 0, 0, 0, DIR)).cols.listed(DIR);
    expect(told([{ record: 40, name: 'a' }, { record: 41, name: 'b', parent: 77 }, { record: DIR, name: 'self' }])).toEqual([0]);
    expect(told([{ record: 40, name: 'a' }, { record: 42, name: 'c' }])).toBeNull();
    expect(told([{ record: 40, name: 'a' }])).toBeNull();
  });
});
