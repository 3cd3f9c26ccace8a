/**
 * Points in time: the states of one machine's disk that a set of backups holds — separate
 * nightly images side by side, and (docs/points-in-time.md) the shadow copies inside each.
 * A point knows its name, its time, how to open it and where a path of the current tree lies
 * in it, so `versions` and `diff` treat every kind alike.
 */
import { stat } from 'node:fs/promises';
import type { Timespec } from '../fs/types.js';
import { Vfs, type VfsOpenOptions } from '../vfs/vfs.js';
import { fromSystemError } from '../errors.js';
import { displayImageName, isRemote, remoteImagesOf } from '../container/remote-open.js';

export interface Point {
  /** How the user names it: the image argument, with a point suffix where it has one. */
  label: string;
  /** When the state was taken: the image file's modification time, a shadow copy's creation time. */
  time: Timespec | null;
  open(): Promise<Vfs>;
  /** Where `path` (a path of the image's current tree) lies in this point's tree. */
  pathIn(path: string): string;
}

/** Each image given as a point of its own, at its file's modification time. */
export async function imagePoints(images: string[], opts: VfsOpenOptions): Promise<Point[]> {
  const out: Point[] = [];
  for (const image of images) {
    // By URL: its Last-Modified; an s3:// glob is every object it matches (docs/remote.md).
    if (isRemote(image)) {
      for (const r of await remoteImagesOf(image, opts.remote)) {
        const ms = r.mtimeMs ?? 0;
        out.push({ label: displayImageName(r.url), time: r.mtimeMs === null ? null : { sec: Math.floor(ms / 1000), nsec: Math.round((ms % 1000) * 1e6) }, open: () => Vfs.open(r.url, opts), pathIn: (p) => p });
      }
      continue;
    }
    let st;
    try {
      st = await stat(image);
    } catch (err) {
      throw fromSystemError(err, image);
    }
    const ms = st.mtimeMs;
    out.push({
      label: image,
      time: { sec: Math.floor(ms / 1000), nsec: Math.round((ms % 1000) * 1e6) },
      open: () => Vfs.open(image, opts),
      pathIn: (p) => p,
    });
  }
  return out;
}

/**
 * The points inside each image for `path`: every shadow copy of the volume the path starts in
 * (`/p2/…` → `/p2@vss1/…`, labelled `IMAGE@vss:1`), at its creation time, after the image's own.
 */
export async function withShadowCopies(points: Point[], path: string): Promise<Point[]> {
  const first = path.split('/').filter(Boolean)[0];
  if (!first) return points;
  const out: Point[] = [];
  for (const p of points) {
    out.push(p);
    let vfs: Vfs;
    try {
      vfs = await p.open();
    } catch {
      continue; // versions reports the image's own error on its row
    }
    try {
      for (const v of vfs.volumes) {
        const m = new RegExp(`^${first.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}@vss(\\d+)$`).exec(v.name);
        if (!m || !v.node.pointTime) continue;
        const k = m[1]!;
        out.push({
          label: `${p.label}@vss:${k}`,
          time: v.node.pointTime,
          open: p.open,
          pathIn: (q) => p.pathIn(q).replace(/^\/?[^/]+/, `/${first}@vss${k}`),
        });
      }
    } finally {
      await vfs.close();
    }
  }
  return out;
}

/** Runs `work` on every item with at most `limit` at a time; results in input order. */
export async function boundedMap<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
