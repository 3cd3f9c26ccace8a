/**
 * The container layer turns an image file (and the files it references: extents,
 * parents) into one ByteSource: the virtual disk as the guest saw it.
 */
import type { ByteSource } from '../source/source.js';

/** One level of a chain, for `info`: this image, then its parent, grandparent, … */
export interface ChainLevel {
  /** Format module name: raw, vmdk, vhd, vhdx, qcow2, vdi. */
  format: string;
  /** Subformat in the spec's words: monolithicSparse, dynamic, fixed, differencing, v3 … */
  variant: string;
  virtualSize: number;
  /** Host path of the file (for multi-file formats, the descriptor or first part). */
  file: string;
  /** Further host files this level reads (VMDK extents, split parts). */
  extraFiles?: string[];
}

export interface Container extends ByteSource {
  readonly format: string;
  readonly variant: string;
  /** Logical sector size of the virtual disk when the format records it (VHDX), else 512. */
  readonly sectorSize: number;
  /** This level first, then its parents. */
  readonly chain: ChainLevel[];
  /** Problems that did not stop reading (bad checksum tolerated, log replayed in memory). */
  warnings: string[];
  /** Further facts for `info` (EWF: the acquiry metadata of its header section). */
  readonly details?: Record<string, string>;
  /** Hashes of the whole virtual disk the image itself stores (EWF), lower-case hex: `info --verify`. */
  readonly storedDigests?: { md5?: string; sha1?: string };
  /** When the image file was last changed, where it is no host file (an image by URL), ms. */
  remoteMtimeMs?: number;
  /** Snapshots stored inside the top file (QCOW2 internal snapshots), for `info`'s points. */
  readonly internalSnapshots?: InternalSnapshot[];
  /**
   * Further virtual disks the image holds beside this one (an OVA's second and later disks,
   * the further base disks of a Hyper-V export folder). The volume layer shows them as
   * /disk2, /disk3 … like `--disk` ones (before those); this container's close closes them.
   */
  readonly moreDisks?: FurtherDisk[];
}

/** A further disk of an image (Container.moreDisks). */
export interface FurtherDisk {
  /** What `info` shows as its file: "appliance.ova:disk2.vmdk (OVF disk vmdisk2)". */
  label: string;
  container: Container;
}

/** A snapshot stored inside an image (QCOW2's snapshot table), as `info` lists it. */
export interface InternalSnapshot {
  id: string;
  name: string;
  /** When it was taken (date_sec/date_nsec). */
  time: { sec: number; nsec: number };
  /** Guest clock at the snapshot, ns. */
  vmClockNs: number;
  /** Saved VM state, bytes (0: disk only). */
  vmStateSize: number;
  /** Virtual disk size at the snapshot. */
  diskSize: number;
  /** True for the one being read (`IMAGE@snap:NAME`). */
  open?: boolean;
}

/** How an image names its parent, and how the parent found is checked. */
export interface ParentRef {
  /** Paths recorded in the image, best first, in host form (relative ones: to the image's folder). */
  paths: string[];
  /**
   * What differs when `parent` is not the disk this image was made over ("its UniqueId is …,
   * the child expects …"), else null. Without it, any file of that name is taken.
   */
  check?(parent: Container): string | null;
  /**
   * For a file found by name only (not at a recorded path): what makes it the wrong one for a
   * format whose parent has no identity (QCOW2: the virtual size), else null.
   */
  checkFound?(parent: Container): string | null;
}

/** What a container format module gets to reach beyond its own file. */
export interface OpenContext {
  /**
   * Opens a host file named inside an image (an extent, a parent), resolved against the
   * folder of `from`. Only folders the user allowed are reachable (the image's own and
   * `--parent-dir` ones); anything else is a one-line error saying how to allow it.
   */
  openReferenced(ref: string, from: string, what: string): Promise<ByteSource>;
  /**
   * Opens the parent/backing file of `from` as a full container (any format: a QCOW2 over a
   * raw base). The paths the image records are tried first; when none exists, a file of the
   * same name in the image's folder or a `--parent-dir` folder is used if its identity
   * checks. Detects cycles and over-long chains.
   */
  openParent(ref: ParentRef, from: string): Promise<Container>;
  /**
   * A parent the image names by identity only (VDI's UUID): reads the first `headerBytes` of
   * each regular file in the image's folder and the `--parent-dir` folders (never a file a
   * link leads out of them to), and opens the first whose header `matches`; null if none.
   * `likelyNames` (VirtualBox names a differencing image `{UUID}.vdi`) are tried first: over
   * HTTP, where a folder may not be listed, they are the only candidates then.
   */
  searchParent(from: string, headerBytes: number, matches: (head: Buffer) => boolean, likelyNames?: string[]): Promise<Container | null>;
  /**
   * The parent found is not the disk the child was made over (`why` names both sides): an
   * error, or only a warning when the user said --ignore-parent-id.
   */
  parentMismatch(why: string, from: string, parent: Container): Promise<void>;
  /**
   * The internal snapshot to read instead of the active state (`IMAGE@snap:NAME`, by name or
   * id); set for the top image only, and only for formats that hold them (QCOW2).
   */
  readonly snapshot?: string;
  /**
   * The image is read over a network (http://, https://, s3://): opening reads only what it
   * needs. The cut-short check (damage.ts), which reads whole allocation tables at open, is
   * left out: over HTTP it cost a 10 GiB VMDK 17.6 MB of transfer for one small file.
   */
  readonly remote?: boolean;
  /** Records a warning about `file` (this level's, an extent, a parent) for `info` and stderr. */
  warn(message: string, file: string): void;
}

/**
 * Thrown by a format's `open` when the file only looks like that format (a magic found in a
 * place a raw disk may also hold it, with sizes that do not fit the file): the file is read
 * as raw instead, with `message` as a warning. Peers (TSK, 7-Zip, qemu-img) do the same: a
 * plausible raw image must not become a fatal error because of a stray signature.
 */
export class NotThisFormat extends Error {}

export interface ContainerFormat {
  name: string;
  /**
   * True when `head` (the first 64 KiB of the file, or less for a shorter file) shows
   * this format's magic. Never decided by file extension. `tail` is the last 512 bytes of
   * the file (a fixed VHD's only signature is its footer there).
   */
  probe(head: Buffer, src: ByteSource, tail?: Buffer): boolean;
  /**
   * Set when `probe` looks at `tail`: a remote image's tail costs a round trip, asked for only
   * when such a format comes before the one its head shows (remote-open.ts).
   */
  probesTail?: boolean;
  open(src: ByteSource, ctx: OpenContext): Promise<Container>;
}
