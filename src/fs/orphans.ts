/**
 * `$Orphans`: files a filesystem holds in use but no folder lists (an NTFS MFT record whose
 * folder index entry is gone, an ext inode with links but no name), shown in one virtual
 * folder at the volume's root so they can be listed and restored like any other file (TSK's
 * `$OrphanFiles`, 7-Zip's `[LOST]`). Only on request (`--orphans`): finding them means walking
 * every folder and reading every MFT record or inode table.
 *
 * A wrapper around the filesystem: the filesystem only answers `orphans()` (nodes, named as
 * they would be in their lost folder); this module adds the folder, its lookups and listings.
 */
import { DEFAULT_DIR_MODE, type FileSystem, type FsNode, type NameList, type ReaddirOptions } from './types.js';

export const ORPHANS_FOLDER = '$Orphans';

/**
 * Inode number of the virtual folder: above every real one (ext inode numbers are 32-bit,
 * NTFS record numbers 48-bit) and exact in a double.
 */
const ORPHANS_INO = 2 ** 52 - 7;

/** A filesystem that can find its orphans. */
export interface OrphanFinder {
  /** In-use files no folder lists (a lost folder's own children are not repeated). */
  orphans(): Promise<FsNode[]>;
}

export function canFindOrphans(fs: FileSystem): fs is FileSystem & OrphanFinder {
  return typeof (fs as Partial<OrphanFinder>).orphans === 'function';
}

/** Names made unique within the folder: a repeated name gets "~INO" before its extension. */
function uniqueNames(nodes: FsNode[]): FsNode[] {
  const seen = new Set<string>();
  return nodes.map((n) => {
    let name = n.name;
    if (seen.has(name)) {
      const dot = name.lastIndexOf('.');
      const [stem, ext] = dot > 0 ? [name.slice(0, dot), name.slice(dot)] : [name, ''];
      name = `${stem}~${n.stat.ino}${ext}`;
    }
    seen.add(name);
    return name === n.name ? n : { ...n, name };
  });
}

/** `fs` with a `$Orphans` folder in its root; everything else is the filesystem's own. */
export function withOrphans(fs: FileSystem & OrphanFinder): FileSystem {
  let rootIno: number | null = null;
  let found: Promise<FsNode[]> | null = null;
  const folder = (root: FsNode): FsNode => ({
    name: ORPHANS_FOLDER,
    stat: { ...root.stat, type: 'dir', size: 0, allocated: 0, mode: DEFAULT_DIR_MODE, nlink: 2, ino: ORPHANS_INO, attributes: undefined, symlinkTarget: undefined },
  });
  const isFolder = (n: FsNode) => n.stat.ino === ORPHANS_INO && n.name === ORPHANS_FOLDER;
  const isRoot = async (n: FsNode) => {
    rootIno ??= (await fs.root()).stat.ino;
    return n.stat.ino === rootIno && n.name === '';
  };
  const orphans = () => (found ??= fs.orphans().then(uniqueNames));

  const own: Partial<FileSystem> = {
    async readdir(dir: FsNode, opts?: ReaddirOptions): Promise<FsNode[]> {
      if (isFolder(dir)) return orphans();
      const kids = await fs.readdir(dir, opts);
      return (await isRoot(dir)) ? [...kids, folder(dir)] : kids;
    },
    async lookup(dir: FsNode, name: string): Promise<FsNode | null> {
      if (isFolder(dir)) return (await orphans()).find((n) => n.name === name) ?? null;
      if (name === ORPHANS_FOLDER && (await isRoot(dir))) return (await fs.lookup(dir, name)) ?? folder(dir);
      return fs.lookup(dir, name);
    },
  };
  if (fs.readdirNames) {
    const names = fs.readdirNames.bind(fs);
    own.readdirNames = async (dir: FsNode): Promise<NameList> => {
      if (isFolder(dir)) {
        const k = await orphans();
        return { names: k.map((n) => n.name), types: k.map((n) => n.stat.type), inos: k.map((n) => n.stat.ino), nodes: k };
      }
      const l = await names(dir);
      if (!(await isRoot(dir))) return l;
      const f = folder(dir);
      const nodes = [...l.nodes];
      nodes.length = l.names.length;
      return { names: [...l.names, f.name], types: [...l.types, 'dir'], inos: [...l.inos, f.stat.ino], nodes: [...nodes, f] };
    };
  }
  if (fs.complete) own.complete = (n) => (isFolder(n) ? Promise.resolve(n) : fs.complete!(n));
  if (fs.streams) own.streams = (n) => (isFolder(n) ? Promise.resolve([]) : fs.streams!(n));
  if (fs.xattrs) own.xattrs = (n) => (isFolder(n) ? Promise.resolve(new Map()) : fs.xattrs!(n));
  // Everything else (info, openFile, close, a format's own extras) is the filesystem's.
  return new Proxy(fs, {
    get(target, prop) {
      if (typeof prop === 'string' && prop in own) return own[prop as keyof FileSystem];
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
