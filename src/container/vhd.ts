/**
 * VHD (Connectix / Microsoft Virtual PC, Virtual Server, Hyper-V), read-only: fixed, dynamic
 * and differencing disks. Structures from Microsoft's "Virtual Hard Disk Image Format
 * Specification" v1.0 (see docs/formats/vhd.md). All fields are big-endian.
 */
import { checkFileEnd, tableEnd } from './damage.js';
import { corrupt, unsupported } from '../errors.js';
import { readExact, type ByteSource } from '../source/source.js';
import { NotThisFormat, type Container, type ContainerFormat, type OpenContext } from './container.js';
import { u64beSafe } from '../source/bytes.js';
import { byteLru } from '../source/lru.js';
import { MappedContainer, PagedTable, windowsToHostPath, type Piece } from './mapped.js';
import { probeVhd, VHD_COOKIE as COOKIE, VHD_DISK_FIXED as DISK_FIXED } from './magic.js';

const DYN_COOKIE = Buffer.from('cxsparse');

/** Hard Disk Footer (spec "Hard Disk Footer Format"), 512 bytes. */
interface Footer {
  Features: number;
  FileFormatVersion: number;
  DataOffset: number;
  /** Seconds since 2000-01-01 UTC when the image was created. */
  TimeStamp: number;
  CreatorApplication: string;
  CurrentSize: number;
  DiskGeometry: { cylinders: number; heads: number; sectors: number };
  DiskType: number;
  Checksum: number;
  UniqueId: Buffer;
  /** Whether Checksum matched the one's complement of the byte sum. */
  checksumOk: boolean;
}

const DISK_DYNAMIC = 3;
const DISK_DIFFERENCING = 4;

/** The VHD checksum: one's complement of the sum of all bytes, the checksum field as zero. */
function vhdChecksum(buf: Buffer, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < buf.length; i++) if (i < checksumAt || i >= checksumAt + 4) sum += buf[i]!;
  return ~sum >>> 0;
}


function parseFooter(b: Buffer): Footer {
  return {
    Features: b.readUInt32BE(8),
    FileFormatVersion: b.readUInt32BE(12),
    DataOffset: u64beSafe(b, 16),
    TimeStamp: b.readUInt32BE(24),
    CreatorApplication: b.subarray(28, 32).toString('latin1'),
    CurrentSize: u64beSafe(b, 48),
    DiskGeometry: { cylinders: b.readUInt16BE(56), heads: b[58]!, sectors: b[59]! },
    DiskType: b.readUInt32BE(60),
    Checksum: b.readUInt32BE(64),
    UniqueId: Buffer.from(b.subarray(68, 84)),
    checksumOk: vhdChecksum(b.subarray(0, 512), 64) === b.readUInt32BE(64),
  };
}

/** Dynamic Disk Header (spec "Dynamic Disk Header Format"), 1024 bytes. */
interface DynamicHeader {
  TableOffset: number;
  HeaderVersion: number;
  MaxTableEntries: number;
  BlockSize: number;
  checksumOk: boolean;
  ParentUniqueId: Buffer;
  ParentTimeStamp: number;
  ParentUnicodeName: string;
  ParentLocatorEntries: ParentLocatorEntry[];
}

/** Parent Locator Entry, 24 bytes, eight of them in the dynamic header at 576. */
interface ParentLocatorEntry {
  PlatformCode: string;
  PlatformDataSpace: number;
  PlatformDataLength: number;
  PlatformDataOffset: number;
}

function parseDynamicHeader(b: Buffer): DynamicHeader {
  const entries: ParentLocatorEntry[] = [];
  for (let i = 0; i < 8; i++) {
    const at = 576 + i * 24;
    const code = b.subarray(at, at + 4);
    if (code.readUInt32BE(0) === 0) continue;
    entries.push({
      PlatformCode: code.toString('latin1'),
      PlatformDataSpace: b.readUInt32BE(at + 4),
      PlatformDataLength: b.readUInt32BE(at + 8),
      PlatformDataOffset: u64beSafe(b, at + 16),
    });
  }
  // ParentUnicodeName: 512 bytes of UTF-16 big-endian.
  const nameBytes = Buffer.from(b.subarray(64, 576));
  nameBytes.swap16();
  const ParentUnicodeName = nameBytes.toString('utf16le').replace(/\0.*$/s, '');
  return {
    TableOffset: u64beSafe(b, 16),
    HeaderVersion: b.readUInt32BE(24),
    MaxTableEntries: b.readUInt32BE(28),
    BlockSize: b.readUInt32BE(32),
    checksumOk: vhdChecksum(b.subarray(0, 1024), 36) === b.readUInt32BE(36),
    ParentUniqueId: Buffer.from(b.subarray(40, 56)),
    ParentTimeStamp: b.readUInt32BE(56),
    ParentUnicodeName,
    ParentLocatorEntries: entries,
  };
}

class VhdFixed extends MappedContainer {
  readonly format = 'vhd';
  readonly variant = 'fixed';
  uniqueId: Buffer | null = null;
  protected async map(offset: number, length: number): Promise<Piece[]> {
    return [{ kind: 'host', offset, length }];
  }
}

class VhdSparse extends MappedContainer {
  readonly format = 'vhd';
  readonly variant: string;
  uniqueId: Buffer | null = null;
  private readonly bitmapBytes: number;
  private readonly bitmaps = byteLru<number, Buffer>(8 * 1024 * 1024);

  constructor(
    file: ByteSource,
    size: number,
    parent: Container | null,
    private readonly bat: PagedTable,
    private readonly blockSize: number,
  ) {
    super(file, size, parent);
    this.variant = parent ? 'differencing' : 'dynamic';
    // The sector bitmap before each block: one bit per 512-byte sector, padded to a sector.
    this.bitmapBytes = Math.ceil(blockSize / 512 / 8 / 512) * 512;
  }

  protected async map(offset: number, length: number): Promise<Piece[]> {
    const bs = this.blockSize;
    const block = Math.floor(offset / bs);
    const within = offset - block * bs;
    const len = Math.min(length, bs - within);
    const [page, at] = await this.bat.entry(block);
    const sector = page.readUInt32BE(at);
    if (sector === 0xffffffff) return [{ kind: this.parent ? 'parent' : 'zero', length: len }];
    const blockStart = sector * 512;
    const dataStart = blockStart + this.bitmapBytes;
    if (dataStart + within >= this.file.size) {
      throw corrupt(this.name, `BAT entry ${block} points at ${blockStart}, past the end of the file (${this.file.size} bytes)`);
    }
    // A dynamic disk's allocated block is read whole (as qemu and Hyper-V do); only a
    // differencing disk asks the bitmap which sectors are its own.
    if (!this.parent) return [{ kind: 'host', offset: dataStart + within, length: len }];
    let bitmap = this.bitmaps.get(block);
    if (!bitmap) {
      bitmap = await readExact(this.file, blockStart, this.bitmapBytes, 'sector bitmap');
      this.bitmaps.set(block, bitmap);
    }
    const out: Piece[] = [];
    let pos = within;
    const end = within + len;
    while (pos < end) {
      const s = Math.floor(pos / 512);
      // Bit 7 of byte 0 is the first sector (the bitmap is big-endian bit order).
      const present = (bitmap[s >> 3]! >> (7 - (s & 7))) & 1;
      const send = Math.min(end, (s + 1) * 512);
      const p: Piece = present ? { kind: 'host', offset: dataStart + pos, length: send - pos } : { kind: 'parent', length: send - pos };
      const last = out[out.length - 1];
      if (last && last.kind === p.kind) last.length += p.length;
      else out.push(p);
      pos = send;
    }
    return out;
  }
}

async function readFooter(src: ByteSource): Promise<[Footer, Buffer]> {
  const name = src.name;
  // The footer is the last 512 bytes (511 in images made before Virtual PC 2004); the copy
  // at offset 0 is there for dynamic and differencing disks and saves a truncated file.
  const tail = src.size >= 512 ? await readExact(src, src.size - 512, 512, 'footer') : Buffer.alloc(0);
  const head = await readExact(src, 0, Math.min(512, src.size), 'footer copy');
  const candidates: Buffer[] = [];
  if (tail.length === 512 && tail.subarray(0, 8).equals(COOKIE)) candidates.push(tail);
  if (tail.length === 512 && tail.subarray(1, 9).equals(COOKIE)) {
    const t = Buffer.alloc(512);
    tail.copy(t, 0, 1);
    candidates.push(t);
  }
  if (head.length === 512 && head.subarray(0, 8).equals(COOKIE)) candidates.push(head);
  if (candidates.length === 0) throw corrupt(name, 'not a VHD: no "conectix" footer');
  const good = candidates.find((c) => parseFooter(c).checksumOk);
  const b = good ?? candidates[0]!;
  return [parseFooter(b), b];
}

async function openVhd(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const name = src.name;
  const [footer] = await readFooter(src);
  if (!footer.checksumOk) ctx.warn(`VHD footer checksum is wrong (0x${footer.Checksum.toString(16)}); the rest is consistent, reading anyway`, name);
  if (footer.FileFormatVersion >>> 16 !== 1) throw unsupported(name, `VHD file format version 0x${footer.FileFormatVersion.toString(16)} is not supported`);
  const size = footer.CurrentSize;
  if (size <= 0 || size > 2 ** 48) throw corrupt(name, `VHD virtual size ${size} is absurd`);
  if (footer.DiskType === DISK_FIXED) {
    // A fixed VHD is its disk followed by the footer, nothing else. A file of another size that
    // ends in a footer is a raw image that kept one (a partition cut out of a fixed VHD, whose
    // footer describes the whole disk): TSK, 7-Zip and qemu-img read it as raw, and so do we.
    if (src.size !== size + 512 && src.size !== size + 511) {
      throw new NotThisFormat(`the file ends in a fixed-VHD footer for a ${size}-byte disk, but a fixed VHD of that size is ${size + 512} bytes and the file has ${src.size}`);
    }
    const c = new VhdFixed(src, size, null);
    c.uniqueId = footer.UniqueId;
    return c;
  }
  if (footer.DiskType !== DISK_DYNAMIC && footer.DiskType !== DISK_DIFFERENCING) {
    throw unsupported(name, `VHD disk type ${footer.DiskType} is not supported`);
  }
  if (footer.DataOffset + 1024 > src.size) throw corrupt(name, `truncated: the dynamic disk header at ${footer.DataOffset} is past the end of the file`);
  const hb = await readExact(src, footer.DataOffset, 1024, 'dynamic disk header');
  if (!hb.subarray(0, 8).equals(DYN_COOKIE)) throw corrupt(name, `no "cxsparse" dynamic disk header at ${footer.DataOffset}`);
  const dh = parseDynamicHeader(hb);
  if (!dh.checksumOk) ctx.warn(`VHD dynamic header checksum is wrong; the rest is consistent, reading anyway`, name);
  const bs = dh.BlockSize;
  if (bs < 512 || bs % 512 !== 0 || bs > 256 * 1024 * 1024 || (bs & (bs - 1)) !== 0) throw corrupt(name, `VHD block size ${bs} is invalid`);
  const blocks = Math.ceil(size / bs);
  if (dh.MaxTableEntries < blocks) throw corrupt(name, `VHD BAT has ${dh.MaxTableEntries} entries, the virtual size needs ${blocks}`);
  if (dh.TableOffset + blocks * 4 > src.size) {
    throw corrupt(name, `truncated: the BAT (${blocks} entries at ${dh.TableOffset}) is past the end of the file (${src.size} bytes)`);
  }
  const bat = new PagedTable(src, dh.TableOffset, blocks, 4, 'BAT');
  // Each allocated block: its sector bitmap (padded to 512 bytes), its data; then the footer.
  const bitmapBytes = Math.ceil(bs / 512 / 8 / 512) * 512;
  checkFileEnd(ctx, src, await tableEnd(ctx, src, dh.TableOffset, blocks, 4, (_i, v) => (v === 0xffffffff ? 0 : v * 512 + bitmapBytes + bs + 512), true), 'BAT entries');

  let parent: Container | null = null;
  if (footer.DiskType === DISK_DIFFERENCING) {
    const hints = await parentHints(src, dh, ctx);
    parent = await ctx.openParent({
      paths: hints,
      // The parent's footer UniqueId is what the child recorded (libvhdi refuses a mismatch).
      check: (p) => {
        const pid = parentUniqueId(p);
        return pid && !pid.equals(dh.ParentUniqueId) ? `its UniqueId is ${pid.toString('hex')}, this differencing disk needs ${dh.ParentUniqueId.toString('hex')}` : null;
      },
    }, name);
    // ParentTimeStamp is not compared: makers disagree on what it holds (the parent file's
    // modification time, which any copy changes, or 0 as in dfvfs's sample); UniqueId is the identity.
  }
  const c = new VhdSparse(src, size, parent, bat, bs);
  c.uniqueId = footer.UniqueId;
  return c;
}

/** Where the parent may be, best first: W2ru, W2ku, MacX, Mac, then ParentUnicodeName. */
async function parentHints(src: ByteSource, dh: DynamicHeader, ctx: OpenContext): Promise<string[]> {
  const order = ['W2ru', 'W2ku', 'MacX', 'Mac ', 'Wi2r', 'Wi2k'];
  const sorted = [...dh.ParentLocatorEntries].sort((a, b) => order.indexOf(a.PlatformCode) - order.indexOf(b.PlatformCode));
  const hints: string[] = [];
  for (const e of sorted) {
    if (!order.includes(e.PlatformCode)) continue;
    const len = e.PlatformDataLength;
    if (len === 0 || len > 64 * 1024 || e.PlatformDataOffset + len > src.size) {
      ctx.warn(`parent locator ${e.PlatformCode} points outside the file; ignored`, src.name);
      continue;
    }
    const data = await readExact(src, e.PlatformDataOffset, len, 'parent locator');
    let path: string | null = null;
    if (e.PlatformCode === 'W2ru' || e.PlatformCode === 'W2ku') path = windowsToHostPath(data.toString('utf16le'));
    else if (e.PlatformCode === 'Wi2r' || e.PlatformCode === 'Wi2k') path = windowsToHostPath(data.toString('latin1'));
    else if (e.PlatformCode === 'MacX') path = macxPath(data.toString('utf8'));
    else if (e.PlatformCode === 'Mac ') path = macAliasName(data);
    if (path) hints.push(path.replace(/\0+$/, ''));
  }
  if (dh.ParentUnicodeName) hints.push(windowsToHostPath(dh.ParentUnicodeName));
  return hints;
}

/** MacX: a file URL in UTF-8 ("file://localhost/Users/a/p.vhd"). */
function macxPath(url: string): string {
  let s = url.replace(/\0+$/, '');
  s = s.replace(/^file:\/\/(localhost)?/i, '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** "Mac ": a classic Mac OS alias record; version 2 keeps the file name (Str63) at byte 50. */
function macAliasName(b: Buffer): string | null {
  if (b.length < 51 + 1) return null;
  const n = b[50]!;
  if (n === 0 || n > 63 || 51 + n > b.length) return null;
  return b.subarray(51, 51 + n).toString('latin1');
}

/** The UniqueId of a VHD parent, to compare with ParentUniqueId. */
function parentUniqueId(parent: Container): Buffer | null {
  return parent instanceof VhdSparse || parent instanceof VhdFixed ? parent.uniqueId : null;
}

export const vhdFormat: ContainerFormat = {
  name: 'vhd',
  probe: probeVhd,
  probesTail: true,
  open: openVhd,
};
