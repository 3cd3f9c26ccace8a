/**
 * Folder indexes ($I30): the $INDEX_ROOT node in the MFT record and the INDX blocks of
 * $INDEX_ALLOCATION, a B+ tree of $FILE_NAME keys. See docs/formats/ntfs.md "Indexes".
 */
import { corrupt } from '../../errors.js';
import { applyFixups, parseFileName, readRefRecord, readU64, type FileNameAttr } from './mft.js';

/** INDEX_ENTRY flags. */
const INDEX_ENTRY_NODE = 0x01;
const INDEX_ENTRY_END = 0x02;

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

/** Parses the entries of an INDEX_HEADER that starts at `hdr` in `b`, bounded by `limit`. */
function parseNode(b: Buffer, hdr: number, limit: number, name: string, what: string): { entries: IndexEntry[]; large: boolean } {
  if (hdr + 16 > limit) throw corrupt(name, `${what}: index header cut short`);
  const entriesOffset = b.readUInt32LE(hdr);
  const indexLength = b.readUInt32LE(hdr + 4);
  const large = (b[hdr + 12]! & 1) !== 0;
  const start = hdr + entriesOffset;
  const end = hdr + indexLength;
  if (entriesOffset < 16 || end > limit || start > end) throw corrupt(name, `${what}: index header has bad offsets`);
  const entries: IndexEntry[] = [];
  let at = start;
  while (at + 16 <= end) {
    const length = b.readUInt16LE(at + 8);
    const keyLength = b.readUInt16LE(at + 10);
    const flags = b.readUInt16LE(at + 12);
    if (length < 16 || at + length > end || (flags & INDEX_ENTRY_NODE && length < 24) || 16 + keyLength > length) {
      throw corrupt(name, `${what}: index entry at ${at} has bad length`);
    }
    const subnode = flags & INDEX_ENTRY_NODE ? readU64(b, at + length - 8) : null;
    if (flags & INDEX_ENTRY_END) {
      entries.push({ record: 0, fileName: null, subnode });
      break;
    }
    entries.push({ record: readRefRecord(b, at), fileName: parseFileName(b, at + 16, keyLength, name), subnode });
    at += length;
  }
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

/** Parses one INDX block (fixups applied here, on the caller's copy). */
export function parseIndexBlock(b: Buffer, expectVcn: number | null, name: string): IndexEntry[] {
  const what = `index block${expectVcn === null ? '' : ` at VCN ${expectVcn}`}`;
  if (b.toString('latin1', 0, 4) !== 'INDX') throw corrupt(name, `${what}: bad signature`);
  applyFixups(b, name, what);
  if (expectVcn !== null && readU64(b, 16) !== expectVcn) throw corrupt(name, `${what}: block claims VCN ${readU64(b, 16)}`);
  return parseNode(b, 24, b.length, name, what).entries;
}
