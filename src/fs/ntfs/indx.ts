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
import { applyFixups, FILE_NAME_DOS, parseFileName, readRefRecord, readU64, type FileNameAttr } from './mft.js';

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
  if (b.length < 4 || b[0] !== 0x49 || b[1] !== 0x4e || b[2] !== 0x44 || b[3] !== 0x58 /* "INDX" */) throw corrupt(name, `${blockWhat(expectVcn)}: bad signature`);
  applyFixups(b, name, () => blockWhat(expectVcn));
  if (expectVcn !== null && (b.length < 24 || u64At(b, 16) !== expectVcn)) throw corrupt(name, `${blockWhat(expectVcn)}: block claims VCN ${readU64(b, 16)}`);
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

function u64At(b: Buffer, at: number): number {
  return u32At(b, at) + u32At(b, at + 4) * 0x100000000;
}

/** readRefRecord by byte arithmetic (48-bit record number; the caller checked the bounds). */
function refRecordAt(b: Buffer, at: number): number {
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
 * code, waiting for its own optimization).
 */
export type IndexKeyRun = (b: Buffer, at: number, end: number, childDone: boolean, vcn: number) => number;

/**
 * Checks the INDEX_ENTRY header at `at` of a node ending at `end` (walkNode's checks); returns
 * its length.
 */
export function indexEntryLength(b: Buffer, at: number, end: number, name: string, vcn: number): number {
  const length = b[at + 8]! | (b[at + 9]! << 8);
  const keyLength = b[at + 10]! | (b[at + 11]! << 8);
  const flags = b[at + 12]! | (b[at + 13]! << 8);
  if (length < 16 || at + length > end || (flags & INDEX_ENTRY_NODE && length < 24) || 16 + keyLength > length) {
    throw corrupt(name, `${nodeWhat(vcn)}: index entry at ${at} has bad length`);
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
 * the keys, a run at a time (see IndexKeyRun). `blocks`: the in-use INDX blocks by VCN, opened (checked and
 * fixed up), in disk order. Every key comes out once whatever the damage: a child VCN naming no
 * in-use block, or a node reached again (a loop), is passed over, and blocks no walk from the
 * root reached follow in disk order.
 *
 * Listed in disk order instead, every folder had to be sorted by name afterwards (a comparison
 * sort of each folder's names, ~9-28 ms of a 100 000-file `ls -R`, issue 27); index order is
 * most often name order already (the caller checks, and sorts only then).
 */
export function walkIndexInOrder(rootValue: Buffer, blocks: ReadonlyMap<number, Buffer>, name: string, take: IndexKeyRun): void {
  const visited = new Set<number>();
  // The path from the node walked first: per node its bytes, next entry, end, VCN, and
  // whether the next entry's child was walked already. One function, no closures: it is
  // compiled once, early (a walk of closures took ~30 ms of the optimizing compiler's time).
  const fb: Buffer[] = [];
  const fat: number[] = [];
  const fend: number[] = [];
  const fvcn: number[] = [];
  const fdown: boolean[] = [];
  const starts: [number, Buffer][] = [[-1, rootValue], ...blocks];
  for (let s = 0; s < starts.length; s++) {
    const [vcn0, b0] = starts[s]!;
    if (vcn0 >= 0) {
      if (visited.has(vcn0)) continue;
      visited.add(vcn0);
    }
    let depth = 0;
    let enterB: Buffer | undefined = b0;
    let enterVcn = vcn0;
    for (;;) {
      if (enterB) {
        const hdr = enterVcn < 0 ? 16 : 24;
        fat[depth] = nodeEntries(enterB, hdr, enterVcn, name);
        fend[depth] = hdr + u32At(enterB, hdr + 4);
        fb[depth] = enterB;
        fvcn[depth] = enterVcn;
        fdown[depth] = false;
        depth++;
        enterB = undefined;
      }
      if (depth === 0) break;
      const t = depth - 1;
      const b = fb[t]!;
      const end = fend[t]!;
      const from = fat[t]!;
      const wasDown = fdown[t]!;
      const at = from + 16 > end ? from : take(b, from, end, wasDown, fvcn[t]!);
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
      const subnode = flags & INDEX_ENTRY_NODE ? u64At(b, at + length - 8) : -1;
      const child = subnode < 0 ? undefined : blocks.get(subnode);
      // On the way back (or now, with no child to walk), the entry is taken next.
      fdown[t] = true;
      if (child && !visited.has(subnode)) {
        visited.add(subnode);
        enterB = child;
        enterVcn = subnode;
      } else if (flags & INDEX_ENTRY_END) depth--;
    }
  }
}

/** Checks the INDEX_HEADER at `hdr` of a node (VCN -1: the root); returns where its entries start. */
function nodeEntries(b: Buffer, hdr: number, vcn: number, name: string): number {
  if (hdr + 16 > b.length) throw corrupt(name, `${nodeWhat(vcn)}: index header cut short`);
  const entriesOffset = u32At(b, hdr);
  const start = hdr + entriesOffset;
  const end = hdr + u32At(b, hdr + 4);
  if (entriesOffset < 16 || end > b.length || start > end) throw corrupt(name, `${nodeWhat(vcn)}: index header has bad offsets`);
  return start;
}

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
  records: number[] = [];
  parents: number[] = [];
  attributes: number[] = [];
  namespaces: number[] = [];
  /** Each key's type: a folder where FILE_ATTRIBUTE_DIRECTORY is set (NTFS 3.x marks them in every key). */
  private types: FileType[] = [];
  /** A key listed() may drop was added (see the constructor's dirRecord). */
  private irregular = false;
  /** Characters of each name (for names holding "/"). */
  private nameChars: number[] = [];
  private capacity = 0;
  private keys = new Map<number, Uint8Array>();
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
    this.records.length = this.parents.length = this.attributes.length = this.namespaces.length = this.nameChars.length = this.types.length = this.capacity;
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
  take(b: Buffer, at: number, end: number, childDone: boolean, vcn: number, max: number): number {
    let first = childDone;
    while (at + 16 <= end) {
      // Byte arithmetic, not readUInt16LE: this loop runs once per name of every listing.
      const length = b[at + 8]! | (b[at + 9]! << 8);
      const keyLength = b[at + 10]! | (b[at + 11]! << 8);
      const flags = b[at + 12]! | (b[at + 13]! << 8);
      if (length < 16 || at + length > end || (flags & INDEX_ENTRY_NODE && length < 24) || 16 + keyLength > length) {
        throw corrupt(this.name, `${nodeWhat(vcn)}: index entry at ${at} has bad length`);
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
      this.parents[i] = refRecordAt(b, k + FN_PARENT_DIRECTORY);
      this.attributes[i] = attributes;
      this.namespaces[i] = b[k + FN_FILE_NAME_TYPE]!;
      this.nameChars[i] = chars;
      this.types[i] = attributes & FILE_ATTRIBUTE_DIRECTORY ? 'dir' : 'file';
      if (record === this.dirRecord || this.parents[i] !== this.dirRecord || this.namespaces[i] === FILE_NAME_DOS) this.irregular = true;
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
   * A copy of key i, byte by byte into a plain Uint8Array: V8 inlines this into take, and with
   * Buffer.from(b.subarray(…)) it inlined Buffer.from's whole object path too, which made
   * take's optimizing compile 15-26 ms of compiler-thread CPU in each mount's first walk
   * (--trace-opt, NTFS bench image; the machine has 2 cores, one of them the walker's).
   */
  private keep(i: number, b: Buffer, k: number, keyLength: number): void {
    const own = new Uint8Array(keyLength);
    for (let j = 0; j < keyLength; j++) own[j] = b[k + j]!;
    this.keys.set(i, own);
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
  keptEntries(): number[] {
    return [...this.keys.keys()];
  }

  /** Each entry's type as its key says (the column itself, cut to the entries). */
  fileTypes(): FileType[] {
    this.types.length = this.count;
    return this.types;
  }

  /** The whole $FILE_NAME key of entry `i` (one the constructor asked to keep). */
  key(i: number): FileNameAttr {
    const own = this.keys.get(i);
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
      this.nameBytes = Buffer.alloc(0);
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
    if (!this.irregular && dirRecord === this.dirRecord) return null;
    let longNamed: Set<number> | null = null;
    for (let i = 0; i < this.count; i++) {
      if (this.namespaces[i] === FILE_NAME_DOS) {
        longNamed = new Set();
        for (let j = 0; j < this.count; j++) if (this.namespaces[j] !== FILE_NAME_DOS) longNamed.add(this.records[j]!);
        break;
      }
    }
    let out: number[] | null = null;
    for (let i = 0; i < this.count; i++) {
      const drop = this.records[i] === dirRecord || this.parents[i] !== dirRecord ||
        (longNamed !== null && this.namespaces[i] === FILE_NAME_DOS && longNamed.has(this.records[i]!));
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
  joinedNames(): { text: string; lengths: number[] } {
    const nb = this.nameBytes as Slicing;
    try {
      const text = this.count === 0 ? '' : this.wide ? nb.ucs2Slice(0, this.used) : nb.latin1Slice(0, this.used);
      return { text, lengths: this.nameChars };
    } finally {
      scratch.give(nb);
      this.nameBytes = Buffer.alloc(0);
      this.used = 0;
    }
  }
}
