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
import { applyFixups, FILE_NAME_DOS, parseFileName, readRefRecord, readU64, type FileNameAttr } from './mft.js';

/** INDEX_ENTRY flags. */
const INDEX_ENTRY_NODE = 0x01;
const INDEX_ENTRY_END = 0x02;

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

/** Checks an INDX block's signature and VCN and applies its fixups (on the caller's copy). */
function openIndexBlock(b: Buffer, expectVcn: number | null, name: string): string {
  const what = `index block${expectVcn === null ? '' : ` at VCN ${expectVcn}`}`;
  if (b.toString('latin1', 0, 4) !== 'INDX') throw corrupt(name, `${what}: bad signature`);
  applyFixups(b, name, what);
  if (expectVcn !== null && readU64(b, 16) !== expectVcn) throw corrupt(name, `${what}: block claims VCN ${readU64(b, 16)}`);
  return what;
}

/** Parses one INDX block (fixups applied here, on the caller's copy). */
export function parseIndexBlock(b: Buffer, expectVcn: number | null, name: string): IndexEntry[] {
  const what = openIndexBlock(b, expectVcn, name);
  return parseNode(b, 24, b.length, name, what).entries;
}

/** readRefRecord by byte arithmetic (48-bit record number; the caller checked the bounds). */
function refRecordAt(b: Buffer, at: number): number {
  return ((b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0) + (b[at + 4]! | (b[at + 5]! << 8)) * 0x100000000;
}

/** Grows a column to hold index `i`. */
function room(a: number[], i: number): void {
  if (i >= a.length) a.length = Math.max(16, a.length * 2);
}

/**
 * A folder index's keys by column (MFT record, parent, FILE_ATTRIBUTE_* and namespace of each
 * $FILE_NAME), names gathered as UTF-16LE bytes with a "/" after each (no NTFS name holds one)
 * and decoded at the end by one ucs2Slice and one split, as src/fs/ext/dir.ts does for ext.
 * Where a key is needed whole (folders, links, system files), `key(i)` parses it from the
 * block it came from, which the columns keep referenced.
 */
export class IndexColumns {
  count = 0;
  records: number[] = [];
  parents: number[] = [];
  attributes: number[] = [];
  namespaces: number[] = [];
  private blocks: Buffer[] = [];
  private blockOf: number[] = [];
  private keyAt: number[] = [];
  private keyLength: number[] = [];
  private nameBytes = Buffer.allocUnsafe(64 * 1024);
  private used = 0;

  constructor(private readonly name: string) {}

  /** Adds the keys of the $INDEX_ROOT value `v` (checked by parseIndexRoot first). */
  addRoot(v: Buffer): void {
    this.addNode(v, 16, '$INDEX_ROOT');
  }

  /** Adds the keys of an INDX block (fixups applied here, on the caller's copy). */
  addBlock(b: Buffer, expectVcn: number | null): void {
    this.addNode(b, 24, openIndexBlock(b, expectVcn, this.name));
  }

  private addNode(b: Buffer, hdr: number, what: string): void {
    const blk = this.blocks.length;
    this.blocks.push(b);
    walkNode(b, hdr, b.length, this.name, what, (at, keyLength) => {
      if (keyLength < 0) return;
      const k = at + 16;
      // The checks of parseFileName, on the bytes in place.
      if (keyLength < FN_FILE_NAME || k + keyLength > b.length) throw corrupt(this.name, '$FILE_NAME too short');
      const chars = b[k + FN_FILE_NAME_LENGTH]!;
      if (FN_FILE_NAME + chars * 2 > keyLength) throw corrupt(this.name, '$FILE_NAME name runs past its attribute');
      const i = this.count++;
      room(this.records, i);
      room(this.parents, i);
      room(this.attributes, i);
      room(this.namespaces, i);
      room(this.blockOf, i);
      room(this.keyAt, i);
      room(this.keyLength, i);
      this.records[i] = refRecordAt(b, at);
      this.parents[i] = refRecordAt(b, k + FN_PARENT_DIRECTORY);
      const fa = k + FN_FILE_ATTRIBUTES;
      this.attributes[i] = (b[fa]! | (b[fa + 1]! << 8) | (b[fa + 2]! << 16) | (b[fa + 3]! << 24)) >>> 0;
      this.namespaces[i] = b[k + FN_FILE_NAME_TYPE]!;
      this.blockOf[i] = blk;
      this.keyAt[i] = k;
      this.keyLength[i] = keyLength;
      const need = this.used + chars * 2 + 2;
      if (need > this.nameBytes.length) {
        const grown = Buffer.allocUnsafe(Math.max(need, this.nameBytes.length * 2));
        this.nameBytes.copy(grown, 0, 0, this.used);
        this.nameBytes = grown;
      }
      this.used += b.copy(this.nameBytes, this.used, k + FN_FILE_NAME, k + FN_FILE_NAME + chars * 2);
      this.nameBytes[this.used++] = 0x2f;
      this.nameBytes[this.used++] = 0;
    });
  }

  /** The whole $FILE_NAME key of entry `i`. */
  key(i: number): FileNameAttr {
    // A copy: a node keeps its key, and must not pin the (up to 1 MiB) chunk it was read in.
    const k = this.keyAt[i]!;
    const own = Buffer.from(this.blocks[this.blockOf[i]!]!.subarray(k, k + this.keyLength[i]!));
    return parseFileName(own, 0, own.length, this.name);
  }

  /**
   * Every name, in entry order. A hostile image may store a "/" inside a name, which the one
   * split would cut in two: then each name is decoded on its own.
   */
  names(): string[] {
    if (this.count === 0) return [];
    const all = this.nameBytes.toString('utf16le', 0, this.used - 2).split('/');
    if (all.length === this.count) return all;
    const out = new Array<string>(this.count);
    let at = 0;
    for (let i = 0; i < this.count; i++) {
      const k = this.keyAt[i]!;
      const b = this.blocks[this.blockOf[i]!]!;
      const len = b[k + FN_FILE_NAME_LENGTH]! * 2;
      out[i] = this.nameBytes.toString('utf16le', at, at + len);
      at += len + 2;
    }
    return out;
  }

  /**
   * The entries a listing shows (indexes into the columns): keys of other folders (a damaged or
   * hostile index) and the folder's own record left out, and a DOS 8.3 alias only where its
   * file has no long name in the same index.
   */
  listed(dirRecord: number): number[] {
    let longNamed: Set<number> | null = null;
    for (let i = 0; i < this.count; i++) {
      if (this.namespaces[i] === FILE_NAME_DOS) {
        longNamed = new Set();
        for (let j = 0; j < this.count; j++) if (this.namespaces[j] !== FILE_NAME_DOS) longNamed.add(this.records[j]!);
        break;
      }
    }
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) {
      if (this.records[i] === dirRecord || this.parents[i] !== dirRecord) continue;
      if (longNamed && this.namespaces[i] === FILE_NAME_DOS && longNamed.has(this.records[i]!)) continue;
      out.push(i);
    }
    return out;
  }
}
