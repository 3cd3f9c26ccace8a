/**
 * QCOW version 1 (old qemu, some appliance images), read-only: two-level L1/L2 cluster
 * tables, zlib (raw deflate) compressed clusters, a backing file. Layout from qemu's
 * documentation of the original format (see docs/formats/qcow.md). All fields big-endian.
 * Encrypted images (crypt_method 1, AES-CBC with a password-derived key) are refused.
 */
import { corrupt, unsupported } from '../errors.js';
import { readExact, type ByteSource } from '../source/source.js';
import type { Container, ContainerFormat, OpenContext } from './container.js';
import { inflateInto } from './inflate.js';
import { byteLru } from '../source/lru.js';
import { MappedContainer, PagedTable, type Piece } from './mapped.js';

import { probeQcow } from './magic.js';
const HEADER_BYTES = 48;
/** L2 entry bit 63: the cluster is compressed (QCOW_OFLAG_COMPRESSED). */
const OFLAG_COMPRESSED = 1n << 63n;

/** QCowHeader, 48 bytes. */
interface QcowHeader {
  version: number;
  backing_file_offset: number;
  backing_file_size: number;
  mtime: number;
  size: number;
  cluster_bits: number;
  l2_bits: number;
  crypt_method: number;
  l1_table_offset: number;
}

function parseHeader(b: Buffer): QcowHeader {
  const u64 = (at: number) => {
    const v = b.readBigUInt64BE(at);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  };
  return {
    version: b.readUInt32BE(4),
    backing_file_offset: u64(8),
    backing_file_size: b.readUInt32BE(16),
    mtime: b.readUInt32BE(20),
    size: u64(24),
    cluster_bits: b[32]!,
    l2_bits: b[33]!,
    crypt_method: b.readUInt32BE(36),
    l1_table_offset: u64(40),
  };
}

class QcowContainer extends MappedContainer {
  readonly format = 'qcow';
  readonly variant = 'v1';
  private readonly cs: number;
  private readonly l2Entries: number;
  private readonly l2s = byteLru<number, Buffer>(4 * 1024 * 1024);
  private readonly clusters = byteLru<number, Buffer>(4 * 1024 * 1024);

  constructor(
    file: ByteSource,
    private readonly hdr: QcowHeader,
    private readonly l1: PagedTable,
    parent: Container | null,
  ) {
    super(file, hdr.size, parent);
    this.cs = 2 ** hdr.cluster_bits;
    this.l2Entries = 2 ** hdr.l2_bits;
  }

  private async l2Table(offset: number, l1Index: number): Promise<Buffer> {
    const hit = this.l2s.get(offset);
    if (hit) return hit;
    const bytes = this.l2Entries * 8;
    if (offset + bytes > this.file.size) throw corrupt(this.name, `L1 entry ${l1Index} points at an L2 table at ${offset}, past the end of the file (${this.file.size} bytes)`);
    const t = await readExact(this.file, offset, bytes, 'L2 table');
    this.l2s.set(offset, t);
    return t;
  }

  protected async map(offset: number, length: number): Promise<Piece[]> {
    const cs = this.cs;
    const ci = Math.floor(offset / cs);
    const within = offset - ci * cs;
    const len = Math.min(length, cs - within);
    const l1Index = Math.floor(ci / this.l2Entries);
    const [page, at] = await this.l1.entry(l1Index);
    const l2Offset = page.readBigUInt64BE(at);
    const missing: Piece = { kind: this.parent ? 'parent' : 'zero', length: len };
    if (l2Offset === 0n) return [missing];
    if (l2Offset > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(this.name, `L1 entry ${l1Index} holds an impossible offset`);
    const l2 = await this.l2Table(Number(l2Offset), l1Index);
    const entry = l2.readBigUInt64BE((ci % this.l2Entries) * 8);
    if (entry === 0n) return [missing];
    if (entry & OFLAG_COMPRESSED) {
      const data = await this.compressedCluster(entry, ci);
      return [{ kind: 'buffer', length: len, data: data.subarray(within, within + len) }];
    }
    const host = Number(entry);
    if (!Number.isSafeInteger(host) || host + within >= this.file.size) {
      throw corrupt(this.name, `cluster ${ci} is mapped at ${entry}, past the end of the file (${this.file.size} bytes)`);
    }
    return [{ kind: 'host', offset: host + within, length: len }];
  }

  /**
   * A compressed cluster: bits 62 … 63 - cluster_bits of the entry hold the compressed size,
   * the bits below the host offset; the bytes are a raw deflate stream of one whole cluster.
   */
  private async compressedCluster(entry: bigint, ci: number): Promise<Buffer> {
    const hit = this.clusters.get(ci);
    if (hit) return hit;
    const sizeShift = BigInt(63 - this.hdr.cluster_bits);
    const offset = Number(entry & ((1n << sizeShift) - 1n));
    const csize = Number((entry >> sizeShift) & BigInt(this.cs - 1));
    if (csize === 0 || offset + csize > this.file.size) {
      throw corrupt(this.name, `compressed cluster ${ci} (${csize} bytes at ${offset}) is outside the file (${this.file.size} bytes)`);
    }
    const raw = await readExact(this.file, offset, csize, 'compressed cluster');
    const out = Buffer.alloc(this.cs);
    let written: number;
    try {
      written = inflateInto('raw', raw, out, 0, this.cs, false).written;
    } catch (err) {
      throw corrupt(this.name, `compressed cluster ${ci} at ${offset} does not decompress (${(err as Error).message})`);
    }
    // qemu refuses a cluster that does not decode to a whole cluster.
    if (written !== this.cs) throw corrupt(this.name, `compressed cluster ${ci} at ${offset} decodes to ${written} bytes, not ${this.cs}`);
    this.clusters.set(ci, out);
    return out;
  }
}

async function openQcow(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const name = src.name;
  if (src.size < HEADER_BYTES) throw corrupt(name, 'truncated: QCOW header cut short');
  const hdr = parseHeader(await readExact(src, 0, HEADER_BYTES, 'QCOW header'));
  if (hdr.crypt_method !== 0) throw unsupported(name, `encrypted QCOW (crypt_method ${hdr.crypt_method}, AES), not supported`);
  if (hdr.cluster_bits < 9 || hdr.cluster_bits > 16) throw corrupt(name, `QCOW cluster_bits ${hdr.cluster_bits} is invalid (9 … 16)`);
  if (hdr.l2_bits < 6 || hdr.l2_bits > 13) throw corrupt(name, `QCOW l2_bits ${hdr.l2_bits} is invalid (6 … 13)`);
  if (hdr.size <= 0 || hdr.size > 2 ** 52) throw corrupt(name, `QCOW virtual size ${hdr.size} is absurd`);
  const shift = hdr.cluster_bits + hdr.l2_bits;
  const l1Size = Math.ceil(hdr.size / 2 ** shift);
  if (hdr.l1_table_offset + l1Size * 8 > src.size) {
    throw corrupt(name, `truncated: the L1 table (${l1Size} entries at ${hdr.l1_table_offset}) is past the end of the file (${src.size} bytes)`);
  }
  const l1 = new PagedTable(src, hdr.l1_table_offset, l1Size, 8, 'L1 table');
  let parent: Container | null = null;
  if (hdr.backing_file_offset !== 0) {
    if (hdr.backing_file_size === 0 || hdr.backing_file_size > 1023) throw corrupt(name, `QCOW backing file name length ${hdr.backing_file_size} is invalid`);
    const ref = (await readExact(src, hdr.backing_file_offset, hdr.backing_file_size, 'backing file name')).toString('utf8');
    if (/^[a-z][a-z0-9+.-]*:/i.test(ref) && !ref.startsWith('file:')) {
      throw unsupported(name, `backing file "${ref}" is not a file (protocol names are not supported)`);
    }
    const path = ref.startsWith('file:') ? ref.slice(5) : ref;
    // Like QCOW2, no identity of the backing file is recorded: one found by name elsewhere
    // must at least have this image's virtual size.
    parent = await ctx.openParent({
      paths: [path],
      checkFound: (p) => (p.size === hdr.size ? null : `its virtual size is ${p.size} bytes, this image's ${hdr.size}`),
    }, name);
  }
  return new QcowContainer(src, hdr, l1, parent);
}

export const qcowFormat: ContainerFormat = {
  name: 'qcow',
  probe: probeQcow,
  open: openQcow,
};
