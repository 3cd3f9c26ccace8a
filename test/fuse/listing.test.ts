/**
 * A folder's listing made from names the filesystem gave joined (NameList.joined, NTFS): taken
 * as they are where every name is one Linux can hold, refused (null: the caller then takes the
 * names one by one and leaves such names out) where one is not. Expected names are the lists
 * written here.
 */
import { describe, expect, it } from 'vitest';
import { joinedListing, nameAt, namesOf, newListing } from '../../src/fuse/listing.js';
import { JoinedNameList } from '../../src/fs/types.js';
import type { VfsNode } from '../../src/vfs/vfs.js';

const dir = null as unknown as VfsNode;
const dot = Uint32Array.of(0o40755, 0, 0, 0, 0, 0, 0, 5);
const dotdot = Uint32Array.of(0o40755, 0, 0, 0, 0, 0, 0, 2);

describe('joinedListing', () => {
  it('keeps the names as given, "." and ".." first, each reachable by position', () => {
    for (const names of [['a.txt', 'Grüße', '日本語', '😀 smile', '...', '.hidden', 'x'], ['only'], []]) {
      const l = joinedListing(names.map((n) => `${n}/`).join(''), names.length, dir, dot, dotdot)!;
      expect(l).not.toBeNull();
      expect(namesOf(l)).toEqual(['.', '..', ...names]);
      expect(Array.from({ length: l.count }, (_, i) => nameAt(l, i))).toEqual(['.', '..', ...names]);
      expect([l.modeIno[0], l.modeIno[1], l.modeIno[2], l.modeIno[3]]).toEqual([0o40755, 5, 0o40755, 2]);
      // The same listing as one made name by name.
      expect(l.joined).toBe(newListing(['.', '..', ...names], dir, dot, dotdot).joined);
    }
  });

  it('refuses names Linux cannot hold: "", ".", "..", NUL, or a "/" inside (more "/" than names)', () => {
    for (const names of [['a', ''], ['.', 'b'], ['a', '..'], ['a\0b'], ['c', 'a/b']]) {
      expect(joinedListing(names.map((n) => `${n}/`).join(''), names.length, dir, dot, dotdot), JSON.stringify(names)).toBeNull();
    }
  });
});

describe('JoinedNameList', () => {
  it('splits into the names given, by their lengths where a name holds "/"', () => {
    const names = ['a', 'tiny/bin', 'Grüße', '😀'];
    const l = new JoinedNameList(names.map((n) => `${n}/`).join(''), names.map((n) => n.length), names.map(() => 'file' as const), [1, 2, 3, 4], []);
    expect(l.names).toEqual(names);
    const plain = ['x', 'y'];
    expect(new JoinedNameList('x/y/', [1, 1], ['file', 'dir'], [1, 2], []).withNodes([]).names).toEqual(plain);
  });
});
