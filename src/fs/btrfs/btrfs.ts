/**
 * The Btrfs FileSystem: superblock → chunk map → root tree → fs trees, behind the fs-layer
 * interface. The tree shown is the top-level subvolume (FS_TREE, id 5), with every subvolume
 * and snapshot at its place as a folder (as `btrfs subvolume list -a` sees them), marked
 * with the attributes subvolume / snapshot / readonly; `info` lists them all.
 */
import { DiskpickError, corrupt, unsupported } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { crc32cUpdate } from '../ext/crc32c.js';
import { partialStat, type FileSystem, type FileType, type FsFormat, type FsInfo, type FsNode, type FsOpenOptions, type NameList, type ReaddirOptions, type Stat, type SubvolumeInfo } from '../types.js';
import { BG, CHUNK_ITEM_KEY, ChunkMap, parseChunk, parseSysChunkArray, profileName } from './chunks.js';
import { CsumTree, DataVolume } from './data.js';
import { fileOffsetOf, filePieces, fileSource } from './file.js';
import {
  DIR_FT, INODE_FLAG, KEY, OBJ, ROOT_SUBVOL_RDONLY, parseDirItems, parseInodeExtrefs, parseInodeItem, parseInodeRefs, parseRootItem, parseRootRef,
  type DirItem, type InodeItem, type RootItem,
} from './items.js';
import { BTRFS_MAGIC, INCOMPAT, SUPER_INFO_OFFSET, csumSize, probeBtrfs, csumTypeName, formatUuid, incompatNames, readSuperblock, type Superblock } from './superblock.js';
import { TreeReader, U64_MAX, key, type TreeRoot } from './tree.js';

interface BtrfsNode extends FsNode {
  /** The subvolume (tree id) the inode lives in. */
  tree: bigint;
  objectid: bigint;
  /** Null when the inode could not be read; `error` says why. */
  inode: InodeItem | null;
  error?: DiskpickError;
  /** A nested subvolume seen from a snapshot: an empty folder (the kernel's BTRFS_EMPTY_SUBVOL_DIR_OBJECTID). */
  placeholder?: boolean;
}

/** The inode number the kernel gives placeholder folders. */
const EMPTY_SUBVOL_DIR_OBJECTID = 2n;

interface Subvol {
  id: bigint;
  root: TreeRoot;
  item: RootItem;
}

/** Largest symlink target read (PATH_MAX). */
const SYMLINK_MAX = 4096;
/** Deepest folder chain followed when naming a subvolume's path. */
const PATH_DEPTH_MAX = 4096;

export const btrfsFormat: FsFormat = {
  name: 'btrfs',
  probe: probeBtrfs,
  open(src: ByteSource, opts?: FsOpenOptions): Promise<FileSystem> {
    return BtrfsFs.open(src, opts ?? {});
  },
};

/** Linux dev_t as the kernel keeps it (major << 20 | minor) → the stat encoding (new_encode_dev). */
function statRdev(rdev: bigint): number {
  const major = Number((rdev >> 20n) & 0xfffn);
  const minor = Number(rdev & 0xfffffn);
  return (minor & 0xff) | (major << 8) | ((minor & ~0xff) << 12);
}

function fileTypeOfMode(mode: number): FileType {
  switch (mode & 0o170000) {
    case 0o100000: return 'file';
    case 0o040000: return 'dir';
    case 0o120000: return 'symlink';
    case 0o020000: return 'chardev';
    case 0o060000: return 'blockdev';
    case 0o010000: return 'fifo';
    case 0o140000: return 'socket';
    default: return 'other';
  }
}

export class BtrfsFs implements FileSystem {
  readonly caseSensitive = true;
  info!: FsInfo;
  sb!: Superblock;
  private map!: ChunkMap;
  private reader!: TreeReader;
  private rootTree!: TreeRoot;
  private csumTree: CsumTree | null = null;
  private readonly subvols = new Map<bigint, Subvol | null>();
  private readonly inoIds = new Map<string, number>();
  private nextSyntheticIno = 2 ** 52;
  private readonly verify: boolean;
  private readonly peers: readonly ByteSource[];
  /** The further volumes (from FsOpenOptions.peers) this filesystem is read from. */
  members: ByteSource[] = [];

  private constructor(private readonly src: ByteSource, opts: FsOpenOptions) {
    this.verify = opts.verifyData !== false;
    this.peers = opts.peers ?? [];
  }

  static async open(src: ByteSource, opts: FsOpenOptions): Promise<BtrfsFs> {
    const fs = new BtrfsFs(src, opts);
    await fs.load();
    return fs;
  }

  private async load(): Promise<void> {
    const file = this.src.name;
    const warnings: string[] = [];
    const own = await readSuperblock(this.src, warnings);
    const found = await this.collectDevices(own, warnings);
    // The newest superblock leads: a device left out of later writes holds older roots.
    let sb = own;
    for (const d of found.values()) if (d.sb.generation > sb.generation) sb = d.sb;
    this.sb = sb;
    const unknown = sb.incompat_flags & ~Object.values(INCOMPAT).reduce((a, b) => a | b, 0n);
    if (unknown) throw unsupported(file, `Btrfs incompat features 0x${unknown.toString(16)} are unknown`);
    if (sb.incompat_flags & (INCOMPAT.EXTENT_TREE_V2 | INCOMPAT.RAID_STRIPE_TREE)) {
      throw unsupported(file, `Btrfs ${incompatNames(sb.incompat_flags & (INCOMPAT.EXTENT_TREE_V2 | INCOMPAT.RAID_STRIPE_TREE)).join(', ')} is not supported`);
    }
    const devs = new Map<number, ByteSource>();
    for (const [id, d] of found) {
      if (d.sb.generation === sb.generation) devs.set(id, d.src);
      else warnings.push(`device ${id} (${d.src.name}) is at generation ${d.sb.generation}, the filesystem at ${sb.generation}: it missed later writes and is not read`);
    }
    this.map = new ChunkMap(devs, file);
    for (const c of parseSysChunkArray(sb.sys_chunk_array, file)) this.map.add(c);
    this.reader = new TreeReader(this.map, sb, file);
    const chunkRoot: TreeRoot = { bytenr: sb.chunk_root, level: sb.chunk_root_level, id: OBJ.CHUNK_TREE };
    let devices = 0;
    const listed = new Map<number, Buffer>();
    for await (const it of this.reader.items(chunkRoot, key(0, 0, 0), key(U64_MAX, 255, U64_MAX))) {
      if (it.type === KEY.DEV_ITEM) {
        devices++;
        if (it.data.length >= 82 && it.offset <= BigInt(Number.MAX_SAFE_INTEGER)) listed.set(Number(it.offset), Buffer.from(it.data.subarray(66, 82)));
      }
      if (it.type !== CHUNK_ITEM_KEY) continue;
      if (it.offset > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, 'Btrfs chunk address is out of range');
      this.map.add(parseChunk(it.data, 0, Number(it.offset), file).chunk);
    }
    // A device is the one the chunk tree lists only when its UUID matches (a re-made
    // filesystem can leave an old member with the same fsid and devid behind).
    for (const [id, src] of [...devs]) {
      const uuid = listed.get(id);
      if (uuid && !uuid.equals(found.get(id)!.sb.dev_item.uuid)) {
        devs.delete(id);
        warnings.push(`${src.name} says it is device ${id}, but its device UUID is not the one the filesystem lists: not read`);
      }
    }
    this.members = [...devs.values()].filter((d) => d !== this.src);
    this.rootTree = { bytenr: sb.root, level: sb.root_level, id: OBJ.ROOT_TREE };
    const csumRoot = await this.findRoot(OBJ.CSUM_TREE);
    this.csumTree = new CsumTree(this.reader, csumRoot?.root ?? null, sb.csum_type, csumSize(sb), sb.sectorsize, file);
    const top = await this.subvol(OBJ.FS_TREE);
    if (!top) throw corrupt(file, 'Btrfs root tree has no FS_TREE root item');

    if (sb.num_devices > 1) {
      const missing = [...listed.keys()].filter((id) => !devs.has(id));
      const have = [...devs.keys()].sort((a, b) => a - b);
      if (missing.length) {
        warnings.push(`the filesystem spans ${sb.num_devices} devices; device${missing.length > 1 ? 's' : ''} ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not among the disks given (${have.length > 1 ? `devices ${have.join(', ')} are` : `only device ${have[0]} is`} opened): what has a copy on ${have.length > 1 ? 'them' : 'it'} (DUP, RAID1*, RAID10) reads, the rest fails; give every disk of the VM (--disk FILE) to read it all`);
      }
    }
    if (sb.log_root !== 0) warnings.push('the filesystem has a log tree (not unmounted after its last fsync): changes kept only there are not shown');
    for (const [id, src] of devs) {
      const want = found.get(id)!.sb.dev_item.total_bytes;
      if (src.size < want) warnings.push(`device ${id} (${src.name}) is ${src.size} bytes but the filesystem says ${want}: files past its end cannot be read`);
    }
    const profiles = (bit: bigint) => [...new Set(this.map.all.filter((c) => c.type & bit).map((c) => profileName(c.type)))].join('/') || 'none';
    const subvolumes = await this.listSubvolumes();
    const dflt = await this.defaultSubvolume();
    // The top level's UUID: a snapshot of the top level (snapper's) names it as its parent.
    const topUuid = (await this.findRoot(OBJ.FS_TREE))?.item.uuid;
    this.info = {
      type: 'btrfs',
      label: sb.label || null,
      uuid: formatUuid(sb.fsid),
      size: sb.total_bytes,
      blockSize: sb.sectorsize,
      warnings,
      details: {
        generation: sb.generation,
        sectorSize: sb.sectorsize,
        nodeSize: sb.nodesize,
        checksum: csumTypeName(sb),
        devices: sb.num_devices,
        deviceId: own.dev_item.devid,
        devicesOpened: [...this.map.devices.keys()].sort((a, b) => a - b).join(' '),
        chunkDevices: devices,
        dataProfile: profiles(BG.DATA),
        metadataProfile: profiles(BG.METADATA),
        systemProfile: profiles(BG.SYSTEM),
        features: incompatNames(sb.incompat_flags).join(' ').toLowerCase(),
        bytesUsed: sb.bytes_used,
        subvolumes: subvolumes.length,
        defaultSubvolume: dflt,
        ...(topUuid && !topUuid.equals(Buffer.alloc(16)) ? { topLevelUuid: formatUuid(topUuid) } : {}),
        dataChecksums: this.verify ? 'verified on read' : 'not verified (--no-verify)',
      },
      subvolumes,
    };
  }

  /**
   * The devices of a multi-device filesystem among the volumes given with it (FsOpenOptions.peers:
   * the other volumes of the disks opened together): those whose superblock carries this
   * filesystem's fsid, by devid. A volume that is no Btrfs device, or another filesystem's, is
   * passed over; two volumes claiming one devid keep the first.
   */
  private async collectDevices(own: Superblock, warnings: string[]): Promise<Map<number, { src: ByteSource; sb: Superblock }>> {
    const found = new Map<number, { src: ByteSource; sb: Superblock }>([[own.dev_item.devid, { src: this.src, sb: own }]]);
    if (own.num_devices <= 1) return found;
    for (const peer of this.peers) {
      if (peer === this.src || peer.size < SUPER_INFO_OFFSET + 4096) continue;
      let sb: Superblock;
      try {
        const head = await peer.read(SUPER_INFO_OFFSET + 0x40, 8);
        if (!head.equals(BTRFS_MAGIC)) continue;
        sb = await readSuperblock(peer, []);
      } catch (err) {
        if (err instanceof DiskpickError) continue;
        throw err;
      }
      if (!sb.fsid.equals(own.fsid)) continue;
      const id = sb.dev_item.devid;
      if (found.has(id)) {
        warnings.push(`${peer.name} also says it is device ${id}: not read`);
        continue;
      }
      found.set(id, { src: peer, sb });
      if (found.size >= own.num_devices) break;
    }
    return found;
  }

  /** The root item of tree `id` (any offset: snapshots key theirs by creation transid). */
  private async findRoot(id: bigint): Promise<Subvol | null> {
    const it = await this.reader.first(this.rootTree, key(id, KEY.ROOT_ITEM, 0), key(id, KEY.ROOT_ITEM, U64_MAX));
    if (!it) return null;
    const item = parseRootItem(it.data, this.src.name);
    return { id, item, root: { bytenr: item.bytenr, level: item.level, id } };
  }

  private async subvol(id: bigint): Promise<Subvol | null> {
    if (this.subvols.has(id)) return this.subvols.get(id)!;
    const s = await this.findRoot(id);
    if (s && s.item.level > 7) throw corrupt(this.src.name, `Btrfs subvolume ${id} has tree level ${s.item.level}`);
    this.subvols.set(id, s);
    return s;
  }

  /** The id the DIR_ITEM "default" in the root tree's folder names (btrfs subvolume get-default). */
  private async defaultSubvolume(): Promise<number> {
    const name = Buffer.from('default');
    const it = await this.reader.find(this.rootTree, key(OBJ.ROOT_TREE_DIR, KEY.DIR_ITEM, nameHash(name)));
    const d = it && parseDirItems(it.data, this.src.name).find((x) => x.name.equals(name));
    return d ? Number(d.location.objectid) : 5;
  }

  /** Every subvolume and snapshot below the top level, with its path (ROOT_BACKREF + INODE_REF chains). */
  private async listSubvolumes(): Promise<SubvolumeInfo[]> {
    const file = this.src.name;
    const items: { id: bigint; item: RootItem }[] = [];
    const backrefs = new Map<bigint, { parent: bigint; dirid: bigint; name: Buffer }>();
    for await (const it of this.reader.items(this.rootTree, key(OBJ.FIRST_FREE, 0, 0), key(OBJ.LAST_FREE, 255, U64_MAX))) {
      if (it.type === KEY.ROOT_ITEM) items.push({ id: it.objectid, item: parseRootItem(it.data, file) });
      else if (it.type === KEY.ROOT_BACKREF) {
        const r = parseRootRef(it.data, file);
        backrefs.set(it.objectid, { parent: it.offset, dirid: r.dirid, name: Buffer.from(r.name) });
      }
    }
    const paths = new Map<bigint, string | null>();
    const pathOf = async (id: bigint, depth: number): Promise<string | null> => {
      if (id === OBJ.FS_TREE) return '';
      if (paths.has(id)) return paths.get(id)!;
      const br = backrefs.get(id);
      if (!br || depth > 64) return null;
      paths.set(id, null);
      const parent = await pathOf(br.parent, depth + 1);
      const ps = parent === null ? null : await this.subvol(br.parent);
      const dir = parent === null || !ps ? null : await this.pathInTree(ps, br.dirid);
      const p = dir === null ? null : [parent, dir, br.name.toString('utf8')].filter((x) => x).join('/');
      paths.set(id, p);
      return p;
    };
    const zero = Buffer.alloc(16);
    const out: SubvolumeInfo[] = [];
    for (const { id, item } of items) {
      const path = await pathOf(id, 0);
      out.push({
        id: Number(id),
        path: path ?? '',
        generation: item.generation,
        readOnly: (item.flags & ROOT_SUBVOL_RDONLY) !== 0n,
        snapshot: !!item.parent_uuid && !item.parent_uuid.equals(zero),
        uuid: item.uuid && !item.uuid.equals(zero) ? formatUuid(item.uuid) : null,
        parentUuid: item.parent_uuid && !item.parent_uuid.equals(zero) ? formatUuid(item.parent_uuid) : null,
        otime: item.otime,
        ...(path === null ? { orphan: true } : {}),
      });
    }
    return out;
  }

  /** The path of folder `ino` below the subvolume's root folder, by its INODE_REF/INODE_EXTREF chain. */
  private async pathInTree(s: Subvol, ino: bigint): Promise<string | null> {
    const names: string[] = [];
    let cur = ino;
    for (let depth = 0; cur !== s.item.root_dirid; depth++) {
      if (depth > PATH_DEPTH_MAX) return null;
      const refs = await this.inodeRefs(s.root, cur);
      const r = refs[0];
      if (!r || r.parent === cur) return null;
      names.unshift(r.name.toString('utf8'));
      cur = r.parent;
    }
    return names.join('/');
  }

  /** Every name of an inode: INODE_REF items (key offset: parent) and INODE_EXTREF items. */
  private async inodeRefs(root: TreeRoot, ino: bigint): Promise<{ parent: bigint; name: Buffer }[]> {
    const file = this.src.name;
    const out: { parent: bigint; name: Buffer }[] = [];
    for await (const it of this.reader.items(root, key(ino, KEY.INODE_REF, 0), key(ino, KEY.INODE_EXTREF, U64_MAX))) {
      if (it.type === KEY.INODE_REF) out.push(...parseInodeRefs(it.data, it.offset, file));
      else out.push(...parseInodeExtrefs(it.data, file));
    }
    return out;
  }

  /** Stat.ino: inode numbers are per subvolume, so other trees' are moved to their own range. */
  private inoOf(tree: bigint, objectid: bigint): number {
    if (tree === OBJ.FS_TREE && objectid < 2n ** 36n) return Number(objectid);
    if (tree < 2n ** 16n && objectid < 2n ** 36n) return Number(tree) * 2 ** 36 + Number(objectid);
    const k = `${tree}:${objectid}`;
    let v = this.inoIds.get(k);
    if (v === undefined) {
      v = this.nextSyntheticIno++;
      this.inoIds.set(k, v);
    }
    return v;
  }

  // ---- nodes ----

  async root(): Promise<FsNode> {
    const top = (await this.subvol(OBJ.FS_TREE))!;
    return this.nodeFor(top.id, top.item.root_dirid, '', 'dir');
  }

  private async inodeItem(tree: bigint, objectid: bigint, name: string): Promise<InodeItem> {
    const s = await this.subvol(tree);
    if (!s) throw corrupt(name || '/', `Btrfs subvolume ${tree} has no root item`);
    const it = await this.reader.find(s.root, key(objectid, KEY.INODE_ITEM, 0));
    if (!it) throw corrupt(name || '/', `Btrfs inode ${objectid} of subvolume ${tree} does not exist`);
    return parseInodeItem(it.data, 0, name || '/');
  }

  private async nodeFor(tree: bigint, objectid: bigint, name: string, direntType: FileType | null, placeholder = false): Promise<BtrfsNode> {
    if (placeholder) {
      const otime = (await this.subvol(tree))?.item.otime ?? { sec: 0, nsec: 0 };
      const stat: Stat = { type: 'dir', size: 0, allocated: 0, mode: 0o755, uid: 0, gid: 0, nlink: 1, ino: this.inoOf(tree, objectid), atime: otime, mtime: otime, ctime: otime, hasOwnership: true };
      return { name, stat, inode: null, tree, objectid, placeholder: true };
    }
    try {
      const inode = await this.inodeItem(tree, objectid, name);
      const stat = await this.statOf(tree, objectid, inode, name);
      return { name, stat, inode, tree, objectid };
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      const stat: Stat = { ...partialStat(direntType ?? 'other', this.inoOf(tree, objectid), true) };
      return { name, stat, inode: null, error: err, tree, objectid };
    }
  }

  private async statOf(tree: bigint, objectid: bigint, inode: InodeItem, name: string): Promise<Stat> {
    const type = fileTypeOfMode(inode.mode);
    const stat: Stat = {
      type,
      size: inode.size,
      allocated: inode.nbytes,
      mode: inode.mode & 0o7777,
      uid: inode.uid,
      gid: inode.gid,
      nlink: inode.nlink,
      ino: this.inoOf(tree, objectid),
      atime: inode.atime,
      mtime: inode.mtime,
      ctime: inode.ctime,
      birthtime: inode.otime,
      hasOwnership: true,
    };
    if (type === 'chardev' || type === 'blockdev') stat.rdev = statRdev(inode.rdev);
    const attrs: string[] = [];
    const s = await this.subvol(tree);
    if (s && objectid === s.item.root_dirid && tree !== OBJ.FS_TREE) {
      attrs.push('subvolume');
      const zero = Buffer.alloc(16);
      if (s.item.parent_uuid && !s.item.parent_uuid.equals(zero)) attrs.push('snapshot');
      if (s.item.flags & ROOT_SUBVOL_RDONLY) attrs.push('readonly');
    }
    if (inode.flags & INODE_FLAG.IMMUTABLE) attrs.push('immutable');
    if (inode.flags & INODE_FLAG.APPEND) attrs.push('append');
    if (type === 'file' && inode.nbytes < inode.size) attrs.push('sparse');
    if (attrs.length) stat.attributes = attrs;
    if (type === 'symlink') {
      if (inode.size > SYMLINK_MAX) throw corrupt(name, `symbolic link target is ${inode.size} bytes long`);
      const src = await this.dataSource(tree, objectid, inode, name);
      stat.symlinkTarget = (await src.read(0, inode.size)).toString('utf8');
    }
    return stat;
  }

  private full(node: FsNode): Promise<BtrfsNode> | BtrfsNode {
    const n = node as BtrfsNode;
    if (!node.partial) return n;
    // A partial node the caller made from a NameList carries only Stat.ino.
    const { tree, objectid } = n.tree !== undefined ? n : this.locate(node.stat.ino);
    return this.nodeFor(tree, objectid, node.name, node.stat.type);
  }

  /** The (tree, inode) behind a Stat.ino (inoOf backwards). */
  private locate(ino: number): { tree: bigint; objectid: bigint } {
    if (ino >= 2 ** 52) {
      for (const [k, v] of this.inoIds) {
        if (v !== ino) continue;
        const [t, o] = k.split(':');
        return { tree: BigInt(t!), objectid: BigInt(o!) };
      }
      throw corrupt('/', `inode ${ino} is unknown`);
    }
    if (ino < 2 ** 36) return { tree: OBJ.FS_TREE, objectid: BigInt(ino) };
    return { tree: BigInt(Math.floor(ino / 2 ** 36)), objectid: BigInt(ino % 2 ** 36) };
  }

  async complete(node: FsNode): Promise<FsNode> {
    return this.full(node);
  }

  /** The (tree, inode) a folder entry leads to: an inode of the same tree, or a subvolume's root folder. */
  private async target(dir: BtrfsNode, d: DirItem, name: string): Promise<{ tree: bigint; objectid: bigint; placeholder?: boolean } | null> {
    if (d.location.type === KEY.ROOT_ITEM) {
      const id = d.location.objectid;
      if (id === dir.tree || id === OBJ.FS_TREE) return null;
      const s = await this.subvol(id);
      // A subvolume being deleted keeps its entry until the cleaner runs; the kernel hides it too.
      if (!s) return null;
      // The subvolume is really here only when its ROOT_REF says so (parent tree, folder, name).
      // A snapshot copies its source's folder entries, but not the nested subvolumes: the
      // kernel shows those as empty folders (fixup_tree_root_location), and so does diskpick.
      const ref = await this.reader.find(this.rootTree, key(dir.tree, KEY.ROOT_REF, id));
      const r = ref && parseRootRef(ref.data, name);
      if (!r || r.dirid !== dir.objectid || !r.name.equals(d.name)) return { tree: dir.tree, objectid: EMPTY_SUBVOL_DIR_OBJECTID, placeholder: true };
      return { tree: id, objectid: s.item.root_dirid };
    }
    if (d.location.type !== KEY.INODE_ITEM) throw corrupt(name, `Btrfs folder entry points to a key of type ${d.location.type}`);
    const s = (await this.subvol(dir.tree))!;
    if (d.location.objectid === dir.objectid || d.location.objectid === s.item.root_dirid) return null;
    return { tree: dir.tree, objectid: d.location.objectid };
  }

  /** A folder's DIR_INDEX items in index order (the order the kernel lists). */
  private async dirIndex(dir: BtrfsNode): Promise<DirItem[]> {
    const file = dir.name || '/';
    if (dir.error) throw dir.error;
    if (dir.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', file);
    if (dir.placeholder) return [];
    const s = await this.subvol(dir.tree);
    if (!s) throw corrupt(file, `Btrfs subvolume ${dir.tree} has no root item`);
    const out: DirItem[] = [];
    for await (const it of this.reader.items(s.root, key(dir.objectid, KEY.DIR_INDEX, 0), key(dir.objectid, KEY.DIR_INDEX, U64_MAX))) {
      const items = parseDirItems(it.data, file);
      if (items.length !== 1) throw corrupt(file, `Btrfs DIR_INDEX item ${it.offset} holds ${items.length} entries`);
      out.push(items[0]!);
    }
    return out;
  }

  async readdirNames(dir: FsNode): Promise<NameList> {
    const d = await this.full(dir);
    const entries = await this.dirIndex(d);
    const names: string[] = [];
    const types: FileType[] = [];
    const inos: number[] = [];
    const nodes: (FsNode | undefined)[] = [];
    for (const e of entries) {
      const name = e.name.toString('utf8');
      const t = await this.target(d, e, name);
      if (!t) continue;
      const ft = DIR_FT[e.type] ?? null;
      let node: BtrfsNode | undefined;
      if (ft === null || ft === 'dir' || t.placeholder) node = await this.nodeFor(t.tree, t.objectid, name, ft, t.placeholder);
      names.push(name);
      types.push(node ? node.stat.type : ft!);
      inos.push(this.inoOf(t.tree, t.objectid));
      nodes[names.length - 1] = node;
    }
    return { names, types, inos, nodes };
  }

  async readdir(dir: FsNode, opts?: ReaddirOptions): Promise<FsNode[]> {
    const d = await this.full(dir);
    const entries = await this.dirIndex(d);
    const out: FsNode[] = [];
    for (const e of entries) {
      const name = e.name.toString('utf8');
      const t = await this.target(d, e, name);
      if (!t) continue;
      const ft = DIR_FT[e.type] ?? null;
      if (opts?.namesOnly && ft !== null && ft !== 'dir' && !t.placeholder) {
        const p: BtrfsNode = { name, stat: partialStat(ft, this.inoOf(t.tree, t.objectid), true), inode: null, partial: true, tree: t.tree, objectid: t.objectid };
        out.push(p);
      } else out.push(await this.nodeFor(t.tree, t.objectid, name, ft, t.placeholder));
    }
    return out;
  }

  async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
    const d = await this.full(dir);
    if (d.error) throw d.error;
    if (d.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', d.name || '/');
    if (d.placeholder) return null;
    const s = (await this.subvol(d.tree))!;
    const bytes = Buffer.from(name, 'utf8');
    let found: DirItem | undefined;
    if (!name.includes('\ufffd')) {
      const it = await this.reader.find(s.root, key(d.objectid, KEY.DIR_ITEM, nameHash(bytes)));
      found = it ? parseDirItems(it.data, name).find((x) => x.name.equals(bytes)) : undefined;
    } else {
      // A name that was not valid UTF-8 on disk: its bytes are unknown, so match the shown form.
      found = (await this.dirIndex(d)).find((x) => x.name.toString('utf8') === name);
    }
    if (!found) return null;
    const t = await this.target(d, found, name);
    if (!t) return null;
    return this.nodeFor(t.tree, t.objectid, name, DIR_FT[found.type] ?? null, t.placeholder);
  }

  /** The file's content source, reading through the csum check unless --no-verify or NODATASUM. */
  private async dataSource(tree: bigint, objectid: bigint, inode: InodeItem, name: string): Promise<ByteSource> {
    const s = (await this.subvol(tree))!;
    const raw: [number, Buffer][] = [];
    for await (const it of this.reader.items(s.root, key(objectid, KEY.EXTENT_DATA, 0), key(objectid, KEY.EXTENT_DATA, U64_MAX))) {
      if (it.offset > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(name, `Btrfs extent at file offset ${it.offset} is out of range`);
      raw.push([Number(it.offset), it.data]);
    }
    const pieces = filePieces(raw, inode.size, this.sb.sectorsize, name);
    const checked = this.verify && !(inode.flags & INODE_FLAG.NODATASUM);
    const volume = new DataVolume(this.map, checked ? this.csumTree : null, name, (l) => fileOffsetOf(pieces, l));
    return fileSource(pieces, volume, inode.size, this.sb.sectorsize, name);
  }

  async openFile(node: FsNode, stream?: string): Promise<ByteSource> {
    const n = await this.full(node);
    if (stream) throw new DiskpickError('notFound', 'Btrfs has no named streams', node.name);
    if (n.error) throw n.error;
    return this.dataSource(n.tree, n.objectid, n.inode!, node.name);
  }

  async xattrs(node: FsNode): Promise<Map<string, Buffer>> {
    const n = await this.full(node);
    if (n.error) throw n.error;
    const out = new Map<string, Buffer>();
    if (n.placeholder) return out;
    const s = (await this.subvol(n.tree))!;
    for await (const it of this.reader.items(s.root, key(n.objectid, KEY.XATTR_ITEM, 0), key(n.objectid, KEY.XATTR_ITEM, U64_MAX))) {
      for (const x of parseDirItems(it.data, node.name || '/')) out.set(x.name.toString('utf8'), Buffer.from(x.data));
    }
    return out;
  }

  async close(): Promise<void> {
    this.subvols.clear();
  }
}

/** btrfs_name_hash: the DIR_ITEM key offset, crc32c seeded with ~1 and no final inversion. */
export function nameHash(name: Buffer): bigint {
  return BigInt(crc32cUpdate(0xfffffffe, name));
}
