/**
 * QCOW2 (QEMU copy-on-write, versions 2 and 3), read-only. Structures and rules from qemu's
 * docs/interop/qcow2.txt (see docs/formats/qcow2.md): header, header extensions, L1/L2
 * tables (standard and extended), zero, compressed (zlib / zstd) clusters, backing file,
 * external data file. Internal snapshots (qcow2-snapshot.ts) are listed, and one is read in
 * place of the active state when the user names it (`IMAGE@snap:NAME`): its own L1 table and
 * disk size over the same clusters and backing file.
 */
import { checkFileEnd, lastNonZeroEntry, lastTableEntry } from './damage.js';
import { decompress as zstdDecompress } from 'fzstd';
import { corrupt, DiskpickError, unsupported } from '../errors.js';
import { readExact, readInto, type ByteSource } from '../source/source.js';
import type { Container, ContainerFormat, InternalSnapshot, OpenContext } from './container.js';
import { inflateInto } from './inflate.js';
import { u64beSafe } from '../source/bytes.js';
import { byteLru, type Lru } from '../source/lru.js';
import { MappedContainer, type Piece } from './mapped.js';
import { direct } from './hostfile.js';
import { scratch } from '../source/scratch.js';
import { readSnapshotTable, findSnapshot } from './qcow2-snapshot.js';

import { probeQcow2 } from './magic.js';
/** Compressed clusters at most this far apart in the file are fetched with one read … */
const COMPRESSED_GAP = 64 * 1024;
/** … of at most this many bytes. */
const COMPRESSED_SPAN = 16 * 1024 * 1024;

/** The header fields we use (qcow2.txt "Header"), big-endian. */
interface QcowHeader {
  version: number;
  backing_file_offset: number;
  backing_file_size: number;
  cluster_bits: number;
  size: number;
  crypt_method: number;
  l1_size: number;
  l1_table_offset: number;
  refcount_table_offset: number;
  refcount_table_clusters: number;
  nb_snapshots: number;
  snapshots_offset: number;
  incompatible_features: bigint;
  autoclear_features: bigint;
  header_length: number;
  compression_type: number;
  /** log2 of the refcount width in bits (4 = 16-bit refcounts, v2's fixed width). */
  refcount_order: number;
}

/** incompatible_features bits. */
const INCOMPAT_DIRTY = 1n << 0n;
const INCOMPAT_CORRUPT = 1n << 1n;
const INCOMPAT_DATA_FILE = 1n << 2n;
const INCOMPAT_COMPRESSION = 1n << 3n;
const INCOMPAT_EXTL2 = 1n << 4n;
const INCOMPAT_KNOWN = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_DATA_FILE | INCOMPAT_COMPRESSION | INCOMPAT_EXTL2;

/** Header extension types. */
const EXT_END = 0x00000000;
const EXT_BACKING_FORMAT = 0xe2792aca;
const EXT_CRYPTO = 0x0537be77;
const EXT_DATA_FILE = 0x44415441;

/** Bits 9..55 of an L1/L2 entry as a byte offset (the hi word holds bits 32..63). */
function offsetBits9to55(hi: number, lo: number): number {
  return (hi & 0x00ffffff) * 0x100000000 + ((lo & 0xfffffe00) >>> 0);
}


function parseHeader(h: Buffer, name: string): QcowHeader {
  const version = h.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw unsupported(name, `qcow2 version ${version} is not supported (only 2 and 3)`);
  if (h.length < 72) throw corrupt(name, 'truncated: qcow2 header cut short');
  const hdr: QcowHeader = {
    version,
    backing_file_offset: u64beSafe(h, 8),
    backing_file_size: h.readUInt32BE(16),
    cluster_bits: h.readUInt32BE(20),
    size: u64beSafe(h, 24),
    crypt_method: h.readUInt32BE(32),
    l1_size: h.readUInt32BE(36),
    l1_table_offset: u64beSafe(h, 40),
    refcount_table_offset: u64beSafe(h, 48),
    refcount_table_clusters: h.readUInt32BE(56),
    nb_snapshots: h.readUInt32BE(60),
    snapshots_offset: u64beSafe(h, 64),
    incompatible_features: 0n,
    autoclear_features: 0n,
    header_length: 72,
    compression_type: 0,
    refcount_order: 4,
  };
  if (version === 3) {
    if (h.length < 104) throw corrupt(name, 'truncated: qcow2 v3 header cut short');
    hdr.incompatible_features = h.readBigUInt64BE(72);
    hdr.autoclear_features = h.readBigUInt64BE(88);
    hdr.refcount_order = h.readUInt32BE(96);
    hdr.header_length = h.readUInt32BE(100);
    if (hdr.header_length < 104 || hdr.header_length > h.length) throw corrupt(name, `qcow2 header_length ${hdr.header_length} is invalid`);
    if (hdr.header_length > 104) hdr.compression_type = h[104]!;
  }
  return hdr;
}

/** The compressed clusters of one read: bytes fetched from the file, or already decoded. */
interface Fetched {
  raw: Map<number, Buffer>;
  decoded: Map<number, Buffer>;
  /** The scratch buffers `raw` views. */
  spans: Buffer[];
  /** Pieces still to decode from `spans`; the last one gives them back. */
  users: number;
}

class Qcow2Container extends MappedContainer {
  readonly format = 'qcow2';
  readonly variant: string;
  private readonly clusterSize: number;
  private readonly l2Entries: number;
  private readonly entryBytes: number;
  private readonly subclusterSize: number;
  private readonly l2Cache: Lru<number, Buffer>;
  /** Decoded compressed clusters by cluster index, for reads of parts of them. */
  private readonly clusterCache = byteLru<number, Buffer>(32 * 1024 * 1024);
  private readonly fileSize: number;
  /** The internal snapshots the image holds (info lists them as points). */
  internalSnapshots: InternalSnapshot[] = [];

  constructor(
    file: ByteSource,
    private readonly hdr: QcowHeader,
    private readonly l1: Buffer,
    parent: Container | null,
    private readonly dataFile: ByteSource | null,
    variant: string,
  ) {
    super(file, hdr.size, parent, dataFile ? [dataFile] : []);
    this.variant = variant;
    this.clusterSize = 2 ** hdr.cluster_bits;
    this.entryBytes = hdr.incompatible_features & INCOMPAT_EXTL2 ? 16 : 8;
    this.l2Entries = this.clusterSize / this.entryBytes;
    this.subclusterSize = this.clusterSize / 32;
    this.l2Cache = byteLru(Math.max(32 * 1024 * 1024, this.clusterSize * 4));
    this.fileSize = file.size;
  }

  private get extL2(): boolean {
    return this.entryBytes === 16;
  }

  private async l2Table(l1Index: number): Promise<Buffer | null> {
    const hi = this.l1.readUInt32BE(l1Index * 8);
    const lo = this.l1.readUInt32BE(l1Index * 8 + 4);
    const off = offsetBits9to55(hi, lo);
    if (off === 0) return null;
    const cached = this.l2Cache.get(off);
    if (cached) return cached;
    if (off % this.clusterSize !== 0) throw corrupt(this.name, `L1 entry ${l1Index} points at ${off}, not a cluster boundary`);
    if (off + this.clusterSize > this.fileSize) {
      throw corrupt(this.name, `L1 entry ${l1Index} points at an L2 table at ${off}, past the end of the file (${this.fileSize} bytes)`);
    }
    if (off === 0 || this.overlapsMetadata(off, this.clusterSize)) {
      throw corrupt(this.name, `L1 entry ${l1Index} points at ${off}, inside the header or the L1/refcount tables`);
    }
    const t = await readExact(this.file, off, this.clusterSize, 'L2 table');
    this.l2Cache.set(off, t);
    return t;
  }

  /** True when [off, off+len) overlaps the header cluster, the L1 table or the refcount table. */
  private overlapsMetadata(off: number, len: number): boolean {
    const h = this.hdr;
    const hit = (a: number, n: number) => n > 0 && off < a + n && a < off + len;
    return hit(0, this.clusterSize) || hit(h.l1_table_offset, h.l1_size * 8) || hit(h.refcount_table_offset, h.refcount_table_clusters * this.clusterSize);
  }

  protected async map(offset: number, length: number): Promise<Piece[]> {
    const cs = this.clusterSize;
    const clusterIndex = Math.floor(offset / cs);
    const l1Index = Math.floor(clusterIndex / this.l2Entries);
    if (l1Index >= this.hdr.l1_size) {
      // Past the L1 table: never allocated.
      const span = Math.min(length, (clusterIndex + 1) * cs - offset);
      return [{ kind: 'parent', length: span }];
    }
    const l2 = await this.l2Table(l1Index);
    const tableStart = l1Index * this.l2Entries * cs;
    const tableEnd = tableStart + this.l2Entries * cs;
    const end = Math.min(offset + length, tableEnd);
    if (!l2) return [{ kind: 'parent', length: end - offset }];
    const l2Offset = offsetBits9to55(this.l1.readUInt32BE(l1Index * 8), this.l1.readUInt32BE(l1Index * 8 + 4));
    const base = l1Index * this.l2Entries;
    const raws = await this.fetchCompressed(l2, clusterIndex, Math.floor((end - 1) / cs), base);
    const pieces: Piece[] = [];
    let pos = offset;
    while (pos < end) {
      const ci = Math.floor(pos / cs);
      const cend = Math.min(end, (ci + 1) * cs);
      this.mapCluster(l2, (ci - base) * this.entryBytes, ci, pos - ci * cs, cend - pos, l2Offset, pieces, raws);
      pos = cend;
    }
    if (raws && raws.users === 0) this.giveBack(raws);
    return pieces;
  }

  private mapCluster(l2: Buffer, idx: number, ci: number, within: number, len: number, l2Offset: number, out: Piece[], raws: Fetched | null): void {
    const hi = l2.readUInt32BE(idx);
    const lo = l2.readUInt32BE(idx + 4);
    if (hi & 0x40000000) {
      // Compressed cluster (bit 62).
      this.mapCompressed(hi, lo, ci, within, len, out, raws);
      return;
    }
    const copied = (hi & 0x80000000) !== 0;
    const hostOffset = offsetBits9to55(hi, lo);
    const allocated = hostOffset !== 0 || (copied && this.dataFile !== null);
    const last = out[out.length - 1];
    if (!this.extL2) {
      if (this.hdr.version >= 3 && lo & 1) {
        if (last?.kind === 'zero') last.length += len;
        else out.push({ kind: 'zero', length: len });
        return;
      }
      if (!allocated) {
        if (last?.kind === 'parent') last.length += len;
        else out.push({ kind: 'parent', length: len });
        return;
      }
      this.checkHost(hostOffset, ci, l2Offset);
      const src = this.dataFile ?? undefined;
      // Clusters stored back to back become one host read.
      if (last?.kind === 'host' && last.src === src && last.offset + last.length === hostOffset + within) last.length += len;
      else out.push({ kind: 'host', length: len, offset: hostOffset + within, src });
      return;
    }
    // Extended L2: 32 subclusters, each allocated, zero, or from the backing file.
    const bmZero = l2.readUInt32BE(idx + 8);
    const bmAlloc = l2.readUInt32BE(idx + 12);
    if (allocated) this.checkHost(hostOffset, ci, l2Offset);
    const sc = this.subclusterSize;
    let pos = within;
    const end = within + len;
    while (pos < end) {
      const s = Math.floor(pos / sc);
      const send = Math.min(end, (s + 1) * sc);
      const bit = 1 << s;
      if (bmAlloc & bit) {
        if (!allocated) throw corrupt(this.name, `L2 entry of cluster ${ci} marks subcluster ${s} allocated but has no host offset`);
        out.push({ kind: 'host', length: send - pos, offset: hostOffset + pos, src: this.dataFile ?? undefined });
      } else if (bmZero & bit) {
        out.push({ kind: 'zero', length: send - pos });
      } else {
        out.push({ kind: 'parent', length: send - pos });
      }
      pos = send;
    }
  }

  /**
   * A compressed cluster read whole is decoded straight into the reader's buffer when the
   * bytes are moved (a sequential copy never reads it again); a part of one is decoded once
   * into the cache, so that small reads walking through it decode it only once.
   */
  private mapCompressed(hi: number, lo: number, ci: number, within: number, len: number, out: Piece[], raws: Fetched | null): void {
    const cs = this.clusterSize;
    // Taken from the cache before this read's fetch: another read may have evicted it since.
    const hit = raws?.decoded.get(ci);
    if (hit) {
      out.push({ kind: 'buffer', length: len, data: hit.subarray(within, within + len) });
      return;
    }
    const raw = raws?.raw.get(ci);
    if (!raw) throw new Error(`qcow2: compressed cluster ${ci} was not fetched`);
    const hostOffset = this.compressedRange(hi, lo, ci)[0];
    if (within === 0 && len === cs) {
      const f = raws!;
      f.users++;
      const into = (target: Buffer, at: number) => {
        try {
          this.decode(raw, ci, hostOffset, target, at);
        } finally {
          if (--f.users === 0) this.giveBack(f);
        }
      };
      out.push({ kind: 'decode', length: cs, into });
      return;
    }
    const data = Buffer.allocUnsafe(cs);
    this.decode(raw, ci, hostOffset, data, 0);
    this.clusterCache.set(ci, data);
    out.push({ kind: 'buffer', length: len, data: data.subarray(within, within + len) });
  }

  private checkHost(hostOffset: number, ci: number, l2Offset: number): void {
    const cs = this.clusterSize;
    if (hostOffset % cs !== 0) throw corrupt(this.name, `L2 entry of cluster ${ci} points at ${hostOffset}, not a cluster boundary`);
    if (this.dataFile) return; // Host offsets are in the data file (== guest offset), not in the metadata file.
    if (hostOffset === l2Offset) throw corrupt(this.name, `L2 entry of cluster ${ci} points at its own L2 table (${l2Offset})`);
    if (this.overlapsMetadata(hostOffset, cs)) throw corrupt(this.name, `L2 entry of cluster ${ci} points at ${hostOffset}, inside the header or the L1/refcount tables`);
    if (hostOffset >= this.fileSize) {
      throw corrupt(this.name, `L2 entry of cluster ${ci} points at ${hostOffset}, past the end of the file (${this.fileSize} bytes)`);
    }
  }

  /** Decodes one compressed cluster into out[at, at + cluster size), zeros after a short one. */
  private decode(raw: Buffer, ci: number, hostOffset: number, out: Buffer, at: number): void {
    const cs = this.clusterSize;
    try {
      if (this.hdr.compression_type === 0) {
        // Taken as qemu does: whatever decodes up to a full cluster (trailing bytes of the
        // last sector are the next cluster's).
        const { written } = inflateInto('raw', raw, out, at, cs, false);
        if (written < cs) out.fill(0, at + written, at + cs);
      } else {
        out.fill(0, at, at + cs);
        zstdCluster(raw, out.subarray(at, at + cs));
      }
    } catch (err) {
      throw corrupt(this.name, `compressed cluster ${ci} at ${hostOffset} does not decompress (${(err as Error).message})`);
    }
  }

  /**
   * The compressed bytes of the clusters in [first, last] that are not decoded yet, read
   * into scratch buffers (all reads at once), and the decoded ones taken from the cache.
   */
  private async fetchCompressed(l2: Buffer, first: number, last: number, base: number): Promise<Fetched | null> {
    let want: Array<[number, number, number]> | null = null;
    let fetched: Fetched | null = null;
    for (let ci = first; ci <= last; ci++) {
      const idx = (ci - base) * this.entryBytes;
      const hi = l2.readUInt32BE(idx);
      if (!(hi & 0x40000000)) continue;
      fetched ??= { raw: new Map(), decoded: new Map(), spans: [], users: 0 };
      const hit = this.clusterCache.get(ci);
      if (hit) {
        fetched.decoded.set(ci, hit);
        continue;
      }
      const [off, len] = this.compressedRange(hi, l2.readUInt32BE(idx + 4), ci);
      (want ??= []).push([ci, off, len]);
    }
    if (!want) return fetched;
    const f = fetched!;
    want.sort((x, y) => x[1] - y[1]);
    // Clusters close together in the file are fetched with one read: qemu writes them back
    // to back, with the uncompressed clusters of the same stretch of disk between them.
    const jobs: Promise<void>[] = [];
    const file = direct(this.file);
    let i = 0;
    while (i < want.length) {
      const start = want[i]![1];
      let end = start + want[i]![2];
      let j = i;
      while (j + 1 < want.length && want[j + 1]![1] - end <= COMPRESSED_GAP && want[j + 1]![1] + want[j + 1]![2] - start <= COMPRESSED_SPAN) {
        j++;
        end = Math.max(end, want[j]![1] + want[j]![2]);
      }
      const group = want.slice(i, j + 1);
      const buf = scratch.take(end - start);
      f.spans.push(buf);
      jobs.push(
        readInto(file, buf, 0, start, end - start).then((n) => {
          if (n < end - start) throw corrupt(this.name, `truncated: compressed clusters at ${start}…${end} are past the end of the file (${this.fileSize} bytes)`);
          for (const [ci, off, len] of group) f.raw.set(ci, buf.subarray(off - start, off - start + len));
        }),
      );
      i = j + 1;
    }
    let failed: unknown = null;
    for (const r of await Promise.allSettled(jobs)) if (r.status === 'rejected') failed ??= r.reason;
    if (failed) {
      this.giveBack(f);
      throw failed;
    }
    return f;
  }

  private giveBack(f: Fetched): void {
    for (const b of f.spans) scratch.give(b);
    f.spans.length = 0;
  }

  /** Host offset and length of a compressed cluster's bytes ("Compressed Clusters Descriptor"). */
  private compressedRange(hi: number, lo: number, ci: number): [number, number] {
    if (this.dataFile) throw corrupt(this.name, `cluster ${ci} is compressed, which images with an external data file cannot have`);
    // x = 62 - (cluster_bits - 8) bits of offset (49..61, so the split falls in the high
    // word), then cluster_bits - 8 bits of additional sector count.
    const cb = this.hdr.cluster_bits;
    const hiBits = 62 - (cb - 8) - 32;
    const hostOffset = (hi & ((1 << hiBits) - 1)) * 0x100000000 + (lo >>> 0);
    const extraSectors = (hi >>> hiBits) & ((1 << (cb - 8)) - 1);
    // The compressed bytes run from the offset to the end of the last 512-byte sector.
    const sectorStart = hostOffset - (hostOffset % 512);
    let clen = (extraSectors + 1) * 512 - (hostOffset - sectorStart);
    if (hostOffset >= this.fileSize) {
      throw corrupt(this.name, `compressed cluster ${ci} is at ${hostOffset}, past the end of the file (${this.fileSize} bytes)`);
    }
    // The last sector may be the file's last, partly written one.
    clen = Math.min(clen, this.fileSize - hostOffset);
    return [hostOffset, clen];
  }
}

/**
 * zstd data of one cluster: one frame, then whatever fills the last sector (often the start
 * of the next compressed cluster). fzstd rejects bytes after a frame, so walk the frame's
 * block headers (RFC 8878, 3.1.1) to find where it ends and hand it only the frame.
 */
function zstdCluster(raw: Buffer, out: Uint8Array): void {
  const frame = raw.subarray(0, zstdFrameLength(raw));
  zstdDecompress(frame, out);
}

function zstdFrameLength(b: Buffer): number {
  if (b.length < 6 || b.readUInt32LE(0) !== 0xfd2fb528) throw new Error('no zstd frame magic');
  const fhd = b[4]!;
  const fcsFlag = fhd >> 6;
  const single = (fhd >> 5) & 1;
  const checksum = (fhd >> 2) & 1;
  const dictFlag = fhd & 3;
  let at = 5 + (single ? 0 : 1) + [0, 1, 2, 4][dictFlag]! + [single ? 1 : 0, 2, 4, 8][fcsFlag]!;
  for (let guard = 0; guard < 1 << 20; guard++) {
    if (at + 3 > b.length) throw new Error('zstd frame cut short');
    const bh = b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16);
    const last = bh & 1;
    const type = (bh >> 1) & 3;
    const size = bh >>> 3;
    at += 3 + (type === 1 ? 1 : size);
    if (type === 3) throw new Error('reserved zstd block type');
    if (last) return Math.min(b.length, at + (checksum ? 4 : 0));
  }
  throw new Error('zstd frame has too many blocks');
}

/**
 * Where the file should end: one past the last cluster with a nonzero refcount. Only the
 * refcount table and its last refcount block are read; a last block that is itself past the
 * end says the file was longer than that. Null when it cannot be told cheaply.
 */
async function refcountedEnd(ctx: OpenContext, src: ByteSource, hdr: QcowHeader, cs: number): Promise<number | null> {
  const tableEntries = (hdr.refcount_table_clusters * cs) / 8;
  const lastIndex = await lastTableEntry(ctx, src, hdr.refcount_table_offset, tableEntries, 8);
  if (lastIndex === null || lastIndex < 0) return null;
  const at = hdr.refcount_table_offset + lastIndex * 8;
  const entry = await readExact(src, at, 8, 'refcount table');
  const v = entry.readUInt32BE(0) * 2 ** 32 + entry.readUInt32BE(4);
  const lastBlock = v - (v % 512);
  if (lastBlock + cs > src.size) return lastBlock + cs;
  if (hdr.refcount_order > 6) return null;
  const bits = 2 ** hdr.refcount_order;
  const perBlock = (cs * 8) / bits;
  const block = await readExact(src, lastBlock, cs, 'refcount block');
  // The last byte holding a nonzero refcount, found without a loop over every entry (a small
  // image's last block is mostly zero: 32 768 entries of 16 bits at 64 KiB clusters).
  const lastByte = lastNonZeroEntry(block, 1);
  if (lastByte < 0) return null;
  if (bits >= 8) return (lastIndex * perBlock + Math.floor(lastByte / (bits / 8)) + 1) * cs;
  // Sub-byte widths: bit 0 is the least significant bit (the spec's refcount block entry).
  const perByte = 8 / bits;
  for (let k = perByte - 1; k >= 0; k--) {
    if (((block[lastByte]! >> (k * bits)) & ((1 << bits) - 1)) !== 0) return (lastIndex * perBlock + lastByte * perByte + k + 1) * cs;
  }
  return null;
}

async function openQcow2(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const name = src.name;
  const head = await src.read(0, 4096);
  if (head.length < 72) throw corrupt(name, 'truncated: qcow2 header cut short');
  const hdr = parseHeader(head, name);
  if (hdr.crypt_method !== 0) {
    throw unsupported(name, `encrypted (qcow2 ${hdr.crypt_method === 1 ? 'AES' : hdr.crypt_method === 2 ? 'LUKS' : `method ${hdr.crypt_method}`}), not supported`);
  }
  const unknown = hdr.incompatible_features & ~INCOMPAT_KNOWN;
  if (unknown) throw unsupported(name, `qcow2 incompatible feature bits 0x${unknown.toString(16)} are not supported`);
  if (hdr.cluster_bits < 9 || hdr.cluster_bits > 21) throw corrupt(name, `qcow2 cluster_bits ${hdr.cluster_bits} is out of range (9..21)`);
  const extL2 = (hdr.incompatible_features & INCOMPAT_EXTL2) !== 0n;
  if (extL2 && hdr.cluster_bits < 14) throw corrupt(name, `qcow2 extended L2 entries need cluster_bits >= 14, not ${hdr.cluster_bits}`);
  if (hdr.incompatible_features & INCOMPAT_COMPRESSION) {
    if (hdr.compression_type !== 1) throw unsupported(name, `qcow2 compression type ${hdr.compression_type} is not supported (zlib and zstd are)`);
  } else if (hdr.compression_type !== 0) {
    throw corrupt(name, `qcow2 compression_type ${hdr.compression_type} set without its feature bit`);
  }
  const cs = 2 ** hdr.cluster_bits;
  if (hdr.size >= Number.MAX_SAFE_INTEGER || hdr.size > 2 ** 56) throw corrupt(name, `qcow2 virtual size ${hdr.size} is absurd`);
  const l2Entries = cs / (extL2 ? 16 : 8);
  const needL1 = Math.ceil(hdr.size / (cs * l2Entries));
  if (hdr.l1_size < needL1) throw corrupt(name, `qcow2 L1 table has ${hdr.l1_size} entries, the virtual size needs ${needL1}`);
  // qemu's own limit is a 32 MiB L1 table; anything larger is hostile.
  if (hdr.l1_size > 4 * 1024 * 1024) throw corrupt(name, `qcow2 L1 table of ${hdr.l1_size} entries is absurd`);
  if (hdr.l1_table_offset % cs !== 0) throw corrupt(name, `qcow2 L1 table offset ${hdr.l1_table_offset} is not cluster aligned`);
  if (hdr.l1_table_offset + hdr.l1_size * 8 > src.size) {
    throw corrupt(name, `truncated: the L1 table (${hdr.l1_size} entries at ${hdr.l1_table_offset}) is past the end of the file (${src.size} bytes)`);
  }
  const activeSize = hdr.size;
  // A damaged snapshot table spoils only the snapshots: the active state reads without it.
  let snapshots: Awaited<ReturnType<typeof readSnapshotTable>> = [];
  try {
    snapshots = await readSnapshotTable(src, hdr.nb_snapshots, hdr.snapshots_offset, cs, hdr.size);
  } catch (err) {
    if (ctx.snapshot !== undefined || !(err instanceof DiskpickError)) throw err;
    ctx.warn(`internal snapshots not listed: ${err.message}`, name);
  }
  const chosen = ctx.snapshot === undefined ? undefined : findSnapshot(snapshots, ctx.snapshot, name);
  if (chosen) {
    // The snapshot's state: its L1 table over the same clusters, at its own disk size.
    const needSnapL1 = Math.ceil(chosen.disk_size / (cs * l2Entries));
    if (chosen.l1_size < needSnapL1) throw corrupt(name, `snapshot ${chosen.name}: L1 table has ${chosen.l1_size} entries, its disk size needs ${needSnapL1}`);
    if (chosen.l1_size > 4 * 1024 * 1024) throw corrupt(name, `snapshot ${chosen.name}: L1 table of ${chosen.l1_size} entries is absurd`);
    if (chosen.l1_table_offset % cs !== 0 || chosen.l1_table_offset === 0) throw corrupt(name, `snapshot ${chosen.name}: L1 table offset ${chosen.l1_table_offset} is not a cluster boundary past the header`);
    if (chosen.l1_table_offset + chosen.l1_size * 8 > src.size) throw corrupt(name, `truncated: snapshot ${chosen.name}'s L1 table is past the end of the file (${src.size} bytes)`);
    hdr.l1_table_offset = chosen.l1_table_offset;
    hdr.l1_size = chosen.l1_size;
    hdr.size = chosen.disk_size;
  }
  const l1 = hdr.l1_size ? await readExact(src, hdr.l1_table_offset, hdr.l1_size * 8, 'L1 table') : Buffer.alloc(0);

  // Header extensions: from the end of the header to the first zero type, within cluster 0.
  let backingFormat: string | null = null;
  let dataFileName: string | null = null;
  const extArea = await src.read(0, Math.min(cs, src.size));
  let at = hdr.version === 2 ? 72 : hdr.header_length;
  for (let guard = 0; at + 8 <= extArea.length && guard < 1024; guard++) {
    const type = extArea.readUInt32BE(at);
    const len = extArea.readUInt32BE(at + 4);
    if (type === EXT_END) break;
    if (at + 8 + len > extArea.length) throw corrupt(name, `qcow2 header extension 0x${type.toString(16)} runs past the first cluster`);
    const data = extArea.subarray(at + 8, at + 8 + len);
    if (type === EXT_BACKING_FORMAT) backingFormat = data.toString('utf8');
    else if (type === EXT_DATA_FILE) dataFileName = data.toString('utf8');
    else if (type === EXT_CRYPTO) throw unsupported(name, 'encrypted (qcow2 LUKS), not supported');
    at += 8 + Math.ceil(len / 8) * 8;
  }

  let variant = hdr.version === 2 ? 'v2' : 'v3';
  if (extL2) variant += ' extended L2';
  if (hdr.incompatible_features & INCOMPAT_COMPRESSION) variant += ' zstd';

  let dataFile: ByteSource | null = null;
  if (hdr.incompatible_features & INCOMPAT_DATA_FILE) {
    if (!dataFileName) throw unsupported(name, 'qcow2 external data file without a name in the image; not supported');
    dataFile = await ctx.openReferenced(dataFileName, name, 'external data file');
    variant += ' external data file';
  }
  if (hdr.incompatible_features & INCOMPAT_DIRTY) ctx.warn(`qcow2 dirty bit set (refcounts may be stale; the data is read as mapped)`, name);
  if (hdr.incompatible_features & INCOMPAT_CORRUPT) ctx.warn(`qcow2 corrupt bit set by qemu; data may be inconsistent`, name);
  if (!dataFile) checkFileEnd(ctx, src, await refcountedEnd(ctx, src, hdr, cs), 'refcounts');

  let parent: Container | null = null;
  if (hdr.backing_file_offset !== 0) {
    if (hdr.backing_file_size === 0 || hdr.backing_file_size > 1023) throw corrupt(name, `qcow2 backing file name length ${hdr.backing_file_size} is invalid`);
    const ref = (await readExact(src, hdr.backing_file_offset, hdr.backing_file_size, 'backing file name')).toString('utf8');
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !ref.startsWith('file:')) {
      throw unsupported(name, `backing file "${ref}" is not a file (protocol or json: names are not supported)`);
    }
    const path = ref.startsWith('file:') ? ref.slice(5) : ref;
    // QCOW2 records no identity of its backing file: one found by name elsewhere (not at the
    // recorded path) must at least have this image's virtual size.
    parent = await ctx.openParent({
      paths: [path],
      checkFound: (p) => (p.size === activeSize ? null : `its virtual size is ${p.size} bytes, this image's ${activeSize}`),
    }, name);
    if (backingFormat && backingFormat !== parent.format && !(backingFormat === 'vpc' && parent.format === 'vhd')) {
      ctx.warn(`backing file ${path} is recorded as ${backingFormat} but reads as ${parent.format}`, name);
    }
  }
  if (chosen) variant += `, snapshot ${chosen.name} (id ${chosen.id})`;
  const c = new Qcow2Container(src, hdr, l1, parent, dataFile, variant);
  c.internalSnapshots = snapshots.map((x) => ({
    id: x.id, name: x.name, time: { sec: x.date_sec, nsec: x.date_nsec }, vmClockNs: x.vm_clock_nsec,
    vmStateSize: x.vm_state_size, diskSize: x.disk_size, ...(x === chosen ? { open: true } : {}),
  }));
  return c;
}

export const qcow2Format: ContainerFormat = {
  name: 'qcow2',
  probe: probeQcow2,
  open: openQcow2,
};
