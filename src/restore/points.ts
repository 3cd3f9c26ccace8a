/**
 * Points in time: the states of one machine's disk that a set of backups holds (docs/points-in-
 * time.md) — nightly images side by side, the levels of each one's snapshot chain, QCOW2
 * internal snapshots, shadow copies, LVM snapshots and Btrfs snapshots inside each. A point
 * knows its name, its time, how to open it and where a path of the current tree lies in it, so
 * `versions` and `diff` treat every kind alike; `info` lists them (listPoints).
 */
import { realpath, stat } from '../source/host-fs.js';
import type { Timespec } from '../fs/types.js';
import { Vfs, type VfsOpenOptions } from '../vfs/vfs.js';
import { DiskpickError, fromSystemError } from '../errors.js';
import { parseImageArg } from '../container/point.js';
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

export type PointKind = 'image' | 'level' | 'snap' | 'vss' | 'lvm' | 'btrfs';

/** One point an opened image holds, as `info` lists it. */
export interface PointEntry {
  kind: PointKind;
  /**
   * How to reach it: an image argument (`disk.qcow2@level:1`, `disk.qcow2@snap:before`,
   * `disk.vmdk@vss:2`) or, for volume and subvolume snapshots, the image and the path where
   * the snapshot is in its tree (`disk.raw:/vg/snap1`, `disk.raw:/p1/snaps/home-1`).
   */
  point: string;
  time: Timespec | null;
  /** level: the file of that level. */
  file?: string;
  /** level: 1 is the base. vss: the store's number K. */
  level?: number;
  /** snap: qemu's id; vss: the store GUID. */
  id?: string;
  name?: string;
  /** snap: guest clock at the snapshot (ns), saved VM state bytes, disk size. */
  vmClockNs?: number;
  vmStateSize?: number;
  size?: number;
  /** vss, lvm, btrfs: the path the snapshot is at, and the path it is a state of. */
  path?: string;
  of?: string;
}

function timeOfMs(ms: number): Timespec {
  return { sec: Math.floor(ms / 1000), nsec: Math.round((ms % 1000) * 1e6) };
}

async function mtimeOf(file: string): Promise<Timespec | null> {
  if (/^(https?|s3):\/\//i.test(file)) return null;
  try {
    return timeOfMs((await stat(file)).mtimeMs);
  } catch (err) {
    throw fromSystemError(err, file);
  }
}

/** Every point the opened image holds, the image's own state last. */
export async function listPoints(vfs: Vfs): Promise<PointEntry[]> {
  const arg = vfs.imagePath;
  const { file, point } = await parseImageArg(arg);
  const out: PointEntry[] = [];
  const chain = vfs.container.chain;
  // Chain levels below the one opened (counted from the base: 1).
  const top = point?.kind === 'level' ? point.level : chain.length;
  for (let i = chain.length - 1; i >= 1; i--) {
    const level = chain.length - i;
    const f = chain[i]!.file;
    out.push({ kind: 'level', point: `${file}@level:${level}`, time: await mtimeOf(f).catch(() => null), file: f, level });
  }
  for (const s of vfs.container.internalSnapshots ?? []) {
    out.push({ kind: 'snap', point: `${file}@snap:${s.name}`, time: s.time, id: s.id, name: s.name, vmClockNs: s.vmClockNs, vmStateSize: s.vmStateSize, size: s.diskSize });
  }
  for (const v of vfs.volumes) {
    const n = v.node;
    if (!n.pointTime && !n.pointOf) continue;
    const vss = /@vss(\d+)$/.exec(n.path);
    // Opened as IMAGE@vss:K, a volume stands for its shadow copy under its own name: the point itself.
    if (vss && v.name !== n.path) continue;
    if (vss) {
      out.push({ kind: 'vss', point: `${file}@vss:${vss[1]}`, time: n.pointTime ?? null, level: Number(vss[1]), ...(n.pointId ? { id: n.pointId } : {}), path: `/${v.name}`, of: `/${n.pointOf ?? v.name.slice(0, vss.index)}` });
    } else if (n.pointOf) {
      out.push({ kind: 'lvm', point: `${arg}:/${v.name}`, time: n.pointTime ?? null, name: v.name, path: `/${v.name}`, of: `/${n.pointOf}`, size: n.size });
    }
  }
  for (const v of vfs.volumes) {
    const subs = v.fs?.info.subvolumes ?? [];
    if (!subs.some((s) => s.snapshot)) continue;
    const byUuid = new Map(subs.filter((s) => s.uuid).map((s) => [s.uuid!, s.orphan ? null : s.path]));
    const top = v.fs!.info.details.topLevelUuid;
    if (typeof top === 'string') byUuid.set(top, '');
    // Read-only snapshots: a writable one is a fork that goes on changing, not a point in time.
    for (const s of subs) {
      if (!s.snapshot || !s.readOnly || s.orphan || !s.parentUuid) continue;
      const origin = byUuid.get(s.parentUuid);
      out.push({
        kind: 'btrfs', point: `${arg}:/${v.name}/${s.path}`, time: s.otime ?? null, id: String(s.id), name: s.path,
        path: `/${v.name}/${s.path}`, ...(typeof origin === 'string' ? { of: `/${v.name}${origin ? `/${origin}` : ''}` } : {}),
      });
    }
  }
  const self = point?.kind === 'level' ? chain[0]!.file : file;
  const time = point?.kind === 'snap'
    ? (vfs.container.internalSnapshots?.find((s) => s.open)?.time ?? null)
    : point?.kind === 'vss'
      ? (vfs.volumes.find((v) => v.name !== v.node.path && /@vss\d+$/.test(v.node.path))?.node.pointTime ?? null)
      : /^(https?|s3):\/\//i.test(self) && vfs.container.remoteMtimeMs !== undefined
        ? timeOfMs(vfs.container.remoteMtimeMs) // by URL: its Last-Modified
        : await mtimeOf(self).catch(() => null);
  out.push({ kind: 'image', point: arg, time, file: self, ...(chain.length > 1 && (point?.kind === 'level' || !point) ? { level: top } : {}) });
  return out;
}

/** `/a/b/c` lies under `/a/b` (or is it): the rest, `/c` or ''; else null. */
function under(path: string, dir: string): string | null {
  if (path === dir) return '';
  return path.startsWith(dir.endsWith('/') ? dir : `${dir}/`) ? path.slice(dir.length) : null;
}

function normal(path: string): string {
  return `/${path.split('/').filter((p) => p && p !== '.').join('/')}`;
}

/** The path of the Btrfs subvolume `path` lies in (the deepest), or null. */
function subvolumeOf(vfs: Vfs, path: string): string | null {
  let best: string | null = null;
  for (const v of vfs.volumes) {
    const subs = v.fs?.info.subvolumes;
    if (!subs) continue;
    for (const at of [`/${v.name}`, ...subs.filter((s) => !s.orphan && s.path).map((s) => `/${v.name}/${s.path}`)]) {
      if (under(path, at) !== null && (best === null || at.length > best.length)) best = at;
    }
  }
  return best;
}

/**
 * The points for `versions IMAGE... PATH` and `diff`: each image given (an argument with a
 * point suffix is that point), and for each given without one every point it holds that can
 * hold `path` — lower chain levels (one row per level file, however many images share it:
 * thirty nightly overlays of one base give the base once), internal snapshots, shadow copies of
 * the volume the path starts in, LVM snapshots of its LV, Btrfs snapshots of its subvolume.
 * Images are opened `concurrency` at a time, each once, to list what they hold.
 */
export async function pointsFor(args: string[], path: string, opts: VfsOpenOptions, concurrency = 4): Promise<Point[]> {
  const p = normal(path);
  // An s3:// key with a glob is every object it matches (ListObjectsV2; docs/remote.md).
  const images: string[] = [];
  for (const a of args) {
    if (/^s3:\/\/[^/]+\/.*[*?[{]/i.test(a) && !(await parseImageArg(a)).point) images.push(...(await remoteImagesOf(a, opts.remote)).map((r) => r.url));
    else images.push(a);
  }
  const seenLevels = new Set<string>();
  // Given files first, so a base given as an image is not listed again as a level of another.
  const given = await Promise.all(images.map((a) => parseImageArg(a)));
  for (const g of given) if (!g.point && !/^(https?|s3):\/\//i.test(g.file)) seenLevels.add(await realpath(g.file).catch(() => g.file));
  /** A level's file, for each point that is one (deduplicated in argument order below). */
  const levelKey = new Map<Point, string>();
  const lists = await boundedMap(images, concurrency, async (arg, i): Promise<Point[]> => {
    const g = given[i]!;
    const openArg = (a: string) => () => Vfs.open(a, opts);
    let vfs: Vfs;
    try {
      vfs = await Vfs.open(arg, opts);
    } catch (err) {
      // versions reports the image's own error on its row.
      const time = g.point ? null : await mtimeOf(g.file).catch(() => null);
      if (!(err instanceof DiskpickError)) throw err;
      return [{ label: displayImageName(arg), time, open: openArg(arg), pathIn: (q) => q }];
    }
    try {
      const entries = await listPoints(vfs);
      const self = entries[entries.length - 1]!;
      const out: Point[] = [{ label: displayImageName(arg), time: self.time, open: openArg(arg), pathIn: (q) => q }];
      if (g.point) return out;
      for (const e of entries) {
        if (e.kind === 'level') {
          const lp: Point = { label: e.point, time: e.time, open: openArg(e.point), pathIn: (q) => q };
          levelKey.set(lp, await realpath(e.file!).catch(() => e.file!));
          out.push(lp);
        } else if (e.kind === 'snap') {
          out.push({ label: e.point, time: e.time, open: openArg(e.point), pathIn: (q) => q });
        } else if (e.kind === 'vss' || e.kind === 'lvm' || e.kind === 'btrfs') {
          // A snapshot of what the path lies in: the same path below the snapshot.
          const rest = under(p, e.of ?? '\0');
          if (rest === null) continue;
          // Btrfs: only snapshots of the subvolume the path itself lies in (the deepest one).
          if (e.kind === 'btrfs' && subvolumeOf(vfs, p) !== e.of) continue;
          const target = e.path!;
          out.push({ label: e.point, time: e.time, open: openArg(arg), pathIn: (q) => `${target}${under(normal(q), e.of!) ?? ''}` });
        }
      }
      return out;
    } finally {
      await vfs.close();
    }
  });
  // A point given as an argument and found again inside its image is one row.
  const labels = new Set<string>();
  return lists.flat().filter((pt) => {
    if (labels.has(pt.label)) return false;
    labels.add(pt.label);
    const key = levelKey.get(pt);
    if (key === undefined) return true;
    if (seenLevels.has(key)) return false;
    seenLevels.add(key);
    return true;
  });
}

/**
 * Opens a point as `versions` names it: an image argument (with or without a suffix), or an
 * image and the path of a volume or subvolume snapshot in it (`disk.raw:/vg/snap1`), whose
 * `pathIn` maps a path of what it is a snapshot of (`/vg/origin/etc`) into it. A host file of the
 * full name wins, as for every image argument.
 */
export async function openPoint(arg: string, opts: VfsOpenOptions): Promise<{ vfs: Vfs; pathIn: (p: string) => string }> {
  const at = arg.indexOf(':/');
  const exists = async (f: string) => stat(f).then(() => true, () => false);
  if (at > 0 && !/^(https?|s3):\/\//i.test(arg) && !(await exists(arg)) && (await exists(arg.slice(0, at)))) {
    const vfs = await Vfs.open(arg.slice(0, at), opts);
    try {
      const e = (await listPoints(vfs)).find((x) => (x.kind === 'lvm' || x.kind === 'btrfs') && x.point === arg);
      if (!e || !e.of) throw new DiskpickError('notFound', `no LVM or Btrfs snapshot at ${arg.slice(at + 1)} (diskpick info lists the points)`, arg.slice(0, at));
      return { vfs, pathIn: (q) => { const n = normal(q); const rest = under(n, e.of!); return rest === null ? n : `${e.path}${rest}`; } };
    } catch (err) {
      await vfs.close();
      throw err;
    }
  }
  return { vfs: await Vfs.open(arg, opts), pathIn: (q) => q };
}

/** Each image given as a point of its own, at its file's modification time (no inner points). */
export async function imagePoints(images: string[], opts: VfsOpenOptions): Promise<Point[]> {
  const out: Point[] = [];
  for (const image of images) {
    const { file, point } = await parseImageArg(image);
    // By URL: its Last-Modified; an s3:// glob is every object it matches (docs/remote.md).
    if (isRemote(image) && !point) {
      for (const r of await remoteImagesOf(image, opts.remote)) {
        const ms = r.mtimeMs ?? 0;
        out.push({ label: displayImageName(r.url), time: r.mtimeMs === null ? null : { sec: Math.floor(ms / 1000), nsec: Math.round((ms % 1000) * 1e6) }, open: () => Vfs.open(r.url, opts), pathIn: (p) => p });
      }
      continue;
    }
    out.push({ label: image, time: point ? null : await mtimeOf(file), open: () => Vfs.open(image, opts), pathIn: (p) => p });
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
