/**
 * Volume Shadow Copy (VSS) metadata on an NTFS volume, as libvshadow's format notes describe it
 * (docs/formats/vss.md): the VSS volume header inside $Boot at byte 0x1e00, the catalog (a chain
 * of 16 KiB blocks of 128-byte entries; type 0x02 describes a shadow copy, type 0x03 locates its
 * store), and in each store the header with the shadow copy's identity. Field names follow the
 * notes. Every offset comes from the image: chains are bounded by the volume's size in blocks and
 * checked for loops, so a hostile catalog is a one-line error, never a hang.
 */
import { corrupt } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { formatGuid } from '../guid.js';
import { timespecFromFiletime, type Timespec } from '../../source/bytes.js';

/** 3808876b-c176-4e48-b7ae-04046e6cc752, the VSS identifier, as stored (little-endian fields). */
export const VSS_IDENTIFIER = Buffer.from('6b87083876c1484eb7ae04046e6cc752', 'hex');
export const VSS_HEADER_OFFSET = 0x1e00;
export const VSS_BLOCK_SIZE = 0x4000;

/** Record types of the 128-byte headers that start every VSS block. */
export const RecordType = { volumeHeader: 1, catalogBlockHeader: 2, blockDescriptorList: 3, storeHeader: 4, storeBlockRangeList: 5, storeBitmap: 6 } as const;

/** The 128-byte header of every VSS block (catalog, block list, range list, bitmap). */
export interface VssBlockHeader {
  recordType: number;
  relativeOffset: number;
  currentOffset: number;
  nextOffset: number;
}

export function parseBlockHeader(b: Buffer, at = 0): VssBlockHeader | null {
  if (!b.subarray(at, at + 16).equals(VSS_IDENTIFIER)) return null;
  return {
    recordType: b.readUInt32LE(at + 20),
    relativeOffset: Number(b.readBigUInt64LE(at + 24)),
    currentOffset: Number(b.readBigUInt64LE(at + 32)),
    nextOffset: Number(b.readBigUInt64LE(at + 40)),
  };
}

/** One shadow copy as the catalog lists it (entries of type 0x02 and 0x03 joined by store identifier). */
export interface VssStoreEntry {
  storeIdentifier: string;
  volumeSize: number;
  /** Ordering of the shadow copies (the notes: "sequence number"). */
  sequenceNumber: number;
  creationTime: Timespec;
  storeBlockListOffset: number;
  storeHeaderOffset: number;
  storeBlockRangeListOffset: number;
  storeBitmapOffset: number;
  storePreviousBitmapOffset: number;
}

/** What the store header's information adds: the identities Windows shows. */
export interface VssStoreInformation {
  shadowCopyIdentifier: string;
  shadowCopySetIdentifier: string;
  attributeFlags: number;
  operatingMachine: string;
  serviceMachine: string;
}

/** True when the volume carries a VSS volume header (whether or not it has shadow copies). */
export async function hasVssHeader(volume: ByteSource): Promise<boolean> {
  if (volume.size < VSS_HEADER_OFFSET + 128) return false;
  const h = await volume.read(VSS_HEADER_OFFSET, 128);
  return h.length === 128 && h.subarray(0, 16).equals(VSS_IDENTIFIER) && h.readUInt32LE(20) === RecordType.volumeHeader;
}

/**
 * The chain of 16 KiB blocks starting at `first`, each with its header checked: its type and
 * its own offset must match, and the chain may not revisit a block or outgrow the volume.
 */
export async function* blockChain(volume: ByteSource, first: number, recordType: number, what: string): AsyncGenerator<{ offset: number; block: Buffer }> {
  const seen = new Set<number>();
  const max = Math.ceil(volume.size / VSS_BLOCK_SIZE);
  for (let off = first; off !== 0; ) {
    if (off % 512 !== 0 || off < 0 || off + VSS_BLOCK_SIZE > volume.size) throw corrupt(volume.name, `VSS ${what} block at offset ${off} lies outside the volume`);
    if (seen.has(off) || seen.size >= max) throw corrupt(volume.name, `VSS ${what} blocks loop back to offset ${off}`);
    seen.add(off);
    const block = await readExact(volume, off, VSS_BLOCK_SIZE, `VSS ${what} block`);
    const h = parseBlockHeader(block);
    if (!h || h.recordType !== recordType) throw corrupt(volume.name, `VSS ${what} block at offset ${off} has no valid block header`);
    yield { offset: off, block };
    off = h.nextOffset;
  }
}

/** The shadow copies the catalog lists, oldest first. Empty where VSS holds none. */
export async function readCatalog(volume: ByteSource): Promise<VssStoreEntry[]> {
  if (!(await hasVssHeader(volume))) return [];
  const h = await readExact(volume, VSS_HEADER_OFFSET, 512, 'VSS volume header');
  const catalogOffset = Number(h.readBigUInt64LE(48));
  if (catalogOffset === 0) return [];
  const copies = new Map<string, Partial<VssStoreEntry>>();
  for await (const { block } of blockChain(volume, catalogOffset, RecordType.catalogBlockHeader, 'catalog')) {
    for (let at = 128; at + 128 <= VSS_BLOCK_SIZE; at += 128) {
      const type = Number(block.readBigUInt64LE(at));
      if (type !== 2 && type !== 3) continue;
      const id = formatGuid(block, at + 16);
      const e = copies.get(id) ?? { storeIdentifier: id };
      if (type === 2) {
        e.volumeSize = Number(block.readBigUInt64LE(at + 8));
        e.sequenceNumber = Number(block.readBigUInt64LE(at + 32));
        e.creationTime = timespecFromFiletime(block.readBigUInt64LE(at + 48));
      } else {
        e.storeBlockListOffset = Number(block.readBigUInt64LE(at + 8));
        e.storeHeaderOffset = Number(block.readBigUInt64LE(at + 32));
        e.storeBlockRangeListOffset = Number(block.readBigUInt64LE(at + 40));
        e.storeBitmapOffset = Number(block.readBigUInt64LE(at + 48));
        e.storePreviousBitmapOffset = Number(block.readBigUInt64LE(at + 72));
      }
      copies.set(id, e);
      if (copies.size > 512) throw corrupt(volume.name, 'VSS catalog lists more than 512 shadow copies');
    }
  }
  const out: VssStoreEntry[] = [];
  for (const e of copies.values()) {
    // A copy needs both entries: type 0x02 without 0x03 has no store (pre-Vista, or deleted).
    if (e.volumeSize === undefined || e.storeBlockListOffset === undefined) continue;
    if (!Number.isSafeInteger(e.volumeSize) || e.volumeSize <= 0) throw corrupt(volume.name, `VSS catalog entry ${e.storeIdentifier} has an invalid volume size`);
    out.push(e as VssStoreEntry);
  }
  return out.sort((a, b) => a.sequenceNumber - b.sequenceNumber || a.creationTime.sec - b.creationTime.sec);
}

/** The store header's information: shadow copy and set identifiers, attributes, machine names. */
export async function readStoreInformation(volume: ByteSource, entry: VssStoreEntry): Promise<VssStoreInformation> {
  const at = entry.storeHeaderOffset;
  if (at <= 0 || at + VSS_BLOCK_SIZE > volume.size) throw corrupt(volume.name, `VSS store header of ${entry.storeIdentifier} lies outside the volume`);
  const b = await readExact(volume, at, VSS_BLOCK_SIZE, 'VSS store header');
  const h = parseBlockHeader(b);
  if (!h || h.recordType !== RecordType.storeHeader) throw corrupt(volume.name, `VSS store header of ${entry.storeIdentifier} is not a store header`);
  const info = 128;
  const str = (pos: number): [string, number] => {
    const len = b.readUInt16LE(pos);
    if (pos + 2 + len > b.length) throw corrupt(volume.name, `VSS store information of ${entry.storeIdentifier} is cut short`);
    return [b.toString('utf16le', pos + 2, pos + 2 + len), pos + 2 + len];
  };
  const [operatingMachine, next] = str(info + 64);
  const [serviceMachine] = str(next);
  return {
    shadowCopyIdentifier: formatGuid(b, info + 16),
    shadowCopySetIdentifier: formatGuid(b, info + 32),
    attributeFlags: b.readUInt32LE(info + 56),
    operatingMachine,
    serviceMachine,
  };
}
