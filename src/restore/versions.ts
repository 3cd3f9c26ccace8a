/**
 * `versions`: one file across points in time. Each point is opened, the file looked up and its
 * metadata read; content is hashed (SHA-256, streamed) once per distinct identity: two points
 * whose file has the same size, mtime, ctime and inode number (an untouched file in the next
 * night's image) share a hash without reading it twice. Points are worked through a few at a
 * time, so memory stays bounded however many images there are.
 */
import { createHash } from 'node:crypto';
import { DiskpickError } from '../errors.js';
import type { Stat, Timespec } from '../fs/types.js';
import { pump } from '../source/chunks.js';
import { boundedMap, type Point } from './points.js';

export interface VersionRow {
  point: string;
  /** The path read at this point (a snapshot's path differs from the one asked for). */
  path: string;
  pointTime: Timespec | null;
  /** null: the path does not exist at this point. */
  stat: Stat | null;
  sha256: string | null;
  /** The label of the earliest point before this one with identical content. */
  sameAs: string | null;
  /** Why the point could not be read (the image failed to open, the path is not a file). */
  error: string | null;
}

export interface VersionsOptions {
  /** Hash every version even where identities match. */
  verify?: boolean;
  /** Points opened at once (default 4). */
  concurrency?: number;
}

function identity(st: Stat): string {
  return `${st.size}:${st.mtime?.sec}.${st.mtime?.nsec}:${st.ctime?.sec}.${st.ctime?.nsec}:${st.ino}`;
}

function cmpTime(a: Timespec | null, b: Timespec | null): number {
  if (!a || !b) return a ? -1 : b ? 1 : 0;
  return a.sec - b.sec || a.nsec - b.nsec;
}

export async function versionsOf(points: Point[], path: string, opts: VersionsOptions = {}): Promise<VersionRow[]> {
  const hashes = new Map<string, Promise<string>>();
  const rows = await boundedMap(points, opts.concurrency ?? 4, async (p): Promise<VersionRow> => {
    const row: VersionRow = { point: p.label, path: p.pathIn(path), pointTime: p.time, stat: null, sha256: null, sameAs: null, error: null };
    let vfs;
    try {
      vfs = await p.open();
    } catch (err) {
      row.error = err instanceof DiskpickError ? err.toLine() : String(err);
      return row;
    }
    try {
      let found;
      try {
        found = await vfs.lookupWithStream(p.pathIn(path));
      } catch (err) {
        if (err instanceof DiskpickError && err.kind === 'notFound') return row;
        throw err;
      }
      const st = found.node.stat;
      row.stat = st;
      if (st.type !== 'file' && !found.stream) {
        row.error = `is a ${st.type}, not a file`;
        return row;
      }
      const key = opts.verify ? `${p.label}\0${identity(st)}` : identity(st);
      let h = hashes.get(key);
      if (!h) {
        h = (async () => {
          const src = await vfs.openFile(found.node, found.stream);
          try {
            const hash = createHash('sha256');
            await pump(src, (c) => void hash.update(c));
            return hash.digest('hex');
          } finally {
            await src.close();
          }
        })();
        hashes.set(key, h);
      }
      row.sha256 = await h;
      return row;
    } catch (err) {
      row.error = err instanceof DiskpickError ? err.toLine() : (err as Error).message;
      return row;
    } finally {
      await vfs.close();
    }
  });
  const order = rows.map((r, i) => ({ r, i })).sort((a, b) => cmpTime(a.r.pointTime, b.r.pointTime) || a.i - b.i).map((x) => x.r);
  const firstWith = new Map<string, string>();
  for (const r of order) {
    if (!r.sha256) continue;
    const earlier = firstWith.get(r.sha256);
    if (earlier) r.sameAs = earlier;
    else firstWith.set(r.sha256, r.point);
  }
  return order;
}
