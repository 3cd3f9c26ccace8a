/**
 * The point suffix of an image argument (docs/points-in-time.md): `IMAGE@level:N` (level N of a
 * snapshot chain, counted from the base, which is level 1), `IMAGE@snap:NAME` (a QCOW2 internal
 * snapshot, by name or id) and `IMAGE@vss:K` (every NTFS volume as of its K-th shadow copy).
 *
 * Precedence, so that no real file name is taken from the user: an argument that names an
 * existing host file is that file, whatever it contains. Only when it does not is a suffix
 * looked for, and only one whose prefix exists; of several, the longest existing prefix wins
 * (`a@snap:x@snap:y` with `a` existing is snapshot `x@snap:y` of `a`). To address a point of
 * `X` when a file named `X@snap:N` also exists, double the `@`: `X@@snap:N` (a file named `X@@snap:N` itself
 * would still win: the full name is always tried first). An image by URL
 * cannot be checked for existence: its last suffix is the point.
 */
import { lstat } from '../source/host-fs.js';
import { DiskpickError } from '../errors.js';
import type { Container } from './container.js';

export type PointSpec =
  | { kind: 'level'; level: number }
  | { kind: 'snap'; name: string }
  | { kind: 'vss'; store: number };

export interface ImageRef {
  /** The image file (or URL) without the suffix. */
  file: string;
  point: PointSpec | null;
}

const SUFFIX = /@(level|snap|vss):/g;

function isUrl(arg: string): boolean {
  return /^(https?|s3):\/\//i.test(arg);
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch {
    return false;
  }
}

/** The spec of `kind:value` as given after an `@`; a usage error names what is wrong. */
export function pointSpec(kind: string, value: string, arg: string): PointSpec {
  if (kind === 'snap') {
    if (value === '') throw new DiskpickError('usage', 'empty snapshot name after @snap:', arg);
    return { kind: 'snap', name: value };
  }
  if (!/^[1-9]\d{0,5}$/.test(value)) {
    throw new DiskpickError('usage', `@${kind}: needs a number from 1 (${kind === 'level' ? 'the base of the chain' : 'the oldest shadow copy'}), not "${value}"`, arg);
  }
  return kind === 'level' ? { kind: 'level', level: Number(value) } : { kind: 'vss', store: Number(value) };
}

/** Splits an image argument into file and point (see the precedence rule above). */
export async function parseImageArg(arg: string): Promise<ImageRef> {
  const hits = [...arg.matchAll(SUFFIX)].map((m) => ({ at: m.index, kind: m[1]!, len: m[0].length }));
  if (hits.length === 0) return { file: arg, point: null };
  if (isUrl(arg)) {
    const h = hits[hits.length - 1]!;
    if (arg.slice(h.at).includes('/')) return { file: arg, point: null };
    return { file: arg.slice(0, h.at), point: pointSpec(h.kind, arg.slice(h.at + h.len), arg) };
  }
  if (await exists(arg)) return { file: arg, point: null };
  // `X@@kind:…`: a point of X, written so when a file named `X@kind:…` exists.
  for (const h of hits) {
    if (h.at > 0 && arg[h.at - 1] === '@' && (await exists(arg.slice(0, h.at - 1)))) {
      return { file: arg.slice(0, h.at - 1), point: pointSpec(h.kind, arg.slice(h.at + h.len), arg) };
    }
  }
  for (const h of [...hits].reverse()) {
    const file = arg.slice(0, h.at);
    if (file !== '' && (await exists(file))) return { file, point: pointSpec(h.kind, arg.slice(h.at + h.len), arg) };
  }
  return { file: arg, point: null }; // the open names the missing file
}

/** The error for a level past the top of a chain of `levels` (1 is the base). */
export function noSuchLevel(level: number, levels: number, arg: string): DiskpickError {
  return new DiskpickError('notFound', `no level ${level}: the chain has ${levels} level${levels === 1 ? '' : 's'} (1 is the base, ${levels} this image)`, arg);
}

/**
 * Level `level` (1 is the base) of a chain opened whole (`IMAGE@level:N`): `whole` itself when N
 * is its top; otherwise `whole` is closed and the file of level N is named, to be opened on its
 * own (its parents then come again from it down). Past the top: noSuchLevel.
 */
export async function chainLevel(whole: Container, level: number, arg: string): Promise<{ top: Container } | { file: string }> {
  const chain = whole.chain;
  if (level === chain.length) return { top: whole };
  await whole.close();
  if (level > chain.length) throw noSuchLevel(level, chain.length, arg);
  return { file: chain[chain.length - level]!.file };
}

/** How a point is written after the image name. */
export function pointSuffix(p: PointSpec): string {
  return p.kind === 'level' ? `@level:${p.level}` : p.kind === 'snap' ? `@snap:${p.name}` : `@vss:${p.store}`;
}
