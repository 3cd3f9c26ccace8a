/**
 * Cells of a registry hive: a 32-bit size (negative while the cell is in use) and its data,
 * inside the hive bins that follow the base block. Every other on-disk object (key nodes,
 * value keys, lists) is a cell's data, reached by a cell offset counted from the first hive bin.
 *
 * Hostile input: an offset or size outside the hive bins data, a free cell where a used one
 * is expected, or a cell larger than MAX_CELL is a one-line corrupt error. Each cell is one
 * read of the hive file; nothing is cached beyond the few cells a lookup touches.
 */
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { BASE_BLOCK_SIZE, parseBaseBlock, type BaseBlock } from './base-block.js';

/**
 * Largest cell read. Windows cells hold at most 16 344 bytes of value data (bigger values are
 * split through a "db" list); key nodes, lists of a few thousand subkeys and value lists stay
 * well below 1 MiB.
 */
export const MAX_CELL = 1 << 20;

/** "No cell" in offset fields. */
export const NO_CELL = 0xffffffff;

export class Hive {
  private constructor(
    readonly src: ByteSource,
    readonly base: BaseBlock,
    /** End of the hive bins data, as an offset from its start (bounded by the file's size). */
    readonly dataEnd: number,
  ) {}

  static async open(src: ByteSource): Promise<Hive> {
    const head = await src.read(0, BASE_BLOCK_SIZE);
    const base = parseBaseBlock(head, src.name);
    const inFile = Math.max(0, src.size - BASE_BLOCK_SIZE);
    return new Hive(src, base, Math.min(base.hive_bins_data_size || inFile, inFile));
  }

  /** Whether the hive was left mid-write (its sequence numbers differ: log not applied). */
  get dirty(): boolean {
    return this.base.primary_sequence_number !== this.base.secondary_sequence_number;
  }

  /** The data of the used cell at `offset` (without its size field). */
  async cell(offset: number, what: string): Promise<Buffer> {
    if (offset === NO_CELL || offset % 8 !== 0 || offset + 4 > this.dataEnd) {
      throw corrupt(this.src.name, `registry ${what} at cell offset 0x${offset.toString(16)} is outside the hive`);
    }
    const sizeField = (await this.src.read(BASE_BLOCK_SIZE + offset, 4)).readInt32LE(0);
    if (sizeField >= 0) throw corrupt(this.src.name, `registry ${what} at cell offset 0x${offset.toString(16)} is a free cell`);
    const size = -sizeField;
    if (size < 8 || size > MAX_CELL || offset + size > this.dataEnd) {
      throw corrupt(this.src.name, `registry ${what} at cell offset 0x${offset.toString(16)} has a bad size (${size} bytes)`);
    }
    const b = await this.src.read(BASE_BLOCK_SIZE + offset + 4, size - 4);
    if (b.length !== size - 4) throw corrupt(this.src.name, `registry ${what} at cell offset 0x${offset.toString(16)} is cut short`);
    return b;
  }

  /** Fails unless `b` holds `need` bytes from `at` (a field past its cell's end). */
  need(b: Buffer, at: number, need: number, what: string): void {
    if (at + need > b.length) throw corrupt(this.src.name, `registry ${what} is larger than its cell`);
  }
}
