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
import { readExact, type ByteSource } from '../../source/source.js';
import { formatGuid } from '../../source/bytes.js';
import { Lru } from '../../source/lru.js';
import { ExtentSource, LazyExtentSource, type Extent, type ExtentMap } from '../../source/extents.js';
import {
  DEFAULT_DIR_MODE,
  DEFAULT_FILE_MODE,
  type FileSystem,
  type FsFormat,
  type FsInfo,
  type FsNode,
  type Stat,
  type Timespec,
} from '../types.js';

// ---------------------------------------------------------------------------------------------
// Boot sector (§3.1, Table 4)

interface BootSector {
  PartitionOffset: bigint;
  VolumeLength: bigint;
  FatOffset: number;
  FatLength: number;
  ClusterHeapOffset: number;
  ClusterCount: number;
  FirstClusterOfRootDirectory: number;
  VolumeSerialNumber: number;
  FileSystemRevision: number;
  VolumeFlags: number;
  BytesPerSectorShift: number;
  SectorsPerClusterShift: number;
  NumberOfFats: number;
  PercentInUse: number;
}

const FILE_SYSTEM_NAME = 'EXFAT   ';
/** Main and backup boot regions are 12 sectors each (§2, Table 3). */
const BOOT_REGION_SECTORS = 12;

function parseBootSector(b: Buffer): BootSector {
  return {
    PartitionOffset: b.readBigUInt64LE(64),
    VolumeLength: b.readBigUInt64LE(72),
    FatOffset: b.readUInt32LE(80),
    FatLength: b.readUInt32LE(84),
    ClusterHeapOffset: b.readUInt32LE(88),
    ClusterCount: b.readUInt32LE(92),
    FirstClusterOfRootDirectory: b.readUInt32LE(96),
    VolumeSerialNumber: b.readUInt32LE(100),
    FileSystemRevision: b.readUInt16LE(104),
    VolumeFlags: b.readUInt16LE(106),
    BytesPerSectorShift: b[108]!,
    SectorsPerClusterShift: b[109]!,
    NumberOfFats: b[110]!,
    PercentInUse: b[112]!,
  };
}

/** Why a boot sector cannot be used, or null when every field is in its valid range (§3.1.x). */
function bootSectorProblem(b: Buffer, bs: BootSector): string | null {
  if (b.toString('latin1', 3, 11) !== FILE_SYSTEM_NAME) return 'no "EXFAT" file system name';
  // MustBeZero covers the FAT BIOS parameter block so FAT drivers never take exFAT for FAT (§3.1.3).
  for (let i = 11; i < 64; i++) if (b[i] !== 0) return 'MustBeZero field is not zero';
  if (b.readUInt16LE(510) !== 0xaa55) return 'boot signature is not 55AA';
  const bps = bs.BytesPerSectorShift;
  if (bps < 9 || bps > 12) return `BytesPerSectorShift ${bps} is outside 9…12`;
  if (bs.SectorsPerClusterShift > 25 - bps) return `SectorsPerClusterShift ${bs.SectorsPerClusterShift} makes clusters over 32 MiB`;
  if (bs.NumberOfFats !== 1 && bs.NumberOfFats !== 2) return `NumberOfFats ${bs.NumberOfFats} is not 1 or 2`;
  if (bs.FileSystemRevision >> 8 !== 1) return `file system revision ${bs.FileSystemRevision >> 8}.${bs.FileSystemRevision & 0xff} is not 1.x`;
  if (bs.FatOffset < 24) return `FatOffset ${bs.FatOffset} is inside the boot regions`;
  if (bs.ClusterCount < 1 || bs.ClusterCount > 0xfffffff5) return `ClusterCount ${bs.ClusterCount} is out of range`;
  const sector = 2 ** bps;
  if (bs.FatLength * sector < (bs.ClusterCount + 2) * 4) return `FatLength ${bs.FatLength} is too small for ${bs.ClusterCount} clusters`;
  if (bs.ClusterHeapOffset < bs.FatOffset + bs.FatLength * bs.NumberOfFats) return 'ClusterHeapOffset overlaps the FAT';
  const heapEnd = BigInt(bs.ClusterHeapOffset) + (BigInt(bs.ClusterCount) << BigInt(bs.SectorsPerClusterShift));
  if (heapEnd > bs.VolumeLength) return 'the cluster heap reaches past VolumeLength';
  const root = bs.FirstClusterOfRootDirectory;
  if (root < 2 || root > bs.ClusterCount + 1) return `FirstClusterOfRootDirectory ${root} is not a cluster of the heap`;
  return null;
}

/** §3.4 Figure 1: a rotate-right-and-add over the 11 sectors, skipping VolumeFlags and PercentInUse. */
function bootChecksum(sectors: Buffer, bytesPerSector: number): number {
  const n = bytesPerSector * 11;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (i === 106 || i === 107 || i === 112) continue;
    sum = (((sum & 1) << 31) | (sum >>> 1)) + sectors[i]!;
    sum >>>= 0;
  }
  return sum;
}

/** Reads and checks one boot region (main at sector 0, backup at sector 12). Null result: problem text. */
async function readBootRegion(src: ByteSource, firstSector: number, shift: number): Promise<{ bs: BootSector } | { problem: string }> {
  const sector = 2 ** shift;
  const at = firstSector * sector;
  if (at + BOOT_REGION_SECTORS * sector > src.size) return { problem: 'cut short by the end of the volume' };
  const region = await readExact(src, at, BOOT_REGION_SECTORS * sector, 'exFAT boot region');
  const bs = parseBootSector(region);
  if (bs.BytesPerSectorShift !== shift) return { problem: `BytesPerSectorShift ${bs.BytesPerSectorShift} does not match` };
  const problem = bootSectorProblem(region, bs);
  if (problem) return { problem };
  const want = bootChecksum(region, sector);
  // The checksum sector repeats the 32-bit value to its end (§3.4).
  for (let off = 11 * sector; off < 12 * sector; off += 4) {
    if (region.readUInt32LE(off) !== want) return { problem: 'boot checksum mismatch' };
  }
  return { bs };
}

// ---------------------------------------------------------------------------------------------
// Directory entries (§6, §7). Every entry is 32 bytes; EntryType bit 7 is InUse.

const ENTRY_SIZE = 32;
const TYPE_END_OF_DIRECTORY = 0x00;
const TYPE_ALLOCATION_BITMAP = 0x81; // §7.1
const TYPE_UPCASE_TABLE = 0x82; // §7.2
const TYPE_VOLUME_LABEL = 0x83; // §7.3
const TYPE_FILE = 0x85; // §7.4
const TYPE_VOLUME_GUID = 0xa0; // §7.5
const TYPE_STREAM_EXTENSION = 0xc0; // §7.6
const TYPE_FILE_NAME = 0xc1; // §7.7
const IN_USE = 0x80;
/** TypeImportance bit (§6.2.1.2): 0 = critical, 1 = benign. */
const BENIGN = 0x20;
/** TypeCategory bit (§6.2.1.3): 0 = primary, 1 = secondary. */
const SECONDARY = 0x40;

/** FileAttributes (§7.4.4, Table 28). */
const ATTR_READ_ONLY = 0x01;
const ATTR_HIDDEN = 0x02;
const ATTR_SYSTEM = 0x04;
const ATTR_DIRECTORY = 0x10;
const ATTR_ARCHIVE = 0x20;

/** GeneralSecondaryFlags (§6.4.2). */
const FLAG_ALLOCATION_POSSIBLE = 0x01;
const FLAG_NO_FAT_CHAIN = 0x02;

/** Largest folder the spec allows (§9.5): bounds what one readdir reads. */
const MAX_DIRECTORY_BYTES = 256 * 1024 * 1024;

/** §6.3.3 Figure 2: 16-bit rotate-and-add over the set, skipping the SetChecksum field itself. */
function entrySetChecksum(set: Buffer): number {
  let sum = 0;
  for (let i = 0; i < set.length; i++) {
    if (i === 2 || i === 3) continue;
    sum = ((((sum & 1) << 15) | (sum >>> 1)) + set[i]!) & 0xffff;
  }
  return sum;
}

/** §7.2.2: the up-case table checksum is the boot checksum's rotate-and-add over all its bytes. */
function tableChecksum(data: Buffer): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = ((((sum & 1) << 31) | (sum >>> 1)) + data[i]!) >>> 0;
  return sum;
}

/**
 * Timestamp (§7.4.8: DoubleSeconds 0–4, Minute 5–10, Hour 11–15, Day 16–20, Month 21–24,
 * Year 25–31 from 1980), 10msIncrement (§7.4.9: 0–199) and UtcOffset (§7.4.10: bit 7
 * OffsetValid, bits 0–6 a signed count of 15 minutes). The stored time is local; without a
 * valid offset we take it as UTC, the only choice that does not depend on the reader's zone.
 */
function exfatTime(ts: number, inc10ms: number, utcOffset: number): Timespec | undefined {
  if (ts === 0) return undefined;
  const sec2 = ts & 0x1f;
  const minute = (ts >>> 5) & 0x3f;
  const hour = (ts >>> 11) & 0x1f;
  const day = (ts >>> 16) & 0x1f;
  const month = (ts >>> 21) & 0x0f;
  const year = 1980 + ((ts >>> 25) & 0x7f);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec2 > 29) return undefined;
  let sec = Date.UTC(year, month - 1, day, hour, minute, sec2 * 2) / 1000;
  const inc = inc10ms <= 199 ? inc10ms : 0;
  sec += Math.floor(inc / 100);
  const nsec = (inc % 100) * 10_000_000;
  if (utcOffset & 0x80) {
    const quarters = utcOffset & 0x40 ? (utcOffset & 0x7f) - 0x80 : utcOffset & 0x7f;
    sec -= quarters * 15 * 60;
  }
  return { sec, nsec };
}

/** What one File directory entry set says (§7.4, §7.6, §7.7). */
interface FileEntrySet {
  name: string;
  attributes: number;
  create?: Timespec;
  modify?: Timespec;
  access?: Timespec;
  flags: number;
  validDataLength: number;
  firstCluster: number;
  dataLength: number;
  /** DataLength exactly as stored (a Number rounds past 2^53). */
  dataLengthExact: bigint;
}

/** Parses a checked entry set; a string is the reason it cannot be used. */
function parseFileSet(set: Buffer): FileEntrySet | string {
  const secondaryCount = set[1]!;
  if (set[ENTRY_SIZE] !== TYPE_STREAM_EXTENSION) return 'the entry after the File entry is not a Stream Extension';
  const s = set.subarray(ENTRY_SIZE, 2 * ENTRY_SIZE);
  const nameLength = s[3]!;
  if (nameLength < 1) return 'NameLength is 0';
  const nameEntries = Math.ceil(nameLength / 15);
  if (1 + nameEntries > secondaryCount) return `SecondaryCount ${secondaryCount} is too small for a ${nameLength}-character name`;
  const units = Buffer.allocUnsafe(nameEntries * 30);
  for (let i = 0; i < nameEntries; i++) {
    const e = set.subarray((2 + i) * ENTRY_SIZE, (3 + i) * ENTRY_SIZE);
    if (e[0] !== TYPE_FILE_NAME) return `entry ${2 + i} of the set is not a File Name entry`;
    e.copy(units, i * 30, 2, 32);
  }
  // Further secondaries: benign ones (vendor extensions) are ignored (§8.2 item 4); an
  // unrecognised critical one makes the whole set unrecognised (§8.2 item 3).
  for (let i = 2 + nameEntries; i <= secondaryCount; i++) {
    const t = set[i * ENTRY_SIZE]!;
    if (!(t & IN_USE) || !(t & SECONDARY)) return `entry ${i} of the set is not an in-use secondary entry`;
    if (!(t & BENIGN)) return `unrecognised critical secondary entry type 0x${t.toString(16)}`;
  }
  const dataLengthExact = s.readBigUInt64LE(24);
  const dataLength = Number(dataLengthExact);
  const validDataLength = Number(s.readBigUInt64LE(8));
  const f = set;
  return {
    name: units.toString('utf16le', 0, nameLength * 2),
    attributes: f.readUInt16LE(4),
    create: exfatTime(f.readUInt32LE(8), f[20]!, f[22]!),
    modify: exfatTime(f.readUInt32LE(12), f[21]!, f[23]!),
    access: exfatTime(f.readUInt32LE(16), 0, f[24]!),
    flags: s[1]!,
    validDataLength,
    firstCluster: s.readUInt32LE(20),
    dataLength,
    dataLengthExact,
  };
}

// ---------------------------------------------------------------------------------------------
// Up-case table (§7.2.5)

/**
 * Expands the (possibly compressed) up-case table: FFFFh followed by a count stands for that
 * many identity mappings. A table shorter than 64 Ki characters leaves the rest identity.
 */
function expandUpcase(data: Buffer): Uint16Array {
  const map = new Uint16Array(0x10000);
  for (let i = 0; i < 0x10000; i++) map[i] = i;
  let ch = 0;
  const n = Math.floor(data.length / 2);
  for (let i = 0; i < n && ch < 0x10000; i++) {
    const v = data.readUInt16LE(i * 2);
    if (v === 0xffff && i + 1 < n && ch !== 0xffff) {
      ch += data.readUInt16LE(++i * 2);
    } else {
      map[ch++] = v;
    }
  }
  return map;
}

/** The mandatory first 128 mappings (§7.2.5, Table 24), used when the volume's table is unusable. */
function asciiUpcase(): Uint16Array {
  const map = new Uint16Array(0x10000);
  for (let i = 0; i < 0x10000; i++) map[i] = i >= 0x61 && i <= 0x7a ? i - 0x20 : i;
  return map;
}

// ---------------------------------------------------------------------------------------------
// The file system

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

/**
 * A cluster chain resolved as far as a reader has needed so far: big files start streaming at
 * once, and only the FAT blocks actually used are read.
 */
interface Chain {
  what: string;
  /** Byte extents of the volume, one per run of consecutive clusters (the last grows as the walk goes on). */
  extents: Extent[];
  /** Clusters resolved. */
  total: number;
  /** Last cluster resolved. */
  cur: number;
  /** The end-of-chain mark was reached (or the chain is NoFatChain-contiguous). */
  ended: boolean;
  /** Visited clusters, built at the chain's first backward step (a loop needs one). */
  seen: Uint8Array | null;
  /** Longest chain accepted when walking to its end. */
  limit: number;
}

const FAT_BLOCK = 64 * 1024;
const FAT_BLOCKS_CACHED = 64;
const DIRS_CACHED = 64;
const MAX_WARNINGS = 200;

export class ExfatFileSystem implements FileSystem {
  readonly caseSensitive = false;
  readonly info: FsInfo;
  private readonly clusterSize: number;
  private readonly heapOffset: number;
  private readonly fatOffset: number;
  private readonly clusterCount: number;
  private readonly fatBlocks = new Lru<number, Buffer>(FAT_BLOCKS_CACHED);
  private readonly dirCache = new Lru<ExfatNode, { kids: ExfatNode[]; byName: Map<string, ExfatNode> }>(DIRS_CACHED);
  private upcase: Uint16Array = asciiUpcase();
  private bitmap: { firstCluster: number; dataLength: number; extents: Extent[] | null } | null = null;
  private readonly rootNode: ExfatNode;

  private constructor(
    private readonly src: ByteSource,
    private readonly bs: BootSector,
    warnings: string[],
  ) {
    const sector = 2 ** bs.BytesPerSectorShift;
    this.clusterSize = sector * 2 ** bs.SectorsPerClusterShift;
    this.heapOffset = bs.ClusterHeapOffset * sector;
    this.clusterCount = bs.ClusterCount;
    // ActiveFat (§3.1.13.1) picks the second FAT only on volumes that have two.
    const activeFat = bs.NumberOfFats === 2 && bs.VolumeFlags & 1 ? 1 : 0;
    this.fatOffset = (bs.FatOffset + activeFat * bs.FatLength) * sector;
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

  // --- clusters and the FAT (§4.1) ---

  private clusterOffset(cluster: number): number {
    return this.heapOffset + (cluster - 2) * this.clusterSize;
  }

  private validCluster(c: number): boolean {
    return c >= 2 && c <= this.clusterCount + 1;
  }

  /** The FAT block holding `cluster`'s entry (64 KiB, cached). */
  private async fatBlock(cluster: number): Promise<{ b: Buffer; first: number }> {
    const block = Math.floor((cluster * 4) / FAT_BLOCK);
    let b = this.fatBlocks.get(block);
    if (!b) {
      // The last block may end with the volume: take what is there if it holds the entry.
      b = await this.src.read(this.fatOffset + block * FAT_BLOCK, FAT_BLOCK);
      if (b.length < cluster * 4 - block * FAT_BLOCK + 4) throw corrupt(this.src.name, `truncated: the FAT entry of cluster ${cluster} is past the end of the volume`);
      this.fatBlocks.set(block, b);
    }
    return { b, first: (block * FAT_BLOCK) / 4 };
  }

  /** Starts a chain at `first`; NoFatChain allocations (§6.3.4.2) are one run of `needed` clusters, the FAT unread. */
  private startChain(what: string, first: number, needed: number | null, noFatChain: boolean, limit: number): Chain {
    const c: Chain = { what, extents: [], total: 0, cur: first, ended: false, seen: null, limit };
    if (needed === 0) {
      c.ended = true;
      return c;
    }
    if (!this.validCluster(first)) throw corrupt(what, `first cluster ${first} is outside the cluster heap (2…${this.clusterCount + 1})`);
    if (noFatChain) {
      if (needed === null) throw corrupt(what, 'NoFatChain without a length');
      if (first + needed - 1 > this.clusterCount + 1) throw corrupt(what, `its ${needed} contiguous clusters from ${first} run past the end of the cluster heap`);
      c.extents.push({ logical: 0, physical: this.clusterOffset(first), length: needed * this.clusterSize });
      c.total = needed;
      c.ended = true;
      return c;
    }
    c.extents.push({ logical: 0, physical: this.clusterOffset(first), length: this.clusterSize });
    c.total = 1;
    return c;
  }

  /**
   * Follows the FAT (§4.1.3) until `c` holds `want` clusters, or to the end-of-chain mark when
   * `want` is null. Chains that loop, leave the heap, hit a free or bad cluster, or end early
   * fail with the name of what they belong to.
   */
  private async extendChain(c: Chain, want: number | null): Promise<void> {
    while (want === null || c.total < want) {
      if (c.ended) {
        if (want === null) return;
        throw corrupt(c.what, `cluster chain ends after ${c.total} clusters, ${want} are needed for its length`);
      }
      const { b, first } = await this.fatBlock(c.cur);
      // Walk synchronously while the chain stays inside this FAT block.
      for (;;) {
        const at = (c.cur - first) * 4;
        if (at < 0 || at + 4 > b.length) break;
        const cur = c.cur;
        const next = b.readUInt32LE(at);
        if (next === 0xffffffff) {
          c.ended = true;
          break;
        }
        if (next === 0xfffffff7) throw corrupt(c.what, `cluster chain reaches a bad-cluster mark after cluster ${cur}`);
        if (!this.validCluster(next)) throw corrupt(c.what, `cluster chain leaves the cluster heap: cluster ${cur} points to ${next}`);
        if (want === null && c.total >= c.limit) throw corrupt(c.what, `cluster chain is longer than ${c.limit} clusters`);
        // A chain may never point back into itself (§4.1.3). Any loop needs a backward step,
        // so the visited set is only built at the first one.
        if (next <= cur && !c.seen) {
          c.seen = new Uint8Array(Math.ceil((this.clusterCount + 2) / 8));
          for (const e of c.extents) {
            const from = (e.physical - this.heapOffset) / this.clusterSize + 2;
            for (let x = from; x < from + e.length / this.clusterSize; x++) c.seen[x >>> 3]! |= 1 << (x & 7);
          }
        }
        if (c.seen) {
          if (c.seen[next >>> 3]! & (1 << (next & 7))) throw corrupt(c.what, `cluster chain loops: cluster ${cur} points back to ${next}`);
          c.seen[next >>> 3]! |= 1 << (next & 7);
        }
        if (next === cur + 1) c.extents[c.extents.length - 1]!.length += this.clusterSize;
        else c.extents.push({ logical: c.total * this.clusterSize, physical: this.clusterOffset(next), length: this.clusterSize });
        c.total++;
        c.cur = next;
        if (want !== null && c.total >= want) break;
      }
    }
  }

  /** A whole chain: `needed` clusters long, or to its end mark when null (the root folder). */
  private async chain(what: string, first: number, needed: number | null, noFatChain: boolean, limit: number): Promise<Extent[]> {
    const c = this.startChain(what, first, needed, noFatChain, limit);
    await this.extendChain(c, needed);
    return c.extents;
  }

  /** Bytes [offset, offset + length) of a chain resolved whole (`extents`) into out[outAt …]. */
  private async readChain(extents: Extent[], offset: number, length: number, out: Buffer, outAt: number): Promise<void> {
    const last = extents[extents.length - 1];
    const src = new ExtentSource(this.src, extents, last ? last.logical + last.length : 0, this.src.name, { gapsAreErrors: 'exFAT cluster chain' });
    if ((await src.readInto(out, outAt, offset, length)) < length) throw corrupt(this.src.name, 'exFAT: a read reaches past the end of its cluster chain');
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
          if (len < Math.ceil(this.clusterCount / 8) || !this.validCluster(first)) this.warn('the allocation bitmap entry is invalid; allocation is not checked');
          else this.bitmap = { firstCluster: first, dataLength: len, extents: null };
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
    if (len < 2 || len > 0x20000 || !this.validCluster(first)) {
      this.warn('the up-case table entry is invalid; names are compared by ASCII case only');
      return;
    }
    try {
      const extents = await this.chain('exFAT up-case table', first, Math.ceil(len / this.clusterSize), false, this.clusterCount);
      const data = Buffer.allocUnsafe(len);
      await this.readChain(extents, 0, len, data, 0);
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
      if (!bm.extents) bm.extents = await this.chain('exFAT allocation bitmap', bm.firstCluster, Math.ceil(bm.dataLength / this.clusterSize), false, this.clusterCount);
      const bit = cluster - 2;
      const byte = Buffer.allocUnsafe(1);
      await this.readChain(bm.extents, bit >>> 3, 1, byte, 0);
      return (byte[0]! & (1 << (bit & 7))) !== 0;
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
    const extents = await this.chain(this.where(path), dir.firstCluster, needed, dir.noFatChain, limit);
    const last = extents[extents.length - 1];
    const bytes = dir.dataLength >= 0 ? dir.dataLength : last ? last.logical + last.length : 0;
    const buf = Buffer.allocUnsafe(bytes);
    await this.readChain(extents, 0, bytes, buf, 0);
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
    if (allocated > 0 && this.validCluster(f.firstCluster) && !(await this.clusterInUse(f.firstCluster))) allocated = 0;
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
    return new LazyExtentSource(this.src, this.fileChain(path, n, valid), n.dataLength, name, { validSize: valid, gapsAreErrors: 'cluster chain' });
  }

  /**
   * A file's chain as an ExtentMap, walked as far as reads need (big files start streaming at
   * once, and only the FAT blocks actually used are read); started at the first read, so a
   * damaged chain fails the read, not the open.
   */
  private fileChain(path: string, n: ExfatNode, validDataLength: number): ExtentMap {
    const cs = this.clusterSize;
    let chain: Chain | null = null;
    const map = {
      extents: [] as readonly Extent[],
      known: 0,
      extend: async (end: number): Promise<void> => {
        chain ??= this.startChain(this.where(path), n.firstCluster, Math.ceil(validDataLength / cs), n.noFatChain, this.clusterCount);
        map.extents = chain.extents;
        await this.extendChain(chain, Math.ceil(end / cs));
        map.known = chain.total * cs;
      },
    };
    return map;
  }

  async close(): Promise<void> {
    this.fatBlocks.clear();
    this.dirCache.clear();
  }
}

function attributeWords(a: number): string[] {
  const out: string[] = [];
  if (a & ATTR_READ_ONLY) out.push('readonly');
  if (a & ATTR_HIDDEN) out.push('hidden');
  if (a & ATTR_SYSTEM) out.push('system');
  if (a & ATTR_ARCHIVE) out.push('archive');
  return out;
}

export const exfatFormat: FsFormat = {
  name: 'exfat',
  probe: (head) => head.length >= 512 && head.toString('latin1', 3, 11) === FILE_SYSTEM_NAME,
  open: (src) => ExfatFileSystem.open(src),
};
