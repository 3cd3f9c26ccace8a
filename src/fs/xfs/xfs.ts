/**
 * The XFS FileSystem: superblock and AG headers, inodes by number, fork mappings, folders,
 * xattrs and the log state behind the fs-layer interface. Read-only; every structure is
 * hostile input (loops in btrees are errors, sizes are bounded before anything is allocated).
 */
import { Lru } from '../../source/lru.js';
import { DiskpickError, corrupt, unsupported } from '../../errors.js';
import { CachedSource } from '../../source/cache.js';
import { ExtentSource, HOLE, checkExtents, type Extent } from '../../source/extents.js';
import { BufferSource, type ByteSource } from '../../source/source.js';
import { scratch } from '../../source/scratch.js';
import { partialStat, type FileSystem, type FileType, type FsFormat, type FsInfo, type FsNode, type NameList, type ReaddirOptions, type Stat } from '../types.js';
import { dirEntriesBuilder, endDirEntries, type DirEntries } from '../ext/dir.js';
import { aclXattrName, attrFullName, parseAttrShortform, readAttrTree, remoteAttrValue, xfsAclToXattr, type AttrBlocks, type AttrEntry } from './attr.js';
import { forkExtents, type BmapExtent, type ForkReader } from './bmap.js';
import { xfsCrcOk } from './crc.js';
import {
  XFS_DIR2_BLOCK_MAGIC, XFS_DIR2_LEAF_OFFSET, XFS_DIR3_BLOCK_MAGIC, XFS_DIR3_DATA_MAGIC, blockLeafAddresses, daHashName, entryAt, indexAddresses,
  parseDataBlock, parseShortform,
} from './dir.js';
import { DIFLAG, FORMAT, fileTypeOfMode, inodeRdev, parseInode, type Inode } from './inode.js';
import { logState } from './log.js';
import { ITEM_NAMES, OverlaySource, replayLog } from './replay.js';
import { probeXfs, featureNames, formatUuid, parseAgHeaders, parseSuperblock, type Superblock } from './superblock.js';

const WARN_LIST_MAX = 5;
const INODE_CACHE_MAX = 16384;
const DIR_CACHE_MAX = 64;
/** AG headers checked at open; a hostile sb_agcount must not make open slow. */
const AG_CHECK_MAX = 256;
/** Largest symlink target (XFS_SYMLINK_MAXLEN). */
const SYMLINK_MAX = 1024;
const XFS_SYMLINK_MAGIC = 0x58534c4d; // "XSLM"
const SYMLINK_HDR = 56;
/** Sub-folders read ahead per listing, and bytes of each (see readahead). */
const READAHEAD_DIRS = 256;
const READAHEAD_BYTES = 1 << 20;

interface XfsNode extends FsNode {
  /** Null when the inode could not be read; `error` says why. */
  inode: Inode | null;
  error?: DiskpickError;
}

/** A folder's mapping, kept for lookups: its fork as a source, and which form it has. */
interface DirMap {
  src: ExtentSource;
  /** A leaf or node hash index exists (the fork has blocks at XFS_DIR2_LEAF_OFFSET). */
  indexed: boolean;
  entries?: DirEntries;
}

export const xfsFormat: FsFormat = {
  name: 'xfs',
  probe: probeXfs,
  open(src: ByteSource): Promise<FileSystem> {
    return XfsFs.open(src);
  },
};

export class XfsFs implements FileSystem, ForkReader {
  readonly caseSensitive = true;
  info!: FsInfo;
  sb!: Superblock;
  private meta: CachedSource;
  private readonly inodeCache = new Map<number, Inode>();
  private readonly dirCache = new Lru<number, DirMap>(DIR_CACHE_MAX);
  private readonly warnCounts = new Map<string, { count: number; summaryAt: number }>();
  private agShift = 0;

  private constructor(private src: ByteSource) {
    this.meta = new CachedSource(src, 64 * 1024, 32 * 1024 * 1024);
  }

  get blockSize(): number {
    return this.sb.sb_blocksize;
  }
  get hasCrc(): boolean {
    return this.sb.hasCrc;
  }

  static async open(src: ByteSource): Promise<XfsFs> {
    const fs = new XfsFs(src);
    await fs.load();
    return fs;
  }

  private async load(): Promise<void> {
    const name = this.src.name;
    const warnings: string[] = [];
    this.info = { type: 'XFS', label: null, uuid: null, size: 0, blockSize: 0, warnings, details: {} };
    const head = await this.src.read(0, 512);
    let sb = parseSuperblock(head, name);
    if (sb.sb_sectsize > 512) sb = parseSuperblock(await this.readExact(0, sb.sb_sectsize, false), name);
    this.sb = sb;
    this.agShift = 2 ** sb.sb_agblklog;
    if (!sb.checksumOk) this.warn('superblock checksum', 'superblock checksum mismatch');
    const d = this.info.details;
    this.info.label = sb.sb_fname || null;
    this.info.uuid = formatUuid(sb.sb_uuid);
    this.info.size = sb.sb_dblocks * sb.sb_blocksize;
    this.info.blockSize = sb.sb_blocksize;
    Object.assign(d, {
      version: sb.version,
      features: featureNames(sb).join(' '),
      sectorSize: sb.sb_sectsize,
      inodeSize: sb.sb_inodesize,
      directoryBlockSize: sb.dirBlockSize,
      agCount: sb.sb_agcount,
      agBlocks: sb.sb_agblocks,
      inodeCount: sb.sb_icount,
      freeInodes: sb.sb_ifree,
      freeBlocks: sb.sb_fdblocks,
      rootInode: sb.sb_rootino,
    });
    if (sb.version === 4) warnings.push('XFS v4 (no metadata checksums; the kernel drops v4 support in 2030)');
    if (sb.sb_rblocks > 0) {
      d.realtime = `${sb.sb_rblocks} blocks`;
      warnings.push('the volume has a realtime subvolume: files stored there cannot be read');
    }
    if (sb.sb_features_incompat & 0x10) warnings.push('the volume is marked as needing repair (xfs_repair)');
    await this.checkAgHeaders();
    await this.checkLog();
    if (this.src.size < this.info.size) {
      warnings.push(`the volume is ${this.src.size} bytes but the filesystem spans ${this.info.size}: files past the end cannot be read`);
    }
  }

  /** Reads every AG's AGF and AGI: their magic, sequence number and CRC. */
  private async checkAgHeaders(): Promise<void> {
    const sb = this.sb;
    const ss = sb.sb_sectsize;
    const n = Math.min(sb.sb_agcount, AG_CHECK_MAX);
    for (let ag = 0; ag < n; ag++) {
      const at = ag * sb.sb_agblocks * sb.sb_blocksize;
      if (at + 3 * ss > this.src.size) break;
      const agf = await this.readExact(at + ss, ss, true);
      const agi = await this.readExact(at + 2 * ss, ss, true);
      for (const p of parseAgHeaders(sb, ag, Buffer.from(agf), Buffer.from(agi)).problems) this.warn('AG header', p);
    }
  }

  /** Whether the log is clean; a dirty one is reported with what it still holds. */
  private async checkLog(): Promise<void> {
    const sb = this.sb;
    const d = this.info.details;
    if (sb.sb_logstart === 0) {
      d.log = 'external (not read)';
      return;
    }
    try {
      const start = this.fsbToByte(sb.sb_logstart, 'the log');
      const st = await logState(this.src, start, sb.sb_logblocks * sb.sb_blocksize, this.src.name);
      if (st.clean) {
        d.log = 'clean';
        return;
      }
      d.logRecords = st.records;
      d.logOperations = st.operations;
      d.logBlocks = st.blocks;
      if (st.records) d.logLsns = `${st.firstLsn}-${st.lastLsn}`;
      const what = `${st.records} records (${st.operations} operations, ${st.blocks * 512} bytes, LSN ${st.firstLsn}-${st.lastLsn})`;
      try {
        const isz = sb.sb_inodesize;
        const r = await replayLog(this.src, { logStart: start, logBytes: sb.sb_logblocks * sb.sb_blocksize, inodeSize: isz, hasCrc: sb.hasCrc, inodeOffset: (ino) => this.inodeOffset(ino, 'the log') }, st.tailBlock, st.headBlock, this.src.name);
        this.src = new OverlaySource(this.src, r.sectors);
        this.meta = new CachedSource(this.src, 64 * 1024, 32 * 1024 * 1024);
        this.sb = parseSuperblock(await this.readExact(0, Math.max(512, sb.sb_sectsize), false), this.src.name);
        this.inodeCache.clear();
        this.dirCache.clear();
        d.log = 'replayed in memory';
        d.logTransactions = r.transactions;
        d.logBuffers = r.buffers;
        d.logInodes = r.inodes;
        const skipped = [...r.skipped].map(([t, n]) => `${n} ${ITEM_NAMES[t] ?? `type 0x${t.toString(16)}`}`).join(', ');
        if (skipped) d.logItemsNotReplayed = skipped;
        this.info.warnings.push(
          `the volume was not cleanly unmounted: its log (${what}) was replayed in memory (${r.transactions} transactions: ${r.buffers} buffers, ${r.inodes} inodes${r.cancelled ? `, ${r.cancelled} cancelled` : ''}${skipped ? `; items a read does not need, not replayed: ${skipped}` : ''}); the image was not changed`,
        );
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        d.log = 'dirty, not replayed';
        this.info.warnings.push(
          `the volume was not cleanly unmounted and its log (${what}) could not be replayed (${err.message}); shown as it is on disk (as xfs_db -r and a ro,norecovery mount show it)`,
        );
      }
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      d.log = 'unreadable';
      this.info.warnings.push(`the log could not be read (${err.message}); shown as it is on disk`);
    }
  }

  private async readExact(offset: number, length: number, cached: boolean): Promise<Buffer> {
    const b = await (cached ? this.meta : this.src).read(offset, length);
    if (b.length < length) throw corrupt(this.src.name, `truncated: bytes ${offset + b.length}…${offset + length} of the filesystem are past the end of the image`);
    return b;
  }

  /** A filesystem block number (AG number << agblklog | AG block) as a byte offset in the volume. */
  fsbToByte(fsb: number, what: string, count = 1): number {
    const sb = this.sb;
    const agno = Math.floor(fsb / this.agShift);
    const agbno = fsb - agno * this.agShift;
    if (!Number.isSafeInteger(fsb) || agno >= sb.sb_agcount || agbno + count > sb.sb_agblocks) {
      throw corrupt(this.src.name, `${what}: block ${fsb} (AG ${agno}, block ${agbno}, ${count} blocks) is outside the filesystem`);
    }
    return (agno * sb.sb_agblocks + agbno) * sb.sb_blocksize;
  }

  async readFsBlock(fsb: number, what: string): Promise<Buffer> {
    return this.readExact(this.fsbToByte(fsb, what), this.blockSize, true);
  }

  warnChecksum(what: string): void {
    this.warn('metadata checksum', `checksum mismatch: ${what}`);
  }

  /** Records a warning; each kind lists a few messages, then one line counts the rest. */
  private warn(kind: string, msg: string): void {
    const w = this.info.warnings;
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
    const line = `${c.count - WARN_LIST_MAX} more ${kind} problems`;
    if (c.summaryAt < 0) {
      c.summaryAt = w.length;
      w.push(line);
    } else w[c.summaryAt] = line;
  }

  // ---- inodes ----

  /** Byte offset of inode `ino` (AG number | AG block | index in the block, packed). */
  private inodeOffset(ino: number, file: string): number {
    const sb = this.sb;
    const perAg = this.agShift * sb.sb_inopblock;
    const agno = Math.floor(ino / perAg);
    const rest = ino - agno * perAg;
    const agbno = Math.floor(rest / sb.sb_inopblock);
    const idx = rest - agbno * sb.sb_inopblock;
    if (!Number.isSafeInteger(ino) || ino <= 0 || agno >= sb.sb_agcount || agbno >= sb.sb_agblocks) throw corrupt(file, `inode ${ino} does not exist`);
    return (agno * sb.sb_agblocks + agbno) * sb.sb_blocksize + idx * sb.sb_inodesize;
  }

  async inode(ino: number, file: string): Promise<Inode> {
    const hit = this.inodeCache.get(ino);
    if (hit) return hit;
    const isz = this.sb.sb_inodesize;
    return this.addInode(ino, Buffer.from(await this.readExact(this.inodeOffset(ino, file), isz, true)), file);
  }

  /** Parses a record (its own copy: the inode keeps it) and caches it. */
  private addInode(ino: number, raw: Buffer, file: string): Inode {
    const inode = parseInode(this.sb, ino, raw, file);
    if (!inode.checksumOk) this.warn('inode checksum', `inode ${ino} checksum mismatch`);
    if (this.inodeCache.size >= INODE_CACHE_MAX) {
      // Evict the older half in one pass (one at a time turns big listings quadratic).
      let n = INODE_CACHE_MAX / 2;
      for (const k of this.inodeCache.keys()) {
        this.inodeCache.delete(k);
        if (--n === 0) break;
      }
    }
    this.inodeCache.set(ino, inode);
    return inode;
  }

  /**
   * Loads the inodes of a folder's entries with a few large reads instead of one read each:
   * files made together sit in the same 64-inode chunks. A full listing of 100 000 files went
   * from ~7 s (one awaited cached read per inode) to well under one.
   */
  private async prefetchInodes(inos: readonly number[]): Promise<void> {
    const isz = this.sb.sb_inodesize;
    const want: Array<[number, number]> = [];
    for (const ino of new Set(inos)) {
      if (this.inodeCache.has(ino)) continue;
      try {
        want.push([this.inodeOffset(ino, '/'), ino]);
      } catch {
        // reported when the entry itself is read
      }
      if (want.length >= INODE_CACHE_MAX / 2) break;
    }
    want.sort((a, b) => a[0] - b[0]);
    const SPAN = 1 << 20;
    const GAP = 64 << 10;
    const runs: Array<[number, number]> = [];
    for (let i = 0; i < want.length; ) {
      let j = i + 1;
      while (j < want.length && want[j]![0] - want[i]![0] + isz <= SPAN && want[j]![0] - want[j - 1]![0] <= GAP) j++;
      runs.push([i, j]);
      i = j;
    }
    const readRun = async ([i, j]: [number, number]) => {
      const start = want[i]![0];
      const len = want[j - 1]![0] + isz - start;
      let chunk: Buffer;
      try {
        chunk = await this.readExact(start, len, false);
      } catch (err) {
        if (!(err instanceof DiskpickError)) throw err;
        return; // e.g. past a truncated end: each entry then reports its own inode
      }
      // One private copy per run: the cached inodes keep views of it.
      const own = Buffer.from(chunk);
      for (let k = i; k < j; k++) {
        const [off, ino] = want[k]!;
        try {
          this.addInode(ino, own.subarray(off - start, off - start + isz), '/');
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
        }
      }
    };
    // Scattered runs (folders spread over the AGs) are small reads: a few in flight at once.
    let next = 0;
    const worker = async () => {
      while (next < runs.length) await readRun(runs[next++]!);
    };
    await Promise.all(Array.from({ length: Math.min(4, runs.length) }, worker));
  }

  /** A node from a cached inode without an await (not symlinks: their target may need a read). */
  private cachedNode(ino: number, name: string): XfsNode | null {
    const inode = this.inodeCache.get(ino);
    if (!inode || inode.di_mode === 0 || (inode.di_mode & 0xf000) === 0xa000) return null;
    return { name, stat: this.plainStat(inode), inode };
  }

  /** A fork's extents as byte extents of the volume (unwritten ones as holes), checked. */
  private async byteExtents(inode: Inode, attr: boolean, file: string): Promise<Extent[]> {
    const bs = this.blockSize;
    const list = await forkExtents(this, inode, attr, file);
    const out: Extent[] = new Array(list.length);
    for (let i = 0; i < list.length; i++) {
      const e: BmapExtent = list[i]!;
      out[i] = { logical: e.startoff * bs, physical: e.unwritten ? HOLE : this.fsbToByte(e.startblock, file, e.blockcount), length: e.blockcount * bs };
    }
    return checkExtents(out, this.src.size, file);
  }

  // ---- nodes ----

  async root(): Promise<FsNode> {
    const r = await this.nodeFor(this.sb.sb_rootino, '', null);
    if (r.error) throw r.error;
    return r;
  }

  private full(node: FsNode): Promise<XfsNode> | XfsNode {
    return node.partial ? this.nodeFor(node.stat.ino, node.name, node.stat.type) : (node as XfsNode);
  }

  async complete(node: FsNode): Promise<FsNode> {
    return this.full(node);
  }

  private async nodeFor(ino: number, name: string, direntType: FileType | null): Promise<XfsNode> {
    try {
      const inode = await this.inode(ino, name || '/');
      if (inode.di_mode === 0) throw corrupt(name || '/', `inode ${ino} is not in use`);
      const stat = this.plainStat(inode);
      if (stat.type === 'symlink') stat.symlinkTarget = (await this.symlinkBytes(inode, name)).toString('utf8');
      return { name, stat, inode };
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      const stat: Stat = { type: direntType ?? 'other', size: 0, allocated: 0, mode: 0, uid: 0, gid: 0, nlink: 0, ino, hasOwnership: true };
      return { name, stat, inode: null, error: err };
    }
  }

  private plainStat(inode: Inode): Stat {
    const type = fileTypeOfMode(inode.di_mode);
    const allocated = inode.di_nblocks * this.blockSize;
    const stat: Stat = {
      type,
      size: inode.di_size,
      allocated,
      mode: inode.di_mode & 0o7777,
      uid: inode.di_uid,
      gid: inode.di_gid,
      nlink: inode.di_nlink,
      ino: inode.ino,
      atime: inode.atime,
      mtime: inode.mtime,
      ctime: inode.ctime,
      hasOwnership: true,
    };
    if (inode.crtime) stat.birthtime = inode.crtime;
    if (type === 'chardev' || type === 'blockdev') stat.rdev = inodeRdev(inode);
    const sparse = type === 'file' && inode.di_format !== FORMAT.LOCAL && allocated < inode.di_size;
    const f = inode.di_flags;
    if (f & (DIFLAG.IMMUTABLE | DIFLAG.APPEND | DIFLAG.REALTIME) || sparse) {
      const attrs: string[] = [];
      if (f & DIFLAG.IMMUTABLE) attrs.push('immutable');
      if (f & DIFLAG.APPEND) attrs.push('append');
      if (f & DIFLAG.REALTIME) attrs.push('realtime');
      if (sparse) attrs.push('sparse');
      stat.attributes = attrs;
    }
    return stat;
  }

  /** Short targets sit in the inode; longer ones in blocks (with a header on v5). */
  private async symlinkBytes(inode: Inode, file: string): Promise<Buffer> {
    const size = inode.di_size;
    if (size > SYMLINK_MAX) throw corrupt(file, `symbolic link target is ${size} bytes long`);
    if (inode.di_format === FORMAT.LOCAL) {
      if (size > inode.dataFork.length) throw corrupt(file, `symbolic link target (${size} bytes) is longer than its inode`);
      return Buffer.from(inode.dataFork.subarray(0, size));
    }
    const bs = this.blockSize;
    const src = new ExtentSource(this.meta, await this.byteExtents(inode, false, file), Math.ceil(size / bs) * bs + (this.hasCrc ? bs : 0), file);
    if (!this.hasCrc) return Buffer.from(await src.read(0, size));
    // Each block: struct xfs_dsymlink_hdr (magic, offset, bytes, crc, …), then target bytes.
    const parts: Buffer[] = [];
    let got = 0;
    for (let blk = 0; got < size; blk++) {
      const b = await src.read(blk * bs, bs);
      if (b.length < bs || b.readUInt32BE(0) !== XFS_SYMLINK_MAGIC) throw corrupt(file, `symbolic link block ${blk} has a bad magic number`);
      if (!xfsCrcOk(b, 12)) this.warnChecksum(`symbolic link block of ${file} (inode ${inode.ino})`);
      const n = Math.min(b.readUInt32BE(8), bs - SYMLINK_HDR, size - got);
      if (n <= 0) throw corrupt(file, 'symbolic link block holds no bytes');
      parts.push(Buffer.from(b.subarray(SYMLINK_HDR, SYMLINK_HDR + n)));
      got += n;
    }
    return Buffer.concat(parts);
  }

  // ---- folders ----

  private async dirMap(inode: Inode, file: string): Promise<DirMap> {
    const hit = this.dirCache.get(inode.ino);
    if (hit) return hit;
    const extents = await this.byteExtents(inode, false, file);
    const last = extents[extents.length - 1];
    const src = new ExtentSource(this.meta, extents, last ? last.logical + last.length : 0, file);
    const indexed = extents.some((e) => e.logical + e.length > XFS_DIR2_LEAF_OFFSET && e.logical < 2 * XFS_DIR2_LEAF_OFFSET);
    const m: DirMap = { src, indexed };
    this.dirCache.set(inode.ino, m);
    return m;
  }

  /** One directory block (dirBlockSize bytes) at byte `offset` of the fork. */
  private async dirBlock(m: DirMap, offset: number, file: string): Promise<Buffer> {
    const dbs = this.sb.dirBlockSize;
    const b = await m.src.read(offset, dbs);
    if (b.length < dbs) throw corrupt(file, `folder block at fork offset ${offset} is missing`);
    return b;
  }

  private checkDirBlockCrc(b: Buffer, ino: number, what: string): void {
    if (this.hasCrc && !xfsCrcOk(b, b.readUInt32BE(0) === XFS_DIR3_BLOCK_MAGIC || b.readUInt32BE(0) === XFS_DIR3_DATA_MAGIC ? 4 : 12)) this.warnChecksum(`${what} of folder inode ${ino}`);
  }

  /** Every entry of a folder, by reading its data blocks (each name is in exactly one). */
  private async dirEntries(node: XfsNode): Promise<DirEntries> {
    const file = node.name || '/';
    if (node.error) throw node.error;
    const inode = node.inode!;
    if (fileTypeOfMode(inode.di_mode) !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', file);
    const ft = this.sb.hasFtype;
    if (inode.di_format === FORMAT.LOCAL) {
      const out = dirEntriesBuilder(inode.dataFork.length);
      parseShortform(inode.dataFork, ft, file, out);
      return endDirEntries(out, file);
    }
    const m = await this.dirMap(inode, file);
    const dbs = this.sb.dirBlockSize;
    const dataEnd = Math.min(inode.di_size, XFS_DIR2_LEAF_OFFSET, m.src.size);
    const out = dirEntriesBuilder(Math.min(dataEnd, 64 << 20));
    // Data blocks 1 MiB at a time into a reused buffer: the names are copied out.
    const chunk = Math.max(dbs, Math.floor((1 << 20) / dbs) * dbs);
    const buf = scratch.take(chunk);
    try {
      let done = 0;
      for (const [off, len] of m.src.dataRanges(0, dataEnd)) {
        let pos = Math.max(done, Math.floor(off / dbs) * dbs);
        const end = Math.min(Math.ceil((off + len) / dbs) * dbs, Math.ceil(dataEnd / dbs) * dbs);
        while (pos < end) {
          const n = Math.min(chunk, end - pos);
          const got = await m.src.readInto(buf, 0, pos, n);
          for (let k = 0; k + dbs <= got; k += dbs) {
            const blk = buf.subarray(k, k + dbs);
            if (!parseDataBlock(blk, this.hasCrc, ft, file, out)) {
              if (blk.readUInt32BE(0) !== 0) throw corrupt(file, `folder block at fork offset ${pos + k} has a bad magic number`);
              continue;
            }
            if (this.hasCrc && !xfsCrcOk(blk, 4)) this.warnChecksum(`folder block at fork offset ${pos + k} of inode ${inode.ino}`);
          }
          if (got < n) throw corrupt(file, `folder block at fork offset ${pos + got} is missing`);
          pos += n;
        }
        done = pos;
      }
    } finally {
      scratch.give(buf);
    }
    return endDirEntries(out, file);
  }

  async readdirNames(dir: FsNode): Promise<NameList> {
    const d = await this.full(dir);
    const e = await this.dirEntries(d);
    const n = e.inodes.length;
    const types = e.types as FileType[];
    const need: number[] = [];
    for (let i = 0; i < n; i++) if (e.types[i] === null || e.types[i] === 'dir') need.push(i);
    if (need.length === 0) return { names: e.names, types, inos: e.inodes, nodes: [] };
    const nodes = new Array<FsNode | undefined>(n);
    let loops: Set<number> | null = null;
    await this.prefetchInodes(need.map((i) => e.inodes[i]!));
    for (const i of need) {
      const k = await this.entryNode(d, e.inodes[i]!, e.names[i]!, types[i] ?? null);
      if (!k) (loops ??= new Set()).add(i);
      else {
        nodes[i] = k;
        types[i] = k.stat.type;
      }
    }
    this.readahead(need.map((i) => nodes[i] as XfsNode | undefined));
    if (!loops) return { names: e.names, types, inos: e.inodes, nodes };
    const keep = (_: unknown, i: number) => !loops.has(i);
    return { names: e.names.filter(keep), types: types.filter(keep), inos: e.inodes.filter(keep), nodes: nodes.filter(keep) };
  }

  /**
   * Starts reading the first blocks of sub-folders into the metadata cache, a few at a time,
   * while the caller lists this folder: a recursive walk then finds them read. Cold `ls -R` of
   * 100 000 files in 100 folders went from 0.75 s to ~0.45 s (one awaited read per folder
   * before). Errors are left to the real read.
   */
  private readahead(kids: Array<XfsNode | undefined>): void {
    const dirs = kids.filter((k): k is XfsNode => !!k?.inode && k.stat.type === 'dir' && k.inode.di_format !== FORMAT.LOCAL).slice(0, READAHEAD_DIRS);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < dirs.length) {
        const k = dirs[next++]!;
        const inode = k.inode!;
        const m = await this.dirMap(inode, k.name);
        const end = Math.min(inode.di_size, XFS_DIR2_LEAF_OFFSET, m.src.size, READAHEAD_BYTES);
        // 64 KiB pieces: the cache keeps reads of that size (bigger ones go around it).
        for (const [off, len] of m.src.dataRanges(0, end)) {
          for (let at = off; at < off + len; at += 65536) await m.src.read(at, Math.min(65536, off + len - at));
        }
      }
    };
    for (let i = 0; i < 4; i++) worker().catch(() => undefined);
  }

  /** The node of one entry; null for a folder entry naming this folder or the root (a loop). */
  private async entryNode(dir: XfsNode, ino: number, name: string, type: FileType | null): Promise<XfsNode | null> {
    const k = this.cachedNode(ino, name) ?? (await this.nodeFor(ino, name, type));
    if (k.stat.type === 'dir' && (ino === dir.inode!.ino || ino === this.sb.sb_rootino)) {
      this.warn('folder loop', `folder entry ${name} (inode ${ino}) loops back; skipped`);
      return null;
    }
    return k;
  }

  async readdir(dir: FsNode, opts?: ReaddirOptions): Promise<FsNode[]> {
    const d = await this.full(dir);
    const l = await this.readdirNames(d);
    const out: FsNode[] = [];
    if (!opts?.namesOnly) await this.prefetchInodes(l.inos.filter((_, i) => !l.nodes[i]));
    for (let i = 0; i < l.names.length; i++) {
      const have = l.nodes[i];
      if (have) out.push(have);
      else if (opts?.namesOnly) out.push({ name: l.names[i]!, stat: partialStat(l.types[i]!, l.inos[i]!, true), inode: null, partial: true } as XfsNode);
      else {
        const k = await this.entryNode(d, l.inos[i]!, l.names[i]!, l.types[i]!);
        if (k) out.push(k);
      }
    }
    return out;
  }

  async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
    const d = await this.full(dir);
    if (d.error) throw d.error;
    const inode = d.inode!;
    const file = d.name || '/';
    if (fileTypeOfMode(inode.di_mode) !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', file);
    let found: { ino: number; type: FileType | null } | null = null;
    // Names that did not decode as UTF-8 are listed with U+FFFD: only a scan finds those.
    if (inode.di_format === FORMAT.LOCAL || name.includes('\ufffd')) {
      const e = await this.dirEntries(d);
      const i = e.names.lastIndexOf(name);
      if (i >= 0) found = { ino: e.inodes[i]!, type: e.types[i]! };
    } else {
      found = await this.hashLookup(inode, Buffer.from(name, 'utf8'), file);
    }
    if (!found) return null;
    if ((found.ino === inode.ino || found.ino === this.sb.sb_rootino) && (found.type === 'dir' || found.type === null)) {
      const k = await this.nodeFor(found.ino, name, found.type);
      if (k.stat.type === 'dir') return null;
      return k;
    }
    return this.nodeFor(found.ino, name, found.type);
  }

  /** One name through the folder's hash index: the block's own, or the leaf/node dabtree. */
  private async hashLookup(inode: Inode, name: Buffer, file: string): Promise<{ ino: number; type: FileType | null } | null> {
    if (name.length === 0 || name.length > 255) return null;
    const m = await this.dirMap(inode, file);
    const hash = daHashName(name);
    const dbs = this.sb.dirBlockSize;
    let addrs: number[];
    if (!m.indexed) {
      const b = await this.dirBlock(m, 0, file);
      const magic = b.readUInt32BE(0);
      if (magic !== XFS_DIR2_BLOCK_MAGIC && magic !== XFS_DIR3_BLOCK_MAGIC) throw corrupt(file, 'folder block has a bad magic number');
      addrs = blockLeafAddresses(b, hash);
    } else {
      const check = (b: Buffer, what: string) => this.checkDirBlockCrc(b, inode.ino, what);
      addrs = await indexAddresses((at) => this.dirBlock(m, at, file), this.blockSize, this.hasCrc, hash, file, check);
    }
    for (const addr of addrs) {
      const off = addr * 8;
      const blockAt = Math.floor(off / dbs) * dbs;
      if (blockAt >= XFS_DIR2_LEAF_OFFSET) throw corrupt(file, `folder hash index points outside the data blocks (${addr})`);
      const b = await this.dirBlock(m, blockAt, file);
      const hit = entryAt(b, off - blockAt, name, this.sb.hasFtype, file);
      if (hit) return hit;
    }
    return null;
  }

  // ---- files ----

  async openFile(node: FsNode, stream?: string): Promise<ByteSource> {
    const n = await this.full(node);
    const file = node.name || '/';
    if (stream) throw new DiskpickError('notFound', 'XFS has no named streams', file);
    if (n.error) throw n.error;
    const inode = n.inode!;
    const type = fileTypeOfMode(inode.di_mode);
    if (type === 'dir') throw new DiskpickError('wrongType', 'is a folder, not a file', file);
    if (type !== 'file' && type !== 'symlink') return new BufferSource(Buffer.alloc(0), file);
    if (type === 'symlink') return new BufferSource(await this.symlinkBytes(inode, file), file);
    if (inode.di_flags & DIFLAG.REALTIME) throw unsupported(file, "the file's data is on the realtime subvolume, which diskpick does not read");
    if (inode.di_format === FORMAT.LOCAL) {
      if (inode.di_size > inode.dataFork.length) throw corrupt(file, `inline file claims ${inode.di_size} bytes but holds ${inode.dataFork.length}`);
      return new BufferSource(Buffer.from(inode.dataFork.subarray(0, inode.di_size)), file);
    }
    return new ExtentSource(this.src, await this.byteExtents(inode, false, file), inode.di_size, file);
  }

  // ---- xattrs ----

  private async attrEntries(inode: Inode, file: string): Promise<{ entries: AttrEntry[]; fork: ExtentSource | null }> {
    if (!inode.attrFork) return { entries: [], fork: null };
    if (inode.di_aformat === FORMAT.LOCAL) return { entries: parseAttrShortform(inode.attrFork, file), fork: null };
    if (inode.di_aformat === FORMAT.EXTENTS && inode.anextents === 0) return { entries: [], fork: null };
    const extents = await this.byteExtents(inode, true, file);
    const last = extents[extents.length - 1];
    const fork = new ExtentSource(this.meta, extents, last ? last.logical + last.length : 0, file);
    return { entries: await readAttrTree(this.attrBlocks(fork, inode.ino), file), fork };
  }

  private attrBlocks(fork: ExtentSource, ino: number): AttrBlocks {
    return { fork, blockSize: this.blockSize, hasCrc: this.hasCrc, ino, warnChecksum: (what) => this.warnChecksum(what) };
  }

  async xattrs(node: FsNode): Promise<Map<string, Buffer>> {
    const n = await this.full(node);
    if (n.error) throw n.error;
    const file = node.name || '/';
    const inode = n.inode!;
    const { entries, fork } = await this.attrEntries(inode, file);
    const out = new Map<string, Buffer>();
    for (const e of entries) {
      const name = attrFullName(e);
      if (name === null) continue;
      let v = e.value;
      if (v === null) {
        if (!fork) throw corrupt(file, 'remote attribute value without an attribute fork');
        v = await remoteAttrValue(this.attrBlocks(fork, inode.ino), e, file);
      }
      const acl = aclXattrName(e);
      if (acl) out.set(acl, xfsAclToXattr(v, file));
      out.set(name, v);
    }
    return out;
  }

  async close(): Promise<void> {
    this.inodeCache.clear();
    this.dirCache.clear();
  }
}


