/**
 * FAT12/16/32 (Microsoft "FAT: General Overview of On-Disk Format", fatgen103; field names
 * from there): the filesystem, tying the boot sector (bpb.ts), the FAT and its chains
 * (table.ts) and the folders (dir.ts) together. See docs/formats/fat.md.
 */
import { corrupt, DiskpickError } from '../../errors.js';
import { LazyExtentSource, type Extent, type ExtentMap } from '../../source/extents.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { Lru } from '../../source/lru.js';
import { DEFAULT_DIR_MODE, type FileSystem, type FsFormat, type FsInfo, type FsNode, type Stat } from '../types.js';
import { BITLOCKER_TO_GO, bpbLooksValid, isBitLockerToGo, parseBpb, type BiosParameterBlock, type FatType } from './bpb.js';
import { DIR_INO_BASE, FatNode, MAX_DIR_BYTES, parseDirEntries, volumeLabelEntry } from './dir.js';
import { FileAllocationTable, walkChain } from './table.js';

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
    const runs = await walkChain(this.fat, first, maxClusters, what, exact);
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
    const label = volumeLabelEntry(raw);
    if (label !== undefined) {
      this.info.label = label;
      return;
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
    // Cluster runs of this folder give each entry's position on the volume (its inode id).
    const entryOffsets = dir.fixedRoot ? null : await this.entryOffsets(dir, raw.length);
    const out = parseDirEntries(raw, this.type === 'FAT32', this.clusterSize, (off) => (base >= 0 ? base + off : entryOffsets!(off)));
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

