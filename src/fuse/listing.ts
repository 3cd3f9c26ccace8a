/**
 * What a path resolves to (Entry) and a folder's listing as readdir answers it (Listing): the
 * names, and per entry the two stat words libfuse takes from a readdir answer, in flat
 * buffers with no object per entry; entries are made only when something looks them up.
 */
import type Fuse from 'fuse-native';
import type { NameList, Stat } from '../fs/types.js';
import { SLOT_LIMIT, type InodeMap } from './inodes.js';
import type { ByteSource } from '../source/source.js';
import type { VfsNode } from '../vfs/vfs.js';
import { fillStatArray, S_IFMT, STAT_WORDS, statLikeOf, wordsAt } from './stat-words.js';

/**
 * A resolved path. `st` is its stat as the array fuse-native hands to libfuse, made once.
 * `listed`: a non-folder entry kept by its folder's listing without its node (a node holds the
 * filesystem's whole parsed record, ~2.5 KB on ext, so 100 000 of them would be 250 MB); it is
 * looked up again by name when opened, and keeps a symlink's target for readlink.
 */
export type Entry = (
  | { kind: 'vfs'; node: VfsNode }
  | ListedEntry
  | { kind: 'rawdir'; prefix: string }
  | { kind: 'raw'; name: string; source: ByteSource }
) & { st?: Uint32Array };

/**
 * A file of a listing, made when something looks it up (a `find` looks up none). Its folder
 * entry's `modeIno` words hold the type and inode number, all libfuse puts in a readdir
 * answer; on ext and NTFS the listing is names-only, so the other fields are read only when
 * something asks for them (getattr): `st` is unset until then, and is then those words.
 */
export interface ListedEntry {
  kind: 'listed';
  /** The folder's listing it is in. */
  owner: Listing;
  index: number;
}

/**
 * A folder's children as readdir answers them, "." and ".." first: names, and each entry's
 * st_mode and st_ino (all libfuse takes from a readdir answer: d_type, d_ino), in one buffer;
 * no object per entry (see FuseFs.answerReaddir). Entries are made on lookup; the name → index
 * map on the first lookup.
 */
export interface Listing {
  /** The folder. */
  dir: VfsNode | null;
  /** Entries, "." and ".." included. */
  count: number;
  /**
   * The names, each ended by "/" (which no name in a listing holds), in one string: name i is
   * `joined` from starts[i] to starts[i + 1] - 1 (nameAt; every name, namesOf). One heap
   * object a folder where a names array held 1000: a listing is kept, so each name was an
   * object that every young-generation collection of a first walk copied; the names the
   * filesystem decoded now die young. Measured (in-process walk of 100 000 ext files,
   * --trace-gc): scavenges during the walk 0.9-1.9 ms each with the names kept, 0.4-0.8 ms
   * without. "/" as the filesystem's own joined names end each one (NameList.joined, NTFS):
   * those are taken as they are (joinedListing). The libfuse3 binding takes the string and
   * ends each name by NUL in its own UTF-8 copy.
   */
  joined: string;
  starts: Uint32Array;
  /** st_mode, st_ino of entry i at 2i, 2i + 1. */
  modeIno: Uint32Array;
  /** Whole stat words (STAT_WORDS per entry) of files listed with a complete stat (FAT, exFAT, NTFS); made only for those. */
  words?: Uint32Array;
  /**
   * Folders (made with the listing: their nodes are needed to list them) and looked-up files,
   * by position; made on the first (setKid): a folder of files that nothing looked up has none.
   * A listing is kept, so each young-generation collection of a first walk copied an empty
   * array of `count` slots per folder (100 folders of 1000 files: 0.8 MB of its ~21 MB).
   */
  kids?: Array<Entry | undefined>;
  /** Positions of the entries made with the listing (folders, `.raw`), in order: what a walker enters next. */
  folders?: number[];
  byName?: Map<string, number>;
  /** Set for names-only entries whose words hold only type and inode number. */
  partial?: Uint8Array;
  /** Targets of symlinks whose stat was complete at listing time. */
  targets?: Map<number, string>;
}

const S_IFREG = S_IFMT.file;
const S_IFDIR = S_IFMT.dir;

/** A listing of `names` (none holds a "/": see linuxName), "." and ".." filled in from their stat words. */
export function newListing(names: string[], dir: VfsNode | null, dot: Uint32Array, dotdot: Uint32Array): Listing {
  return listingOf(`${names.join('/')}/`, nameStarts(names), dir, dot, dotdot);
}

function listingOf(joined: string, starts: Uint32Array, dir: VfsNode | null, dot: Uint32Array, dotdot: Uint32Array): Listing {
  const count = starts.length - 1;
  const l: Listing = { dir, count, joined, starts, modeIno: new Uint32Array(count * 2) };
  setModeIno(l, 0, dot);
  setModeIno(l, 1, dotdot);
  return l;
}

/**
 * The listing of a folder whose names the filesystem gave joined (NameList.joined: NTFS),
 * made without a string per name: ".", ".." and the joined names as they are, where every
 * one is a name Linux can hold (linuxName, checked on the joined string: one search per
 * name); null otherwise (a damaged or hostile index), and the caller takes the names one by
 * one (shownNames), which leaves those out. Entries are in the columns' order (setPartials
 * with no skip).
 */
export function joinedListing(names: string, n: number, dir: VfsNode, dot: Uint32Array, dotdot: Uint32Array): Listing | null {
  if (names.includes('\0')) return null;
  const starts = new Uint32Array(n + 3);
  // "./../" comes first.
  starts[1] = 2;
  return joinedStarts(names, n, starts) ? listingOf(`./../${names}`, starts, dir, dot, dotdot) : null;
}

/**
 * Where each of the n names of `names` starts, after "./../" (from starts[2] on, and their
 * end last); false where one is "", "." or "..", or where a name holds "/" (the string then
 * holds more "/" than n). The per-name loop of joinedListing, in a function of its own so
 * that the optimizing compiler takes only this (see shownNames).
 */
function joinedStarts(names: string, n: number, starts: Uint32Array): boolean {
  let at = 0;
  for (let i = 0; i < n; i++) {
    const end = names.indexOf('/', at);
    if (end <= at || (end - at <= 2 && names.charCodeAt(at) === 0x2e && (end - at === 1 || names.charCodeAt(at + 1) === 0x2e))) return false;
    starts[i + 2] = at + 5;
    at = end + 1;
  }
  starts[n + 2] = at + 5;
  // Exactly n "/": no name holds one.
  return at === names.length;
}

/** Where each name starts in the names joined by NUL, and (last) the end of them all. */
function nameStarts(names: string[]): Uint32Array {
  const starts = new Uint32Array(names.length + 1);
  let at = 0;
  for (let i = 0; i < names.length; i++) {
    starts[i] = at;
    at += names[i]!.length + 1;
  }
  starts[names.length] = at;
  return starts;
}

/** Name i of a listing. */
export function nameAt(l: Listing, i: number): string {
  return l.joined.slice(l.starts[i]!, l.starts[i + 1]! - 1);
}

/** Every name of a listing, "." and ".." first (a new array each call). */
export function namesOf(l: Listing): string[] {
  return l.joined.split('/', l.count);
}

/** Entry i's type and number from its whole stat words. */
export function setModeIno(l: Listing, i: number, st: Uint32Array): void {
  l.modeIno[2 * i] = st[0]!;
  l.modeIno[2 * i + 1] = st[7]!;
}

/** Entry i's whole stat, for files listed with a complete one (kept in the listing's shared words). */
export function setWords(l: Listing, i: number, st: Fuse.StatLike): Uint32Array {
  const a = fillStatArray(wordsAt((l.words ??= new Uint32Array(l.count * STAT_WORDS)), i), st);
  setModeIno(l, i, a);
  return a;
}

/**
 * The names a listing shows: "." and "..", the folder's names Linux can hold (no "/" or NUL,
 * not "", "." or ".."; `skip` marks the others, left out rather than shown as something they
 * are not), then `extra` (the root's `.raw`).
 *
 * This and setPartials are the per-entry work of making a listing, kept out of the async
 * FuseFs.buildListing on purpose: V8 optimizes a function whose loops run hot as a whole, and
 * with the loops inside it, buildListing (and all it inlines) was compiled twice per mount, a
 * deoptimization between, 28-115 ms of compiler-thread CPU during a first `find` of 100 000
 * files (--trace-opt; the machine has 2 cores, one of them `find`'s).
 */
export function shownNames(from: readonly string[], extra: string | null): { names: string[]; skip: Uint8Array | null } {
  const n = from.length;
  const names = new Array<string>(n + 2 + (extra === null ? 0 : 1));
  names[0] = '.';
  names[1] = '..';
  let j = 2;
  let skip: Uint8Array | null = null;
  for (let i = 0; i < n; i++) {
    const name = from[i]!;
    if (linuxName(name)) names[j++] = name;
    else (skip ??= new Uint8Array(n))[i] = 1;
  }
  if (extra !== null) names[j++] = extra;
  names.length = j;
  return { names, skip };
}

/**
 * Entries 2.. of `l` from the folder's columns (shownNames' order): those without a node get
 * their type and number (setPartial); returns the pairs (column index, listing position) of
 * those with one, for the caller to make their entries.
 */
export function setPartials(l: Listing, c: NameList<unknown>, skip: Uint8Array | null, volume: number, inodes: InodeMap): number[] {
  const withNode: number[] = [];
  if (c.types.length > 0) fillPartials(l, c, skip, volume, inodes, (l.partial ??= new Uint8Array(l.count)), withNode);
  return withNode;
}

/**
 * setPartials' loop, in a function of its own: the optimizing compiler takes only this, not
 * the typed array's construction (with it, setPartials' compile took ~7 ms of compiler-thread
 * CPU in a mount's first walk, --trace-opt).
 */
function fillPartials(l: Listing, c: NameList<unknown>, skip: Uint8Array | null, volume: number, inodes: InodeMap, partial: Uint8Array, withNode: number[]): void {
  const n = c.types.length;
  const nodes = c.nodes;
  const types = c.types;
  const inos = c.inos;
  const mi = l.modeIno;
  const base = inodes.directBase(volume);
  for (let i = 0, j = 2; i < n; i++) {
    if (skip !== null && skip[i] === 1) continue;
    if (i < nodes.length && nodes[i] !== undefined) withNode.push(i, j);
    else {
      const type = types[i]!;
      const ino = inos[i]!;
      // forFile's answer, without a call per entry where the number is direct (all but FAT/exFAT).
      mi[2 * j] = type === 'file' ? S_IFREG : type === 'dir' ? S_IFDIR : S_IFMT[type];
      mi[2 * j + 1] = base >= 0 && ino >= 0 && ino < SLOT_LIMIT && (ino | 0) === ino ? base + ino : inodes.forFile(volume, ino);
      partial[j] = 1;
    }
    j++;
  }
}

/** Child `i` known by type and number only: the rest of its stat is read on getattr. */
export function setPartial(l: Listing, i: number, type: Stat['type'], ino: number): void {
  l.modeIno[2 * i] = S_IFMT[type];
  l.modeIno[2 * i + 1] = ino;
  (l.partial ??= new Uint8Array(l.count))[i] = 1;
}

/** The entry of a listing's child by exact name (the first one, should a damaged folder repeat it). */
export function listedChild(l: Listing, name: string): Entry | undefined {
  if (!l.byName) {
    l.byName = new Map();
    const names = namesOf(l);
    for (let i = names.length - 1; i >= 2; i--) l.byName.set(names[i]!, i);
  }
  const i = l.byName.get(name);
  if (i === undefined) return undefined;
  let k = l.kids?.[i];
  if (!k) {
    k = { kind: 'listed', owner: l, index: i };
    if (!l.partial?.[i] && l.words) k.st = wordsAt(l.words, i);
    setKid(l, i, k);
  }
  return k;
}

/** Keeps entry `k` as child `i` of the listing. */
export function setKid(l: Listing, i: number, k: Entry): void {
  (l.kids ??= new Array<Entry | undefined>(l.count))[i] = k;
}

/** What is known of entry i's stat without reading more (at least its type and number). */
export function listedStat(l: Listing, i: number): Fuse.StatLike {
  const k = l.kids?.[i];
  if (k?.st) return statLikeOf(k.st);
  if (i >= 2 && !l.partial?.[i] && l.words) return statLikeOf(wordsAt(l.words, i));
  const st = new Uint32Array(STAT_WORDS);
  st[0] = l.modeIno[2 * i]!;
  st[7] = l.modeIno[2 * i + 1]!;
  return statLikeOf(st);
}

/** A name Linux can hold in a folder: no "/" or NUL, not "", "." or "..". */
export function linuxName(name: string): boolean {
  return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && !name.includes('\0');
}
