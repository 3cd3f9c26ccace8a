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
   * Opens a referenced file as a full container (any format: a QCOW2 over a raw base)
   * for a parent/backing file. Detects cycles and over-long chains.
   */
  openParent(ref: string, from: string): Promise<Container>;
  /** Host files in the allowed folders (for parents found by UUID, like VDI's). */
  candidateFiles(from: string): Promise<string[]>;
  /** Opens a candidate file as a container, for parents found by identity (not name). */
  openParentFile(path: string, from: string): Promise<Container>;
  /** Records a warning for `info`. */
  warn(message: string): void;
}

export interface ContainerFormat {
  name: string;
  /**
   * True when `head` (the first 64 KiB of the file, or less for a shorter file) shows
   * this format's magic. Never decided by file extension. `tail` is the last 512 bytes of
   * the file (a fixed VHD's only signature is its footer there).
   */
  probe(head: Buffer, src: ByteSource, tail?: Buffer): boolean;
  open(src: ByteSource, ctx: OpenContext): Promise<Container>;
}
