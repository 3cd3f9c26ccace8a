/**
 * exFAT, read-only, after Microsoft's "exFAT file system specification" (2019; section numbers
 * below are that document's). docs/formats/exfat.md summarises the structures used here.
 *
 * Layout: boot region (main, sectors 0–11; backup, 12–23) → FAT → cluster heap. Everything
 * else (allocation bitmap, up-case table, folders, files) lives in the cluster heap and is
 * found from the root folder. Damage is reported where it is met: a bad boot region falls
 * back to the backup, a bad entry set is skipped with a warning, a bad cluster chain fails
 * only the file or folder that uses it.
 */
import { corrupt, DiskpickError } from '../../errors.js';
import { readExact, readInto, type ByteSource } from '../../source/source.js';
import { formatGuid } from '../../source/bytes.js';
import { Lru } from '../../source/lru.js';
import { LazyExtentSource, type Extent } from '../../source/extents.js';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, type FileSystem, type FsFormat, type FsInfo, type FsNode, type Stat, type Timespec } from '../types.js';
import { BOOT_REGION_SECTORS, FILE_SYSTEM_NAME, probeExfat, readBootRegion, type BootSector } from './boot.js';
import { ClusterHeap } from './chain.js';
import {
  ATTR_DIRECTORY,
  ENTRY_SIZE,
  FLAG_ALLOCATION_POSSIBLE,
  FLAG_NO_FAT_CHAIN,
  MAX_DIRECTORY_BYTES,
  TYPE_ALLOCATION_BITMAP,
  TYPE_END_OF_DIRECTORY,
  TYPE_FILE,
  TYPE_UPCASE_TABLE,
  TYPE_VOLUME_GUID,
  TYPE_VOLUME_LABEL,
  attributeWords,
  entrySetChecksum,
  parseFileSet,
  type FileEntrySet,
} from './entries.js';
import { asciiUpcase, expandUpcase, tableChecksum } from './upcase.js';

interface ExfatNode extends FsNode {
  /** Where this node's data lives; the root's is the root folder's cluster chain. */
  firstCluster: number;
  dataLength: number;
  /** Set when DataLength is more than the cluster heap holds: the problem, for openFile. */
  sizeError?: string;
  validDataLength: number;
  noFatChain: boolean;
  /** The folder holding this node (null for the root): folder loops are caught by walking it. */
  parent: ExfatNode | null;
}

const DIRS_CACHED = 64;
const BITMAP_BLOCK = 64 * 1024;
const BITMAP_BLOCKS_CACHED = 16;
const MAX_WARNINGS = 200;

export class ExfatFileSystem implements FileSystem {
  readonly caseSensitive = false;
  readonly info: FsInfo;
  private readonly clusterSize: number;
  private readonly clusterCount: number;
  /** The FAT and the cluster heap: chains as extents. */
  private readonly heap: ClusterHeap;
  private readonly dirCache = new Lru<ExfatNode, { kids: ExfatNode[]; byName: Map<string, ExfatNode> }>(DIRS_CACHED);
  private upcase: Uint16Array = asciiUpcase();
  private readonly bitmapBlocks = new Lru<number, Buffer>(BITMAP_BLOCKS_CACHED);
  private bitmap: { firstCluster: number; dataLength: number; src: ByteSource | null } | null = null;
  private readonly rootNode: ExfatNode;

  private constructor(
    private readonly src: ByteSource,
    private readonly bs: BootSector,
    warnings: string[],
  ) {
    const sector = 2 ** bs.BytesPerSectorShift;
    this.clusterSize = sector * 2 ** bs.SectorsPerClusterShift;
    this.clusterCount = bs.ClusterCount;
    // ActiveFat (§3.1.13.1) picks the second FAT only on volumes that have two.
    const activeFat = bs.NumberOfFats === 2 && bs.VolumeFlags & 1 ? 1 : 0;
    this.heap = new ClusterHeap(src, (bs.FatOffset + activeFat * bs.FatLength) * sector, bs.ClusterHeapOffset * sector, this.clusterSize, this.clusterCount);
    const serial = bs.VolumeSerialNumber.toString(16).toUpperCase().padStart(8, '0');
    this.info = {
      type: 'exFAT',
      label: null,
      uuid: `${serial.slice(0, 4)}-${serial.slice(4)}`,
      size: Number(bs.VolumeLength) * sector,
      blockSize: this.clusterSize,
      warnings,
      details: {
        version: `${bs.FileSystemRevision >> 8}.${(bs.FileSystemRevision & 0xff).toString().padStart(2, '0')}`,
        sectorSize: sector,
        clusterSize: this.clusterSize,
        clusterCount: bs.ClusterCount,
        numberOfFats: bs.NumberOfFats,
        activeFat: activeFat + 1,
        dirty: (bs.VolumeFlags & 2) !== 0,
        percentInUse: bs.PercentInUse === 0xff ? 'unknown' : bs.PercentInUse,
      },
    };
    this.rootNode = {
      name: '',
      stat: this.dirStat(1, 0, 0, undefined, undefined, undefined),
      firstCluster: bs.FirstClusterOfRootDirectory,
      dataLength: -1,
      validDataLength: -1,
      noFatChain: false,
      parent: null,
    };
  }

  static async open(src: ByteSource): Promise<ExfatFileSystem> {
    const warnings: string[] = [];
    const head = await readExact(src, 0, 512, 'exFAT boot sector');
    const mainShift = head[108]!;
    const main = mainShift >= 9 && mainShift <= 12 ? await readBootRegion(src, 0, mainShift) : { problem: `BytesPerSectorShift ${mainShift} is outside 9…12` };
    let bs: BootSector;
    if ('bs' in main) {
      bs = main.bs;
    } else {
      // The backup sits at sector 12 in sectors of its own size, which a damaged main sector
      // cannot be trusted to give: try each legal sector size.
      let backup: BootSector | null = null;
      for (const shift of [mainShift, 9, 10, 11, 12]) {
        if (shift < 9 || shift > 12) continue;
        const r = await readBootRegion(src, BOOT_REGION_SECTORS, shift);
        if ('bs' in r) {
          backup = r.bs;
          break;
        }
      }
      if (!backup) throw corrupt(src.name, `exFAT main boot region is unusable (${main.problem}) and so is the backup`);
      // The backup's VolumeFlags are stale (§3.1); the main sector's are outside its checksum,
      // so they are still the best word on the active FAT and the dirty state when its name is right.
      backup.VolumeFlags = head.toString('latin1', 3, 11) === FILE_SYSTEM_NAME ? head.readUInt16LE(106) : 0;
      bs = backup;
      warnings.push(`exFAT main boot region is unusable (${main.problem}); using the backup boot region`);
    }
    if (bs.VolumeFlags & 2) warnings.push('the volume was not cleanly unmounted (VolumeDirty set)');
    if (bs.VolumeFlags & 4) warnings.push('the volume reports media failures (MediaFailure set)');
    const sector = 2 ** bs.BytesPerSectorShift;
    const fatEnd = (bs.FatOffset + bs.FatLength * bs.NumberOfFats) * sector;
    if (fatEnd > src.size) throw corrupt(src.name, `truncated exFAT volume: the FAT ends at byte ${fatEnd}, the volume has ${src.size}`);
    const volumeBytes = Number(bs.VolumeLength) * sector;
    if (volumeBytes > src.size) warnings.push(`the volume is ${volumeBytes} bytes but only ${src.size} are present: files past the end cannot be read`);
    const fs = new ExfatFileSystem(src, bs, warnings);
    await fs.readRootMetadata();
    return fs;
  }

  private warn(text: string): void {
    if (this.info.warnings.length < MAX_WARNINGS && !this.info.warnings.includes(text)) this.info.warnings.push(text);
  }

  private dirStat(ino: number, attributes: number, size: number, create?: Timespec, modify?: Timespec, access?: Timespec): Stat {
    return {
      type: 'dir', size, allocated: size, mode: DEFAULT_DIR_MODE, uid: 0, gid: 0, nlink: 2, ino,
      atime: access, mtime: modify, ctime: modify, birthtime: create, hasOwnership: false,
      attributes: attributeWords(attributes),
    };
  }

  // --- root folder metadata (§7.1–7.3) ---

  private async readRootMetadata(): Promise<void> {
    const { entries } = await this.readDirBytes(this.rootNode, '/');
    let bitmapSeen = false;
    let upcaseSeen = false;
    for (let off = 0; off + ENTRY_SIZE <= entries.length; off += ENTRY_SIZE) {
      const t = entries[off]!;
      if (t === TYPE_END_OF_DIRECTORY) break;
      const e = entries.subarray(off, off + ENTRY_SIZE);
      if (t === TYPE_ALLOCATION_BITMAP) {
        // With two FATs there are two bitmaps; BitmapIdentifier (§7.1.2.1) names the one that
        // goes with the active FAT.
        const id = e[1]! & 1;
        const active = this.bs.NumberOfFats === 2 && this.bs.VolumeFlags & 1 ? 1 : 0;
        if (id === active && !bitmapSeen) {
          bitmapSeen = true;
          const len = Number(e.readBigUInt64LE(24));
          const first = e.readUInt32LE(20);
          if (len < Math.ceil(this.clusterCount / 8) || !this.heap.validCluster(first)) this.warn('the allocation bitmap entry is invalid; allocation is not checked');
          else this.bitmap = { firstCluster: first, dataLength: len, src: null };
        }
      } else if (t === TYPE_UPCASE_TABLE && !upcaseSeen) {
        upcaseSeen = true;
        await this.loadUpcase(e);
      } else if (t === TYPE_VOLUME_LABEL) {
        const count = e[1]!;
        if (count > 11) this.warn(`the volume label entry claims ${count} characters (at most 11); label ignored`);
        else if (count > 0) this.info.label = e.toString('utf16le', 2, 2 + count * 2);
      } else if (t === TYPE_VOLUME_GUID) {
        const set = entries.subarray(off, off + ENTRY_SIZE);
        if (set[1] === 0 && entrySetChecksum(set) === set.readUInt16LE(2)) {
          this.info.details.volumeGuid = formatGuid(set.subarray(6, 22));
        }
      }
    }
    if (!bitmapSeen) this.warn('the root folder has no allocation bitmap entry');
    if (!upcaseSeen) this.warn('the root folder has no up-case table entry; names are compared by ASCII case only');
  }

  private async loadUpcase(e: Buffer): Promise<void> {
    const checksum = e.readUInt32LE(4);
    const first = e.readUInt32LE(20);
    const len = Number(e.readBigUInt64LE(24));
    // A full table is 128 KiB; anything much larger is not an up-case table.
    if (len < 2 || len > 0x20000 || !this.heap.validCluster(first)) {
      this.warn('the up-case table entry is invalid; names are compared by ASCII case only');
      return;
    }
    try {
      const extents = await this.heap.chain('exFAT up-case table', first, Math.ceil(len / this.clusterSize), false, this.clusterCount);
      const data = Buffer.allocUnsafe(len);
      await this.heap.readChain(extents, 0, len, data, 0);
      if (tableChecksum(data) !== checksum) {
        this.warn('the up-case table checksum does not match; names are compared by ASCII case only');
        return;
      }
      this.upcase = expandUpcase(data);
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      this.warn(`the up-case table cannot be read (${err.message}); names are compared by ASCII case only`);
    }
  }

  /** Is the cluster marked in use in the allocation bitmap (§7.1.5)? True when there is no usable bitmap. */
  private async clusterInUse(cluster: number): Promise<boolean> {
    const bm = this.bitmap;
    if (!bm) return true;
    try {
      bm.src ??= await this.heap.chainSource('exFAT allocation bitmap', bm.firstCluster, bm.dataLength);
      const bit = cluster - 2;
      const byteAt = bit >>> 3;
      // A listing asks once per file: the bitmap is read in 64 KiB blocks, kept in a small LRU,
      // so most answers are a lookup (one 1-byte read per file cost more than the parse).
      const block = Math.floor(byteAt / BITMAP_BLOCK);
      let b = this.bitmapBlocks.get(block);
      if (!b) {
        const len = Math.min(BITMAP_BLOCK, bm.src.size - block * BITMAP_BLOCK);
        b = Buffer.allocUnsafe(len);
        if ((await readInto(bm.src, b, 0, block * BITMAP_BLOCK, len)) < len) throw corrupt(this.src.name, 'exFAT: the allocation bitmap is shorter than the cluster heap');
        this.bitmapBlocks.set(block, b);
      }
      return (b[byteAt - block * BITMAP_BLOCK]! & (1 << (bit & 7))) !== 0;
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      this.warn(`the allocation bitmap cannot be read (${err.message})`);
      this.bitmap = null;
      return true;
    }
  }

  // --- folders ---

  /** The raw entries of a folder, bounded by the spec's 256 MiB folder limit. */
  private async readDirBytes(dir: ExfatNode, path: string): Promise<{ entries: Buffer; extents: Extent[] }> {
    let needed: number | null;
    if (dir.dataLength < 0) {
      needed = null;
    } else {
      if (dir.dataLength > MAX_DIRECTORY_BYTES) throw corrupt(this.where(path), `folder size ${dir.dataLength} is over exFAT's 256 MiB limit`);
      needed = Math.ceil(dir.dataLength / this.clusterSize);
    }
    const limit = Math.max(1, Math.floor(MAX_DIRECTORY_BYTES / this.clusterSize));
    const extents = await this.heap.chain(this.where(path), dir.firstCluster, needed, dir.noFatChain, limit);
    const last = extents[extents.length - 1];
    const bytes = dir.dataLength >= 0 ? dir.dataLength : last ? last.logical + last.length : 0;
    const buf = Buffer.allocUnsafe(bytes);
    await this.heap.readChain(extents, 0, bytes, buf, 0);
    return { entries: buf, extents };
  }

  /** How errors name a file or folder: the image, then the path inside this volume. */
  private where(path: string): string {
    return `${this.src.name}:${path}`;
  }

  private pathOf(node: ExfatNode): string {
    const parts: string[] = [];
    for (let n: ExfatNode | null = node; n && n.parent; n = n.parent) parts.push(n.name);
    return '/' + parts.reverse().join('/');
  }

  async root(): Promise<FsNode> {
    return this.rootNode;
  }

  async readdir(dir: FsNode): Promise<FsNode[]> {
    return (await this.listing(dir as ExfatNode)).kids;
  }

  async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
    const l = await this.listing(dir as ExfatNode);
    return l.byName.get(this.upcaseName(name)) ?? null;
  }

  private upcaseName(name: string): string {
    let out = '';
    for (let i = 0; i < name.length; i++) out += String.fromCharCode(this.upcase[name.charCodeAt(i)]!);
    return out;
  }

  private async listing(dir: ExfatNode): Promise<{ kids: ExfatNode[]; byName: Map<string, ExfatNode> }> {
    if (dir.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', this.pathOf(dir));
    const hit = this.dirCache.get(dir);
    if (hit) return hit;
    const path = this.pathOf(dir);
    const { entries, extents } = await this.readDirBytes(dir, path);
    const kids = await this.parseDir(dir, path, entries, extents);
    const byName = new Map<string, ExfatNode>();
    for (const k of kids) {
      const key = this.upcaseName(k.name);
      if (!byName.has(key)) byName.set(key, k);
    }
    const l = { kids, byName };
    this.dirCache.set(dir, l);
    return l;
  }

  private async parseDir(dir: ExfatNode, path: string, entries: Buffer, extents: Extent[]): Promise<ExfatNode[]> {
    const kids: ExfatNode[] = [];
    // Entry offsets on the volume make stable inode numbers: map each entry's place in the
    // folder back to its cluster, with a cursor over the extents (entries are visited in order).
    let at = 0;
    const volumeOffset = (byteInDir: number): number => {
      while (at < extents.length && byteInDir >= extents[at]!.logical + extents[at]!.length) at++;
      return at < extents.length ? extents[at]!.physical + byteInDir - extents[at]!.logical : -1;
    };
    const total = Math.floor(entries.length / ENTRY_SIZE);
    for (let i = 0; i < total; i++) {
      const off = i * ENTRY_SIZE;
      const t = entries[off]!;
      if (t === TYPE_END_OF_DIRECTORY) break;
      if (t !== TYPE_FILE) continue; // unused entries, root metadata, secondaries, benign primaries
      const where = `${path === '/' ? '' : path}/ (entry ${i})`;
      const secondaryCount = entries[off + 1]!;
      if (secondaryCount < 2) {
        this.warn(`${where}: skipped a File entry set with SecondaryCount ${secondaryCount} (at least 2 needed)`);
        continue;
      }
      if (i + secondaryCount >= total) {
        this.warn(`${where}: skipped a File entry set whose SecondaryCount ${secondaryCount} runs past the folder's end`);
        continue;
      }
      const set = entries.subarray(off, off + (secondaryCount + 1) * ENTRY_SIZE);
      // Structure before checksum: a set that passes holds no primary entry, so sets never
      // overlap and a hostile folder costs time linear in its size.
      const f = parseFileSet(set);
      if (typeof f === 'string') {
        this.warn(`${where}: skipped a File entry set: ${f}`);
        continue;
      }
      if (entrySetChecksum(set) !== set.readUInt16LE(2)) {
        // Skip only the File entry: its secondaries, now orphans, are passed over by type.
        this.warn(`${where}: skipped a File entry set with a wrong SetChecksum`);
        continue;
      }
      if (f.name === '.' || f.name === '..' || /[/\\\0]/.test(f.name)) {
        this.warn(`${where}: skipped a file with an invalid name ${JSON.stringify(f.name)}`);
        continue;
      }
      i += secondaryCount;
      if (f.attributes & ATTR_DIRECTORY) {
        // A folder whose clusters are those of itself or an ancestor would make every walk
        // of the tree endless.
        let loop = false;
        for (let a: ExfatNode | null = dir; a && !loop; a = a.parent) loop = a.firstCluster === f.firstCluster && f.firstCluster !== 0;
        if (loop) {
          this.warn(`${where}: skipped folder ${JSON.stringify(f.name)}: it loops back to a folder above it`);
          continue;
        }
      }
      kids.push(await this.nodeFromSet(dir, f, volumeOffset(off)));
    }
    return kids;
  }

  private async nodeFromSet(parent: ExfatNode, f: FileEntrySet, entryOffset: number): Promise<ExfatNode> {
    const isDir = (f.attributes & ATTR_DIRECTORY) !== 0;
    const clusters = Math.ceil(f.dataLength / this.clusterSize);
    const allocatedPossible = (f.flags & FLAG_ALLOCATION_POSSIBLE) !== 0;
    let allocated = f.dataLength > 0 && allocatedPossible ? clusters * this.clusterSize : 0;
    // The bitmap is the authority on what is allocated: a file whose first cluster it marks
    // free is left over from a damaged or interrupted write.
    if (allocated > 0 && this.heap.validCluster(f.firstCluster) && !(await this.clusterInUse(f.firstCluster))) allocated = 0;
    if (!Number.isSafeInteger(allocated)) allocated = 0;
    const stat: Stat = isDir
      ? this.dirStat(entryOffset, f.attributes, f.dataLength, f.create, f.modify, f.access)
      : {
          type: 'file', size: f.dataLength, allocated, mode: DEFAULT_FILE_MODE, uid: 0, gid: 0, nlink: 1, ino: entryOffset,
          atime: f.access, mtime: f.modify, ctime: f.modify, birthtime: f.create, hasOwnership: false,
          attributes: attributeWords(f.attributes),
        };
    if (isDir) stat.allocated = allocated;
    // A file larger than the whole cluster heap is damage; past 2^53 its size would even be
    // shown rounded (issue 26). Listed as 0 bytes, one warning with the stored value exactly,
    // and reading it is the error.
    let sizeError: string | undefined;
    const heapBytes = this.clusterCount * this.clusterSize;
    if (!isDir && f.dataLengthExact > BigInt(heapBytes)) {
      sizeError = `DataLength ${f.dataLengthExact} is larger than the whole cluster heap (${heapBytes} bytes)`;
      stat.size = 0;
      stat.allocated = 0;
      this.warn(`${`${this.pathOf(parent)}/${f.name}`.replace(/^\/\//, '/')}: ${sizeError}; not read`);
    }
    return {
      name: f.name,
      stat,
      sizeError,
      firstCluster: f.firstCluster,
      dataLength: f.dataLength,
      validDataLength: f.validDataLength,
      noFatChain: (f.flags & FLAG_NO_FAT_CHAIN) !== 0,
      parent,
    };
  }

  // --- file data ---

  async openFile(node: FsNode, stream?: string): Promise<ByteSource> {
    const n = node as ExfatNode;
    const path = this.pathOf(n);
    if (stream) throw new DiskpickError('notFound', 'exFAT has no named streams', `${path}:${stream}`);
    if (n.stat.type !== 'file') throw new DiskpickError('wrongType', 'is a folder, not a file', path);
    if (n.sizeError) throw corrupt(this.where(path), n.sizeError);
    const heapBytes = this.clusterCount * this.clusterSize;
    if (!Number.isSafeInteger(n.dataLength) || n.dataLength > heapBytes) {
      throw corrupt(this.where(path), `file size ${n.dataLength} is larger than the whole cluster heap (${heapBytes} bytes)`);
    }
    let valid = n.validDataLength;
    if (!Number.isSafeInteger(valid) || valid > n.dataLength) valid = n.dataLength;
    // Past ValidDataLength the file reads as zeros (§7.6.5); only the chain's valid part is walked.
    const name = `${this.src.name}:${path}`;
    const chain = this.heap.lazyChain(this.where(path), n.firstCluster, Math.ceil(valid / this.clusterSize), n.noFatChain);
    return new LazyExtentSource(this.src, chain, n.dataLength, name, { validSize: valid, gapsAreErrors: 'cluster chain' });
  }

  async close(): Promise<void> {
    this.heap.clear();
    this.bitmapBlocks.clear();
    this.dirCache.clear();
  }
}

export const exfatFormat: FsFormat = {
  name: 'exfat',
  probe: probeExfat,
  open: (src) => ExfatFileSystem.open(src),
};
