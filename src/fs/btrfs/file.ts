/**
 * A file's content from its EXTENT_DATA items (key: inode, EXTENT_DATA, file offset): inline
 * bytes in the leaf, regular extents (disk_bytenr + offset, num_bytes long; disk_bytenr 0 is
 * an explicit hole), prealloc extents (read as zeros) and compressed extents (the whole
 * disk_num_bytes blob decodes to ram_bytes, of which offset … offset + num_bytes is this
 * file's). Bytes no item covers are holes (NO_HOLES volumes store no hole items). Reflinked
 * files simply share disk extents. Files without inline or compressed extents are read by the
 * shared ExtentSource; the rest by BtrfsFileSource, which decodes whole extents.
 */
import { Lru } from '../../source/lru.js';
import { corrupt, unsupported } from '../../errors.js';
import { ExtentSource, HOLE, checkExtents, type Extent } from '../../source/extents.js';
import { readInto, readSpan, readIntoSpan, type ByteSource } from '../../source/source.js';
import { MAX_UNCOMPRESSED, decompressExtent, decompressExtentIntoAsync } from './compression.js';
import type { DataVolume } from './data.js';
import { COMPRESS, FILE_EXTENT, parseFileExtent, type FileExtentItem } from './items.js';

/** One piece of a file, in file order. */
export interface Piece {
  logical: number;
  length: number;
  kind: 'hole' | 'plain' | 'inline' | 'compressed';
  /** plain: logical address of the piece's first byte. */
  physical: number;
  /** inline: the (decoded) bytes, from the piece's start. */
  data: Buffer | null;
  /** compressed: the extent, and where the piece starts in its decoded bytes. */
  extent: FileExtentItem | null;
  skip: number;
}

/** Largest inline extent accepted (the kernel keeps them below one sector). */
const MAX_INLINE = 64 * 1024;

/** The pieces of a file of `size` bytes from its EXTENT_DATA items (file offset, item data), in key order. */
export function filePieces(items: Iterable<[number, Buffer]>, size: number, sectorsize: number, file: string): Piece[] {
  const out: Piece[] = [];
  let end = 0;
  for (const [logical, d] of items) {
    const fe = parseFileExtent(d, file);
    const at = `extent at file offset ${logical}`;
    if (fe.encryption !== 0 || fe.other_encoding !== 0) throw unsupported(file, `${at} is encrypted or encoded (${fe.encryption}/${fe.other_encoding})`);
    if (logical < end) throw corrupt(file, `Btrfs ${at} overlaps the one before`);
    if (logical >= size) continue;
    const piece: Piece = { logical, length: 0, kind: 'hole', physical: 0, data: null, extent: null, skip: 0 };
    if (fe.type === FILE_EXTENT.INLINE) {
      let data = fe.inline!;
      if (fe.compression !== COMPRESS.NONE) {
        if (fe.ram_bytes > MAX_INLINE) throw corrupt(file, `Btrfs inline ${at} claims ${fe.ram_bytes} bytes`);
        data = decompressExtent(fe.compression, data, fe.ram_bytes, sectorsize, file, `inline ${at}`);
      } else data = Buffer.from(data);
      piece.kind = 'inline';
      piece.data = data;
      piece.length = Math.min(data.length, size - logical);
    } else {
      piece.length = Math.min(fe.num_bytes, size - logical);
      if (fe.type === FILE_EXTENT.PREALLOC || fe.disk_bytenr === 0) piece.kind = 'hole';
      else if (fe.compression === COMPRESS.NONE) {
        piece.kind = 'plain';
        piece.physical = fe.disk_bytenr + fe.offset;
      } else {
        if (fe.ram_bytes > MAX_UNCOMPRESSED || fe.disk_num_bytes > MAX_UNCOMPRESSED || fe.disk_num_bytes === 0) {
          throw corrupt(file, `Btrfs compressed ${at} claims ${fe.disk_num_bytes} bytes decoding to ${fe.ram_bytes} (at most ${MAX_UNCOMPRESSED})`);
        }
        if (fe.offset + fe.num_bytes > fe.ram_bytes) throw corrupt(file, `Btrfs compressed ${at} reaches past its decoded bytes`);
        piece.kind = 'compressed';
        piece.extent = fe;
        piece.skip = fe.offset;
      }
    }
    if (piece.length > 0) out.push(piece);
    end = logical + piece.length;
  }
  return out;
}

/** The source of a file: ExtentSource where every piece is plain or a hole, else BtrfsFileSource. */
export function fileSource(pieces: Piece[], volume: DataVolume, size: number, sectorsize: number, name: string): ByteSource {
  if (pieces.every((p) => p.kind === 'plain' || p.kind === 'hole')) {
    const extents: Extent[] = pieces.map((p) => ({ logical: p.logical, physical: p.kind === 'plain' ? p.physical : HOLE, length: p.length }));
    return new ExtentSource(volume, checkExtents(extents, volume.size, name), size, name);
  }
  return new BtrfsFileSource(pieces, volume, size, sectorsize, name);
}

/** The file offset that holds logical address `l` (for checksum messages), or -1. */
export function fileOffsetOf(pieces: Piece[], l: number): number {
  for (const p of pieces) {
    if (p.kind === 'plain' && l >= p.physical && l < p.physical + p.length) return p.logical + (l - p.physical);
    if (p.kind === 'compressed') {
      const e = p.extent!;
      if (l >= e.disk_bytenr && l < e.disk_bytenr + e.disk_num_bytes) return p.logical;
    }
  }
  return -1;
}

/**
 * Decoded extents kept per file, for reads that need part of an extent (the extent straddles
 * two reads, or a piece uses part of it): the pump keeps three 1 MiB reads in flight, 8
 * extents of 128 KiB each, so 32 covers them with room; 4 MiB at most.
 */
const DECODED_KEPT = 32;
/**
 * The stored bytes of compressed extents that lie next to each other are read together, up to
 * this much: one read (asynchronous past 128 KiB: src/source/file.ts) and one checksum pass
 * for 8-32 extents, instead of a synchronous read of at most 128 KiB for each.
 */
const RAW_RUN_MAX = 2 << 20;

/** Compressed extents whose stored bytes are read in one go. */
interface RawRun {
  start: number;
  length: number;
  /** Each extent's piece (its index) and, for one decoded straight into the target, where. */
  members: { p: Piece; index: number; into: number | null }[];
}

/** A file with inline or compressed pieces; decoded extents are kept a little (sequential reads use each many times). */
export class BtrfsFileSource implements ByteSource {
  /** Decoded extents by disk_bytenr, oldest first; a decode in flight is shared by every reader. */
  private readonly decoded = new Lru<number, { e: FileExtentItem; job: Promise<Buffer> }>(DECODED_KEPT);

  constructor(
    private readonly pieces: Piece[],
    private readonly volume: DataVolume,
    readonly size: number,
    private readonly sectorsize: number,
    readonly name: string,
  ) {}

  private indexAt(offset: number): number {
    let lo = 0;
    let hi = this.pieces.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = this.pieces[mid]!;
      if (p.logical + p.length <= offset) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  private cached(e: FileExtentItem): Promise<Buffer> | null {
    const hit = this.decoded.get(e.disk_bytenr);
    // A hostile image may give one disk extent different sizes or codecs in different items.
    return hit && hit.e.ram_bytes === e.ram_bytes && hit.e.disk_num_bytes === e.disk_num_bytes && hit.e.compression === e.compression ? hit.job : null;
  }

  private remember(e: FileExtentItem, job: Promise<Buffer>): void {
    // A failed decode is not kept: the next read tries again (and reports it again).
    job.catch(() => this.decoded.get(e.disk_bytenr)?.job === job && this.decoded.delete(e.disk_bytenr));
    this.decoded.set(e.disk_bytenr, { e, job });
  }

  /** Decodes the extent of `p` from `raw` (its stored bytes) into `out`. */
  private async decodeInto(p: Piece, raw: Buffer, out: Buffer): Promise<void> {
    const e = p.extent!;
    if (raw.length < e.disk_num_bytes) throw corrupt(this.name, `Btrfs compressed extent at logical ${e.disk_bytenr} is cut short`);
    await decompressExtentIntoAsync(e.compression, raw, out, this.sectorsize, this.name, `extent at file offset ${p.logical}`);
  }

  /** The decoded extent of `p`, from the cache or read and decoded alone. */
  private decode(p: Piece): Promise<Buffer> {
    const e = p.extent!;
    const hit = this.cached(e);
    if (hit) return hit;
    const job = this.volume.read(e.disk_bytenr, e.disk_num_bytes).then(async (raw) => {
      const out = Buffer.allocUnsafe(e.ram_bytes);
      await this.decodeInto(p, raw, out);
      return out;
    });
    this.remember(e, job);
    return job;
  }

  /**
   * Starts every compressed extent that [offset, end) needs and is not decoded yet: stored
   * bytes of neighbouring extents in one read, and extents the read covers whole decoded
   * straight into the target (no cache, no copy). Returns those direct decodes by piece index.
   */
  private startDecodes(target: Buffer, at: number, offset: number, end: number, first: number): Map<number, Promise<void>> {
    const direct = new Map<number, Promise<void>>();
    const runs: RawRun[] = [];
    const planned = new Set<number>();
    let run: RawRun | null = null;
    for (let i = first; i < this.pieces.length && this.pieces[i]!.logical < end; i++) {
      const p = this.pieces[i]!;
      if (p.kind !== 'compressed') continue;
      const e = p.extent!;
      const whole = p.skip === 0 && p.length === e.ram_bytes && p.logical >= offset && p.logical + p.length <= end;
      if (!whole && (this.cached(e) || planned.has(e.disk_bytenr))) continue;
      if (!run || e.disk_bytenr !== run.start + run.length || run.length + e.disk_num_bytes > RAW_RUN_MAX) {
        run = { start: e.disk_bytenr, length: 0, members: [] };
        runs.push(run);
      }
      run.members.push({ p, index: i, into: whole ? at + (p.logical - offset) : null });
      run.length += e.disk_num_bytes;
      if (!whole) planned.add(e.disk_bytenr);
    }
    for (const r of runs) {
      const raw = this.volume.read(r.start, r.length);
      raw.catch(() => undefined);
      let o = 0;
      for (const m of r.members) {
        const e = m.p.extent!;
        const from = o;
        o += e.disk_num_bytes;
        const stored = raw.then((b) => b.subarray(from, Math.min(b.length, from + e.disk_num_bytes)));
        if (m.into !== null) {
          const into = m.into;
          const job = stored.then((b) => this.decodeInto(m.p, b, target.subarray(into, into + e.ram_bytes)));
          job.catch(() => undefined);
          direct.set(m.index, job);
        } else {
          this.remember(e, stored.then(async (b) => {
            const out = Buffer.allocUnsafe(e.ram_bytes);
            await this.decodeInto(m.p, b, out);
            return out;
          }));
        }
      }
    }
    return direct;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(n);
    await this.readInto(out, 0, offset, n);
    return out;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    const end = offset + n;
    // Every compressed extent the read needs is started at once: with the native zstd they
    // decode side by side in the thread pool while the stored bytes of the next are read.
    const first = this.indexAt(offset);
    const direct = this.startDecodes(target, at, offset, end, first);
    try {
      let pos = offset;
      for (let i = first; pos < end; i++) {
        const p = this.pieces[i];
        const start = p ? Math.max(p.logical, pos) : end;
        if (start > pos) {
          const to = Math.min(end, start);
          target.fill(0, at + pos - offset, at + to - offset);
          pos = to;
          if (!p || pos >= end) break;
        }
        const to = Math.min(end, p.logical + p.length);
        const into = at + pos - offset;
        const inPiece = pos - p.logical;
        switch (p.kind) {
          case 'hole':
            target.fill(0, into, into + to - pos);
            break;
          case 'inline':
            p.data!.copy(target, into, inPiece, inPiece + (to - pos));
            break;
          case 'plain': {
            const got = await readInto(this.volume, target, into, p.physical + inPiece, to - pos);
            if (got < to - pos) throw corrupt(this.name, `Btrfs extent at file offset ${p.logical} lies past the end of the volume`);
            break;
          }
          case 'compressed': {
            const job = direct.get(i);
            if (job) {
              await job;
              break;
            }
            const d = await this.decode(p);
            d.copy(target, into, p.skip + inPiece, p.skip + inPiece + (to - pos));
            break;
          }
        }
        pos = to;
      }
    } catch (err) {
      // Decodes into the target still running must end before the caller reuses it.
      await Promise.allSettled(direct.values());
      throw err;
    }
    return n;
  }

  async close(): Promise<void> {
    this.decoded.clear();
  }
}
