/**
 * FAT12/16/32 (Microsoft "FAT: General Overview of On-Disk Format", fatgen103; field names
 * from there). See docs/formats/fat.md.
 */
import { corrupt, DiskpickError } from '../../errors.js';
import { LazyExtentSource, type Extent, type ExtentMap } from '../../source/extents.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { Lru } from '../../source/lru.js';
import {
  DEFAULT_DIR_MODE, DEFAULT_FILE_MODE,
  type FileSystem, type FsFormat, type FsInfo, type FsNode, type Stat, type Timespec,
} from '../types.js';

/** BIOS Parameter Block, common part and the FAT12/16 or FAT32 extension (fatgen103 §3.1–3.3). */
export interface BiosParameterBlock {
  BS_OEMName: string;
  BPB_BytsPerSec: number;
  BPB_SecPerClus: number;
  BPB_RsvdSecCnt: number;
  BPB_NumFATs: number;
  BPB_RootEntCnt: number;
  BPB_TotSec16: number;
  BPB_Media: number;
  BPB_FATSz16: number;
  BPB_TotSec32: number;
  /** FAT32 only (0 otherwise). */
  BPB_FATSz32: number;
  BPB_ExtFlags: number;
  BPB_RootClus: number;
  BS_BootSig: number;
  BS_VolID: number;
  BS_VolLab: string;
  BS_FilSysType: string;
}

export function parseBpb(b: Buffer): BiosParameterBlock {
  const fat32 = b.readUInt16LE(22) === 0; // BPB_FATSz16 is 0 only on FAT32
  const ext = fat32 ? 64 : 36;
  return {
    BS_OEMName: b.toString('latin1', 3, 11),
    BPB_BytsPerSec: b.readUInt16LE(11),
    BPB_SecPerClus: b[13]!,
    BPB_RsvdSecCnt: b.readUInt16LE(14),
    BPB_NumFATs: b[16]!,
    BPB_RootEntCnt: b.readUInt16LE(17),
    BPB_TotSec16: b.readUInt16LE(19),
    BPB_Media: b[21]!,
    BPB_FATSz16: b.readUInt16LE(22),
    BPB_TotSec32: b.readUInt32LE(32),
    BPB_FATSz32: fat32 ? b.readUInt32LE(36) : 0,
    BPB_ExtFlags: fat32 ? b.readUInt16LE(40) : 0,
    BPB_RootClus: fat32 ? b.readUInt32LE(44) : 0,
    BS_BootSig: b[ext + 2]!,
    BS_VolID: b.readUInt32LE(ext + 3),
    BS_VolLab: b.toString('latin1', ext + 7, ext + 18),
    BS_FilSysType: b.toString('latin1', ext + 18, ext + 26),
  };
}

const pow2 = (n: number) => n > 0 && (n & (n - 1)) === 0;

function bpbLooksValid(b: Buffer): boolean {
  if (b.length < 512) return false;
  if (b[0] !== 0xeb && b[0] !== 0xe9) return false;
  const oem = b.toString('latin1', 3, 11);
  if (oem === 'NTFS    ' || oem === 'EXFAT   ') return false;
  const p = parseBpb(b);
  return (
    [512, 1024, 2048, 4096].includes(p.BPB_BytsPerSec) &&
    pow2(p.BPB_SecPerClus) && p.BPB_SecPerClus <= 128 &&
    p.BPB_RsvdSecCnt > 0 && p.BPB_NumFATs >= 1 && p.BPB_NumFATs <= 4 &&
    (p.BPB_Media === 0xf0 || p.BPB_Media >= 0xf8) &&
    (p.BPB_TotSec16 !== 0 || p.BPB_TotSec32 !== 0) &&
    (p.BPB_FATSz16 !== 0 || p.BPB_FATSz32 !== 0)
  );
}

type FatType = 'FAT12' | 'FAT16' | 'FAT32';

/** Directory entry attribute bits (fatgen103 §6). */
const ATTR_READ_ONLY = 0x01;
const ATTR_HIDDEN = 0x02;
const ATTR_SYSTEM = 0x04;
const ATTR_VOLUME_ID = 0x08;
const ATTR_DIRECTORY = 0x10;
const ATTR_ARCHIVE = 0x20;
const ATTR_LONG_NAME = 0x0f;
/** DIR_NTRes bits Windows NT sets for an all-lower-case base name / extension. */
const NTRES_LOWER_BASE = 0x08;
const NTRES_LOWER_EXT = 0x10;

/**
 * Files are numbered by the position of their entry; folders by their first cluster, so two
 * entries naming the same folder (a loop in a damaged or hostile tree) have one identity.
 * Above any entry position (a 2 TiB volume has < 2^36 entries).
 */
const DIR_INO_BASE = 2 ** 40;

/** A directory may hold at most 65 536 entries (fatgen103 §6): 2 MiB. */
const MAX_DIR_BYTES = 65536 * 32;

/** Code page 437, bytes 0x80–0xFF: short names are stored in the OEM code page. */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

function decodeOem(bytes: Buffer): string {
  let s = '';
  for (const c of bytes) s += c < 0x80 ? String.fromCharCode(c) : CP437_HIGH[c - 0x80]!;
  return s;
}

/** FAT date/time (fatgen103 §6.2) as UTC: FAT stores local time with no zone, read as UTC. */
function fatTime(date: number, time: number, tenths = 0): Timespec | undefined {
  if (date === 0) return undefined;
  const day = date & 0x1f;
  const month = (date >> 5) & 0x0f;
  const year = 1980 + (date >> 9);
  if (day === 0 || month === 0 || month > 12) return undefined;
  const h = time >> 11;
  const m = (time >> 5) & 0x3f;
  const s = (time & 0x1f) * 2;
  const ms = Date.UTC(year, month - 1, day, h, m, s);
  const extra = Math.min(tenths, 199) * 10; // CrtTimeTenth: 10 ms units, 0–199
  const sec = Math.floor(ms / 1000) + Math.floor(extra / 1000);
  return { sec, nsec: (extra % 1000) * 1_000_000 };
}

function shortNameChecksum(raw: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + raw[i]!) & 0xff;
  return sum;
}

export class FatNode implements FsNode {
  constructor(
    readonly name: string,
    readonly shortName: string,
    readonly stat: Stat,
    readonly firstCluster: number,
    /** FAT12/16 root: the fixed root directory region. */
    readonly fixedRoot = false,
  ) {}
}

/** The File Allocation Table, read in segments on demand (a FAT32 FAT can be hundreds of MiB). */
class FileAllocationTable {
  private static readonly SEGMENT = 64 * 1024;
  private static readonly MAX_SEGMENTS = 256;
  private readonly segments = new Lru<number, Buffer>(FileAllocationTable.MAX_SEGMENTS);

  constructor(
    private readonly src: ByteSource,
    private readonly offset: number,
    private readonly bytes: number,
    readonly type: FatType,
    readonly clusterCount: number,
  ) {}

  /** Next cluster in a chain, or -1 at the end of the chain. Throws on free/bad/out-of-range entries. */
  async next(cluster: number): Promise<number> {
    const known = this.nextLoaded(cluster);
    if (known !== undefined) return known;
    const byteOff = this.entryOffset(cluster);
    const width = this.type === 'FAT32' ? 4 : 2;
    const seg = Math.floor(byteOff / FileAllocationTable.SEGMENT);
    const inSeg = byteOff - seg * FileAllocationTable.SEGMENT;
    let v: number;
    if (inSeg + width <= FileAllocationTable.SEGMENT) {
      const b = this.segments.get(seg) ?? (await this.load(seg));
      v = width === 4 ? b.readUInt32LE(inSeg) : b.readUInt16LE(inSeg);
    } else {
      const b = await readExact(this.src, this.offset + byteOff, width, 'FAT entry');
      v = width === 4 ? b.readUInt32LE(0) : b.readUInt16LE(0);
    }
    return this.decode(cluster, v);
  }

  /**
   * The next cluster when its FAT segment is already in memory, else undefined. Walking a
   * chain is one step per cluster (65 536 for a 256 MiB file): without this synchronous path
   * each step costs an await.
   */
  nextLoaded(cluster: number): number | undefined {
    const byteOff = this.entryOffset(cluster);
    const seg = Math.floor(byteOff / FileAllocationTable.SEGMENT);
    const inSeg = byteOff - seg * FileAllocationTable.SEGMENT;
    const width = this.type === 'FAT32' ? 4 : 2;
    if (inSeg + width > FileAllocationTable.SEGMENT) return undefined;
    const b = this.segments.get(seg);
    if (!b) return undefined;
    return this.decode(cluster, width === 4 ? b.readUInt32LE(inSeg) : b.readUInt16LE(inSeg));
  }

  /**
   * How many entries from `cluster` on, in FAT segments already in memory, point to the very
   * next cluster (a contiguous stretch), up to `max`. Big files are mostly such stretches;
   * one tight loop over them costs a fraction of one call per cluster.
   */
  contiguousFrom(cluster: number, max: number): number {
    if (this.type === 'FAT12') return 0;
    const wide = this.type === 'FAT32';
    const width = wide ? 4 : 2;
    const last = this.clusterCount + 1;
    let n = 0;
    while (n < max) {
      const byteOff = (cluster + n) * width;
      if (byteOff + width > this.bytes) break;
      const seg = Math.floor(byteOff / FileAllocationTable.SEGMENT);
      const b = this.segments.get(seg);
      if (!b) break;
      let i = byteOff - seg * FileAllocationTable.SEGMENT;
      const start = i;
      const end = Math.min(b.length, i + (max - n) * width);
      let c = cluster + n;
      while (i + width <= end && c < last) {
        const v = wide ? b.readUInt32LE(i) & 0x0fffffff : b.readUInt16LE(i);
        if (v !== c + 1) break;
        c++;
        i += width;
      }
      const steps = (i - start) / width;
      n += steps;
      if (i + width <= end) break; // the stretch ended inside this segment
      if (steps === 0) break;
    }
    return n;
  }

  private entryOffset(cluster: number): number {
    const byteOff = this.type === 'FAT12' ? cluster + (cluster >> 1) : this.type === 'FAT16' ? cluster * 2 : cluster * 4;
    if (byteOff + (this.type === 'FAT32' ? 4 : 2) > this.bytes) throw corrupt(this.src.name, `FAT entry for cluster ${cluster} is past the end of the FAT`);
    return byteOff;
  }

  /** An entry's value as the next cluster, -1 at the end of the chain; throws on free/bad/out-of-range. */
  private decode(cluster: number, v: number): number {
    let eoc: number;
    let bad: number;
    if (this.type === 'FAT12') {
      v = cluster & 1 ? v >> 4 : v & 0xfff;
      eoc = 0xff8;
      bad = 0xff7;
    } else if (this.type === 'FAT16') {
      eoc = 0xfff8;
      bad = 0xfff7;
    } else {
      v &= 0x0fffffff;
      eoc = 0x0ffffff8;
      bad = 0x0ffffff7;
    }
    if (v >= eoc) return -1;
    if (v === bad) throw corrupt(this.src.name, `cluster ${cluster} is marked bad in the FAT`);
    if (v < 2 || v >= this.clusterCount + 2) {
      throw corrupt(this.src.name, `FAT chain broken at cluster ${cluster} (next ${v === 0 ? 'is a free cluster' : `= ${v}, out of range`})`);
    }
    return v;
  }

  private async load(seg: number): Promise<Buffer> {
    const start = seg * FileAllocationTable.SEGMENT;
    const len = Math.min(FileAllocationTable.SEGMENT, this.bytes - start);
    const b = await readExact(this.src, this.offset + start, len, 'FAT');
    this.segments.set(seg, b);
    return b;
  }
}

/**
 * A file's cluster chain as an ExtentMap: walked whole at the first read (the walk's loop
 * check needs the whole chain), shared by reads that overlap it.
 */
function fileChain(fs: FatFileSystem, firstCluster: number, size: number, name: string): ExtentMap {
  const map = {
    extents: [] as Extent[],
    known: 0,
    async extend(): Promise<void> {
      map.extents = await fs.chainExtents(firstCluster, Math.ceil(size / fs.clusterSize), name);
      map.known = Infinity;
    },
  };
  return map;
}

/**
 * BitLocker To Go (libbde documentation, "BitLocker To Go volume header"): a FAT32 boot sector
 * with OEM name "MSWIN4.1", then at 0x1A8 the BitLocker identifier
 * {4967D63B-2E29-4AD8-8399-F6A339E3D001} (GUID byte order) and the three FVE metadata offsets.
 * The FAT32 around it is a real, small "discovery volume".
 */
const BITLOCKER_IDENTIFIER = Buffer.from('3bd66749292ed84a8399f6a339e3d001', 'hex');
export const BITLOCKER_TO_GO = 'BitLocker To Go (encrypted; discovery volume shown)';

function isBitLockerToGo(boot: Buffer): boolean {
  return boot.length >= 0x1b8 && boot.toString('latin1', 3, 11) === 'MSWIN4.1' && boot.subarray(0x1a8, 0x1b8).equals(BITLOCKER_IDENTIFIER);
}

export class FatFileSystem implements FileSystem {
  readonly caseSensitive = false;
  readonly info: FsInfo;
  readonly clusterSize: number;
  private readonly fat: FileAllocationTable;
  private readonly firstDataSector: number;
  private readonly rootDirOffset: number;
  private readonly rootDirBytes: number;
  private readonly dirCache = new Lru<FatNode, FatNode[]>(512);
  private rootNode: FatNode | null = null;

  private constructor(readonly src: ByteSource, private readonly bpb: BiosParameterBlock, readonly type: FatType, clusterCount: number) {
    const bps = bpb.BPB_BytsPerSec;
    const fatSz = bpb.BPB_FATSz16 || bpb.BPB_FATSz32;
    const rootDirSectors = Math.ceil((bpb.BPB_RootEntCnt * 32) / bps);
    this.firstDataSector = bpb.BPB_RsvdSecCnt + bpb.BPB_NumFATs * fatSz + rootDirSectors;
    this.clusterSize = bps * bpb.BPB_SecPerClus;
    this.rootDirOffset = (bpb.BPB_RsvdSecCnt + bpb.BPB_NumFATs * fatSz) * bps;
    this.rootDirBytes = rootDirSectors * bps;
    // With mirroring off (ExtFlags bit 7) only the FAT numbered in bits 0–3 is active.
    const active = type === 'FAT32' && bpb.BPB_ExtFlags & 0x80 ? bpb.BPB_ExtFlags & 0x0f : 0;
    this.fat = new FileAllocationTable(src, (bpb.BPB_RsvdSecCnt + active * fatSz) * bps, fatSz * bps, type, clusterCount);
    const totSec = bpb.BPB_TotSec16 || bpb.BPB_TotSec32;
    const volId = bpb.BS_VolID.toString(16).toUpperCase().padStart(8, '0');
    this.info = {
      type,
      label: null,
      uuid: bpb.BS_BootSig === 0x29 || bpb.BS_BootSig === 0x28 ? `${volId.slice(0, 4)}-${volId.slice(4)}` : null,
      size: totSec * bps,
      blockSize: this.clusterSize,
      warnings: [],
      details: {
        oemName: bpb.BS_OEMName.trim(),
        bytesPerSector: bps,
        clusterSize: this.clusterSize,
        clusters: clusterCount,
        fats: bpb.BPB_NumFATs,
      },
    };
    if (totSec * bps > src.size) {
      this.info.warnings.push(`filesystem is ${totSec * bps} bytes but its volume only ${src.size}: the image is truncated`);
    }
  }

  static async open(src: ByteSource): Promise<FatFileSystem> {
    const boot = await readExact(src, 0, 512, 'FAT boot sector');
    if (!bpbLooksValid(boot)) throw corrupt(src.name, 'not a valid FAT boot sector');
    const bpb = parseBpb(boot);
    const bps = bpb.BPB_BytsPerSec;
    const fatSz = bpb.BPB_FATSz16 || bpb.BPB_FATSz32;
    const totSec = bpb.BPB_TotSec16 || bpb.BPB_TotSec32;
    const rootDirSectors = Math.ceil((bpb.BPB_RootEntCnt * 32) / bps);
    const firstData = bpb.BPB_RsvdSecCnt + bpb.BPB_NumFATs * fatSz + rootDirSectors;
    if (firstData >= totSec) throw corrupt(src.name, 'FAT boot sector: the FATs and root folder leave no room for data');
    const clusterCount = Math.floor((totSec - firstData) / bpb.BPB_SecPerClus);
    // fatgen103 §3.5 decides the type by cluster count alone; like Linux we take a zero
    // BPB_FATSz16 as FAT32 whatever the count (mkfs.fat -F 32 makes such small volumes).
    const type: FatType = bpb.BPB_FATSz16 === 0 ? 'FAT32' : clusterCount < 4085 ? 'FAT12' : 'FAT16';
    const needFat = type === 'FAT12' ? Math.ceil(((clusterCount + 2) * 3) / 2) : (clusterCount + 2) * (type === 'FAT16' ? 2 : 4);
    if (fatSz * bps < needFat) throw corrupt(src.name, `FAT of ${fatSz * bps} bytes is too small for ${clusterCount} clusters`);
    if (type !== 'FAT32' && clusterCount >= 65525) throw corrupt(src.name, `${clusterCount} clusters do not fit a 16-bit FAT`);
    if (type !== 'FAT32' && bpb.BPB_RootEntCnt === 0) throw corrupt(src.name, `${type} volume without a root folder`);
    const fs = new FatFileSystem(src, bpb, type, clusterCount);
    await fs.readLabel();
    if (isBitLockerToGo(boot)) {
      // Only named here (#24.7): the files shown are the discovery volume's (the reader
      // Windows offers on other machines); the encrypted volume is the BitLocker reader's job.
      fs.info.details.encryption = 'BitLocker To Go';
      fs.info.warnings.unshift(`${BITLOCKER_TO_GO}: the files shown are the discovery volume's; the data is encrypted elsewhere on the volume`);
    }
    return fs;
  }

  clusterOffset(cluster: number): number {
    return (this.firstDataSector + (cluster - 2) * this.bpb.BPB_SecPerClus) * this.bpb.BPB_BytsPerSec;
  }

  /** The cluster holding volume byte `offset` of the data region. */
  private clusterAt(offset: number): number {
    return Math.floor((offset / this.bpb.BPB_BytsPerSec - this.firstDataSector) / this.bpb.BPB_SecPerClus) + 2;
  }

  /**
   * A chain as byte extents of the volume, one per run of contiguous clusters; `maxClusters`
   * bounds the walk (loops, hostile chains).
   */
  async chainExtents(first: number, maxClusters: number, what: string, exact = true): Promise<Extent[]> {
    const runs: ClusterRun[] = [];
    if (maxClusters === 0) return [];
    if (first < 2 || first >= this.fat.clusterCount + 2) throw corrupt(what, `first cluster ${first} is out of range`);
    // No chain is longer than the volume has clusters: a size claiming more is a lie, and the
    // walk below never goes past what the volume can hold.
    if (maxClusters > this.fat.clusterCount) {
      if (exact) throw corrupt(what, `needs ${maxClusters} clusters, more than the volume's ${this.fat.clusterCount}`);
      maxClusters = this.fat.clusterCount;
    }
    let c = first;
    let n = 0;
    let cur: ClusterRun = { cluster: c, count: 0 };
    for (;;) {
      if (c === cur.cluster + cur.count) cur.count++;
      else {
        runs.push(cur);
        cur = { cluster: c, count: 1 };
      }
      n++;
      if (n >= maxClusters) break;
      const k = this.fat.contiguousFrom(c, maxClusters - n);
      if (k > 0) {
        cur.count += k;
        n += k;
        c += k;
        if (n >= maxClusters) break;
      }
      const next = this.fat.nextLoaded(c) ?? (await this.fat.next(c));
      if (next < 0) {
        if (exact) throw corrupt(what, `cluster chain ends after ${n} clusters, the size needs ${maxClusters}`);
        break;
      }
      c = next;
    }
    runs.push(cur);
    chainRevisit(runs, what);
    const cs = this.clusterSize;
    const out: Extent[] = [];
    let at = 0;
    for (const r of runs) {
      out.push({ logical: at, physical: this.clusterOffset(r.cluster), length: r.count * cs });
      at += r.count * cs;
    }
    return out;
  }

  private async readLabel(): Promise<void> {
    const root = await this.root();
    const raw = await this.dirBytes(root);
    for (let off = 0; off + 32 <= raw.length; off += 32) {
      const b0 = raw[off]!;
      if (b0 === 0) break;
      if (b0 === 0xe5) continue;
      const attr = raw[off + 11]!;
      if ((attr & ATTR_LONG_NAME) === ATTR_LONG_NAME) continue;
      if (attr & ATTR_VOLUME_ID) {
        this.info.label = decodeOem(raw.subarray(off, off + 11)).trimEnd() || null;
        return;
      }
    }
    const bpbLabel = this.bpb.BS_VolLab.trimEnd();
    if ((this.bpb.BS_BootSig === 0x29) && bpbLabel && bpbLabel !== 'NO NAME') this.info.label = bpbLabel;
  }

  async root(): Promise<FatNode> {
    if (!this.rootNode) {
      const fixed = this.type !== 'FAT32';
      const stat: Stat = {
        type: 'dir', size: 0, allocated: fixed ? this.rootDirBytes : 0, mode: DEFAULT_DIR_MODE,
        uid: 0, gid: 0, nlink: 2, ino: fixed ? 1 : DIR_INO_BASE + this.bpb.BPB_RootClus, hasOwnership: false,
      };
      this.rootNode = new FatNode('', '', stat, fixed ? 0 : this.bpb.BPB_RootClus, fixed);
    }
    return this.rootNode;
  }

  private async dirBytes(dir: FatNode): Promise<Buffer> {
    if (dir.fixedRoot) return readExact(this.src, this.rootDirOffset, this.rootDirBytes, 'root folder');
    if (dir.firstCluster === 0) return Buffer.alloc(0);
    const max = Math.ceil(MAX_DIR_BYTES / this.clusterSize) + 1;
    const extents = await this.chainExtents(dir.firstCluster, max, dir.name ? `folder ${dir.name}` : 'root folder', false);
    const last = extents[extents.length - 1]!;
    const total = (last.logical + last.length) / this.clusterSize;
    if (total >= max && (await this.fat.next(this.clusterAt(last.physical + last.length - 1))) >= 0) {
      throw corrupt(this.src.name, `folder ${dir.name || '/'} is larger than FAT allows (its cluster chain loops or is damaged)`);
    }
    const parts: Buffer[] = [];
    for (const e of extents) parts.push(await readExact(this.src, e.physical, e.length, 'folder'));
    return Buffer.concat(parts);
  }

  async readdir(dirNode: FsNode): Promise<FatNode[]> {
    const dir = dirNode as FatNode;
    if (dir.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', dir.name);
    const hit = this.dirCache.get(dir);
    if (hit) return hit;
    const raw = await this.dirBytes(dir);
    const base = dir.fixedRoot ? this.rootDirOffset : -1;
    const out: FatNode[] = [];
    let lfnParts: string[] = [];
    let lfnChecksum = -1;
    let lfnNext = -1;
    // Cluster runs of this folder give each entry's position on the volume (its inode id).
    const entryOffsets = dir.fixedRoot ? null : await this.entryOffsets(dir, raw.length);
    for (let off = 0; off + 32 <= raw.length; off += 32) {
      const b0 = raw[off]!;
      if (b0 === 0x00) break;
      if (b0 === 0xe5) {
        lfnParts = [];
        continue;
      }
      const attr = raw[off + 11]!;
      if ((attr & 0x3f) === ATTR_LONG_NAME) {
        const ord = b0 & 0x3f;
        const chk = raw[off + 13]!;
        if (b0 & 0x40) {
          lfnParts = [];
          lfnChecksum = chk;
          lfnNext = ord;
        }
        if (ord !== lfnNext || chk !== lfnChecksum || ord === 0) {
          lfnParts = [];
          lfnNext = -1;
          continue;
        }
        const units = Buffer.concat([raw.subarray(off + 1, off + 11), raw.subarray(off + 14, off + 26), raw.subarray(off + 28, off + 32)]);
        let part = '';
        for (let i = 0; i + 1 < units.length; i += 2) {
          const u = units.readUInt16LE(i);
          if (u === 0x0000 || u === 0xffff) break;
          part += String.fromCharCode(u);
        }
        lfnParts[ord - 1] = part;
        lfnNext = ord - 1;
        continue;
      }
      if (attr & ATTR_VOLUME_ID) {
        lfnParts = [];
        continue;
      }
      const nameBytes = Buffer.from(raw.subarray(off, off + 11));
      if (nameBytes[0] === 0x05) nameBytes[0] = 0xe5; // KANJI lead byte 0xE5 is stored as 0x05
      const ntRes = raw[off + 12]!;
      let base83 = decodeOem(nameBytes.subarray(0, 8)).trimEnd();
      let ext83 = decodeOem(nameBytes.subarray(8, 11)).trimEnd();
      const shortName = ext83 ? `${base83}.${ext83}` : base83;
      if (ntRes & NTRES_LOWER_BASE) base83 = base83.toLowerCase();
      if (ntRes & NTRES_LOWER_EXT) ext83 = ext83.toLowerCase();
      let name = ext83 ? `${base83}.${ext83}` : base83;
      if (lfnNext === 0 && lfnParts.length > 0 && lfnChecksum === shortNameChecksum(nameBytes)) {
        name = lfnParts.join('');
      }
      lfnParts = [];
      lfnNext = -1;
      if (shortName === '.' || shortName === '..') continue;
      const isDir = (attr & ATTR_DIRECTORY) !== 0;
      const firstCluster = (this.type === 'FAT32' ? raw.readUInt16LE(off + 20) << 16 : 0) + raw.readUInt16LE(off + 26);
      const size = isDir ? 0 : raw.readUInt32LE(off + 28);
      const mtime = fatTime(raw.readUInt16LE(off + 24), raw.readUInt16LE(off + 22));
      const attributes: string[] = [];
      if (attr & ATTR_READ_ONLY) attributes.push('readonly');
      if (attr & ATTR_HIDDEN) attributes.push('hidden');
      if (attr & ATTR_SYSTEM) attributes.push('system');
      if (attr & ATTR_ARCHIVE) attributes.push('archive');
      const volOffset = base >= 0 ? base + off : entryOffsets!(off);
      const stat: Stat = {
        type: isDir ? 'dir' : 'file',
        size,
        allocated: isDir ? this.clusterSize : Math.ceil(size / this.clusterSize) * this.clusterSize,
        mode: isDir ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE,
        uid: 0,
        gid: 0,
        nlink: isDir ? 2 : 1,
        ino: isDir && firstCluster >= 2 ? DIR_INO_BASE + firstCluster : volOffset / 32,
        mtime,
        ctime: mtime,
        atime: fatTime(raw.readUInt16LE(off + 18), 0),
        birthtime: fatTime(raw.readUInt16LE(off + 16), raw.readUInt16LE(off + 14), raw[off + 13]!),
        hasOwnership: false,
        attributes,
      };
      out.push(new FatNode(name, shortName, stat, firstCluster));
    }
    this.dirCache.set(dir, out);
    return out;
  }

  /** Maps an offset within a folder's bytes to its byte offset on the volume. */
  private async entryOffsets(dir: FatNode, length: number): Promise<(off: number) => number> {
    const extents = await this.chainExtents(dir.firstCluster, Math.max(1, Math.ceil(length / this.clusterSize)), 'folder', false);
    return (off) => {
      let i = extents.length - 1;
      while (i > 0 && extents[i]!.logical > off) i--;
      return extents[i]!.physical + (off - extents[i]!.logical);
    };
  }

  async lookup(dirNode: FsNode, name: string): Promise<FatNode | null> {
    const kids = await this.readdir(dirNode);
    const want = name.toUpperCase();
    return kids.find((k) => k.name === name) ?? kids.find((k) => k.name.toUpperCase() === want || k.shortName === want) ?? null;
  }

  async openFile(node: FsNode, stream?: string): Promise<ByteSource> {
    const n = node as FatNode;
    if (stream) throw new DiskpickError('notFound', `${this.type} files have no named streams`, n.name);
    if (n.stat.type !== 'file') throw new DiskpickError('wrongType', 'is a folder, not a file', n.name);
    if (n.stat.size > 0 && n.firstCluster < 2) throw corrupt(this.src.name, `file ${n.name} has data but no first cluster`);
    const name = `${this.src.name}: ${n.name}`;
    return new LazyExtentSource(this.src, fileChain(this, n.firstCluster, n.stat.size, name), n.stat.size, name, { gapsAreErrors: 'cluster chain' });
  }
}

export const fatFormat: FsFormat = {
  name: 'fat',
  probe: (head) => bpbLooksValid(head),
  open: (src) => FatFileSystem.open(src),
};

/** A run of contiguous clusters of a chain, while it is walked. */
interface ClusterRun {
  cluster: number;
  count: number;
}

/**
 * A chain that comes back to a cluster it already went through loops: followed, it would
 * repeat the same clusters up to the file's size and hand them out as its content (issue 26:
 * `cat` wrote them and exited 0). The walk is bounded by the size; this finds the revisit
 * afterwards, by sorting the runs (memory: the runs, never a bitmap of the volume).
 */
export function chainRevisit(runs: readonly ClusterRun[], what: string): void {
  if (runs.length < 2) return;
  const byStart = [...runs].sort((a, b) => a.cluster - b.cluster);
  for (let i = 1; i < byStart.length; i++) {
    const prev = byStart[i - 1]!;
    const r = byStart[i]!;
    if (r.cluster < prev.cluster + prev.count) throw corrupt(what, `cluster chain loops (cluster ${r.cluster} is reached twice)`);
  }
}
