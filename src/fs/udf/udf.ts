/**
 * UDF 1.02–2.60 (ECMA-167 3rd ed. + OSTA UDF): the volume (volume.ts), then the logical
 * volume: partition maps (physical, sparable read as physical, metadata), the File Set
 * Descriptor, File Entries and Extended File Entries (ICB strategy 4, and 4096 through
 * Indirect Entries), short/long/extended allocation descriptors with their continuation
 * extents, embedded data, File Identifier Descriptors. See docs/formats/udf.md.
 */
import { corrupt, DiskpickError, unsupported } from '../../errors.js';
import { BufferSource, readExact, type ByteSource } from '../../source/source.js';
import { checkExtents, ExtentSource } from '../../source/extents.js';
import { fileExtents } from '../iso9660/iso9660.js';
import type { FileSystem, FileType, FsFormat, FsInfo, FsNode, Stat, Timespec } from '../types.js';
import {
  decodeCompressedUnicode, dstring, EXT_NEXT_AD, EXT_RECORDED, extAd, longAd, readTag, regid, shortAd, TAG, timestamp,
  type AllocationDescriptor, type LbAddr,
} from './tag.js';
import { hasUdfRecognition, readVolumeDescriptors, type PartitionMap, type VolumeDescriptors } from './volume.js';

/** Allocation descriptors followed per file (continuation extents included). */
const MAX_EXTENTS = 1 << 20;
const MAX_AD_CONTINUATIONS = 4096;
const MAX_DIR_BYTES = 64 << 20;
const MAX_INDIRECT = 32;
const MAX_SYMLINK = 64 * 1024;
const MAX_WARNINGS = 100;
const CACHE_ENTRIES = 200_000;

/** A stretch of the volume: `length` bytes at byte `offset` (-1: reads as zeros). */
interface Extent {
  offset: number;
  length: number;
}

/** ICBTag FileType (4/14.6.6). */
const FILE_TYPES: Record<number, FileType> = { 4: 'dir', 5: 'file', 6: 'blockdev', 7: 'chardev', 9: 'fifo', 10: 'socket', 12: 'symlink' };

export class UdfNode implements FsNode {
  system?: boolean;
  constructor(
    readonly name: string,
    readonly stat: Stat,
    /** The file's (or folder's) data as volume extents. */
    readonly extents: Extent[],
    /** Embedded data (ICB flags AD type 3): the bytes themselves. */
    readonly embedded: Buffer | null,
  ) {}
}

interface Entry {
  stat: Stat;
  extents: Extent[];
  embedded: Buffer | null;
}

/** A partition reference resolved to where its blocks lie in the volume. */
interface PartitionView {
  map: PartitionMap;
  /** Byte offset of the physical partition in the volume. */
  start: number;
  length: number;
  /** Metadata partition: the metadata file's extents in the physical partition (volume bytes). */
  metadata?: Extent[];
  /** Virtual partition: the VAT, virtual block → block of the physical partition. */
  vat?: Uint32Array;
}

export class Udf implements FileSystem {
  readonly info: FsInfo;
  readonly caseSensitive = true;
  private readonly bs: number;
  private readonly parts: PartitionView[] = [];
  private rootNode!: UdfNode;
  private readonly cache = new Map<number, UdfNode[]>();
  private cachedEntries = 0;

  private constructor(private readonly src: ByteSource, private readonly vd: VolumeDescriptors) {
    this.bs = vd.blockSize;
    const rev = vd.lvd.udfRevision;
    const revText = rev ? `${rev >> 8}.${(rev & 0xff).toString(16).padStart(2, '0')}` : 'unknown';
    const vsi = vd.pvd?.VolumeSetIdentifier ?? '';
    const details: FsInfo['details'] = {
      'udf revision': revText,
      domain: vd.lvd.DomainIdentifier,
      'volume identifier': vd.pvd?.VolumeIdentifier ?? '',
      'volume set': vsi,
      'partition maps': vd.lvd.partitionMaps.map((m) => m.kind).join(', '),
      'block size': this.bs,
    };
    if (vd.pvd?.ApplicationIdentifier) details.application = vd.pvd.ApplicationIdentifier;
    if (vd.pvd?.RecordingDateandTime) details.recorded = new Date(vd.pvd.RecordingDateandTime.sec * 1000).toISOString();
    const p0 = vd.partitions[0]!;
    this.info = {
      type: 'UDF',
      label: vd.lvd.LogicalVolumeIdentifier || null,
      // blkid and udfinfo: the first 16 hex digits of the Volume Set Identifier.
      uuid: /^[0-9a-fA-F]{16}/.test(vsi) ? vsi.slice(0, 16).toLowerCase() : null,
      size: (p0.PartitionStartingLocation + p0.PartitionLength) * this.bs,
      blockSize: this.bs,
      warnings: [],
      details,
    };
  }

  static async open(src: ByteSource): Promise<Udf> {
    const vd = await readVolumeDescriptors(src);
    const fs = new Udf(src, vd);
    await fs.setUpPartitions();
    await fs.readIntegrity();
    fs.rootNode = await fs.readRoot();
    return fs;
  }

  private warn(m: string): void {
    if (this.info.warnings.length < MAX_WARNINGS && !this.info.warnings.includes(m)) this.info.warnings.push(m);
  }

  private async setUpPartitions(): Promise<void> {
    for (const map of this.vd.lvd.partitionMaps) {
      if (map.kind === 'unknown') continue;
      const pd = this.vd.partitions.find((p) => p.PartitionNumber === map.PartitionNumber)!;
      this.parts.push({ map, start: pd.PartitionStartingLocation * this.bs, length: pd.PartitionLength * this.bs });
    }
    for (const p of this.parts) if (p.map.kind === 'virtual') p.vat = await this.readVat(p);
    // Metadata partitions are read through their metadata file, which lies in the physical
    // partition of the same number; its mirror is the fallback.
    for (const [i, p] of this.parts.entries()) {
      if (p.map.kind !== 'metadata') continue;
      const pn = p.map.PartitionNumber;
      // On write-once media (a VAT) the metadata file is addressed through the virtual partition.
      const same = (kind: string) => this.parts.findIndex((q) => q.map.kind === kind && 'PartitionNumber' in q.map && q.map.PartitionNumber === pn);
      const phys = same('virtual') >= 0 ? same('virtual') : same('physical') >= 0 ? same('physical') : same('sparable');
      if (phys < 0) throw corrupt(this.src.name, `UDF: metadata partition ${i} has no physical partition ${pn}`);
      let lastErr: unknown = null;
      for (const loc of [p.map.MetadataFileLocation, p.map.MetadataMirrorFileLocation]) {
        try {
          const e = await this.readEntry({ logicalBlockNumber: loc, partitionReferenceNumber: phys }, 'metadata file');
          if (e.embedded) throw corrupt(this.src.name, 'UDF: the metadata file has embedded data');
          p.metadata = e.extents;
          lastErr = null;
          break;
        } catch (err) {
          lastErr = err;
        }
      }
      if (lastErr) throw lastErr;
    }
  }

  /**
   * The Virtual Allocation Table (UDF 2.2.11, 2.00+ form): a file of ICB file type 248 in the
   * last recorded block of the track (for an image, its last block; a few before are tried).
   * Its body after the header is one u32 per virtual block: the physical partition block.
   */
  private async readVat(p: PartitionView): Promise<Uint32Array> {
    const physRef = this.parts.findIndex((q) => q.map.kind === 'physical' && 'PartitionNumber' in q.map && 'PartitionNumber' in p.map && q.map.PartitionNumber === p.map.PartitionNumber);
    if (physRef < 0) throw corrupt(this.src.name, 'UDF: a virtual partition without its physical partition');
    const last = Math.floor(this.src.size / this.bs) - 1;
    for (let blk = last; blk >= Math.max(0, last - 32); blk--) {
      const rel = blk - this.parts[physRef]!.start / this.bs;
      if (rel < 0) break;
      const b = await this.src.read(blk * this.bs, this.bs);
      const tag = readTag(b, 0, rel);
      if (typeof tag === 'string' || (tag.TagIdentifier !== TAG.FileEntry && tag.TagIdentifier !== TAG.ExtendedFileEntry) || b[27] !== 248) continue;
      const e = await this.parseEntry(b, { logicalBlockNumber: rel, partitionReferenceNumber: physRef }, tag.TagIdentifier === TAG.ExtendedFileEntry, 'VAT');
      const body = await this.contentOf(e, 64 << 20, 'the VAT');
      if (body.length < 152) break;
      const lhd = body.readUInt16LE(0);
      if (lhd < 152 || lhd > body.length) break;
      const n = Math.floor((body.length - lhd) / 4);
      const vat = new Uint32Array(n);
      for (let i = 0; i < n; i++) vat[i] = body.readUInt32LE(lhd + 4 * i);
      this.info.details.vat = `${n} entries, at block ${blk}`;
      return vat;
    }
    throw unsupported(this.src.name, 'UDF: virtual partition (write-once media) without a VAT of UDF 2.00+ form in the last blocks');
  }

  /** The Logical Volume Integrity Descriptor: an open volume was not cleanly closed. */
  private async readIntegrity(): Promise<void> {
    const ext = this.vd.lvd.IntegritySequenceExtent;
    if (ext.length === 0) return;
    const b = await this.src.read(ext.location * this.bs, this.bs);
    const tag = readTag(b, 0, ext.location);
    if (typeof tag === 'string' || tag.TagIdentifier !== TAG.LogicalVolumeIntegrity) return;
    const type = b.readUInt32LE(28);
    this.info.details.integrity = type === 1 ? 'closed' : 'open';
    if (type !== 1) this.warn('UDF: the logical volume integrity is "open" (not cleanly closed): recent changes may be missing');
  }

  /** Volume extents of `length` bytes at block `lba` of partition reference `ref`. */
  private toVolume(loc: LbAddr, length: number, what: string): Extent[] {
    const p = this.parts[loc.partitionReferenceNumber];
    if (!p) throw corrupt(this.src.name, `UDF: ${what} names partition reference ${loc.partitionReferenceNumber}, which does not exist`);
    const off = loc.logicalBlockNumber * this.bs;
    if (p.vat) {
      // Block by block through the VAT into the physical partition, neighbours merged.
      const out: Extent[] = [];
      const blocks = Math.ceil(length / this.bs);
      if (blocks > MAX_EXTENTS) throw corrupt(this.src.name, `UDF: ${what}: ${length} bytes through the VAT`);
      for (let i = 0; i < blocks; i++) {
        const v = loc.logicalBlockNumber + i;
        const phys = v < p.vat.length ? p.vat[v]! : 0xffffffff;
        if (phys === 0xffffffff) throw corrupt(this.src.name, `UDF: ${what}: virtual block ${v} is not in the VAT`);
        const offset = p.start + phys * this.bs;
        const len = Math.min(this.bs, length - i * this.bs);
        const prev = out[out.length - 1];
        if (prev && prev.offset + prev.length === offset) prev.length += len;
        else out.push({ offset, length: len });
      }
      return out;
    }
    if (off + length > p.length && p.map.kind !== 'metadata') {
      throw corrupt(this.src.name, `UDF: ${what} at block ${loc.logicalBlockNumber} (${length} bytes) lies past the end of its partition`);
    }
    if (!p.metadata) return [{ offset: p.start + off, length }];
    // Through the metadata file: its extents, from `off` on, for `length` bytes.
    const out: Extent[] = [];
    let pos = 0;
    let need = length;
    let at = off;
    for (const e of p.metadata) {
      if (need <= 0) break;
      if (at < pos + e.length) {
        const inE = at - pos;
        const take = Math.min(e.length - inE, need);
        out.push({ offset: e.offset < 0 ? -1 : e.offset + inE, length: take });
        need -= take;
        at += take;
      }
      pos += e.length;
    }
    if (need > 0) throw corrupt(this.src.name, `UDF: ${what} at metadata block ${loc.logicalBlockNumber} lies past the end of the metadata file`);
    return out;
  }

  /** Reads `length` bytes at a partition address. */
  private async readAt(loc: LbAddr, length: number, what: string): Promise<Buffer> {
    const ext = this.toVolume(loc, length, what);
    const parts: Buffer[] = [];
    for (const e of ext) parts.push(e.offset < 0 ? Buffer.alloc(e.length) : await readExact(this.src, e.offset, e.length, `UDF ${what}`));
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private async readRoot(): Promise<UdfNode> {
    const fsdAd = this.vd.lvd.fileSetDescriptor;
    const b = await this.readAt(fsdAd.location, this.bs, 'File Set Descriptor');
    const tag = readTag(b, 0, fsdAd.location.logicalBlockNumber);
    if (typeof tag === 'string') throw corrupt(this.src.name, `UDF: File Set Descriptor: ${tag}`);
    if (tag.TagIdentifier !== TAG.FileSet) throw corrupt(this.src.name, `UDF: no File Set Descriptor where the Logical Volume Descriptor points (tag ${tag.TagIdentifier})`);
    this.info.details['file set'] = dstring(b, 304, 32);
    const rootIcb = longAd(b, 400);
    const e = await this.readEntry(rootIcb.location, 'root folder');
    if (e.stat.type !== 'dir') throw corrupt(this.src.name, 'UDF: the root ICB is not a folder');
    return new UdfNode('', e.stat, e.extents, e.embedded);
  }

  /** A File Entry or Extended File Entry (following Indirect Entries of strategy 4096). */
  private async readEntry(loc: LbAddr, what: string): Promise<Entry> {
    let at = loc;
    for (let hop = 0; hop <= MAX_INDIRECT; hop++) {
      const b = await this.readAt(at, this.bs, what);
      const tag = readTag(b, 0, at.logicalBlockNumber);
      if (typeof tag === 'string') throw corrupt(this.src.name, `UDF: ${what} at block ${at.logicalBlockNumber}: ${tag}`);
      if (tag.TagIdentifier === TAG.IndirectEntry) {
        at = longAd(b, 36).location;
        continue;
      }
      if (tag.TagIdentifier !== TAG.FileEntry && tag.TagIdentifier !== TAG.ExtendedFileEntry) {
        throw corrupt(this.src.name, `UDF: ${what} at block ${at.logicalBlockNumber} is not a File Entry (tag ${tag.TagIdentifier})`);
      }
      return this.parseEntry(b, at, tag.TagIdentifier === TAG.ExtendedFileEntry, what);
    }
    throw corrupt(this.src.name, `UDF: ${what}: more than ${MAX_INDIRECT} Indirect Entries`);
  }

  private async parseEntry(b: Buffer, loc: LbAddr, extended: boolean, what: string): Promise<Entry> {
    const strategy = b.readUInt16LE(20);
    if (strategy !== 4 && strategy !== 4096) throw unsupported(this.src.name, `UDF: ${what} uses ICB strategy ${strategy}`);
    const fileType = b[27]!;
    const icbFlags = b.readUInt16LE(34);
    const uid = b.readUInt32LE(36);
    const gid = b.readUInt32LE(40);
    const perm = b.readUInt32LE(44);
    const links = b.readUInt16LE(48);
    const size = Number(b.readBigUInt64LE(56));
    let atime: Timespec | undefined;
    let mtime: Timespec | undefined;
    let ctime: Timespec | undefined;
    let birthtime: Timespec | undefined;
    let eaLen: number;
    let adLen: number;
    let base: number;
    let recorded: number;
    if (extended) {
      recorded = Number(b.readBigUInt64LE(72));
      atime = timestamp(b, 80);
      mtime = timestamp(b, 92);
      birthtime = timestamp(b, 104);
      ctime = timestamp(b, 116);
      eaLen = b.readUInt32LE(208);
      adLen = b.readUInt32LE(212);
      base = 216;
    } else {
      recorded = Number(b.readBigUInt64LE(64));
      atime = timestamp(b, 72);
      mtime = timestamp(b, 84);
      ctime = timestamp(b, 96);
      eaLen = b.readUInt32LE(168);
      adLen = b.readUInt32LE(172);
      base = 176;
    }
    if (base + eaLen + adLen > b.length) throw corrupt(this.src.name, `UDF: ${what} at block ${loc.logicalBlockNumber}: extended attributes and allocation descriptors run past the entry`);
    if (!Number.isSafeInteger(size)) throw corrupt(this.src.name, `UDF: ${what} at block ${loc.logicalBlockNumber}: size out of range`);
    const type = FILE_TYPES[fileType] ?? (fileType === 0 ? 'file' : 'other');
    const ads = b.subarray(base + eaLen, base + eaLen + adLen);
    const adType = icbFlags & 7;
    let extents: Extent[] = [];
    let embedded: Buffer | null = null;
    if (adType === 3) {
      if (size > ads.length) throw corrupt(this.src.name, `UDF: ${what} at block ${loc.logicalBlockNumber}: embedded data shorter than the file size`);
      embedded = Buffer.from(ads.subarray(0, size));
    } else {
      extents = await this.extentsOf(ads, adType, loc.partitionReferenceNumber, size, what);
    }
    let mode = ((perm >> 10) & 7) << 6 | ((perm >> 5) & 7) << 3 | (perm & 7);
    if (icbFlags & 0x40) mode |= 0o4000;
    if (icbFlags & 0x80) mode |= 0o2000;
    if (icbFlags & 0x100) mode |= 0o1000;
    const stat: Stat = {
      type,
      size,
      allocated: recorded * this.bs,
      mode,
      uid: uid === 0xffffffff ? 0 : uid,
      gid: gid === 0xffffffff ? 0 : gid,
      nlink: Math.max(links, 1),
      ino: loc.partitionReferenceNumber * 2 ** 32 + loc.logicalBlockNumber,
      atime,
      mtime,
      ctime,
      hasOwnership: true,
    };
    if (birthtime) stat.birthtime = birthtime;
    if (icbFlags & 0x0800) stat.attributes = ['system'];
    return { stat, extents, embedded };
  }

  /** Allocation descriptors to volume extents, continuation extents (type 3) followed. */
  private async extentsOf(first: Buffer, adType: number, icbPartition: number, size: number, what: string): Promise<Extent[]> {
    const out: Extent[] = [];
    let area = first;
    let covered = 0;
    const width = adType === 0 ? 8 : adType === 1 ? 16 : adType === 2 ? 20 : 0;
    if (!width) throw corrupt(this.src.name, `UDF: ${what}: unknown allocation descriptor type ${adType}`);
    for (let hop = 0; ; hop++) {
      let next: AllocationDescriptor | null = null;
      for (let at = 0; at + width <= area.length; at += width) {
        const ad = adType === 0 ? shortAd(area, at, icbPartition) : adType === 1 ? longAd(area, at) : extAd(area, at);
        if (ad.length === 0) {
          area = Buffer.alloc(0);
          break;
        }
        if (ad.type === EXT_NEXT_AD) {
          next = ad;
          break;
        }
        if (out.length >= MAX_EXTENTS) throw corrupt(this.src.name, `UDF: ${what}: more than ${MAX_EXTENTS} extents`);
        if (covered >= size) continue; // extents past the size (preallocation) are never read
        if (ad.type === EXT_RECORDED) for (const e of this.toVolume(ad.location, ad.length, what)) out.push(e);
        else out.push({ offset: -1, length: ad.length });
        covered += ad.length;
      }
      if (!next) break;
      if (hop >= MAX_AD_CONTINUATIONS) throw corrupt(this.src.name, `UDF: ${what}: more than ${MAX_AD_CONTINUATIONS} allocation extents (a loop?)`);
      const b = await this.readAt(next.location, Math.min(next.length, this.bs), `${what} allocation extent`);
      const tag = readTag(b, 0, next.location.logicalBlockNumber);
      if (typeof tag === 'string' || tag.TagIdentifier !== TAG.AllocationExtent) throw corrupt(this.src.name, `UDF: ${what}: bad Allocation Extent Descriptor at block ${next.location.logicalBlockNumber}`);
      const len = b.readUInt32LE(20);
      area = b.subarray(24, Math.min(b.length, 24 + len));
      icbPartition = next.location.partitionReferenceNumber;
    }
    if (covered < size) throw corrupt(this.src.name, `UDF: ${what}: allocation descriptors cover ${covered} bytes of ${size}`);
    return out;
  }

  async root(): Promise<FsNode> {
    return this.rootNode;
  }

  private async contentOf(n: { extents: Extent[]; embedded: Buffer | null; stat: Stat }, max: number, what: string): Promise<Buffer> {
    if (n.stat.size > max) throw corrupt(this.src.name, `UDF: ${what} is ${n.stat.size} bytes (more than ${max})`);
    if (n.embedded) return n.embedded;
    const s = new ExtentSource(this.src, checkExtents(fileExtents(n.extents), this.src.size, `${this.src.name}: UDF ${what}`), n.stat.size, this.src.name);
    const b = Buffer.alloc(s.size);
    await s.readInto(b, 0, 0, s.size);
    return b;
  }

  async readdir(dir: FsNode): Promise<FsNode[]> {
    const d = dir as UdfNode;
    if (d.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', d.name);
    const key = d.stat.ino;
    const hit = this.cache.get(key);
    if (hit) return hit;
    const kids = await this.readDirectory(d);
    this.cache.set(key, kids);
    this.cachedEntries += kids.length;
    for (const [k, v] of this.cache) {
      if (this.cachedEntries <= CACHE_ENTRIES || this.cache.size <= 1) break;
      this.cache.delete(k);
      this.cachedEntries -= v.length;
    }
    return kids;
  }

  private async readDirectory(d: UdfNode): Promise<UdfNode[]> {
    const where = `folder ${d.name || '/'} (entry ${d.stat.ino})`;
    const b = await this.contentOf(d, MAX_DIR_BYTES, where);
    const kids: UdfNode[] = [];
    let at = 0;
    while (at + 38 <= b.length) {
      const tag = readTag(b, at);
      if (typeof tag === 'string' || tag.TagIdentifier !== TAG.FileIdentifier) {
        this.warn(`UDF: ${where}: damaged File Identifier Descriptor at offset ${at}; the rest of the folder skipped`);
        break;
      }
      const chars = b[at + 18]!;
      const lfi = b[at + 19]!;
      const icb = longAd(b, at + 20);
      const liu = b.readUInt16LE(at + 36);
      const len = (38 + liu + lfi + 3) & ~3;
      if (at + 38 + liu + lfi > b.length) {
        this.warn(`UDF: ${where}: File Identifier Descriptor at offset ${at} runs past the folder`);
        break;
      }
      const nameBytes = b.subarray(at + 38 + liu, at + 38 + liu + lfi);
      at += len;
      // Deleted (bit 2) and parent (bit 3) entries are not listed.
      if (chars & 0x0c) continue;
      const name = decodeCompressedUnicode(nameBytes);
      if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
        this.warn(`UDF: ${where}: skipped an entry with an invalid name ${JSON.stringify(name)}`);
        continue;
      }
      let e: Entry;
      try {
        e = await this.readEntry(icb.location, `entry ${JSON.stringify(name)}`);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        this.warn(`${err.message}; skipped`);
        continue;
      }
      if (e.stat.type === 'symlink') {
        try {
          e.stat.symlinkTarget = symlinkTarget(await this.contentOf(e, MAX_SYMLINK, `symlink ${JSON.stringify(name)}`));
          e.stat.size = Buffer.byteLength(e.stat.symlinkTarget);
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          this.warn(`${err.message}; shown as a file`);
          e.stat.type = 'file';
        }
      }
      if (chars & 0x01) (e.stat.attributes ??= []).push('hidden');
      const node = new UdfNode(name, e.stat, e.extents, e.embedded);
      if (e.stat.attributes?.includes('system')) node.system = true;
      kids.push(node);
    }
    return kids;
  }

  async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
    return (await this.readdir(dir)).find((k) => k.name === name) ?? null;
  }

  async openFile(node: FsNode, stream?: string): Promise<ByteSource> {
    const n = node as UdfNode;
    if (stream) throw new DiskpickError('notFound', 'UDF named streams are not read', `${n.name}:${stream}`);
    if (n.stat.type !== 'file') throw new DiskpickError('wrongType', 'is not a regular file', n.name);
    const name = `${this.src.name}:${n.name}`;
    if (n.embedded) return new BufferSource(n.embedded, name);
    return new ExtentSource(this.src, checkExtents(fileExtents(n.extents), this.src.size, name), n.stat.size, name);
  }
}

/** A symlink's Path Components (ECMA-167 4/14.16.1) joined into a POSIX path. */
export function symlinkTarget(b: Buffer): string {
  const parts: string[] = [];
  let absolute = false;
  let at = 0;
  while (at + 4 <= b.length) {
    const type = b[at]!;
    const len = b[at + 1]!;
    const id = b.subarray(at + 4, at + 4 + len);
    at += 4 + len;
    if (type === 1 || type === 2) {
      absolute = true;
      parts.length = 0;
    } else if (type === 3) parts.push('..');
    else if (type === 4) parts.push('.');
    else if (type === 5) parts.push(decodeCompressedUnicode(id));
  }
  return (absolute ? '/' : '') + parts.join('/');
}

export const udfFormat: FsFormat = {
  name: 'udf',
  probe: (head) => hasUdfRecognition(head),
  open: (src) => Udf.open(src),
};
