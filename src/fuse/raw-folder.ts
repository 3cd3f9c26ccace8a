/**
 * The hidden `/.raw/` folder: the whole virtual disk and each readable volume as read-only
 * files, so a tool that wants a block device (fsck, a forensic scanner) can read one without
 * a restore. Paths under it: `disk` (the image's whole disk), each volume by its path (`p1`,
 * `rl/root`: VG folders as in the tree), each further disk as `diskK/disk`.
 */
import type Fuse from 'fuse-native';
import { DiskpickError } from '../errors.js';
import type { Vfs } from '../vfs/vfs.js';
import type { Entry } from './listing.js';
import { msOf, syntheticDirStat, syntheticFileStat, type OwnerOptions } from './stat-words.js';

/** The hidden folder of raw images, and its file for the whole virtual disk. */
export const RAW_DIR = '.raw';
export const RAW_DISK = 'disk';

export class RawFolder {
  /** The folder itself. */
  readonly entry: Entry = { kind: 'rawdir', prefix: '' };
  /** Every file's path under `.raw/`. */
  private readonly names: string[];
  /** Raw path → the name volumeSource takes. */
  private readonly volumes = new Map<string, string>();
  /** Folders inside `.raw/` ("rl", "disk2"), for their inode numbers. */
  private readonly dirs: string[] = [];

  constructor(private readonly vfs: Vfs, private readonly owner: OwnerOptions) {
    for (const v of vfs.rawVolumeNames()) this.volumes.set(/^disk\d+$/.test(v) ? `${v}/${RAW_DISK}` : v, v);
    this.names = [RAW_DISK, ...this.volumes.keys()];
    for (const n of this.names) {
      for (let i = n.indexOf('/'); i > 0; i = n.indexOf('/', i + 1)) if (!this.dirs.includes(n.slice(0, i))) this.dirs.push(n.slice(0, i));
    }
  }

  /** The entry of `rel`, a path under `.raw/` (`path` is the whole one, for the error). */
  entryOf(rel: string, path: string): Entry {
    const vol = this.volumes.get(rel);
    if (rel === RAW_DISK) return { kind: 'raw', name: rel, source: this.vfs.container };
    if (vol !== undefined) return { kind: 'raw', name: rel, source: this.vfs.volumeSource(vol) };
    if (this.dirs.includes(rel)) return { kind: 'rawdir', prefix: rel };
    throw new DiskpickError('notFound', 'no such raw volume', path);
  }

  /** The names directly in the folder `prefix` ('' for `.raw/` itself). */
  namesIn(prefix: string): string[] {
    const under = prefix ? `${prefix}/` : '';
    const here: string[] = [];
    for (const n of this.names) {
      if (!n.startsWith(under)) continue;
      const rest = n.slice(under.length);
      const first = rest.includes('/') ? rest.slice(0, rest.indexOf('/')) : rest;
      if (!here.includes(first)) here.push(first);
    }
    return here;
  }

  /**
   * The stat of one of its entries. Slot 0 (below 2^27) holds the synthetic entries: root 1,
   * .raw 2, volume and VG folders 16+, raw files 2^25+, folders inside .raw 2^26+.
   */
  stat(e: Entry & { kind: 'raw' | 'rawdir' }): Fuse.StatLike {
    const t = msOf(this.vfs.root().stat.mtime, 0);
    if (e.kind === 'rawdir') return syntheticDirStat(e.prefix ? 2 ** 26 + this.dirs.indexOf(e.prefix) : 2, t, this.owner);
    return syntheticFileStat(2 ** 25 + Math.max(0, this.names.indexOf(e.name)), e.source.size, t, this.owner);
  }
}
