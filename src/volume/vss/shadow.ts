/**
 * The volume as it was when a shadow copy was taken. Windows keeps, in each store, the old
 * contents of the blocks that changed after that store's snapshot; so the volume as of store i
 * is the current volume with store i's blocks over it, where store i says nothing the blocks of
 * the stores after it (store i+1, …, newest), and where none says anything the current volume.
 * Per 16 KiB block, following libvshadow's notes ("Reading snapshot data"): a forwarder sends
 * the read on to the next store at another block, an overlay (only in the store being read)
 * replaces 512-byte sectors, and in the newest store a block its bitmaps mark unused reads as
 * zeros.
 */
import { corrupt } from '../../errors.js';
import { readInto, readIntoNew, readIntoSpan, type ByteSource } from '../../source/source.js';
import { VSS_BLOCK_SIZE, type VssStoreEntry } from './catalog.js';
import { DescriptorFlag, bitSet, readStoreMap, type StoreMap } from './store.js';

const SECTOR = 512;

/** Where a piece of the shadow volume comes from: the volume at `offset`, or zeros (offset -1). */
interface Piece {
  offset: number;
  length: number;
}

export class ShadowCopySource implements ByteSource {
  readonly size: number;

  constructor(
    private readonly volume: ByteSource,
    /** Every store of the volume, oldest first. */
    private readonly stores: StoreMap[],
    /** The store this source shows the volume as of. */
    private readonly index: number,
    volumeSize: number,
    readonly name: string,
  ) {
    this.size = Math.min(volumeSize, volume.size);
  }

  static async open(volume: ByteSource, entries: VssStoreEntry[], index: number, name: string): Promise<ShadowCopySource> {
    if (index < 0 || index >= entries.length) throw corrupt(volume.name, `no shadow copy ${index + 1} (the volume has ${entries.length})`);
    // Only the stores from `index` on are needed; the older ones are never consulted.
    const stores: StoreMap[] = new Array(entries.length);
    for (let i = index; i < entries.length; i++) stores[i] = await readStoreMap(volume, entries[i]!);
    return new ShadowCopySource(volume, stores, index, entries[index]!.volumeSize, name);
  }

  /**
   * The pieces of bytes [from, to) of block `block` (its volume offset) as of store `storeIdx`.
   * `active`: this is the store being read (only its overlays apply); reads that go on to later
   * stores (no descriptor here, or a forwarder) are not active.
   */
  private blockPieces(storeIdx: number, active: boolean, block: number, from: number, to: number, out: Piece[]): void {
    const e = this.stores[storeIdx]!.blocks.get(block);
    if (active && e?.overlay) {
      // Sector by sector: the overlay's where its bitmap says so, the rest as without it.
      const bitmap = e.overlay.allocationBitmap;
      for (let s = from; s < to; ) {
        const sector = Math.floor(s / SECTOR);
        const inOverlay = (bitmap >>> sector) & 1;
        let end = (sector + 1) * SECTOR;
        while (end < to && ((bitmap >>> (end / SECTOR)) & 1) === inOverlay) end += SECTOR;
        end = Math.min(end, to);
        if (inOverlay) push(out, e.overlay.storeDataBlockOffset + s, end - s);
        else this.descriptorPieces(storeIdx, active, block, e.descriptor, s, end, out);
        s = end;
      }
      return;
    }
    this.descriptorPieces(storeIdx, active, block, e?.descriptor ?? null, from, to, out);
  }

  private descriptorPieces(storeIdx: number, active: boolean, block: number, d: { flags: number; storeDataBlockOffset: number; relativeStoreDataBlockOffset: number } | null, from: number, to: number, out: Piece[]): void {
    const next = storeIdx + 1 < this.stores.length;
    if (d) {
      // A forwarder: the block's old contents are those of another block in the next store.
      if (d.flags & DescriptorFlag.forwarder) {
        if (next) this.blockPieces(storeIdx + 1, false, d.relativeStoreDataBlockOffset, from, to, out);
        else push(out, d.relativeStoreDataBlockOffset + from, to - from);
      } else push(out, d.storeDataBlockOffset + from, to - from);
      return;
    }
    if (next) return this.blockPieces(storeIdx + 1, false, block, from, to, out);
    // The newest store, and nothing in it: the current volume, except blocks its bitmaps mark
    // unused, which read as zeros when this store is the one being read (Windows leaves them
    // undefined; libvshadow zero-fills).
    const st = this.stores[storeIdx]!;
    const blockIndex = Math.floor(block / VSS_BLOCK_SIZE);
    if (active && !st.reverse.has(block) && st.bitmap && bitSet(st.bitmap, blockIndex) && (!st.previousBitmap || bitSet(st.previousBitmap, blockIndex))) {
      push(out, -1, to - from);
      return;
    }
    push(out, block + from, to - from);
  }

  private pieces(offset: number, length: number): Piece[] {
    const out: Piece[] = [];
    const end = offset + length;
    for (let pos = offset; pos < end; ) {
      const block = Math.floor(pos / VSS_BLOCK_SIZE) * VSS_BLOCK_SIZE;
      const to = Math.min(end, block + VSS_BLOCK_SIZE);
      this.blockPieces(this.index, true, block, pos - block, to - block, out);
      pos = to;
    }
    return out;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    let pos = at;
    for (const p of this.pieces(offset, n)) {
      if (p.offset < 0) target.fill(0, pos, pos + p.length);
      else {
        const got = await readInto(this.volume, target, pos, p.offset, p.length);
        if (got < p.length) throw corrupt(this.name, `truncated: shadow copy data at volume offset ${p.offset + got} lies past the end of ${this.volume.name}`);
      }
      pos += p.length;
    }
    return n;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return readIntoNew(this, offset, length);
  }

  async close(): Promise<void> {}
}

/** Appends a piece, joined with the previous one where they continue each other. */
function push(out: Piece[], offset: number, length: number): void {
  if (length <= 0) return;
  const last = out[out.length - 1];
  if (last && ((offset < 0 && last.offset < 0) || (offset >= 0 && last.offset >= 0 && last.offset + last.length === offset))) last.length += length;
  else out.push({ offset, length });
}
