/**
 * The tree `serve` shows: `/` lists the served images by file name, `/IMAGE/` is that image's
 * Vfs root (its volumes), and below it the same paths as everywhere else (`/IMAGE/p2/Users/…`).
 * Lookups go name by name through Vfs.child, so a name is never split or re-parsed.
 */
import { basename } from 'node:path';
import type { Stat } from '../fs/types.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';

/** The folder of the web page's scripts and styles. */
export const ASSET_DIR = '.diskpick';

export interface ServedImage {
  /** The top-level folder name (the image's file name; "name~2" where two share one). */
  name: string;
  /** The image as given on the command line. */
  path: string;
  vfs: Vfs;
}

export type ServedPlace =
  | { kind: 'top' }
  | { kind: 'image'; image: ServedImage }
  | { kind: 'node'; image: ServedImage; node: VfsNode };

export interface ServedEntry {
  /** Names from the served root to this entry. */
  segments: string[];
  name: string;
  stat: Stat;
  place: ServedPlace;
}

export class ServedTree {
  readonly images: ServedImage[] = [];

  constructor(images: { path: string; vfs: Vfs }[], private readonly started = Date.now()) {
    // The page's own files live under /.diskpick/: no image may take that name.
    const taken = new Set<string>([ASSET_DIR]);
    for (const im of images) {
      const base = basename(im.path) || 'image';
      let name = base;
      for (let n = 2; taken.has(name.toLowerCase()); n++) name = `${base}~${n}`;
      taken.add(name.toLowerCase());
      this.images.push({ name, path: im.path, vfs: im.vfs });
    }
  }

  private syntheticDir(ino: number): Stat {
    const t = { sec: Math.floor(this.started / 1000), nsec: 0 };
    return { type: 'dir', size: 0, allocated: 0, mode: 0o555, uid: 0, gid: 0, nlink: 2, ino, atime: t, mtime: t, ctime: t, hasOwnership: false };
  }

  top(): ServedEntry {
    return { segments: [], name: '', stat: this.syntheticDir(1), place: { kind: 'top' } };
  }

  imageEntry(image: ServedImage): ServedEntry {
    const root = image.vfs.root();
    return { segments: [image.name], name: image.name, stat: root.stat, place: { kind: 'image', image } };
  }

  /** The entry at `segments`, or null where a name does not exist (or a file is used as a folder). */
  async resolve(segments: readonly string[]): Promise<ServedEntry | null> {
    if (segments.length === 0) return this.top();
    const image = this.images.find((i) => i.name === segments[0]);
    if (!image) return null;
    if (segments.length === 1) return this.imageEntry(image);
    let node = image.vfs.root();
    for (const s of segments.slice(1)) {
      if (node.stat.type !== 'dir') return null;
      const next = await image.vfs.child(node, s);
      if (!next) return null;
      node = next;
    }
    return this.nodeEntry(image, [...segments], node);
  }

  private nodeEntry(image: ServedImage, segments: string[], node: VfsNode): ServedEntry {
    return { segments, name: node.name, stat: node.stat, place: { kind: 'node', image, node } };
  }

  /** The children of a folder entry (images at the top; volumes; folder contents). */
  async children(dir: ServedEntry): Promise<ServedEntry[]> {
    const pl = dir.place;
    if (pl.kind === 'top') return this.images.map((i) => this.imageEntry(i));
    const image = pl.image;
    const node = pl.kind === 'image' ? image.vfs.root() : pl.node;
    const kids = await image.vfs.readdir(node);
    return kids.map((k) => this.nodeEntry(image, [...dir.segments, k.name], k));
  }

  async close(): Promise<void> {
    for (const i of this.images) await i.vfs.close().catch(() => undefined);
  }
}
