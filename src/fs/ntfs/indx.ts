/**
 * Folder indexes ($I30): the $INDEX_ROOT node in the MFT record and the INDX blocks of
 * $INDEX_ALLOCATION, a B+ tree of $FILE_NAME keys. See docs/formats/ntfs.md "Indexes".
 *
 * Two readers share one walk over a node's INDEX_ENTRY records: parseIndexRoot and
 * parseIndexBlock make an IndexEntry per key (lookups, full listings), and IndexColumns keeps
 * a listing by column for `ls -R` and the mount, where an object and a string per name were
 * most of a 100 000-file listing's cost.
 */
import { corrupt } from '../../errors.js';
import { scratch } from '../../source/scratch.js';
import type { FileType } from '../types.js';
import { fixupsApplied, FILE_NAME_DOS, parseFileName, readRefRecord, readU64, type FileNameAttr } from './mft.js';

/** INDEX_ENTRY flags. */
const INDEX_ENTRY_NODE = 0x01;
const INDEX_ENTRY_END = 0x02;

/** FILE_ATTRIBUTE_DUP_FILE_NAME_INDEX_PRESENT: the key's file is a folder. */
const FILE_ATTRIBUTE_DIRECTORY = 0x10000000;

/** $FILE_NAME fields used by a listing (offsets in the key). */
const FN_PARENT_DIRECTORY = 0;
const FN_FILE_ATTRIBUTES = 56;
const FN_FILE_NAME_LENGTH = 64;
const FN_FILE_NAME_TYPE = 65;
const FN_FILE_NAME = 66;

export interface IndexEntry {
  record: number;
  /** The key (null on the end entry). */
  fileName: FileNameAttr | null;
  /** VCN of the child node holding smaller keys, when present. */
  subnode: number | null;
}

/** INDEX_ROOT value: the index parameters and the root node. */
export interface IndexRoot {
  indexBlockSize: number;
  clustersPerIndexBlock: number;
  entries: IndexEntry[];
  /** The root has child nodes in $INDEX_ALLOCATION. */
  large: boolean;
}

/**
 * Calls `each(at, keyLength, subnode)` for every INDEX_ENTRY of the INDEX_HEADER at `hdr` (the
 * end entry with keyLength -1), bounded by `limit`; returns the header's "has child nodes" flag.
 */
function walkNode(
  b: Buffer, hdr: number, limit: number, name: string, what: string,
  each: (at: number, keyLength: number, subnode: number | null) => void,
): boolean {
  if (hdr + 16 > limit) throw corrupt(name, `${what}: index header cut short`);
  const entriesOffset = b.readUInt32LE(hdr);
  const indexLength = b.readUInt32LE(hdr + 4);
  const large = (b[hdr + 12]! & 1) !== 0;
  const start = hdr + entriesOffset;
  const end = hdr + indexLength;
  if (entriesOffset < 16 || end > limit || start > end) throw corrupt(name, `${what}: index header has bad offsets`);
  let at = start;
  while (at + 16 <= end) {
    // Byte arithmetic, not readUInt16LE: this loop runs once per name of every listing.
    const length = b[at + 8]! | (b[at + 9]! << 8);
    const keyLength = b[at + 10]! | (b[at + 11]! << 8);
    const flags = b[at + 12]! | (b[at + 13]! << 8);
    if (length < 16 || at + length > end || (flags & INDEX_ENTRY_NODE && length < 24) || 16 + keyLength > length) {
      throw corrupt(name, `${what}: index entry at ${at} has bad length`);
    }
    const subnode = flags & INDEX_ENTRY_NODE ? readU64(b, at + length - 8) : null;
    if (flags & INDEX_ENTRY_END) {
      each(at, -1, subnode);
      break;
    }
    each(at, keyLength, subnode);
    at += length;
  }
  return large;
}

/** Parses the entries of an INDEX_HEADER that starts at `hdr` in `b`, bounded by `limit`. */
function parseNode(b: Buffer, hdr: number, limit: number, name: string, what: string): { entries: IndexEntry[]; large: boolean } {
  const entries: IndexEntry[] = [];
  const large = walkNode(b, hdr, limit, name, what, (at, keyLength, subnode) => {
    entries.push(keyLength < 0 ? { record: 0, fileName: null, subnode } : { record: readRefRecord(b, at), fileName: parseFileName(b, at + 16, keyLength, name), subnode });
  });
  return { entries, large };
}

export function parseIndexRoot(v: Buffer, name: string): IndexRoot {
  if (v.length < 32) throw corrupt(name, '$INDEX_ROOT too short');
  const indexBlockSize = v.readUInt32LE(8);
  const clustersPerIndexBlock = v[12]!;
  if (indexBlockSize < 256 || indexBlockSize > 65536 || indexBlockSize & (indexBlockSize - 1)) {
    throw corrupt(name, `$INDEX_ROOT: bad index block size ${indexBlockSize}`);
  }
  const { entries, large } = parseNode(v, 16, v.length, name, '$INDEX_ROOT');
  return { indexBlockSize, clustersPerIndexBlock, entries, large };
}

/** What errors call an INDX block. */
function blockWhat(vcn: number | null): string {
  return `index block${vcn === null ? '' : ` at VCN ${vcn}`}`;
}

/**
 * Checks an INDX block's signature and VCN and applies its fixups (on the caller's copy). Its
 * name for errors is made only for one (a listing of 100 000 names opens ~5000 blocks).
 */
export function openIndexBlock(b: Buffer, expectVcn: number | null, name: string): void {
  openIndexBlockAt(b, 0, b.length, expectVcn, name);
}

/**
 * openIndexBlock for the `size` bytes at `base` of `b`: a listing opens its blocks where they
 * were read, many to a buffer (a Buffer view per block was 5000 objects and three more
 * functions for the optimizing compiler in a 100 000-file `ls -R`).
 */
export function openIndexBlockAt(b: Buffer, base: number, size: number, expectVcn: number | null, name: string): void {
  if (size < 4 || b[base] !== 0x49 || b[base + 1] !== 0x4e || b[base + 2] !== 0x44 || b[base + 3] !== 0x58 /* "INDX" */) throw corrupt(name, `${blockWhat(expectVcn)}: bad signature`);
  const problem = fixupsApplied(b, base, size);
  if (problem !== null) throw corrupt(name, `${blockWhat(expectVcn)}: ${problem}`);
  if (expectVcn !== null && (size < 24 || u64At(b, base + 16) !== expectVcn)) throw corrupt(name, `${blockWhat(expectVcn)}: block claims VCN ${readU64(b, base + 16)}`);
}

/** Parses one INDX block (fixups applied here, on the caller's copy). */
export function parseIndexBlock(b: Buffer, expectVcn: number | null, name: string): IndexEntry[] {
  openIndexBlock(b, expectVcn, name);
  return parseNode(b, 24, b.length, name, blockWhat(expectVcn)).entries;
}

/**
 * Little-endian reads by byte arithmetic for the per-block path of a listing (openIndexBlock,
 * walkIndexInOrder, nodeEntries): Node's readUInt32LE checks its argument through a wrapper
 * with a try block, which the optimizing compiler inlined at every call site of these
 * functions, once per mount (compiler-thread CPU during a first walk). Callers check bounds.
 */
function u32At(b: Buffer, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}

/*
 * u64At and refRecordAt answer a number below 2^24 without the product by 2^32: in code not
 * yet optimized that product is a heap number (0 * 2^32 too), so every record number read made
 * one: 1.2 of the 16 MB a 100 000-file NTFS listing allocated (sampling heap profiler, objects
 * collected by scavenges included), against none for ext.
 */
function u64At(b: Buffer, at: number): number {
  if ((b[at + 3]! | b[at + 4]! | b[at + 5]! | b[at + 6]! | b[at + 7]!) === 0) return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
  return u32At(b, at) + u32At(b, at + 4) * 0x100000000;
}

/** readRefRecord by byte arithmetic (48-bit record number; the caller checked the bounds). */
function refRecordAt(b: Buffer, at: number): number {
  if ((b[at + 3]! | b[at + 4]! | b[at + 5]!) === 0) return b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
  return ((b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0) + (b[at + 4]! | (b[at + 5]! << 8)) * 0x100000000;
}

/** What errors call a node of a folder index (VCN -1: the root). */
export function nodeWhat(vcn: number): string {
  return vcn < 0 ? '$INDEX_ROOT' : blockWhat(vcn);
}

/**
 * Takes the keys of one node from the entry at `at` on: each key that has no child node still
 * to walk (with `childDone`, the first entry's child was walked: it is taken too), checked as
 * walkNode checks it; returns where it stopped: at a key whose child comes first, at the end
 * entry, or past `end`. One call per run of keys, with the loop inside, so that the per-key
 * work is one function the JIT optimizes where it loops (a call per key ran long in baseline
 * code, waiting for its own optimization). The node starts at `base` of `b` (errors give
 * offsets in the node).
 */
export type IndexKeyRun = (b: Buffer, at: number, end: number, childDone: boolean, vcn: number, base: number) => number;

/**
 * A folder's in-use INDX blocks, opened (checked and fixed up), by block number (VCN /
 * vcnsPerBlock): block i is the `size` bytes at `at[i]` of `buf[i]` (undefined where none).
 * Arrays by number, not a Map: see walkIndexInOrder.
 */
export interface IndexBlocks {
  buf: Array<Buffer | undefined>;
  at: number[];
  size: number;
  vcnsPerBlock: number;
}

/**
 * Checks the INDEX_ENTRY header at `at` of a node ending at `end` (walkNode's checks); returns
 * its length.
 */
export function indexEntryLength(b: Buffer, at: number, end: number, name: string, vcn: number, base: number): number {
  const length = b[at + 8]! | (b[at + 9]! << 8);
  const keyLength = b[at + 10]! | (b[at + 11]! << 8);
  const flags = b[at + 12]! | (b[at + 13]! << 8);
  if (length < 16 || at + length > end || (flags & INDEX_ENTRY_NODE && length < 24) || 16 + keyLength > length) {
    throw corrupt(name, `${nodeWhat(vcn)}: index entry at ${at - base} has bad length`);
  }
  return length;
}

/** INDEX_ENTRY flags of the entry at `at` (checked by indexEntryLength first). */
export function indexEntryFlags(b: Buffer, at: number): { node: boolean; end: boolean } {
  const flags = b[at + 12]! | (b[at + 13]! << 8);
  return { node: (flags & INDEX_ENTRY_NODE) !== 0, end: (flags & INDEX_ENTRY_END) !== 0 };
}

/**
 * Walks a folder index in index order: the B+ tree from the root, each key after the keys of
 * its child node and the end entry's child last, which is the $I30 collation order (names
 * compared in upper case) that Windows lists a folder in (ntfs-3g, and so ntfsls, lists the
 * root's keys first, then each block's in disk order, as diskpick did before). `take` takes
 * the keys, a run at a time (see IndexKeyRun), from the root node and `blocks`. Every key comes
 * out once whatever the damage: a child VCN naming no in-use block, or a node reached again (a
 * loop), is passed over, and blocks no walk from the root reached follow in disk order.
 *
 * Listed in disk order instead, every folder had to be sorted by name afterwards (a comparison
 * sort of each folder's names, ~9-28 ms of a 100 000-file `ls -R`, issue 27); index order is
 * most often name order already (the caller checks, and sorts only then).
 *
 * Blocks by number in arrays and a byte per block for "visited", not a Map and a Set: with
 * those (and the root spread in front of the Map's entries) this function's optimizing compile
 * took 18.9 ms in a 100 000-file `ls -R`, against 8.5 ms with arrays (--trace-opt, mean of 6
 * runs each, 2 cores).
 */
export function walkIndexInOrder(rootValue: Buffer, blocks: IndexBlocks, name: string, take: IndexKeyRun): void {
  const count = blocks.buf.length;
  const vcnsPerBlock = blocks.vcnsPerBlock;
  const visited = new Uint8Array(count);
  // The path from the node walked first: per node its bytes, start, next entry, end, VCN, and
  // whether the next entry's child was walked already. One function, no closures: it is
  // compiled once, early (a walk of closures took ~30 ms of the optimizing compiler's time).
  const fb: Buffer[] = [];
  const fbase: number[] = [];
  const fat: number[] = [];
  const fend: number[] = [];
  const fvcn: number[] = [];
  const fdown: boolean[] = [];
  // s = -1: the root; then every block not reached yet, in disk order.
  for (let s = -1; s < count; s++) {
    let enter = s;
    if (s >= 0) {
      if (!blocks.buf[s] || visited[s]) continue;
      visited[s] = 1;
    }
    let depth = 0;
    for (;;) {
      if (enter !== -2) {
        // The root value holds an INDEX_HEADER at 16; a block at 24, after its VCN.
        const b = enter < 0 ? rootValue : blocks.buf[enter]!;
        const base = enter < 0 ? 0 : blocks.at[enter]!;
        const limit = enter < 0 ? rootValue.length : base + blocks.size;
        const vcn = enter < 0 ? -1 : enter * vcnsPerBlock;
        const hdr = base + (enter < 0 ? 16 : 24);
        fat[depth] = nodeEntries(b, hdr, limit, vcn, name);
        fend[depth] = hdr + u32At(b, hdr + 4);
        fb[depth] = b;
        fbase[depth] = base;
        fvcn[depth] = vcn;
        fdown[depth] = false;
        depth++;
        enter = -2;
      }
      if (depth === 0) break;
      const t = depth - 1;
      const b = fb[t]!;
      const end = fend[t]!;
      const from = fat[t]!;
      const wasDown = fdown[t]!;
      const at = from + 16 > end ? from : take(b, from, end, wasDown, fvcn[t]!, fbase[t]!);
      fat[t] = at;
      fdown[t] = false;
      // Past the node, or back at an end entry whose child was walked: the node is done.
      if (at + 16 > end || (wasDown && at === from)) {
        depth--;
        continue;
      }
      // A key whose child comes first, or the end entry (both checked by take).
      const length = b[at + 8]! | (b[at + 9]! << 8);
      const flags = b[at + 12]! | (b[at + 13]! << 8);
      // The child's block number; -1 when there is none, or no block has that VCN.
      let child = -1;
      if (flags & INDEX_ENTRY_NODE) {
        const i = u64At(b, at + length - 8) / vcnsPerBlock;
        if (i < count && i % 1 === 0) child = i;
      }
      // On the way back (or now, with no child to walk), the entry is taken next.
      fdown[t] = true;
      if (child >= 0 && blocks.buf[child] && !visited[child]) {
        visited[child] = 1;
        enter = child;
      } else if (flags & INDEX_ENTRY_END) depth--;
    }
  }
}

/** Checks the INDEX_HEADER at `hdr` of a node ending at `limit` (VCN -1: the root); returns where its entries start. */
function nodeEntries(b: Buffer, hdr: number, limit: number, vcn: number, name: string): number {
  if (hdr + 16 > limit) throw corrupt(name, `${nodeWhat(vcn)}: index header cut short`);
  const entriesOffset = u32At(b, hdr);
  const start = hdr + entriesOffset;
  const end = hdr + u32At(b, hdr + 4);
  if (entriesOffset < 16 || end > limit || start > end) throw corrupt(name, `${nodeWhat(vcn)}: index header has bad offsets`);
  return start;
}

/** What a listing holds once its name bytes went back to the pool (Buffer.alloc(0) made an ArrayBuffer each time). */
const NO_BYTES = Buffer.alloc(0);

/** Buffer.prototype.latin1Slice / ucs2Slice: what toString calls after checking its arguments. */
type Slicing = Buffer & { latin1Slice(start: number, end: number): string; ucs2Slice(start: number, end: number): string };

/**
 * A folder index's keys by column (MFT record, parent, FILE_ATTRIBUTE_* and namespace of each
 * $FILE_NAME), names gathered with a "/" after each (no NTFS name holds one) and decoded at the
 * end by one slice and one split, as src/fs/ext/dir.ts does for ext. While every name is
 * Latin-1 (UTF-16 code units below 0x100: most names), a name takes one byte per character and
 * the folder becomes one one-byte string; the first wider character turns the bytes gathered
 * so far into UTF-16LE and the rest follow as UTF-16LE. Names are copied byte by byte: a native
 * copy per name cost more than the copy.
 *
 * The blocks are not kept (a listing reads them into reused buffers): the whole key of an entry
 * the constructor asks for (folders, links, system files) is copied as it is added, and `key(i)`
 * parses it.
 */
export class IndexColumns {
  count = 0;
  /** Each key's MFT record (a plain array: it is the listing's `inos` as it is). */
  records: number[] = [];
  /**
   * FILE_ATTRIBUTE_* and name length of each key in typed arrays: off the garbage collector's
   * young heap, which copied them at each scavenge while a folder was listed (as plain arrays,
   * 2.0 of the 14.5 MB a 100 000-file NTFS listing allocated; sampling heap profiler).
   */
  attributes = new Uint32Array(0);
  /**
   * A key listed() may drop was added (see the constructor's dirRecord): another folder's key,
   * the folder's own record or a DOS 8.3 name. Only from then on are each key's parent record
   * and namespace kept (`parents`, `dosNames`, the keys before filled in as the folder's own,
   * long-named): most folders have none, and three columns fewer were a tenth of the time to
   * take a 100 000-name listing (issue 27).
   */
  private irregular = false;
  private parents: number[] = [];
  private dosNames: boolean[] = [];
  /** UTF-16 code units of each name (a byte: at most 255; for names holding "/"). */
  private nameChars = new Uint8Array(0);
  private capacity = 0;
  /** The entries whose whole key was kept (in entry order), and those keys (see keep). */
  private keptAt: number[] = [];
  private keptKeys: Uint8Array[] = [];
  /** From the shared scratch pool (a fresh buffer per folder was page faults); names() gives it back. */
  private nameBytes = scratch.take(64 * 1024);
  private used = 0;
  private wide = false;

  /**
   * Keys kept whole for `key(i)`: every one with `keepAll`, else those with a FILE_ATTRIBUTE_*
   * bit of `keepAttributes` or a record number below `keepBelow`.
   */
  constructor(
    private readonly name: string,
    private readonly keepAll = true,
    private readonly keepAttributes = 0,
    private readonly keepBelow = 0,
    /** Keys expected (columns made this long at once, instead of grown by doubling). */
    expect = 0,
    /** The folder's own record: keys that listed() would drop are noticed as they are added. */
    private readonly dirRecord = -1,
  ) {
    if (expect > 0) this.grow(Math.min(expect, 1 << 16));
  }

  private grow(to = Math.max(64, this.capacity * 2)): void {
    this.capacity = to;
    this.records.length = to;
    const attributes = new Uint32Array(to);
    attributes.set(this.attributes);
    this.attributes = attributes;
    const nameChars = new Uint8Array(to);
    nameChars.set(this.nameChars);
    this.nameChars = nameChars;
  }

  /** Keeps key i's parent and namespace (see `irregular`). */
  private irregularKey(i: number, parent: number, namespace: number): void {
    if (!this.irregular) {
      this.irregular = true;
      for (let j = 0; j < i; j++) {
        this.parents.push(this.dirRecord);
        this.dosNames.push(false);
      }
    }
    this.parents.push(parent);
    this.dosNames.push(namespace === FILE_NAME_DOS);
  }

  /** Turns the Latin-1 bytes gathered so far into UTF-16LE. */
  private widen(): void {
    const grown = scratch.take(Math.max(64 * 1024, this.used * 4));
    const from = this.nameBytes;
    for (let j = 0; j < this.used; j++) {
      grown[2 * j] = from[j]!;
      grown[2 * j + 1] = 0;
    }
    scratch.give(from);
    this.nameBytes = grown;
    this.used *= 2;
    this.wide = true;
  }

  /**
   * Takes a run of keys (an IndexKeyRun for walkIndexInOrder), copying what it keeps: `b` may
   * be reused afterwards. Bounded by `max` keys in all.
   */
  take(b: Buffer, at: number, end: number, childDone: boolean, vcn: number, base: number, max: number): number {
    let first = childDone;
    while (at + 16 <= end) {
      // Byte arithmetic, not readUInt16LE: this loop runs once per name of every listing.
      const length = b[at + 8]! | (b[at + 9]! << 8);
      const keyLength = b[at + 10]! | (b[at + 11]! << 8);
      const flags = b[at + 12]! | (b[at + 13]! << 8);
      if (length < 16 || at + length > end || (flags & INDEX_ENTRY_NODE && length < 24) || 16 + keyLength > length) {
        throw corrupt(this.name, `${nodeWhat(vcn)}: index entry at ${at - base} has bad length`);
      }
      if (flags & INDEX_ENTRY_END || (flags & INDEX_ENTRY_NODE && !first)) return at;
      first = false;
      const k = at + 16;
      // The checks of parseFileName, on the bytes in place.
      if (keyLength < FN_FILE_NAME || k + keyLength > b.length) throw corrupt(this.name, '$FILE_NAME too short');
      const chars = b[k + FN_FILE_NAME_LENGTH]!;
      if (FN_FILE_NAME + chars * 2 > keyLength) throw corrupt(this.name, '$FILE_NAME name runs past its attribute');
      if (this.count >= max) throw corrupt(this.name, 'folder index has too many entries');
      const i = this.count++;
      if (i >= this.capacity) this.grow();
      const record = refRecordAt(b, at);
      const fa = k + FN_FILE_ATTRIBUTES;
      const attributes = (b[fa]! | (b[fa + 1]! << 8) | (b[fa + 2]! << 16) | (b[fa + 3]! << 24)) >>> 0;
      this.records[i] = record;
      this.attributes[i] = attributes;
      this.nameChars[i] = chars;
      const parent = refRecordAt(b, k + FN_PARENT_DIRECTORY);
      const namespace = b[k + FN_FILE_NAME_TYPE]!;
      if (this.irregular || record === this.dirRecord || parent !== this.dirRecord || namespace === FILE_NAME_DOS) this.irregularKey(i, parent, namespace);
      if (this.keepAll || attributes & this.keepAttributes || record < this.keepBelow) this.keep(i, b, k, keyLength);
      const n0 = k + FN_FILE_NAME;
      at += length;
      if (!this.wide) {
        if (this.used + chars + 1 > this.nameBytes.length) this.room(chars + 1);
        const nb = this.nameBytes;
        let u = this.used;
        let high = 0;
        // Tried: one 16-bit load per character through a Uint16Array over the block (little-endian
        // hosts, even offsets): main thread of ls -R of 100 000 files 937-939 M instructions
        // against 936-949 M (callgrind, hash-seed search left out): noise, so not kept; through a
        // view cached per ArrayBuffer (b.buffer read per name) it was 40 M worse.
        for (let j = n0; j < n0 + chars * 2; j += 2) {
          nb[u++] = b[j]!;
          high |= b[j + 1]!;
        }
        if (high === 0) {
          nb[u] = 0x2f;
          this.used = u + 1;
          continue;
        }
        // This name is wider than Latin-1: it is written again, as UTF-16LE.
        this.widen();
      }
      this.addWide(b, n0, chars);
    }
    return at;
  }

  /**
   * A copy of key i in a plain Uint8Array, by the typed-array builtins: V8 inlines this into
   * take, and with Buffer.from(b.subarray(…)) it inlined Buffer.from's whole object path too,
   * which made take's optimizing compile 15-26 ms of compiler-thread CPU in each mount's first
   * walk (--trace-opt, NTFS bench image; the machine has 2 cores, one of them the walker's).
   * Not a byte loop either: a loop made this function of a few hundred calls hot enough for an
   * optimizing compile of its own (14.5 ms in one first walk).
   */
  private keep(i: number, b: Buffer, k: number, keyLength: number): void {
    const own = new Uint8Array(b.buffer, b.byteOffset + k, keyLength).slice();
    // Two arrays, not a Map: Map.set inlined here made take's optimizing compile larger.
    this.keptAt.push(i);
    this.keptKeys.push(own);
  }

  private addWide(b: Buffer, n0: number, chars: number): void {
    if (this.used + chars * 2 + 2 > this.nameBytes.length) this.room(chars * 2 + 2);
    const nb = this.nameBytes;
    let u = this.used;
    for (let j = 0; j < chars * 2; j++) nb[u++] = b[n0 + j]!;
    nb[u++] = 0x2f;
    nb[u++] = 0;
    this.used = u;
  }

  /** Room for `more` bytes of names. */
  private room(more: number): void {
    const grown = scratch.take(Math.max(this.used + more, this.nameBytes.length * 2));
    this.nameBytes.copy(grown, 0, 0, this.used);
    scratch.give(this.nameBytes);
    this.nameBytes = grown;
  }

  /** The entries whose whole key was kept, in entry order. */
  keptEntries(): readonly number[] {
    return this.keptAt;
  }

  /** Each entry's type as its key says (the column itself, cut to the entries). */
  fileTypes(): FileType[] {
    const types = new Array<FileType>(this.count);
    for (let i = 0; i < this.count; i++) types[i] = this.attributes[i]! & FILE_ATTRIBUTE_DIRECTORY ? 'dir' : 'file';
    return types;
  }

  /** The whole $FILE_NAME key of entry `i` (one the constructor asked to keep). */
  key(i: number): FileNameAttr {
    // keptAt is in increasing order: a binary search.
    let lo = 0;
    let hi = this.keptAt.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.keptAt[mid]! < i) lo = mid + 1;
      else hi = mid;
    }
    const own = this.keptAt[lo] === i ? this.keptKeys[lo] : undefined;
    if (!own) throw new Error(`IndexColumns: key ${i} was not kept`);
    return parseFileName(Buffer.from(own.buffer, own.byteOffset, own.length), 0, own.length, this.name);
  }

  /**
   * Every name, in entry order; call once, after the last block (the name bytes go back to the
   * scratch pool). A hostile image may store a "/" inside a name, which the one split would cut
   * in two: then each name is decoded on its own.
   */
  names(): string[] {
    const nb = this.nameBytes as Slicing;
    try {
      if (this.count === 0) return [];
      const unit = this.wide ? 2 : 1;
      const all = (this.wide ? nb.ucs2Slice(0, this.used - 2) : nb.latin1Slice(0, this.used - 1)).split('/');
      if (all.length === this.count) return all;
      const out = new Array<string>(this.count);
      let at = 0;
      for (let i = 0; i < this.count; i++) {
        const len = this.nameChars[i]! * unit;
        out[i] = this.wide ? nb.ucs2Slice(at, at + len) : nb.latin1Slice(at, at + len);
        at += len + unit;
      }
      return out;
    } finally {
      scratch.give(nb);
      this.nameBytes = NO_BYTES;
      this.used = 0;
    }
  }

  /**
   * The entries a listing shows (indexes into the columns), or null when it shows every entry
   * in order (most folders): keys of other folders (a damaged or hostile index) and the
   * folder's own record left out, and a DOS 8.3 alias only where its file has no long name in
   * the same index.
   */
  listed(dirRecord: number): number[] | null {
    // With no irregular key, every key is the constructor's folder's, none the folder's own or a DOS name.
    if (!this.irregular) return dirRecord === this.dirRecord ? null : [];
    let longNamed: Set<number> | null = null;
    for (let i = 0; i < this.count; i++) {
      if (this.dosNames[i]) {
        longNamed = new Set();
        for (let j = 0; j < this.count; j++) if (!this.dosNames[j]) longNamed.add(this.records[j]!);
        break;
      }
    }
    let out: number[] | null = null;
    for (let i = 0; i < this.count; i++) {
      const drop = this.records[i] === dirRecord || this.parents[i] !== dirRecord ||
        (longNamed !== null && this.dosNames[i] && longNamed.has(this.records[i]!));
      if (drop) out ??= Array.from({ length: i }, (_, j) => j);
      else if (out) out.push(i);
    }
    return out;
  }

  /**
   * Every name in one string, each ended by "/" (a hostile index can hold a name with "/" in
   * it: the string then holds more of them than entries), and each name's length in UTF-16
   * code units; instead of names() (see JoinedNameList), once, after the last block.
   */
  joinedNames(): { text: string; lengths: ArrayLike<number> } {
    const nb = this.nameBytes as Slicing;
    try {
      const text = this.count === 0 ? '' : this.wide ? nb.ucs2Slice(0, this.used) : nb.latin1Slice(0, this.used);
      return { text, lengths: this.nameChars };
    } finally {
      scratch.give(nb);
      this.nameBytes = NO_BYTES;
      this.used = 0;
    }
  }
}
