/**
 * A VSS store's block map: which 16 KiB blocks of the volume the shadow copy holds older data
 * for (block descriptors, 32 bytes each, in a chain of "block descriptor list" blocks), and its
 * bitmaps of blocks not in use. Successive descriptors for one block are combined as
 * libvshadow's notes describe ("Successive block descriptors"): forwarders chain a block to the
 * next store, overlays replace 512-byte sectors of a block, unused descriptors are ignored.
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { RecordType, VSS_BLOCK_SIZE, blockChain, type VssStoreEntry } from './catalog.js';

/** Store block descriptor flags. */
export const DescriptorFlag = { forwarder: 0x1, overlay: 0x2, notUsed: 0x4 } as const;

/** One store block descriptor (32 bytes). */
export interface BlockDescriptor {
  originalDataBlockOffset: number;
  relativeStoreDataBlockOffset: number;
  storeDataBlockOffset: number;
  flags: number;
  /** With the overlay flag: one bit per 512-byte sector of the block that the overlay holds. */
  allocationBitmap: number;
}

/**
 * What a store says about one block of the volume: its old contents (`descriptor`, null where the
 * store has only an overlay for it) and one overlay whose bitmap is the union of every overlay
 * descriptor of the block.
 */
export interface StoreBlock {
  descriptor: BlockDescriptor | null;
  overlay: BlockDescriptor | null;
}

export interface StoreMap {
  /** By original (volume) block offset. */
  blocks: Map<number, StoreBlock>;
  /** Forwarders by relative offset (libvshadow's "reverse block list"). */
  reverse: Map<number, BlockDescriptor>;
  /** Blocks not in use by this store (bit set: not in use); null where the store has none. */
  bitmap: Uint8Array | null;
  previousBitmap: Uint8Array | null;
}

function descriptorAt(b: Buffer, at: number): BlockDescriptor {
  return {
    originalDataBlockOffset: Number(b.readBigUInt64LE(at)),
    relativeStoreDataBlockOffset: Number(b.readBigUInt64LE(at + 8)),
    storeDataBlockOffset: Number(b.readBigUInt64LE(at + 16)),
    flags: b.readUInt32LE(at + 24),
    allocationBitmap: b.readUInt32LE(at + 28),
  };
}

export async function readStoreMap(volume: ByteSource, entry: VssStoreEntry): Promise<StoreMap> {
  const blocks = new Map<number, StoreBlock>();
  const reverse = new Map<number, BlockDescriptor>();
  const inVolume = (o: number) => Number.isSafeInteger(o) && o >= 0 && o % 512 === 0 && o + VSS_BLOCK_SIZE <= volume.size;
  for await (const { block } of blockChain(volume, entry.storeBlockListOffset, RecordType.blockDescriptorList, 'block list')) {
    for (let at = 128; at + 32 <= VSS_BLOCK_SIZE; at += 32) {
      const d = descriptorAt(block, at);
      if (d.originalDataBlockOffset === 0 && d.relativeStoreDataBlockOffset === 0 && d.storeDataBlockOffset === 0 && d.flags === 0) continue;
      if (d.flags & DescriptorFlag.notUsed) continue;
      if (!inVolume(d.originalDataBlockOffset) || (!(d.flags & DescriptorFlag.forwarder) && !inVolume(d.storeDataBlockOffset))) {
        throw corrupt(volume.name, `VSS store ${entry.storeIdentifier}: a block descriptor points outside the volume (original ${d.originalDataBlockOffset}, store ${d.storeDataBlockOffset})`);
      }
      if (!(d.flags & DescriptorFlag.overlay)) {
        const fwd = reverse.get(d.originalDataBlockOffset);
        if (fwd) {
          reverse.delete(fwd.relativeStoreDataBlockOffset);
          d.originalDataBlockOffset = fwd.originalDataBlockOffset;
          if (d.flags & DescriptorFlag.forwarder && d.originalDataBlockOffset === d.relativeStoreDataBlockOffset) continue;
        }
      }
      const existing = blocks.get(d.originalDataBlockOffset) ?? { descriptor: null, overlay: null };
      if (d.flags & DescriptorFlag.overlay) {
        // Overlays of one block add up: the newest descriptor, with every earlier one's sectors.
        if (existing.overlay) d.allocationBitmap = (d.allocationBitmap | existing.overlay.allocationBitmap) >>> 0;
        existing.overlay = d;
      } else existing.descriptor = d; // the overlay stays and applies over the new descriptor
      blocks.set(d.originalDataBlockOffset, existing);
      if (d.flags & DescriptorFlag.forwarder) reverse.set(d.relativeStoreDataBlockOffset, d);
      if (blocks.size > volume.size / VSS_BLOCK_SIZE + 1) throw corrupt(volume.name, `VSS store ${entry.storeIdentifier} describes more blocks than the volume holds`);
    }
  }
  return {
    blocks,
    reverse,
    bitmap: entry.storeBitmapOffset ? await readBitmap(volume, entry.storeBitmapOffset) : null,
    previousBitmap: entry.storePreviousBitmapOffset ? await readBitmap(volume, entry.storePreviousBitmapOffset) : null,
  };
}

/** A store bitmap: the chain's data parts joined, one bit per 16 KiB block, LSB first. */
async function readBitmap(volume: ByteSource, first: number): Promise<Uint8Array> {
  const parts: Buffer[] = [];
  for await (const { block } of blockChain(volume, first, RecordType.storeBitmap, 'bitmap')) parts.push(block.subarray(128));
  return Buffer.concat(parts);
}

export function bitSet(bitmap: Uint8Array, index: number): boolean {
  const byte = index >>> 3;
  return byte < bitmap.length && (bitmap[byte]! & (1 << (index & 7))) !== 0;
}
