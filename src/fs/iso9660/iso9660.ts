/**
 * ISO 9660 (ECMA-119) with its extensions: Rock Ridge (POSIX names, modes, owners, symlinks,
 * device files, times, deep-folder relocation), Joliet (UCS-2 names in a supplementary volume
 * descriptor), multi-extent files (files of 4 GiB and more) and the El Torito boot catalog
 * (listed in `info`). See docs/formats/iso9660.md.
 *
 * Which tree is shown: the primary tree with Rock Ridge when the image has it (POSIX names
 * and metadata, as the Linux kernel shows it), else the Joliet tree (long Unicode names, as
 * Windows shows it), else the primary tree with its plain names (";1" versions dropped).
 */
import { corrupt, DiskpickError, unsupported } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { checkExtents, ExtentSource, type Extent as FileExtent } from '../../source/extents.js';
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, type FileSystem, type FileType, type FsFormat, type FsInfo, type FsNode, type Stat } from '../types.js';
import { hasIsoDescriptor, readDescriptorSet, SECTOR, ucs2be, type DescriptorSet, type VolumeDescriptor } from './descriptors.js';
import { readBootCatalog, type BootCatalog } from '../../volume/eltorito/catalog.js';
import {
  FLAG_ASSOCIATED_FILE, FLAG_DIRECTORY, FLAG_EXISTENCE, FLAG_MULTI_EXTENT,
  parseDirectoryRecord, type DirectoryRecord,
} from './records.js';
import { parseSystemUseArea, suspSkip, type ParseState, type RockRidge } from './rockridge.js';
import { ZisofsSource } from './zisofs.js';

/** Folders are numbered by their extent (two entries naming one folder share it); files by the byte position of their record. */
const DIR_INO_BASE = 2 ** 44;
/** Largest folder read (a folder of ~1.5 million entries); beyond it the image is hostile. */
const MAX_DIR_BYTES = 64 << 20;
/** Most extents one file may have (a multi-extent file of 4 GiB pieces: 256 TiB). */
const MAX_EXTENTS = 65536;
/** Continuation areas followed per record. */
const MAX_CONTINUATIONS = 16;
/** Folder listings kept parsed (by total entries). */
const CACHE_ENTRIES = 200_000;
const MAX_WARNINGS = 100;

/** A stretch of the volume: `length` bytes at byte `offset`. */
interface Extent {
  offset: number;
  length: number;
}

/** Volume stretches in file order as the shared extent list (file offsets running on). */
export function fileExtents(runs: readonly Extent[]): FileExtent[] {
  let logical = 0;
  return runs.map((r) => {
    const e = { logical, physical: r.offset, length: r.length };
    logical += r.length;
    return e;
  });
}

const S_IFMT = 0o170000;
const TYPE_OF_MODE: Record<number, FileType> = {
  0o040000: 'dir', 0o100000: 'file', 0o120000: 'symlink', 0o020000: 'chardev',
  0o060000: 'blockdev', 0o010000: 'fifo', 0o140000: 'socket',
};

export class IsoNode implements FsNode {
  system?: boolean;
  constructor(
    readonly name: string,
    readonly stat: Stat,
    /** Files: the data, in file order. Folders: the directory's own extent. */
    readonly extents: Extent[],
    /** zisofs-compressed file (Rock Ridge ZF). */
    readonly zisofs?: string,
  ) {}
}

type Tree = 'rockridge' | 'joliet' | 'primary';

export class Iso9660 implements FileSystem {
  readonly info: FsInfo;
  readonly caseSensitive: boolean;
  private readonly blockSize: number;
  private readonly cache = new Map<number, IsoNode[]>();
  private cachedEntries = 0;
  private rootNode!: IsoNode;

  private constructor(
    private readonly src: ByteSource,
    private readonly set: DescriptorSet,
    private readonly tree: Tree,
    private readonly descriptor: VolumeDescriptor,
    /** SUSP LEN_SKP: bytes to skip at the start of every System Use field. */
    private readonly suspSkipBytes: number,
    boot: BootCatalog | null,
  ) {
    this.blockSize = descriptor.logical_block_size;
    this.caseSensitive = tree === 'rockridge';
    const p = set.primary;
    const details: FsInfo['details'] = {
      names: tree === 'rockridge' ? 'Rock Ridge' : tree === 'joliet' ? `Joliet level ${descriptor.jolietLevel}` : 'ISO 9660 (plain)',
      joliet: set.joliet ? `level ${set.joliet.jolietLevel}` : 'no',
      'rock ridge': tree === 'rockridge' || suspSkipBytes >= 0 ? 'yes' : 'no',
      'system identifier': p.system_identifier,
      'volume set': p.volume_set_identifier,
      publisher: p.publisher_identifier,
      'data preparer': p.data_preparer_identifier,
      application: p.application_identifier,
      'logical block size': p.logical_block_size,
    };
    if (set.joliet) details['joliet label'] = set.joliet.volume_identifier;
    if (p.volume_creation_date) details.created = new Date(p.volume_creation_date.sec * 1000).toISOString();
    if (p.volume_modification_date) details.modified = new Date(p.volume_modification_date.sec * 1000).toISOString();
    if (set.others) details['other supplementary descriptors'] = set.others;
    const warnings: string[] = [];
    if (boot) {
      details['boot catalog'] = `${boot.platform}${boot.idString ? ` "${boot.idString}"` : ''}, ${boot.images.length} image(s)`;
      boot.images.forEach((b, i) => {
        details[`boot image ${i + 1}`] =
          `${b.entry}: ${b.platform}, ${b.media}, ${b.bootable ? 'bootable' : 'not bootable'}, sector ${b.loadRba} (byte ${b.loadRba * SECTOR}), ${b.sectorCount} x 512 bytes${b.size !== b.sectorCount * 512 ? `, ${b.size} bytes` : ''}`;
      });
      if (boot.problem) warnings.push(boot.problem);
    } else if (set.bootRecord) {
      details['boot record'] = set.bootRecord.boot_system_identifier;
    }
    this.info = {
      type: 'ISO9660',
      label: p.volume_identifier || null,
      uuid: uuidOf(p),
      size: p.volume_space_size * p.logical_block_size,
      blockSize: p.logical_block_size,
      warnings,
      details,
    };
  }

  static async open(src: ByteSource): Promise<Iso9660> {
    const set = await readDescriptorSet(src);
    const p = set.primary;
    // Rock Ridge is announced by SUSP's SP entry in the System Use field of the root's "." record.
    let skip: number | null = null;
    const rootRec = p.root_directory_record;
    const first = await src.read((rootRec.location_of_extent + rootRec.extended_attribute_record_length) * p.logical_block_size, SECTOR);
    const dot = parseDirectoryRecord(first, 0);
    if (dot && dot.file_identifier.length === 1 && dot.file_identifier[0] === 0) skip = suspSkip(dot.system_use);
    let tree: Tree = skip !== null ? 'rockridge' : set.joliet ? 'joliet' : 'primary';
    const descriptor = tree === 'joliet' ? set.joliet! : p;
    let boot: BootCatalog | null = null;
    if (set.bootRecord?.bootCatalogSector != null) boot = await readBootCatalog(src, set.bootRecord.bootCatalogSector);
    const fs = new Iso9660(src, set, tree, descriptor, skip ?? -1, boot);
    fs.rootNode = await fs.rootFrom(descriptor.root_directory_record);
    return fs;
  }

  private warn(message: string): void {
    if (this.info.warnings.length < MAX_WARNINGS && !this.info.warnings.includes(message)) this.info.warnings.push(message);
  }

  private async rootFrom(rec: DirectoryRecord): Promise<IsoNode> {
    const rr: RockRidge = {};
    if (this.tree === 'rockridge') {
      // The root's own metadata is in its "." record.
      const first = await this.src.read(this.dataOffset(rec), SECTOR);
      const dot = parseDirectoryRecord(first, 0);
      if (dot) await this.rockRidge(dot, rr, 'the root folder');
    }
    return new IsoNode('', this.statOf(rec, rr, 'dir', 0, rec.data_length), [{ offset: this.dataOffset(rec), length: rec.data_length }]);
  }

  private dataOffset(rec: DirectoryRecord): number {
    return (rec.location_of_extent + rec.extended_attribute_record_length) * this.blockSize;
  }

  async root(): Promise<FsNode> {
    return this.rootNode;
  }

  async readdir(dir: FsNode): Promise<FsNode[]> {
    const d = dir as IsoNode;
    if (d.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', d.name);
    const ext = d.extents[0]!;
    const hit = this.cache.get(ext.offset);
    if (hit) {
      this.cache.delete(ext.offset);
      this.cache.set(ext.offset, hit);
      return hit;
    }
    const kids = await this.readDirectory(ext);
    this.cache.set(ext.offset, kids);
    this.cachedEntries += kids.length;
    for (const [k, v] of this.cache) {
      if (this.cachedEntries <= CACHE_ENTRIES || this.cache.size <= 1) break;
      this.cache.delete(k);
      this.cachedEntries -= v.length;
    }
    return kids;
  }

  private where(ext: Extent): string {
    return `${this.src.name}: folder at byte ${ext.offset}`;
  }

  private async readDirectory(ext: Extent): Promise<IsoNode[]> {
    if (ext.length > MAX_DIR_BYTES) throw corrupt(this.src.name, `ISO 9660: folder at byte ${ext.offset} claims ${ext.length} bytes (more than ${MAX_DIR_BYTES})`);
    const b = await readExact(this.src, ext.offset, ext.length, 'ISO 9660 folder');
    const kids: IsoNode[] = [];
    const joliet = this.tree === 'joliet';
    let pending: { rec: DirectoryRecord; at: number; extents: Extent[]; size: number } | null = null;
    for (let sector = 0; sector < b.length; sector += SECTOR) {
      const end = Math.min(b.length, sector + SECTOR);
      let at = sector;
      while (at < end && b[at] !== 0) {
        const rec = parseDirectoryRecord(b.subarray(0, end), at);
        if (!rec) {
          this.warn(`${this.where(ext)}: damaged directory record at offset ${at}; the rest of its sector skipped`);
          break;
        }
        const recAt = ext.offset + at;
        at += rec.length_of_directory_record;
        const id = rec.file_identifier;
        if (id.length === 1 && (id[0] === 0 || id[0] === 1)) continue; // "." and ".."
        const piece: Extent = { offset: this.dataOffset(rec), length: rec.data_length };
        if (pending) {
          if (!id.equals(pending.rec.file_identifier)) {
            this.warn(`${this.where(ext)}: a multi-extent file ends without its final record; dropped`);
            pending = null;
          }
        }
        if (rec.file_flags & FLAG_MULTI_EXTENT) {
          pending ??= { rec, at: recAt, extents: [], size: 0 };
          if (pending.extents.length >= MAX_EXTENTS) throw corrupt(this.src.name, `ISO 9660: a file in the folder at byte ${ext.offset} has more than ${MAX_EXTENTS} extents`);
          pending.extents.push(piece);
          pending.size += piece.length;
          continue;
        }
        let extents = [piece];
        let size = rec.data_length;
        let first = rec;
        let firstAt = recAt;
        if (pending) {
          extents = [...pending.extents, piece];
          size = pending.size + piece.length;
          first = pending.rec;
          firstAt = pending.at;
          pending = null;
        }
        const node = await this.nodeOf(first, rec, firstAt, extents, size, joliet, ext);
        if (node) kids.push(node);
      }
    }
    if (pending) this.warn(`${this.where(ext)}: a multi-extent file ends without its final record; dropped`);
    return kids;
  }

  /** The Rock Ridge entries of a record, continuation areas followed. */
  private async rockRidge(rec: DirectoryRecord, rr: RockRidge, what: string): Promise<ParseState> {
    const st: ParseState = {};
    let area = rec.system_use.subarray(Math.max(0, this.suspSkipBytes));
    for (let i = 0; ; i++) {
      const ce = parseSystemUseArea(area, rr, st);
      if (!ce) break;
      if (i >= MAX_CONTINUATIONS) {
        this.warn(`${this.src.name}: ${what}: more than ${MAX_CONTINUATIONS} Rock Ridge continuation areas; the rest ignored`);
        break;
      }
      if (ce.offset + ce.length > this.blockSize || ce.length === 0) {
        this.warn(`${this.src.name}: ${what}: Rock Ridge continuation area outside its block; ignored`);
        break;
      }
      area = await this.src.read(ce.block * this.blockSize + ce.offset, ce.length);
    }
    if (st.name !== undefined) rr.name = st.name;
    if (st.link !== undefined) rr.symlink = st.link;
    return st;
  }

  private async nodeOf(first: DirectoryRecord, last: DirectoryRecord, recAt: number, extents: Extent[], size: number, joliet: boolean, dirExt: Extent): Promise<IsoNode | null> {
    const rr: RockRidge = {};
    if (this.tree === 'rockridge') await this.rockRidge(first, rr, `record at byte ${recAt}`);
    if (rr.relocated) return null; // shown where its CL entry is
    let name = rr.name ?? (joliet ? jolietName(first.file_identifier) : plainName(first.file_identifier, (first.file_flags & FLAG_DIRECTORY) !== 0));
    if (name === '' || name === '.' || name === '..' || /[/\0]/.test(name)) {
      this.warn(`${this.where(dirExt)}: skipped an entry with an invalid name ${JSON.stringify(name)}`);
      return null;
    }
    let type: FileType = (last.file_flags & FLAG_DIRECTORY) ? 'dir' : 'file';
    if (rr.mode !== undefined) type = TYPE_OF_MODE[rr.mode & S_IFMT] ?? type;
    if (rr.childLink !== undefined) {
      // A relocated deep folder: its directory is at the CL block; its size is in its "." record.
      type = 'dir';
      const b = await readExact(this.src, rr.childLink * this.blockSize, SECTOR, 'ISO 9660 relocated folder');
      const dot = parseDirectoryRecord(b, 0);
      if (!dot) {
        this.warn(`${this.where(dirExt)}: relocated folder ${JSON.stringify(name)} has no "." record; skipped`);
        return null;
      }
      extents = [{ offset: this.dataOffset(dot), length: dot.data_length }];
      size = dot.data_length;
    }
    if (type === 'symlink' && rr.symlink === undefined) type = 'file';
    // A zisofs file's records hold the compressed size; ZF the real one.
    const stat = this.statOf(first, rr, type, recAt, rr.zisofs === 'pz' && rr.zisofsSize !== undefined && type === 'file' ? rr.zisofsSize : size);
    if (rr.zisofs && type === 'file') stat.allocated = Math.ceil(size / this.blockSize) * this.blockSize;
    if (type === 'dir') {
      const e = extents[extents.length - 1]!;
      extents = [e];
      stat.size = e.length;
    }
    const node = new IsoNode(name, stat, extents, rr.zisofs);
    if (first.file_flags & FLAG_ASSOCIATED_FILE) node.system = true;
    return node;
  }

  private statOf(rec: DirectoryRecord, rr: RockRidge, type: FileType, recAt: number, size: number): Stat {
    const isDir = type === 'dir';
    const t = rec.recording_date_and_time;
    const hasRr = rr.mode !== undefined;
    const stat: Stat = {
      type,
      size: type === 'symlink' ? Buffer.byteLength(rr.symlink ?? '') : type === 'file' || isDir ? size : 0,
      allocated: type === 'file' ? Math.ceil(size / this.blockSize) * this.blockSize : 0,
      mode: hasRr ? rr.mode! & 0o7777 : isDir ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE,
      uid: rr.uid ?? 0,
      gid: rr.gid ?? 0,
      nlink: rr.nlink ?? (isDir ? 2 : 1),
      ino: isDir ? DIR_INO_BASE + Math.floor(this.dataOffset(rec) / this.blockSize) : recAt,
      mtime: rr.mtime ?? t,
      atime: rr.atime ?? rr.mtime ?? t,
      ctime: rr.ctime ?? rr.mtime ?? t,
      hasOwnership: hasRr,
    };
    if (rr.birthtime) stat.birthtime = rr.birthtime;
    if (type === 'symlink') stat.symlinkTarget = rr.symlink;
    if ((type === 'chardev' || type === 'blockdev') && rr.devLow !== undefined) {
      // mkisofs writes a 32-bit dev_t in "low" (high 0); others write major/minor apart.
      let major = rr.devHigh ?? 0;
      let minor = rr.devLow;
      if (major === 0 && minor > 0xff) {
        major = (minor >>> 8) & 0xfff;
        minor = (minor & 0xff) | ((minor >>> 12) & 0xfff00);
      }
      stat.rdev = (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
    }
    const attrs: string[] = [];
    if (rec.file_flags & FLAG_EXISTENCE) attrs.push('hidden');
    if (rec.file_flags & FLAG_MULTI_EXTENT || (type === 'file' && size > 0xffffffff)) attrs.push('multi-extent');
    if (rr.zisofs) attrs.push('compressed');
    if (attrs.length) stat.attributes = attrs;
    return stat;
  }

  async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
    const kids = await this.readdir(dir);
    const exact = kids.find((k) => k.name === name);
    if (exact || this.caseSensitive) return exact ?? null;
    const low = name.toLowerCase();
    return kids.find((k) => k.name.toLowerCase() === low) ?? null;
  }

  async openFile(node: FsNode, stream?: string): Promise<ByteSource> {
    const n = node as IsoNode;
    if (stream) throw new DiskpickError('notFound', 'ISO 9660 has no named streams', `${n.name}:${stream}`);
    if (n.stat.type !== 'file') throw new DiskpickError('wrongType', 'is not a regular file', n.name);
    const name = `${this.src.name}:${n.name}`;
    if (n.zisofs && n.zisofs !== 'pz') throw unsupported(name, `zisofs-compressed file with algorithm "${n.zisofs}" (Rock Ridge ZF) is not supported`);
    const extents = checkExtents(fileExtents(n.extents), this.src.size, name);
    const stored = n.extents.reduce((a, e) => a + e.length, 0);
    if (n.zisofs) return new ZisofsSource(new ExtentSource(this.src, extents, stored, name), n.stat.size, name);
    return new ExtentSource(this.src, extents, n.stat.size, name);
  }
}

/** d-characters name as stored: the ";1" version and a lone trailing "." (no extension) dropped. */
function plainName(id: Buffer, isDir: boolean): string {
  let s = id.toString('latin1');
  if (!isDir) {
    const semi = s.lastIndexOf(';');
    if (semi >= 0) s = s.slice(0, semi);
    if (s.endsWith('.')) s = s.slice(0, -1);
  }
  return s;
}

function jolietName(id: Buffer): string {
  let s = ucs2be(id);
  const semi = s.lastIndexOf(';');
  if (semi >= 0 && /^;\d+$/.test(s.slice(semi))) s = s.slice(0, semi);
  return s;
}

/** The UUID blkid shows for ISO 9660: the volume creation date's digits, dashed. */
function uuidOf(p: VolumeDescriptor): string | null {
  const d = p.volume_creation_date;
  if (!d) return null;
  const x = new Date(d.sec * 1000);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${x.getUTCFullYear()}-${two(x.getUTCMonth() + 1)}-${two(x.getUTCDate())}-${two(x.getUTCHours())}-${two(x.getUTCMinutes())}-${two(x.getUTCSeconds())}-${two(Math.floor(d.nsec / 10_000_000))}`;
}

export const iso9660Format: FsFormat = {
  name: 'iso9660',
  probe: (head) => hasIsoDescriptor(head),
  open: (src) => Iso9660.open(src),
};
