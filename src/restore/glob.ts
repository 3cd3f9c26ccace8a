/**
 * Glob patterns over the image tree: `/p2/Users/*\/Documents/**\/*.docx`.
 *
 * A pattern is split at `/` into components, each matched with picomatch against one name.
 * The walk is depth-first and reads only folders the pattern can still reach: a literal
 * component is a single lookup (no listing), a wildcard component lists that one folder, and
 * `**` (zero or more folders) is the only thing that descends further. Each node is visited
 * once with the set of pattern positions it can be at, so overlapping `**` never yields
 * duplicates. Names are compared with the case rules of the filesystem they live on
 * (FAT/exFAT/NTFS ignore case, ext does not); volume names (p1, p2 …) ignore case.
 */
import picomatch from 'picomatch';
import { DiskpickError } from '../errors.js';
import { windowsToTreePath, type Vfs, type VfsNode } from '../vfs/vfs.js';

/** True when the string has glob syntax (unescaped `*`, `?`, `[…]`, `{…}`, extglobs). */
export function hasGlob(pattern: string): boolean {
  return windowsToTreePath(pattern).split('/').some((c) => c !== '' && picomatch.scan(c).isGlob);
}

type Component =
  | { kind: 'literal'; name: string }
  | { kind: 'any-depth' }
  | { kind: 'wild'; exact: (name: string) => boolean; folded: (name: string) => boolean };

export interface CompiledGlob {
  pattern: string;
  components: Component[];
  /** Components before the first wildcard: where the walk starts. */
  literalPrefix: string[];
}

/** `a\*b` → `a*b`: a literal component with its escapes removed. */
function unescape(c: string): string {
  return c.replace(/\\(.)/g, '$1');
}

export function compileGlob(pattern: string): CompiledGlob {
  if (pattern.includes('\0')) throw new DiskpickError('usage', 'pattern contains a NUL byte', pattern);
  // `\p2\Users\*` and `C:\Users\*` as Windows admins type them (src/vfs/vfs.ts windowsToTreePath).
  const raw = windowsToTreePath(pattern).split('/').filter((c) => c !== '' && c !== '.');
  const components: Component[] = [];
  for (const c of raw) {
    if (c === '..') throw new DiskpickError('usage', '".." is not allowed in a pattern', pattern);
    if (c === '**') {
      // `**/**` means the same as `**`.
      if (components[components.length - 1]?.kind !== 'any-depth') components.push({ kind: 'any-depth' });
    } else if (picomatch.scan(c).isGlob) {
      let exact: (n: string) => boolean;
      let folded: (n: string) => boolean;
      try {
        exact = picomatch(c, { dot: true });
        folded = picomatch(c, { dot: true, nocase: true });
      } catch (err) {
        throw new DiskpickError('usage', `bad pattern: ${(err as Error).message}`, pattern);
      }
      components.push({ kind: 'wild', exact, folded });
    } else {
      components.push({ kind: 'literal', name: unescape(c) });
    }
  }
  const literalPrefix: string[] = [];
  for (const c of components) {
    if (c.kind !== 'literal') break;
    literalPrefix.push(c.name);
  }
  return { pattern, components, literalPrefix };
}

/** Whether names in this folder differ by case only (root: volume names ignore case). */
export function folderIsCaseSensitive(node: VfsNode): boolean {
  const pl = node.place;
  if (pl.kind === 'root' || pl.kind === 'group' || (pl.kind === 'volume' && !pl.vol.fs)) return false;
  return pl.vol.fs?.caseSensitive ?? true;
}

export interface GlobOptions {
  /** Include filesystem metadata files (NTFS $MFT …) in listings. */
  system?: boolean;
  /** A matching folder is yielded but not searched further (extract restores it whole). */
  pruneMatchedFolders?: boolean;
  /** Called for a folder that cannot be listed; the walk goes on. Without it the error is thrown. */
  onError?: (path: string, err: unknown) => void;
}

/**
 * Yields every node matching the pattern, parents before children, one folder listing at a time.
 * Symbolic links are matched but never followed.
 */
export async function* expandGlob(vfs: Vfs, pattern: string | CompiledGlob, opts: GlobOptions = {}): AsyncGenerator<VfsNode> {
  const g = typeof pattern === 'string' ? compileGlob(pattern) : pattern;
  const comps = g.components;
  const end = comps.length;
  /** Adds the positions reachable without consuming a name (`**` may match zero folders). */
  const closure = (states: Set<number>): Set<number> => {
    for (const i of [...states]) {
      let j = i;
      while (j < end && comps[j]!.kind === 'any-depth') states.add(++j);
    }
    return states;
  };

  /**
   * The (child, pattern positions) pairs to visit below `node`, or null when nothing below it
   * can match. Listing failures go to onError (the walk goes on) or are thrown.
   */
  const childrenOf = async (node: VfsNode, states: Set<number>): Promise<{ node: VfsNode; states: Set<number> }[] | null> => {
    if (node.stat.type !== 'dir') return null;
    const live = [...states].filter((i) => i < end);
    if (!live.length) return null;
    const caseSensitive = folderIsCaseSensitive(node);
    const out: { node: VfsNode; states: Set<number> }[] = [];

    // Only literal names to follow: look them up, never list the folder.
    if (live.every((i) => comps[i]!.kind === 'literal')) {
      const byName = new Map<string, Set<number>>();
      for (const i of live) {
        const name = (comps[i] as { name: string }).name;
        const key = caseSensitive ? name : name.toLowerCase();
        if (!byName.has(key)) byName.set(key, new Set());
        byName.get(key)!.add(i + 1);
      }
      const seen = new Set<string>();
      for (const next of byName.values()) {
        const name = (comps[[...next][0]! - 1] as { name: string }).name;
        let child: VfsNode | null;
        try {
          child = await vfs.child(node, name);
        } catch (err) {
          if (opts.onError && node.path !== '/') {
            opts.onError(node.path, err);
            return out;
          }
          throw err;
        }
        if (!child || seen.has(child.path)) continue;
        seen.add(child.path);
        out.push({ node: child, states: next });
      }
      return out;
    }

    if (vfs.shownElsewhere(node)) return null;
    let kids: VfsNode[];
    try {
      kids = await vfs.readdir(node, { system: opts.system });
    } catch (err) {
      if (opts.onError) {
        opts.onError(node.path, err);
        return null;
      }
      throw err;
    }
    for (const k of kids) {
      const next = new Set<number>();
      for (const i of live) {
        const c = comps[i]!;
        if (c.kind === 'any-depth') {
          // `**` crosses folders only; it never matches into a symlink's target.
          next.add(i);
        } else if (c.kind === 'literal') {
          if (caseSensitive ? k.name === c.name : k.name.toLowerCase() === c.name.toLowerCase()) next.add(i + 1);
        } else if (caseSensitive ? c.exact(k.name) : c.folded(k.name)) {
          next.add(i + 1);
        }
      }
      if (next.size) out.push({ node: k, states: next });
    }
    return out;
  };

  // Start at the deepest literal folder: lookups there follow the case rules too.
  let start: VfsNode;
  try {
    start = await vfs.lookup(`/${g.literalPrefix.join('/')}`);
  } catch (err) {
    if (err instanceof DiskpickError && (err.kind === 'notFound' || err.kind === 'wrongType')) return;
    throw err;
  }
  // An explicit stack, not recursion: a `yield*` per level overflowed the call stack in deep
  // trees (issue 26). Each frame is one folder's children still to visit.
  const stack: { items: { node: VfsNode; states: Set<number> }[]; next: number }[] = [];
  let item: { node: VfsNode; states: Set<number> } | undefined = { node: start, states: new Set<number>([g.literalPrefix.length]) };
  let isStart = true;
  for (;;) {
    if (item) {
      const states = closure(item.states);
      // The folder the walk starts in is where matches are placed from, not a match itself
      // (`/p1/**` means everything below /p1).
      const matched = states.has(end) && !isStart;
      isStart = false;
      if (matched) yield item.node;
      if (!(matched && opts.pruneMatchedFolders)) {
        const kids = await childrenOf(item.node, states);
        if (kids?.length) stack.push({ items: kids, next: 0 });
      }
    }
    const top = stack[stack.length - 1];
    if (!top) return;
    item = top.items[top.next++];
    if (top.next >= top.items.length) stack.pop();
  }
}

/** The folder a match is placed relative to when restored: the pattern's literal prefix. */
export function globBase(pattern: string | CompiledGlob): string {
  const g = typeof pattern === 'string' ? compileGlob(pattern) : pattern;
  return `/${g.literalPrefix.join('/')}`;
}
