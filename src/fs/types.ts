/**
 * The fs layer: each filesystem module reads one volume (a ByteSource) and answers
 * with nodes in one stat model, shared by every interface above (CLI, FUSE, TUI).
 */
import type { ByteSource } from '../source/source.js';

export type FileType = 'file' | 'dir' | 'symlink' | 'chardev' | 'blockdev' | 'fifo' | 'socket' | 'other';

export type { Timespec } from '../source/bytes.js';
import type { Timespec } from '../source/bytes.js';

export interface Stat {
  type: FileType;
  /** Logical size in bytes (a symlink: length of its target). */
  size: number;
  /** Bytes actually allocated on the volume (sparse and compressed files use less). */
  allocated: number;
  /** Permission bits (0o7777). For filesystems without them, a default (0o755 dirs, 0o644 files). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  /** Stable id of the file within its filesystem; hard links share it. */
  ino: number;
  atime?: Timespec;
  mtime?: Timespec;
  ctime?: Timespec;
  birthtime?: Timespec;
  /** Symlink target, as stored (NTFS targets rewritten relative to the volume where possible). */
  symlinkTarget?: string;
  /** Device number for char/block devices (Linux encoding: major << 8 | minor, new-style). */
  rdev?: number;
  /** True where mode/uid/gid come from the filesystem (ext); false where they are defaults. */
  hasOwnership: boolean;
  /** Filesystem attribute flags in lower-case words: readonly, hidden, system, archive, compressed, encrypted, sparse, reparse … */
  attributes?: string[];
}

export interface FsNode {
  /** Name as stored (case kept). The root's name is "". */
  name: string;
  stat: Stat;
  /** Filesystem metadata (NTFS $MFT …): hidden from listings unless asked for. */
  system?: boolean;
  /**
   * Only name, stat.type and stat.ino are known (from a names-only listing, see
   * ReaddirOptions); the rest of stat is a placeholder until FileSystem.complete fills it.
   */
  partial?: boolean;
}

export interface ReaddirOptions {
  /**
   * The caller needs names and types only (`ls -R`, `find --name`): entries whose type the
   * folder itself records may come back `partial`, without reading their inode or MFT record.
   * Folders always come back complete (walking into one reads its metadata anyway, and the
   * loop checks need its real identity).
   */
  namesOnly?: boolean;
}

/**
 * A folder's children by column, for callers that show names and types only (`ls -R`, the
 * FUSE mount's readdir): no node per entry, since one folder can hold millions. `nodes[i]` is
 * the complete node where the filesystem made one, always for folders (walking into one and
 * the loop checks need it); an entry without one is a plain user entry (no system file).
 * `nodes` may be shorter than `names` (empty when no entry has a node). The arrays may be the
 * filesystem's own: callers do not change them.
 */
export interface NameList<Node = FsNode> {
  readonly names: readonly string[];
  readonly types: readonly FileType[];
  /** Stat.ino of each entry. */
  readonly inos: readonly number[];
  /** By index; undefined past its length. */
  readonly nodes: ReadonlyArray<Node | undefined>;
  /**
   * The same names in one string, each ended by "/", where the filesystem decodes them so
   * (NTFS, straight from its index buffers; see JoinedNameList): a caller that keeps a
   * folder's names as one string (the FUSE mount) takes this instead of `names`. A damaged or
   * hostile index can hold a name with "/" in it: then the string holds more "/" than entries,
   * which such a caller checks.
   */
  readonly joined?: string;
}

/**
 * A NameList whose names the filesystem decoded into one string (`joined`), split into
 * `names` only when something asks for them. The FUSE mount's first walk never does: it keeps
 * each folder's names as one string, and with `names` made for it, 100 000 names were split
 * into 100 000 strings and joined again (in-process first walk of the NTFS bench image, heap
 * sampling: 7 of its 28 MB allocated by that split, join and the array between).
 */
export class JoinedNameList<Node = FsNode> implements NameList<Node> {
  private split: string[] | null = null;

  constructor(
    readonly joined: string,
    /** Each name's length in UTF-16 code units (what `joined` holds of it). */
    private readonly lengths: ArrayLike<number>,
    readonly types: readonly FileType[],
    readonly inos: readonly number[],
    readonly nodes: ReadonlyArray<Node | undefined>,
  ) {}

  get names(): readonly string[] {
    if (this.split === null) {
      const n = this.types.length;
      let all = this.joined.split('/');
      if (all.length === n + 1) all.length = n;
      else {
        // A name holds "/": cut by the lengths instead.
        all = new Array<string>(n);
        for (let i = 0, at = 0; i < n; i++) {
          all[i] = this.joined.slice(at, at + this.lengths[i]!);
          at += this.lengths[i]! + 1;
        }
      }
      this.split = all;
    }
    return this.split;
  }

  /** The same names with other nodes (the Vfs's). */
  withNodes<N>(nodes: ReadonlyArray<N | undefined>): JoinedNameList<N> {
    return new JoinedNameList(this.joined, this.lengths, this.types, this.inos, nodes);
  }
}

export interface StreamInfo {
  /** Stream name (NTFS alternate data stream); the unnamed main stream is not listed. */
  name: string;
  size: number;
}

export interface FsInfo {
  /** Filesystem type as users know it: FAT12, FAT16, FAT32, exFAT, NTFS, ext2, ext3, ext4. */
  type: string;
  label: string | null;
  /** Volume serial number or UUID, as the filesystem's own tools print it. */
  uuid: string | null;
  /** Bytes the filesystem spans. */
  size: number;
  /** Bytes per cluster/block. */
  blockSize: number;
  /** Problems that did not stop reading (dirty volume, checksum mismatch, journal replayed). */
  warnings: string[];
  /** Further format facts for `info` (version, features, sector size …). */
  details: Record<string, string | number | boolean>;
  /** Subvolumes and snapshots (Btrfs), as `btrfs subvolume list -a` lists them. */
  subvolumes?: SubvolumeInfo[];
}

export interface SubvolumeInfo {
  id: number;
  /** Path from the top-level subvolume, where it shows in the tree ("" when it has no name left). */
  path: string;
  generation: number;
  readOnly: boolean;
  /** Made by `btrfs subvolume snapshot` (it has a parent UUID). */
  snapshot: boolean;
  uuid: string | null;
  parentUuid: string | null;
  /** No path leads to it (deleted, not yet cleaned up). */
  orphan?: boolean;
  /** When it was made (a snapshot: when it was taken), where the filesystem records it. */
  otime?: Timespec | null;
}

/** Choices the user makes when opening a filesystem. */
export interface FsOpenOptions {
  /** Check data checksums on read where the filesystem has them (Btrfs); default true. */
  verifyData?: boolean;
  /**
   * The other volumes of the disks opened together, for a filesystem that spans several
   * devices (Btrfs: its devices are found among them by fsid and devid).
   */
  peers?: readonly ByteSource[];
}

export interface FileSystem {
  readonly info: FsInfo;
  /** True when names differ by case only are different files (ext; per folder on NTFS). */
  readonly caseSensitive: boolean;
  root(): Promise<FsNode>;
  /** Children of a folder, without "." and "..". */
  readdir(dir: FsNode, opts?: ReaddirOptions): Promise<FsNode[]>;
  /** Children by column (see NameList); without it, callers use readdir with namesOnly. */
  readdirNames?(dir: FsNode): Promise<NameList>;
  /** The complete node for a `partial` one (a complete node is returned as it is). */
  complete?(node: FsNode): Promise<FsNode>;
  /** One child by name, with this filesystem's case rules; null when absent. */
  lookup(dir: FsNode, name: string): Promise<FsNode | null>;
  /** The content of a file (or of one named stream) as a random-access source. */
  openFile(node: FsNode, stream?: string): Promise<ByteSource>;
  /** Named data streams (NTFS ADS). */
  streams?(node: FsNode): Promise<StreamInfo[]>;
  /** Extended attributes, full names ("user.foo", "security.selinux"). */
  xattrs?(node: FsNode): Promise<Map<string, Buffer>>;
  close?(): Promise<void>;
  /** The volumes from FsOpenOptions.peers this filesystem is also made of (they show no filesystem of their own). */
  readonly members?: readonly ByteSource[];
}

export interface FsFormat {
  name: string;
  /** True when the volume's first sectors show this filesystem. `head` is the first 68 KiB (less where the volume is smaller). */
  probe(head: Buffer, src: ByteSource): boolean;
  open(src: ByteSource, opts?: FsOpenOptions): Promise<FileSystem>;
}

/**
 * The list without the entries at `drop`, columns kept in step. Not Array.filter: `nodes` has
 * holes (entries without a node), and filter skips holes, so the nodes would slide onto the
 * wrong names (issue 26: a folder entry looping back hid a real entry and listed a folder twice).
 */
export function dropEntries<Node>(l: NameList<Node>, drop: ReadonlySet<number>): NameList<Node> {
  const names: string[] = [];
  const types: FileType[] = [];
  const inos: number[] = [];
  const nodes: Array<Node | undefined> = [];
  for (let i = 0; i < l.names.length; i++) {
    if (drop.has(i)) continue;
    names.push(l.names[i]!);
    types.push(l.types[i]!);
    inos.push(l.inos[i]!);
    nodes.push(l.nodes[i]);
  }
  return { names, types, inos, nodes };
}

/** The placeholder stat of a `partial` node: real type and ino, every other field zero. */
export function partialStat(type: FileType, ino: number, hasOwnership: boolean): Stat {
  return { type, size: 0, allocated: 0, mode: 0, uid: 0, gid: 0, nlink: 0, ino, hasOwnership };
}

/** Default permission bits for filesystems that store none. */
export const DEFAULT_DIR_MODE = 0o755;
export const DEFAULT_FILE_MODE = 0o644;

// FILETIME is read by NTFS and by volume systems (VSS) alike: src/source/bytes.ts.
export { timespecFromFiletime } from '../source/bytes.js';
