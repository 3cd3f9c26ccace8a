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
