/**
 * The ext2/3/4 FileSystem: ties the superblock, group descriptors, inodes, block mapping,
 * folders, xattrs and the in-memory journal replay together behind the fs-layer interface.
 * Read-only: every byte comes through the volume's ByteSource, patched by the journal overlay.
 */
import { DiskpickError, corrupt, unsupported } from '../../errors.js';
import { CachedSource } from '../../source/cache.js';
import { ExtentSource, HOLE, type Extent } from '../../source/extents.js';
import { BufferSource, hostRunsOf, readInto, readSpan, type ByteSource, type HostRun } from '../../source/source.js';
import { Lru } from '../../source/lru.js';
import { scratch } from '../../source/scratch.js';
import { dropEntries, partialStat, type FileSystem, type FileType, type FsFormat, type FsInfo, type FsNode, type NameList, type ReaddirOptions, type Stat } from '../types.js';
import { dirEntriesBuilder, endDirEntries, hasDirTail, dirTailChecksumOk, parseDirRegion, type DirEntries } from './dir.js';
import { blockMapExtents, extentTreeExtents, hasExtentHeader, type BlockReader } from './extents.js';
import { INODE_FLAGS, fileTypeOfMode, inodeCsumSeed, inodeRdev, parseInode, type Inode } from './inode.js';
import { parseJournalSuperblock, replayJournal, unescapeBlock, type OverlayEntry } from './journal.js';
import {
  COMPAT, INCOMPAT, probeExt, RO_COMPAT, SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, descriptorBlocks, featureNames, formatUuid,
  fsTypeName, groupDescChecksumOk, hasCompat, hasIncompat, hasRoCompat, parseGroupDesc, parseSuperblock,
  type GroupDesc, type Superblock,
} from './superblock.js';
import { EXT4_XATTR_MAGIC, aclToXattrForm, parseXattrEntries, type XattrEntry } from './xattr.js';

const ROOT_INO = 2;
/** Messages listed per warning kind before they are only counted. */
const WARN_LIST_MAX = 5;
const INODE_CACHE_MAX = 16384;
const DIR_CACHE_MAX = 64;
/** Largest xattr value read from an ea_inode (the kernel caps values at 64 KiB … a few MiB). */
const EA_INODE_VALUE_MAX = 16 << 20;

interface ExtNode extends FsNode {
  /** Null when the inode could not be read; `error` says why. */
  inode: Inode | null;
  error?: DiskpickError;
}

export const extFormat: FsFormat = {
  name: 'ext',
  probe: probeExt,
  open(src: ByteSource): Promise<FileSystem> {
    return ExtFs.open(src);
  },
};


/**
 * Positions of the folder entries whose node a names-only listing makes: folders and entries
 * the folder does not type. A function of its own so that the per-entry loop is all V8's
 * optimizing compiler compiles: inside the async readdirNames it made the compiler take that
 * whole function, 20-30 ms of compiler-thread CPU in a FUSE mount's first walk of 100 000
 * files (--trace-opt), on a machine of 2 cores.
 */
function entriesNeedingNodes(types: ReadonlyArray<FileType | null>): number[] {
  const at: number[] = [];
  for (let i = 0; i < types.length; i++) if (types[i] === null || types[i] === 'dir') at.push(i);
  return at;
}
export class ExtFs implements FileSystem, BlockReader {
  readonly caseSensitive = true;
  info!: FsInfo;
  sb!: Superblock;
  private groups: GroupDesc[] = [];
  private readonly meta: CachedSource;
  private overlay = new Map<number, OverlayEntry>();
  private overlayKeys: number[] = [];
  /** The journal inode's data, read through the metadata cache (not the overlay it builds). */
  private journal: ExtentSource | null = null;
  /** The volume as the kernel sees it after recovery: file data is read through it. */
  private readonly data: ByteSource;
  private readonly inodeCache = new Map<number, Inode>();
  /** Folders looked up in: their entries and each name's index (the last, should a damaged folder repeat one). */
  private readonly dirCache = new Lru<number, { entries: DirEntries; byName: Map<string, number> }>(DIR_CACHE_MAX);
  private readonly warnCounts = new Map<string, { count: number; summaryAt: number }>();

  private constructor(private readonly src: ByteSource) {
    // Metadata (inode tables, folders, extent blocks) in 64 KiB chunks: an inode read pulls in
    // its neighbours, which an ls -R over a whole folder then finds cached.
    this.meta = new CachedSource(src, 64 * 1024, 32 * 1024 * 1024);
    this.data = new RecoveredVolume(this, src);
  }

  get blockSize(): number {
    return this.sb.blockSize;
  }
  get blocksCount(): number {
    return this.sb.s_blocks_count;
  }
  get metadataCsum(): boolean {
    return hasRoCompat(this.sb, RO_COMPAT.metadata_csum);
  }

  static async open(src: ByteSource): Promise<ExtFs> {
    const fs = new ExtFs(src);
    await fs.load();
    return fs;
  }

  private async load(): Promise<void> {
    const warnings: string[] = [];
    this.info = { type: 'ext2', label: null, uuid: null, size: 0, blockSize: 0, warnings, details: {} };
    await this.readSuperblockAndGroups();
    const sb = this.sb;
    if (hasIncompat(sb, INCOMPAT.encrypt)) {
      warnings.push('some files may be encrypted (fscrypt); their names and contents cannot be read');
    }
    const details = this.info.details;
    if (hasIncompat(sb, INCOMPAT.recover)) {
      if (!hasCompat(sb, COMPAT.has_journal) || sb.s_journal_inum === 0) {
        warnings.push('the volume needs journal recovery but its journal is on an external device; shown as it is on disk');
      } else {
        try {
          await this.replay();
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          // A damaged journal must not hide the rest of the volume: show it as it is on disk.
          this.overlay = new Map();
          this.overlayKeys = [];
          this.inodeCache.clear();
          await this.readSuperblockAndGroups();
          details.journal = 'needs recovery, not replayed';
          warnings.push(`the volume needs journal recovery but the journal could not be replayed (${err.message}); shown as it is on disk`);
        }
      }
    } else if (hasCompat(sb, COMPAT.has_journal)) {
      details.journal = 'clean';
    }
    const s = this.sb;
    this.info.type = fsTypeName(s);
    this.info.label = s.s_volume_name || null;
    this.info.uuid = formatUuid(s.s_uuid);
    this.info.size = s.s_blocks_count * s.blockSize;
    this.info.blockSize = s.blockSize;
    Object.assign(details, {
      features: featureNames(s).join(' '),
      revision: s.s_rev_level,
      inodeCount: s.s_inodes_count,
      blockCount: s.s_blocks_count,
      freeBlocks: s.s_free_blocks_count,
      freeInodes: s.s_free_inodes_count,
      groups: s.groupCount,
      inodeSize: s.s_inode_size,
      blocksPerGroup: s.s_blocks_per_group,
      inodesPerGroup: s.s_inodes_per_group,
      state: s.s_state & 1 ? 'clean' : 'not clean',
      lastMounted: s.s_last_mounted,
      created: new Date(s.s_mkfs_time * 1000).toISOString(),
      lastWritten: new Date(s.s_wtime * 1000).toISOString(),
    });
    if (this.src.size < this.info.size) {
      warnings.push(`the volume is ${this.src.size} bytes but the filesystem spans ${this.info.size}: files past the end cannot be read`);
    }
  }

  /** Reads (or re-reads after a replay) the superblock and descriptors, through the overlay. */
  private async readSuperblockAndGroups(): Promise<void> {
    const raw = await this.readRange(SUPERBLOCK_OFFSET, SUPERBLOCK_SIZE, true);
    const sb = parseSuperblock(raw, this.src.name, this.src.size);
    this.sb = sb;
    if (!sb.checksumOk) this.warn('superblock checksum', 'superblock checksum mismatch');
    const blocks = descriptorBlocks(sb);
    const perBlock = sb.blockSize / sb.descSize;
    const groups: GroupDesc[] = [];
    for (let i = 0; i < blocks.length; i++) {
      const blk = blocks[i]!;
      if (blk >= sb.s_blocks_count) throw corrupt(this.src.name, `group descriptor block ${blk} is outside the volume`);
      const b = await this.readRange(blk * sb.blockSize, sb.blockSize, true);
      for (let j = 0; j < perBlock && groups.length < sb.groupCount; j++) {
        const g = groups.length;
        if (!groupDescChecksumOk(sb, g, b, j * sb.descSize)) this.warn('group descriptor checksum', `group ${g} descriptor checksum mismatch`);
        groups.push(parseGroupDesc(sb, b, j * sb.descSize));
      }
    }
    this.groups = groups;
  }

  /** jbd2 recovery into the overlay; the superblock and descriptors are then re-read through it. */
  private async replay(): Promise<void> {
    const name = this.src.name;
    const jino = this.sb.s_journal_inum;
    const jinode = await this.inode(jino);
    const jname = `${name}: journal inode ${jino}`;
    this.journal = new ExtentSource(this.meta, await this.extentsOf(jinode, jname), Math.ceil(jinode.size / this.blockSize) * this.blockSize, jname);
    const jblocks = Math.ceil(jinode.size / this.blockSize);
    const readJ = async (n: number): Promise<Buffer> => this.readJournalBlock(n);
    if (jblocks < 2) throw corrupt(name, 'the journal inode is empty');
    const jsb = parseJournalSuperblock(await readJ(0), name);
    if (jsb.s_blocksize !== this.blockSize) throw unsupported(name, `journal block size ${jsb.s_blocksize} differs from the filesystem's`);
    if (jsb.s_maxlen > jblocks) throw corrupt(name, `journal claims ${jsb.s_maxlen} blocks but its inode holds ${jblocks}`);
    const r = await replayJournal(jsb, readJ, this.blocksCount, name);
    this.overlay = r.overlay;
    this.overlayKeys = [...r.overlay.keys()].sort((a, b) => a - b);
    this.inodeCache.clear();
    this.dirCache.clear();
    const d = this.info.details;
    d.journal = 'replayed in memory';
    d.journalTransactions = r.transactions;
    d.journalBlocks = r.overlay.size;
    d.journalRevoked = r.revoked;
    if (r.badChecksums) d.journalBadChecksums = r.badChecksums;
    if (r.transactions > 0) d.journalSequences = `${r.firstSequence}-${r.lastSequence}`;
    this.info.warnings.push(
      `the volume was not cleanly unmounted: journal replayed in memory (${r.transactions} transactions, ${r.overlay.size} blocks); the image was not changed`,
    );
    for (const n of r.notes.slice(0, WARN_LIST_MAX)) this.info.warnings.push(n);
    await this.readSuperblockAndGroups();
  }

  /** Journal block `n`: unmapped and uninitialized blocks read as zeros. */
  private async readJournalBlock(n: number): Promise<Buffer> {
    const bs = this.blockSize;
    const b = await this.journal!.read(n * bs, bs);
    return b.length === bs ? b : Buffer.concat([b, Buffer.alloc(bs - b.length)]);
  }

  /** Reads device bytes, failing (not zero-filling) when the image is cut short. */
  private async readDevice(offset: number, length: number, cached: boolean): Promise<Buffer> {
    const b = await (cached ? this.meta : this.src).read(offset, length);
    if (b.length < length) throw this.truncated(offset + b.length, offset + length);
    return b;
  }

  /** Bytes of the volume as the kernel sees them after recovery: the device, patched by the overlay. */
  async readRange(offset: number, length: number, cached: boolean): Promise<Buffer> {
    const b = await this.readDevice(offset, length, cached);
    if (!this.overlaps(offset, length)) return b;
    // Cached buffers are shared: patch a private copy.
    const own = Buffer.from(b);
    await this.patch(own, 0, offset, length);
    return own;
  }

  /** readRange into `target` (from its start), uncached. */
  private async readRangeInto(target: Buffer, offset: number, length: number): Promise<void> {
    const got = await readInto(this.src, target, 0, offset, length);
    if (got < length) throw this.truncated(offset + got, offset + length);
    if (this.overlaps(offset, length)) await this.patch(target, 0, offset, length);
  }

  private truncated(from: number, to: number): DiskpickError {
    return corrupt(this.src.name, `truncated: bytes ${from}…${to} of the filesystem are past the end of the image`);
  }

  /** Whether the replayed journal holds a block of [offset, offset + length). */
  private overlaps(offset: number, length: number): boolean {
    if (this.overlayKeys.length === 0 || length === 0) return false;
    const i = lowerBound(this.overlayKeys, Math.floor(offset / this.blockSize));
    return i < this.overlayKeys.length && this.overlayKeys[i]! <= Math.floor((offset + length - 1) / this.blockSize);
  }

  /** Writes the journal's newer copies of the blocks in [offset, offset + length) over target[at …]. */
  private async patch(target: Buffer, at: number, offset: number, length: number): Promise<void> {
    const bs = this.blockSize;
    const last = Math.floor((offset + length - 1) / bs);
    for (let i = lowerBound(this.overlayKeys, Math.floor(offset / bs)); i < this.overlayKeys.length && this.overlayKeys[i]! <= last; i++) {
      const blk = this.overlayKeys[i]!;
      const e = this.overlay.get(blk)!;
      let data = await this.readJournalBlock(e.journalBlock);
      if (e.escaped) data = unescapeBlock(data);
      const blockStart = blk * bs;
      const from = Math.max(offset, blockStart);
      const to = Math.min(offset + length, blockStart + bs);
      data.copy(target, at + from - offset, from - blockStart, to - blockStart);
    }
  }

  /** File data straight from the device into target (zero-copy), patched by the overlay. */
  async readDataInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const got = await readInto(this.src, target, at, offset, length);
    if (got < length) {
      throw corrupt(this.src.name, `truncated: bytes ${offset + got}…${offset + length} of the filesystem are past the end of the image`);
    }
    if (this.overlaps(offset, length)) await this.patch(target, at, offset, length);
    return got;
  }

  /**
   * Where volume bytes lie in host files; null where the journal overlay patches any of them
   * (those bytes are not in the image as read).
   */
  dataHostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    if (this.overlaps(offset, length)) return Promise.resolve(null);
    return hostRunsOf(this.src, offset, length);
  }

  async readBlock(block: number, what: string): Promise<Buffer> {
    if (!Number.isSafeInteger(block) || block >= this.blocksCount) throw corrupt(this.src.name, `${what} is outside the volume`);
    return this.readRange(block * this.blockSize, this.blockSize, true);
  }

  warnChecksum(what: string): void {
    this.warn('metadata checksum', `checksum mismatch: ${what}`);
  }

  /** Records a warning; each kind lists a few messages, then one line counts the rest. */
  private warn(kind: string, msg: string): void {
    const w = this.info.warnings;
    // The same problem met again (a folder listed twice) is one warning.
    if (w.includes(msg)) return;
    let c = this.warnCounts.get(kind);
    if (!c) {
      c = { count: 0, summaryAt: -1 };
      this.warnCounts.set(kind, c);
    }
    c.count++;
    if (c.count <= WARN_LIST_MAX) {
      w.push(msg);
      return;
    }
    const line = `${c.count - WARN_LIST_MAX} more ${kind} mismatches`;
    if (c.summaryAt < 0) {
      c.summaryAt = w.length;
      w.push(line);
    } else w[c.summaryAt] = line;
  }

  /** Where inode `ino`'s record is: byte offset of its group's table and its index there. */
  private inodeLocation(ino: number): { table: number; idx: number } {
    const sb = this.sb;
    const name = this.src.name;
    if (!Number.isSafeInteger(ino) || ino < 1 || ino > sb.s_inodes_count) throw corrupt(name, `inode ${ino} does not exist (the volume has ${sb.s_inodes_count})`);
    const g = Math.floor((ino - 1) / sb.s_inodes_per_group);
    const gd = this.groups[g];
    if (!gd) throw corrupt(name, `inode ${ino} is in a missing block group`);
    const tableBlocks = Math.ceil((sb.s_inodes_per_group * sb.s_inode_size) / sb.blockSize);
    if (gd.bg_inode_table === 0 || gd.bg_inode_table + tableBlocks > sb.s_blocks_count) {
      throw corrupt(name, `block group ${g}: inode table is outside the volume`);
    }
    return { table: gd.bg_inode_table * sb.blockSize, idx: (ino - 1) % sb.s_inodes_per_group };
  }

  /** Parses a record (which must not be a view of a shared cache block) and caches it. */
  private addInode(ino: number, raw: Buffer): Inode {
    const inode = parseInode(this.sb, ino, raw);
    if (!inode.checksumOk && inode.i_mode !== 0) this.warn('inode checksum', `inode ${ino} checksum mismatch`);
    if (this.inodeCache.size >= INODE_CACHE_MAX) {
      // Evict the older half in one pass: deleting one head entry at a time makes each next
      // keys() walk over the deleted slots, which turns a 100 000-file listing quadratic.
      let n = INODE_CACHE_MAX / 2;
      for (const k of this.inodeCache.keys()) {
        this.inodeCache.delete(k);
        if (--n === 0) break;
      }
    }
    this.inodeCache.set(ino, inode);
    return inode;
  }

  /** One inode by number, cached. */
  async inode(ino: number): Promise<Inode> {
    const hit = this.inodeCache.get(ino);
    if (hit) return hit;
    const { table, idx } = this.inodeLocation(ino);
    const isz = this.sb.s_inode_size;
    return this.addInode(ino, Buffer.from(await this.readRange(table + idx * isz, isz, true)));
  }

  /**
   * Loads the inodes of a folder's entries with a few large reads of the inode tables instead
   * of one small read each: entries made together have neighbouring inode numbers.
   */
  private async prefetchInodes(inos: number[]): Promise<void> {
    const isz = this.sb.s_inode_size;
    const ipg = this.sb.s_inodes_per_group;
    const want = [...new Set(inos)].filter((i) => !this.inodeCache.has(i) && i >= 1 && i <= this.sb.s_inodes_count).sort((a, b) => a - b);
    // Never prefetch more than the cache holds, or the first would be evicted before use.
    if (want.length > INODE_CACHE_MAX / 2) want.length = INODE_CACHE_MAX / 2;
    const SPAN = (1 << 20) / isz;
    const GAP = (32 << 10) / isz;
    const groups: [number, number][] = [];
    for (let i = 0; i < want.length; ) {
      const first = want[i]!;
      const g = Math.floor((first - 1) / ipg);
      let j = i + 1;
      // One read covers later wanted inodes of the same group within 1 MiB of the first, as
      // long as they follow closely: the sub-folders of a big folder lie thousands of inodes
      // apart, and a 1 MiB read for each of them cost more than the whole names-only listing.
      while (j < want.length && Math.floor((want[j]! - 1) / ipg) === g && want[j]! - first < SPAN && want[j]! - want[j - 1]! <= GAP) j++;
      groups.push([i, j]);
      i = j;
    }
    const readGroup = async (i: number, j: number) => {
      const first = want[i]!;
      const last = want[j - 1]!;
      let loc;
      try {
        loc = this.inodeLocation(first);
      } catch {
        return; // reported when the entry itself is read
      }
      let chunk: Buffer;
      try {
        chunk = await this.readRange(loc.table + loc.idx * isz, (last - first + 1) * isz, false);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        return; // e.g. a truncated table: each entry then reports its own inode
      }
      // The source may share its buffers, so the inodes get a private copy. A dense run (a
      // folder's files made together) is copied in one go; a sparse one record by record into
      // one compact buffer, so that the cached inodes never pin a mostly unused read.
      if ((j - i) * 2 >= last - first + 1) {
        const own = Buffer.from(chunk);
        for (let k = i; k < j; k++) {
          const at = (want[k]! - first) * isz;
          this.addInode(want[k]!, own.subarray(at, at + isz));
        }
      } else {
        const compact = Buffer.allocUnsafe((j - i) * isz);
        for (let k = i; k < j; k++) {
          const at = (want[k]! - first) * isz;
          chunk.copy(compact, (k - i) * isz, at, at + isz);
          this.addInode(want[k]!, compact.subarray((k - i) * isz, (k - i + 1) * isz));
        }
      }
    };
    // Scattered inodes (sub-folders) are one small read each: a few in flight at once.
    let next = 0;
    const worker = async () => {
      while (next < groups.length) {
        const [i, j] = groups[next++]!;
        await readGroup(i, j);
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, groups.length) }, worker));
  }

  /** Where an inode's data lies (extent tree or block map), as byte extents of the volume. */
  async extentsOf(inode: Inode, file: string): Promise<Extent[]> {
    const bs = this.blockSize;
    const maxLogical = Math.ceil(inode.size / bs);
    if (inode.i_flags & INODE_FLAGS.EXT4_EXTENTS_FL) {
      return extentTreeExtents(this, inode.i_block, file, this.metadataCsum ? inodeCsumSeed(this.sb, inode.ino, inode.i_generation) : 0, maxLogical);
    }
    return blockMapExtents(this, inode.i_block, file, maxLogical, Math.ceil(inode.allocated / bs));
  }

  private isInline(inode: Inode): boolean {
    return (inode.i_flags & INODE_FLAGS.EXT4_INLINE_DATA_FL) !== 0;
  }

  /** Inline data: 60 bytes of i_block followed by the system.data xattr value. */
  private inlineData(inode: Inode, file: string): Buffer {
    const extra = this.inodeXattrs(inode, file).find((e) => e.e_name_index === 7 && e.name === 'system.data');
    const tail = extra?.value ?? Buffer.alloc(0);
    return Buffer.concat([inode.i_block, tail]);
  }

  /** Entries in the inode body (after i_extra_isize), when present. */
  private inodeXattrs(inode: Inode, file: string): XattrEntry[] {
    const at = 128 + inode.i_extra_isize;
    const raw = inode.raw;
    if (this.sb.s_inode_size <= 128 || at + 4 > raw.length || raw.readUInt32LE(at) !== EXT4_XATTR_MAGIC) return [];
    const region = raw.subarray(at + 4);
    return parseXattrEntries(region, 0, 0, file);
  }

  private async blockXattrs(inode: Inode, file: string): Promise<XattrEntry[]> {
    if (inode.i_file_acl === 0) return [];
    const b = await this.readBlock(inode.i_file_acl, `xattr block of ${file}`);
    // struct ext4_xattr_header: h_magic, h_refcount, h_blocks (must be 1) … entries at 32.
    if (b.readUInt32LE(0) !== EXT4_XATTR_MAGIC || b.readUInt32LE(8) !== 1) throw corrupt(file, `xattr block ${inode.i_file_acl} has a bad header`);
    return parseXattrEntries(b, 32, 0, file);
  }

  // ---- FileSystem ----

  async root(): Promise<FsNode> {
    return this.nodeFor(ROOT_INO, '', null);
  }

  /** The node itself, or for a partial one (names-only listing) the node read from its inode. */
  private full(node: FsNode): Promise<ExtNode> | ExtNode {
    return node.partial ? this.nodeFor(node.stat.ino, node.name, node.stat.type) : (node as ExtNode);
  }

  async complete(node: FsNode): Promise<FsNode> {
    return this.full(node);
  }

  private async nodeFor(ino: number, name: string, direntType: Stat['type'] | null): Promise<ExtNode> {
    try {
      const inode = await this.inode(ino);
      if (inode.i_mode === 0 && inode.i_links_count === 0) throw corrupt(name || '/', `inode ${ino} is not in use`);
      const stat = await this.statOf(inode, name);
      return { name, stat, inode };
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      // The entry is still listed (type from the folder entry); reading it gives this error.
      const stat: Stat = { type: direntType ?? 'other', size: 0, allocated: 0, mode: 0, uid: 0, gid: 0, nlink: 0, ino, hasOwnership: true };
      return { name, stat, inode: null, error: err };
    }
  }

  /**
   * The largest file ext can hold: 2^32 logical blocks (extent and block-map offsets are 32-bit).
   * A larger i_size is damage; above 2^53 a Number would even show it rounded (issue 26: an
   * i_size of 2^60 + 1 was listed as 1152921504606847000). Such a file is listed with size 0
   * and an error, with a warning giving the stored size exactly.
   */
  private get maxFileSize(): number {
    return 2 ** 32 * this.blockSize;
  }

  private async statOf(inode: Inode, name: string): Promise<Stat> {
    if (inode.size > this.maxFileSize) {
      // i_size_lo at 0x4, i_size_high at 0x6C: exact, as BigInt.
      const exact = (BigInt(inode.raw.readUInt32LE(0x6c)) << 32n) | BigInt(inode.raw.readUInt32LE(0x4));
      const msg = `inode ${inode.ino} claims ${exact} bytes, more than ext can hold (${this.maxFileSize}); not read`;
      this.warn('size', `${name || '/'}: ${msg}`);
      throw corrupt(name || '/', msg);
    }
    const stat = this.plainStat(inode);
    if (stat.type === 'symlink') stat.symlinkTarget = (await this.symlinkBytes(inode, name)).toString('utf8');
    return stat;
  }

  /**
   * A node from a cached inode with no await, for all but symlinks (whose target may need a
   * read): a full listing of a big folder then costs no promise per entry. Null when the
   * asynchronous path (nodeFor) has to answer.
   */
  private cachedNode(ino: number, name: string): ExtNode | null {
    const inode = this.inodeCache.get(ino);
    if (!inode || (inode.i_mode === 0 && inode.i_links_count === 0) || (inode.i_mode & 0xf000) === 0xa000) return null;
    // An impossible size is reported (and the node made) by nodeFor.
    if (inode.size > this.maxFileSize) return null;
    return { name, stat: this.plainStat(inode), inode };
  }

  /** Everything of the stat but a symlink's target. */
  private plainStat(inode: Inode): Stat {
    const type = fileTypeOfMode(inode.i_mode);
    const stat: Stat = {
      type,
      size: inode.size,
      allocated: inode.allocated,
      mode: inode.i_mode & 0o7777,
      uid: inode.uid,
      gid: inode.gid,
      nlink: inode.i_links_count,
      ino: inode.ino,
      atime: inode.atime,
      mtime: inode.mtime,
      ctime: inode.ctime,
      hasOwnership: true,
    };
    if (inode.crtime) stat.birthtime = inode.crtime;
    if (type === 'chardev' || type === 'blockdev') stat.rdev = inodeRdev(inode);
    const sparse = type === 'file' && inode.allocated < inode.size && !this.isInline(inode);
    if (inode.i_flags & (0x10 | 0x20 | INODE_FLAGS.EXT4_ENCRYPT_FL) || sparse) {
      const attrs: string[] = [];
      if (inode.i_flags & 0x10) attrs.push('immutable');
      if (inode.i_flags & 0x20) attrs.push('append');
      if (inode.i_flags & INODE_FLAGS.EXT4_ENCRYPT_FL) attrs.push('encrypted');
      if (sparse) attrs.push('sparse');
      stat.attributes = attrs;
    }
    return stat;
  }

  /** Fast symlinks keep the target in i_block; slow ones in a data block; inline ones inline. */
  private async symlinkBytes(inode: Inode, file: string): Promise<Buffer> {
    const size = inode.size;
    if (size > 65536) throw corrupt(file, `symbolic link target is ${size} bytes long`);
    if (this.isInline(inode)) return this.inlineData(inode, file).subarray(0, size);
    const isExtents = (inode.i_flags & INODE_FLAGS.EXT4_EXTENTS_FL) !== 0;
    const xattrBlockSectors = inode.i_file_acl ? this.blockSize / 512 : 0;
    const fast = size < 60 && (isExtents ? !hasExtentHeader(inode.i_block) : inode.allocated / 512 <= xattrBlockSectors);
    if (fast) return Buffer.from(inode.i_block.subarray(0, size));
    const src = await this.dataSource(inode, file);
    return Buffer.from(await src.read(0, size));
  }

  private async dataSource(inode: Inode, file: string): Promise<ByteSource> {
    if (inode.i_flags & INODE_FLAGS.EXT4_ENCRYPT_FL) throw unsupported(file, 'the file is encrypted (fscrypt)');
    if (this.isInline(inode)) {
      const d = this.inlineData(inode, file);
      if (inode.size > d.length) throw corrupt(file, `inline file claims ${inode.size} bytes but holds ${d.length}`);
      return new BufferSource(d.subarray(0, inode.size), file);
    }
    return new ExtentSource(this.data, await this.extentsOf(inode, file), inode.size, file);
  }

  /** Every entry of a folder, from inline data or by walking all its blocks. */
  private async dirEntries(node: ExtNode): Promise<DirEntries> {
    const file = node.name || '/';
    if (node.error) throw node.error;
    const inode = node.inode!;
    if (fileTypeOfMode(inode.i_mode) !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', file);
    const ft = hasIncompat(this.sb, INCOMPAT.filetype);
    const out = dirEntriesBuilder(inode.size);
    if (this.isInline(inode)) {
      // The first four bytes of i_block are the parent's inode number; entries follow.
      const d = this.inlineData(inode, file);
      parseDirRegion(d.subarray(4, 60), ft, this.blockSize, file, out);
      if (d.length > 60) parseDirRegion(d.subarray(60), ft, this.blockSize, file, out);
      return endDirEntries(out, file, (m) => this.warn('name', m));
    }
    const bs = this.blockSize;
    const extents = await this.extentsOf(inode, file);
    const seed = this.metadataCsum ? inodeCsumSeed(this.sb, inode.ino, inode.i_generation) : 0;
    const maxBlocks = Math.ceil(inode.size / bs);
    // Large folders are read 1 MiB at a time, not block by block; into a reused buffer,
    // around the block cache: the names are copied out, nothing keeps the bytes.
    const chunk = Math.max(1, Math.floor((1 << 20) / bs));
    const data = scratch.take(Math.min(chunk, maxBlocks) * bs);
    try {
      for (const e of extents) {
        if (e.physical === HOLE) continue;
        const first = e.logical / bs;
        const count = Math.min(e.length / bs, maxBlocks - first);
        for (let i = 0; i < count; i += chunk) {
          const n = Math.min(chunk, count - i);
          await this.readRangeInto(data, e.physical + i * bs, n * bs);
          for (let k = 0; k < n; k++) {
            const blk = data.subarray(k * bs, (k + 1) * bs);
            const tail = hasDirTail(blk);
            if (tail && this.metadataCsum && !dirTailChecksumOk(blk, seed)) this.warnChecksum(`folder block ${first + i + k} of ${file}`);
            parseDirRegion(blk, ft, bs, file, out);
          }
        }
      }
    } finally {
      scratch.give(data);
    }
    return endDirEntries(out, file, (m) => this.warn('name', m));
  }

  async readdirNames(dir: FsNode): Promise<NameList> {
    const d = await this.full(dir);
    const e = await this.dirEntries(d);
    const n = e.inodes.length;
    // An entry the folder types as a non-folder (file_type) needs no inode read; folders
    // (walked into next, and checked for loops) and untyped entries get their node.
    const at = entriesNeedingNodes(e.types);
    // The parse is this call's own: its types become the answer's, null ones filled from nodes.
    const types = e.types as FileType[];
    if (at.length === 0) return { names: e.names, types, inos: e.inodes, nodes: [] };
    const nodes = new Array<FsNode | undefined>(n);
    await this.prefetchInodes(at.map((i) => e.inodes[i]!));
    let loops: Set<number> | null = null;
    for (const i of at) {
      const t = types[i] ?? null;
      const k = await this.entryNode(d, e.inodes[i]!, e.names[i]!, t);
      if (!k) (loops ??= new Set()).add(i);
      else {
        nodes[i] = k;
        types[i] = k.stat.type;
      }
    }
    if (!loops) return { names: e.names, types, inos: e.inodes, nodes };
    return dropEntries({ names: e.names, types, inos: e.inodes, nodes }, loops);
  }

  /**
   * The node of one folder entry, or null for a folder entry naming this folder or the root
   * (other than "." and ".."): it would make every recursive walk endless, so it is damage.
   */
  private async entryNode(dir: ExtNode, ino: number, name: string, type: FileType | null): Promise<ExtNode | null> {
    const k = this.cachedNode(ino, name) ?? (await this.nodeFor(ino, name, type));
    if (k.stat.type === 'dir' && (ino === dir.inode!.ino || ino === ROOT_INO)) {
      this.warn('folder loop', `folder entry ${name} (inode ${ino}) loops back; skipped`);
      return null;
    }
    return k;
  }

  async readdir(dir: FsNode, opts?: ReaddirOptions): Promise<FsNode[]> {
    const d = await this.full(dir);
    const l = await this.readdirNames(d);
    const out: FsNode[] = [];
    if (opts?.namesOnly) {
      for (let i = 0; i < l.names.length; i++) {
        const partial = (): ExtNode => ({ name: l.names[i]!, stat: partialStat(l.types[i]!, l.inos[i]!, true), inode: null, partial: true });
        out.push(l.nodes[i] ?? partial());
      }
      return out;
    }
    await this.prefetchInodes(l.inos.filter((_, i) => !l.nodes[i]));
    for (let i = 0; i < l.names.length; i++) {
      const k = l.nodes[i] ?? (await this.entryNode(d, l.inos[i]!, l.names[i]!, l.types[i]!));
      if (k) out.push(k);
    }
    return out;
  }

  async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
    const d = await this.full(dir);
    if (d.error) throw d.error;
    const ino = d.inode!.ino;
    let dc = this.dirCache.get(ino);
    if (!dc) {
      const entries = await this.dirEntries(d);
      const byName = new Map<string, number>();
      for (let i = 0; i < entries.names.length; i++) byName.set(entries.names[i]!, i);
      dc = { entries, byName };
      this.dirCache.set(ino, dc);
    }
    const { entries: e, byName } = dc;
    let i = byName.get(name);
    if (i === undefined && d.inode!.i_flags & INODE_FLAGS.EXT4_CASEFOLD_FL) {
      // casefold folders (the kernel folds with Unicode NFD + case folding) match any case.
      const fold = (x: string) => x.normalize('NFKD').toLowerCase();
      const want = fold(name);
      for (const j of byName.values()) if (fold(e.names[j]!) === want) i = j;
    }
    if (i === undefined) return null;
    const found = e.inodes[i]!;
    if ((found === ino || found === ROOT_INO) && e.types[i] === 'dir') return null;
    return this.nodeFor(found, e.names[i]!, e.types[i]!);
  }

  /**
   * Files in use that no folder lists (see src/fs/orphans.ts): inodes from s_first_ino on with
   * links, a mode and no deletion time that a walk of every folder from the root does not
   * reach — minus those a lost folder among them still lists, and minus xattr-value inodes
   * (EXT4_EA_INODE_FL: in use, never named). Named "#INO" as e2fsck names what it puts in
   * lost+found. Inodes on the orphan list (deleted while open) have no links and are not shown.
   */
  async orphans(): Promise<FsNode[]> {
    const sb = this.sb;
    const reached = new Set<number>([ROOT_INO]);
    const stack: FsNode[] = [await this.root()];
    while (stack.length) {
      const d = stack.pop()!;
      let l: NameList;
      try {
        l = await this.readdirNames(d);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        continue;
      }
      for (let i = 0; i < l.inos.length; i++) {
        const ino = l.inos[i]!;
        if (reached.has(ino)) continue;
        reached.add(ino);
        const k = l.nodes[i];
        if (k && k.stat.type === 'dir') stack.push(k);
      }
    }
    const isz = sb.s_inode_size;
    const ipg = sb.s_inodes_per_group;
    const perRead = Math.max(1, Math.floor((1 << 20) / isz));
    const lost: number[] = [];
    for (let g = 0; g < this.groups.length; g++) {
      const gd = this.groups[g];
      // EXT4_BG_INODE_UNINIT: the group's table was never written, no inode is in use.
      if (!gd || gd.bg_inode_table === 0 || gd.bg_flags & 0x1) continue;
      for (let idx = 0; idx < ipg; idx += perRead) {
        const n = Math.min(perRead, ipg - idx);
        let chunk: Buffer;
        try {
          chunk = await this.readRange(gd.bg_inode_table * sb.blockSize + idx * isz, n * isz, false);
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          break;
        }
        for (let k = 0; k < n && (k + 1) * isz <= chunk.length; k++) {
          const ino = g * ipg + idx + k + 1;
          if (ino < sb.s_first_ino || ino > sb.s_inodes_count || reached.has(ino)) continue;
          const at = k * isz;
          const mode = chunk.readUInt16LE(at);
          const links = chunk.readUInt16LE(at + 0x1a);
          const dtime = chunk.readUInt32LE(at + 0x14);
          const flags = chunk.readUInt32LE(at + 0x20);
          if (mode !== 0 && links !== 0 && dtime === 0 && !(flags & INODE_FLAGS.EXT4_EA_INODE_FL)) lost.push(ino);
        }
      }
    }
    const nodes = new Map<number, FsNode>();
    for (const ino of lost) nodes.set(ino, await this.nodeFor(ino, `#${ino}`, null));
    // A lost folder keeps its children: they are shown inside it, not again at the top.
    const listed = new Set<number>();
    for (const [ino, n] of nodes) {
      if (n.stat.type !== 'dir') continue;
      try {
        for (const k of (await this.readdirNames(n)).inos) if (k !== ino) listed.add(k);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
      }
    }
    return [...nodes].filter(([ino]) => !listed.has(ino)).map(([, n]) => n);
  }

  async openFile(node: FsNode, stream?: string): Promise<ByteSource> {
    const n = await this.full(node);
    if (stream) throw new DiskpickError('notFound', 'ext has no named streams', node.name);
    if (n.error) throw n.error;
    return this.dataSource(n.inode!, node.name);
  }

  async xattrs(node: FsNode): Promise<Map<string, Buffer>> {
    const n = await this.full(node);
    if (n.error) throw n.error;
    const inode = n.inode!;
    const file = node.name || '/';
    const all = [...this.inodeXattrs(inode, file), ...(await this.blockXattrs(inode, file))];
    const out = new Map<string, Buffer>();
    for (const e of all) {
      // Index 7 ("system.") holds inline data and other kernel-internal values that the kernel
      // does not list either; unknown indexes are private to their features.
      if (e.e_name_index === 7 || e.name.startsWith('unknown')) continue;
      let v = e.value;
      if (v === null) {
        if (e.e_value_size > EA_INODE_VALUE_MAX) throw corrupt(file, `xattr ${e.name} is ${e.e_value_size} bytes long`);
        const ea = await this.inode(e.e_value_inum);
        v = Buffer.from(await (await this.dataSource(ea, file)).read(0, e.e_value_size));
      }
      if (e.e_name_index === 2 || e.e_name_index === 3) v = aclToXattrForm(v, file);
      out.set(e.name, v);
    }
    return out;
  }

  async close(): Promise<void> {
    this.inodeCache.clear();
    this.dirCache.clear();
  }

  /** File data straight from the device (not the metadata cache), patched by the overlay. */
  readData(offset: number, length: number): Promise<Buffer> {
    return this.readRange(offset, length, false);
  }
}

/**
 * The volume as the kernel sees it after journal recovery: the device, patched by the replayed
 * blocks. File data (an ExtentSource over it) is read straight from the device, around the
 * metadata cache; host runs only where no replayed block lies.
 */
class RecoveredVolume implements ByteSource {
  readonly name: string;
  readonly size: number;

  constructor(private readonly fs: ExtFs, device: ByteSource) {
    this.name = device.name;
    this.size = device.size;
  }

  read(offset: number, length: number): Promise<Buffer> {
    return this.fs.readData(offset, readSpan(this.size, offset, length));
  }

  readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    return this.fs.readDataInto(target, at, offset, length);
  }

  hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    return this.fs.dataHostRuns(offset, length);
  }

  async close(): Promise<void> {}
}

function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
