/**
 * The restore engine behind `extract` and the TUI: copies files, folders, symlinks and
 * streams out of an image into one host folder, and never writes outside it.
 *
 * Safety: every target name is one sanitized component; folders on the way are checked to be
 * real folders (never symlinks) before anything is written in them; files are created with
 * O_EXCL|O_NOFOLLOW, so an existing symlink is never followed.
 */
import { constants as fsc, chmodSync, lchownSync, utimesSync, closeSync, fchmodSync, fchownSync, ftruncateSync, futimesSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { type FileHandle, lstat, mkdir, open, symlink, link, unlink, utimes, lutimes, chmod, lchown, rm, realpath, rename } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { basename, dirname, join, resolve } from 'node:path';
import { corrupt, DiskpickError, STOPPING_OUTPUT_ERRORS, errnoOf, fromSystemError } from '../errors.js';
import { chunksOf, pumpData } from '../source/chunks.js';
import { refuseInput } from '../source/file.js';
import type { Stat, Timespec } from '../fs/types.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { safeName } from './safe-name.js';

const execFileP = promisify(execFile);

export interface RestoreOptions {
  outDir: string;
  /** Overwrite existing files. */
  force?: boolean;
  /** Leave existing files as they are (reported as skipped). */
  skipExisting?: boolean;
  /** Restore times (and modes, and owners when root) — on by default. */
  preserve?: boolean;
  /** Put every file directly in outDir. */
  flatten?: boolean;
  /** Plan only: report what would be written, write nothing. */
  dryRun?: boolean;
  /** Named streams: as `file:stream` siblings (default), as user.* xattrs, or not at all. */
  streams?: 'siblings' | 'xattr' | 'none';
  /** Restore extended attributes (ext) with their names. */
  xattrs?: boolean;
  /** Include filesystem metadata files (NTFS $MFT …). */
  system?: boolean;
  /** Make names valid on Windows too (reserved device names, < > : " | ? *); default: on Windows only. */
  windowsNames?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: RestoreProgress) => void;
}

export interface RestoreProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  /** Image path being restored now. */
  current: string;
}

export interface RestoredItem {
  source: string;
  target: string;
  type: Stat['type'] | 'stream';
  size: number;
}

/** One thing to restore: a node (a whole folder, a file, a link) or one named stream of it. */
export interface RestoreSelection {
  node: VfsNode;
  stream?: string;
  /**
   * Folders (names as stored in the image) between outDir and this item, e.g. the part of a
   * glob match below the pattern's literal prefix. Made safe like every other name; ignored
   * with `flatten`.
   */
  under?: string[];
}

export interface RestoreSummary {
  written: RestoredItem[];
  skipped: { source: string; target: string; reason: string }[];
  failed: { source: string; target: string | null; error: string }[];
  renamed: { source: string; target: string; reason: string }[];
  bytes: number;
  cancelled: boolean;
  dryRun: boolean;
  /**
   * Set when the output stopped the run (no space left, quota, read-only filesystem): the
   * reason, once; the files after it were not tried.
   */
  stopped?: string;
  /**
   * Files cut short (cancelled, or failed while being written) whose temporary name was
   * removed: nothing of them is left. Their bytes are not counted in `bytes`. Only when any.
   */
  removed?: { source: string; target: string; bytes: number }[];
}

/**
 * Every file is written as `.NAME.diskpick-part` in its target folder and renamed to NAME
 * once complete (content, times, modes, xattrs set first), so a name the user sees is always
 * a whole file: a kill, a power cut or a full disk can only leave a `.diskpick-part` name,
 * which the next run into that folder removes before writing the same file again.
 */
export const PART_SUFFIX = '.diskpick-part';

/** The temporary name of `base` (a hash stands in for names too long to carry the suffix). */
export function partName(base: string, variant = 0): string {
  const v = variant ? `~${variant}` : '';
  const plain = `.${base}${v}${PART_SUFFIX}`;
  if (Buffer.byteLength(plain) <= 255) return plain;
  return `.${createHash('sha256').update(base).digest('hex').slice(0, 24)}${v}${PART_SUFFIX}`;
}

/** What restore() counts for a summary line: files and links chosen, streams apart, folders. */
export function countWritten(s: Pick<RestoreSummary, 'written'>): { files: number; streams: number; dirs: number } {
  let files = 0;
  let streams = 0;
  let dirs = 0;
  for (const w of s.written) {
    if (w.type === 'dir') dirs++;
    else if (w.type === 'stream') streams++;
    else files++;
  }
  return { files, streams, dirs };
}

interface PlanItem {
  node: VfsNode;
  /** Path components below outDir (already safe). */
  target: string[];
  stream?: string;
  /** Bytes of a stream (a node's own size is in its stat). */
  size?: number;
}

/** Raised inside the engine to stop at once on Esc / Ctrl-C. */
class Cancelled extends Error {}

export async function restore(vfs: Vfs, selection: RestoreSelection[], opts: RestoreOptions): Promise<RestoreSummary> {
  const summary: RestoreSummary = { written: [], skipped: [], failed: [], renamed: [], bytes: 0, cancelled: false, dryRun: !!opts.dryRun };
  const preserve = opts.preserve !== false;
  const streamsMode = opts.streams ?? 'siblings';
  const outDir = opts.outDir;
  let outDirFresh = false;
  if (!opts.dryRun) {
    outDirFresh = await makeOutDir(outDir);
    const st = await lstat(outDir).catch((err) => {
      throw fromSystemError(err, outDir, 'output');
    });
    if (!st.isDirectory()) throw new DiskpickError('output', 'is not a folder', outDir);
  }
  const outReal = opts.dryRun ? outDir : await realpath(outDir);

  // Plan: every entry with its target path; folders before their contents.
  const plan: PlanItem[] = [];
  const used = new Set<string>();
  const nameOpts = { windows: opts.windowsNames ?? process.platform === 'win32' };
  const dirKeys = new WeakMap<string[], string>();
  const claim = (source: string, dirParts: string[], stored: string): string[] => {
    const s = safeName(stored, nameOpts);
    let name = s.name;
    let reason = s.reason;
    // The folder's own key is joined once per folder, not once per entry (depth × entries).
    let dirKey = dirKeys.get(dirParts);
    if (dirKey === undefined) dirKeys.set(dirParts, (dirKey = dirParts.join('/')));
    const key = (n: string) => (dirKey ? `${dirKey}/${n}` : n);
    if (used.has(key(name))) {
      let i = 2;
      const dot = name.lastIndexOf('.');
      const stem = dot > 0 ? name.slice(0, dot) : name;
      const ext = dot > 0 ? name.slice(dot) : '';
      // name~2.ext, name~3.ext …: side by side, never one written over the other (issue 26).
      while (used.has(key(`${stem}~${i}${ext}`))) i++;
      name = `${stem}~${i}${ext}`;
      reason = reason ? `${reason}; name already taken by another entry` : 'name already taken by another entry';
    }
    used.add(key(name));
    const parts = [...dirParts, name];
    if (reason) summary.renamed.push({ source, target: join(outDir, ...parts), reason });
    return parts;
  };

  let bytesTotal = 0;
  const addStreams = async (node: VfsNode, target: string[]) => {
    if (streamsMode === 'none' || node.place.kind !== 'fs') return;
    for (const s of await vfs.streams(node)) {
      if (streamsMode === 'siblings') {
        const parent = target.slice(0, -1);
        plan.push({ node, stream: s.name, size: s.size, target: claim(`${node.path}:${s.name}`, parent, `${target[target.length - 1]}:${s.name}`) });
        bytesTotal += s.size;
      }
    }
  };
  /** Folder listings read ahead of the walk (at most LIST_AHEAD at once). */
  const ahead = new Map<VfsNode, Promise<VfsNode[]>>();
  /** Plans one node; a folder's listing comes back for the walk below to go through. */
  const planOne = async (node: VfsNode, dirParts: string[]): Promise<{ kids: VfsNode[]; target: string[] } | null> => {
    if (opts.signal?.aborted) throw new Cancelled();
    const isDir = node.stat.type === 'dir';
    const target = opts.flatten && isDir ? dirParts : claim(node.path, opts.flatten ? [] : dirParts, node.name || 'image');
    if (!(opts.flatten && isDir)) plan.push({ node, target });
    if (node.stat.type === 'file') {
      bytesTotal += node.stat.size;
      await addStreams(node, target);
    }
    // Folders carry named streams too (NTFS: OneDrive's SyncRootIdentity, Windows' own).
    if (isDir && !opts.flatten) await addStreams(node, target);
    if (!isDir) return null;
    try {
      const listed = ahead.get(node);
      ahead.delete(node);
      const kids = await (listed ?? vfs.readdir(node, { system: opts.system }));
      // The next folders' listings are read while this one is planned: each listing is a few
      // reads of the image, and one after the other they were most of a 2 000-folder plan.
      for (const k of kids) {
        if (ahead.size >= LIST_AHEAD) break;
        if (k.stat.type !== 'dir' || ahead.has(k)) continue;
        const p = vfs.readdir(k, { system: opts.system });
        p.catch(() => undefined);
        ahead.set(k, p);
      }
      return { kids, target };
    } catch (err) {
      summary.failed.push({ source: node.path, target: join(outDir, ...target), error: messageOf(err) });
      return null;
    }
  };
  /** Depth first, parents before children, on an explicit stack: depth costs memory only (issue 26). */
  const walk = async (start: VfsNode, dirParts: string[]) => {
    const stack: { kids: VfsNode[]; next: number; target: string[] }[] = [];
    const first = await planOne(start, dirParts);
    if (first) stack.push({ ...first, next: 0 });
    while (stack.length) {
      const f = stack[stack.length - 1]!;
      if (f.next >= f.kids.length) {
        stack.pop();
        continue;
      }
      const below = await planOne(f.kids[f.next++]!, f.target);
      if (below && below.kids.length) stack.push({ ...below, next: 0 });
    }
  };
  // Folders between outDir and a selected item (glob matches): made safe once each.
  const underSeen = new Set<string>();
  const placeUnder = (sel: RestoreSelection): string[] => {
    if (opts.flatten || !sel.under?.length) return [];
    const parts: string[] = [];
    // Name the folders by their image path when they are the node's own ancestors (globs).
    const comps = sel.node.path.split('/');
    const baseLen = comps.length - 1 - sel.under.length;
    const ancestors = baseLen >= 1 && sel.under.every((u, i) => comps[baseLen + i] === u);
    let source = ancestors ? comps.slice(0, baseLen).join('/') : '';
    for (const stored of sel.under) {
      source += `/${stored}`;
      const s = safeName(stored, nameOpts);
      parts.push(s.name);
      const key = parts.join('/');
      if (s.reason && !underSeen.has(key)) summary.renamed.push({ source, target: join(outDir, ...parts), reason: s.reason });
      underSeen.add(key);
    }
    return parts;
  };
  try {
    for (const sel of selection) {
      const dirParts = placeUnder(sel);
      if (sel.stream) {
        const name = `${sel.node.name}:${sel.stream}`;
        const info = (await vfs.streams(sel.node)).find((s) => s.name === sel.stream);
        plan.push({ node: sel.node, stream: sel.stream, size: info?.size ?? 0, target: claim(`${sel.node.path}:${sel.stream}`, dirParts, name) });
        bytesTotal += info?.size ?? 0;
      } else {
        await walk(sel.node, dirParts);
      }
    }
  } catch (err) {
    if (err instanceof Cancelled) {
      summary.cancelled = true;
      return summary;
    }
    throw err;
  }

  const progress: RestoreProgress = { filesDone: 0, filesTotal: plan.filter((p) => p.node.stat.type !== 'dir').length, bytesDone: 0, bytesTotal, current: '' };
  const report = () => opts.onProgress?.({ ...progress });
  /** First copies of hard-linked files, by volume and inode: the final path once it is complete. */
  const hardLinks = new Map<string, Promise<string | null>>();
  const dirTimes: { path: string; stat: Stat }[] = [];
  const isRoot = process.getuid?.() === 0;
  /**
   * Folders below outDir made (or checked) in this run, as joined target parts: each once.
   * True for those this run created: nothing else is in them, so no name needs checking
   * (an lstat per file was a tenth of a 10 000-file restore; issue 24).
   */
  const made = new Map<string, boolean>([['', outDirFresh]]);
  /** Plan order, to report in it whatever order parallel copies finish in. */
  const order = new Map<object, number>();
  let index = 0;
  const note = <T extends object>(list: T[], entry: T) => {
    order.set(entry, index);
    list.push(entry);
  };
  summary.removed = [];
  let stopping = false;

  /** Restores one file, stream or link (folders are made in plan order by the loop below). */
  const restoreItem = async (item: PlanItem, source: string, targetPath: string, kind: RestoredItem['type']): Promise<void> => {
    const { node } = item;
    const st = node.stat;
    const size = item.stream ? (item.size ?? 0) : st.size;
    let itemBytes = 0;
    const linkKey = `${node.place.kind === 'fs' ? node.place.vol.name : ''}:${st.ino}`;
    const links: { first?: (p: string | null) => void } = {};
    if (kind === 'file' && st.nlink > 1 && !hardLinks.has(linkKey)) {
      hardLinks.set(linkKey, new Promise((r) => (links.first = r)));
    }
    let part: string | null = null;
    let partBytes = 0;
    try {
      const fresh = made.get(item.target.slice(0, -1).join('/')) === true;
      const room = fresh ? 'write' : await makeRoom(targetPath, opts, kind === 'file' || kind === 'stream' ? size : undefined);
      if (room === 'skip') {
        note(summary.skipped, { source, target: targetPath, reason: 'exists' });
        progress.filesDone++;
        // Skipped bytes are no work done: they leave the total instead (no rate from them).
        progress.bytesTotal -= size;
        return;
      }
      if (kind === 'symlink') {
        // The link is recreated as it is stored; it is never followed when writing. A symlink
        // is made whole by one call: no temporary name needed.
        if (room === 'replace') await unlink(targetPath);
        await symlink(st.symlinkTarget ?? '', targetPath);
        if (preserve) await setTimes(targetPath, st, true);
      } else if (kind === 'file' || kind === 'stream') {
        // Names sharing an inode (ext) or an MFT record (NTFS) become hard links to the first copy.
        const first = kind === 'file' && st.nlink > 1 && !links.first ? await hardLinks.get(linkKey) : null;
        if (first) {
          if (room === 'replace') await unlink(targetPath);
          await link(first, targetPath);
          itemBytes = st.size;
        } else {
          // A name the plan writes itself is never taken for a leftover temporary name.
          const parent = item.target.slice(0, -1);
          const planned = (n: string) => used.has([...parent, n].join('/'));
          if (size <= SMALL_FILE) {
            // Small files: read whole, then written, timed and renamed by synchronous calls
            // (each asynchronous call is a thread-pool round trip; seven of them per file were
            // most of a 10 000-file restore; issue 24).
            const data = await readSmall(vfs, node, item.stream, size);
            const p = partName(basename(targetPath));
            part = join(dirname(targetPath), planned(p) ? partName(basename(targetPath), 1 + Math.floor(Math.random() * 1e6)) : p);
            writeSmall(part, data, st, kind === 'file' && preserve, preserve, isRoot);
            partBytes = data.length;
            progress.bytesDone += data.length;
            summary.bytes += data.length;
            if (kind === 'file' && (streamsMode === 'xattr' || opts.xattrs)) {
              if (streamsMode === 'xattr') await restoreStreamsAsXattrs(vfs, node, part);
              if (opts.xattrs) await restoreXattrs(vfs, node, part);
            }
            renameSync(part, targetPath);
            part = null;
            note(summary.written, { source, target: targetPath, type: kind, size: data.length });
            progress.filesDone++;
            links.first?.(targetPath);
            return;
          }
          const created = await createPart(dirname(targetPath), basename(targetPath), planned);
          const fh = created.fh;
          part = created.path;
          const written = await copyContent(vfs, node, item.stream, fh, part, opts.signal, (n) => {
            partBytes += n;
            progress.bytesDone += n;
            summary.bytes += n;
            report();
          });
          if (written < 0) throw new Cancelled();
          itemBytes = written;
          if (kind === 'file') {
            if (streamsMode === 'xattr') await restoreStreamsAsXattrs(vfs, node, part);
            if (opts.xattrs) await restoreXattrs(vfs, node, part);
            if (preserve) await applyOwnership(part, st, isRoot);
          }
          if (preserve) await setTimes(part, st, false);
          // Complete: now, and only now, under its name (over the old file with --force).
          await rename(part, targetPath).catch((err) => {
            throw fromSystemError(err, targetPath, 'output');
          });
          part = null;
        }
        links.first?.(targetPath);
      } else {
        note(summary.skipped, { source, target: targetPath, reason: `a ${st.type} is not restored` });
        progress.filesDone++;
        return;
      }
      note(summary.written, { source, target: targetPath, type: kind, size: itemBytes });
      progress.filesDone++;
    } catch (err) {
      links.first?.(null);
      if (part) {
        // Nothing cut short stays: its temporary name goes, and its bytes leave the counts.
        await rm(part, { force: true }).catch(() => undefined);
        summary.removed!.push({ source, target: part, bytes: partBytes });
        summary.bytes -= partBytes;
        progress.bytesDone -= partBytes;
      }
      if (err instanceof Cancelled) {
        summary.cancelled = true;
        return;
      }
      const code = errnoOf(err);
      if (code && STOPPING_OUTPUT_ERRORS.has(code)) {
        // Every later file would fail the same way: one line, and the run ends here.
        if (!summary.stopped) {
          summary.stopped = fromSystemError(err, targetPath, 'output').message;
          note(summary.failed, { source, target: targetPath, error: summary.stopped });
        }
        stopping = true;
        return;
      }
      note(summary.failed, { source, target: targetPath, error: messageOf(err) });
      progress.filesDone++;
    }
  };
  /** Copies in flight: small files overlap their reads (bounded); a large one runs alone. */
  const inFlight = new Set<Promise<void>>();
  const settle = async (max: number) => {
    while (inFlight.size > max) await Promise.race(inFlight);
  };

  for (const item of plan) {
    if (opts.signal?.aborted) {
      summary.cancelled = true;
      break;
    }
    if (stopping || summary.cancelled) break;
    index++;
    const { node } = item;
    const source = item.stream ? `${node.path}:${item.stream}` : node.path;
    const targetPath = join(outDir, ...item.target);
    progress.current = source;
    report();
    const st = node.stat;
    const kind: RestoredItem['type'] = item.stream ? 'stream' : st.type;
    if (opts.dryRun) {
      const size = kind === 'file' ? st.size : kind === 'stream' ? (item.size ?? 0) : 0;
      note(summary.written, { source, target: targetPath, type: kind, size });
      summary.bytes += size;
      if (kind !== 'dir') progress.filesDone++;
      continue;
    }
    try {
      ensureParents(outReal, item.target.slice(0, -1), made);
      if (kind === 'dir') {
        const created = makeDir(targetPath);
        if (streamsMode === 'xattr') await restoreStreamsAsXattrs(vfs, node, targetPath);
        made.set(item.target.join('/'), created);
        if (opts.xattrs) await restoreXattrs(vfs, node, targetPath);
        dirTimes.push({ path: targetPath, stat: st });
        note(summary.written, { source, target: targetPath, type: 'dir', size: 0 });
        continue;
      }
    } catch (err) {
      const code = errnoOf(err);
      if (code && STOPPING_OUTPUT_ERRORS.has(code)) {
        summary.stopped = fromSystemError(err, targetPath, 'output').message;
        note(summary.failed, { source, target: targetPath, error: summary.stopped });
        break;
      }
      note(summary.failed, { source, target: targetPath, error: messageOf(err) });
      if (kind !== 'dir') progress.filesDone++;
      continue;
    }
    const small = (item.stream ? (item.size ?? 0) : st.size) <= SMALL_FILE;
    await settle(small ? PARALLEL_SMALL - 1 : 0);
    const job = restoreItem(item, source, targetPath, kind).finally(() => inFlight.delete(job));
    inFlight.add(job);
  }
  await settle(0);
  for (const list of [summary.written, summary.skipped, summary.failed] as object[][]) list.sort((a, b) => (order.get(a) ?? 0) - (order.get(b) ?? 0));
  if (!summary.removed.length) delete summary.removed;
  // Folder times last: writing into a folder changes its mtime.
  if (preserve && !opts.dryRun) {
    for (const d of dirTimes.reverse()) {
      try {
        if (d.stat.mtime) utimesSyncOf(d.path, d.stat);
        if (d.stat.hasOwnership) applyOwnershipSync(d.path, d.stat, isRoot);
      } catch {
        // a folder that cannot take its times keeps today's
      }
    }
  }
  report();
  return summary;
}

/**
 * Makes the output folder and any missing folders above it, one at a time: a recursive mkdir
 * reports a read-only or full filesystem as "no such file" (issue 26); one step at a time, the
 * error is the real one.
 */
async function makeOutDir(outDir: string): Promise<boolean> {
  const missing: string[] = [];
  for (let p = resolve(outDir); ; p = dirname(p)) {
    const st = await lstat(p).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      throw fromSystemError(err, p, 'output');
    });
    if (st) break;
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  let created = false;
  for (const p of missing) {
    created = await mkdir(p).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw fromSystemError(err, p, 'output');
      return false;
    });
  }
  return created;
}

function messageOf(err: unknown): string {
  if (err instanceof DiskpickError) return err.message;
  return (err as Error)?.message ?? String(err);
}

/**
 * Creates (or checks) each folder below outDir that this run has not made yet; refuses any
 * that is a symlink. Once per folder: checking every parent again for every entry made a
 * 1 000-level tree cost ~500 000 mkdir calls (102 s; issue 26).
 */
function ensureParents(outReal: string, parts: string[], made: Map<string, boolean>): void {
  let key = parts.join('/');
  let known = parts.length;
  // The deepest folder already made: everything above it was made (and checked) before it.
  while (known > 0 && !made.has(key)) {
    known--;
    key = parts.slice(0, known).join('/');
  }
  let p = join(outReal, ...parts.slice(0, known));
  for (let i = known; i < parts.length; i++) {
    p = join(p, parts[i]!);
    made.set(parts.slice(0, i + 1).join('/'), makeDir(p));
  }
}

/**
 * Makes one folder (synchronously: one cheap call, not a thread-pool round trip); true when
 * this call created it, false when a real folder was there already.
 */
function makeDir(p: string): boolean {
  try {
    mkdirSync(p);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, p, 'output');
    const st = lstatSync(p);
    if (!st.isDirectory()) throw new DiskpickError('output', st.isSymbolicLink() ? 'exists as a symbolic link; not followed' : 'exists and is not a folder', p);
    return false;
  }
}

/** Who new files belong to (process.getuid() is a system call each time). */
const OWN_UID = process.getuid?.() ?? -1;
const OWN_GID = process.getgid?.() ?? -1;

/** Folder listings read ahead while planning. */
const LIST_AHEAD = 16;

/** Files up to this size are copied whole through synchronous writes (see restoreItem). */
const SMALL_FILE = 256 * 1024;
/** Small files whose reads overlap; measured on a 10 000-file ext4 tree (bench/restore.ts). */
const PARALLEL_SMALL = 8;

async function readSmall(vfs: Vfs, node: VfsNode, stream: string | undefined, size: number): Promise<Buffer> {
  const src = await vfs.openFile(node, stream);
  const out = Buffer.alloc(size);
  let end = 0;
  try {
    await pumpData(src, async (chunk, at) => {
      if (at + chunk.length > out.length) throw corrupt(node.path, `holds more than its size of ${size} bytes`);
      chunk.copy(out, at);
      end = Math.max(end, at + chunk.length);
    }, async (at, length) => {
      end = Math.max(end, at + length);
    });
  } finally {
    await src.close();
  }
  return end === size ? out : out.subarray(0, end);
}

/**
 * Writes a small file to its temporary name: O_EXCL|O_NOFOLLOW (a leftover of a killed run,
 * a regular file under that name, is removed first), data blocks only (zero 4 KiB blocks stay
 * holes), then owner, mode and times on the open descriptor.
 */
function writeSmall(part: string, data: Buffer, st: Stat, ownership: boolean, times: boolean, isRoot: boolean): void {
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
  let fd: number;
  try {
    fd = openSync(part, flags, 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !lstatSync(part).isFile()) throw fromSystemError(err, part, 'output');
    unlinkSync(part);
    fd = openSync(part, flags, 0o644);
  }
  try {
    let written = 0;
    for (let i = 0; i < data.length; ) {
      while (i < data.length && blockIsZero(data, i)) i += SPARSE_BLOCK;
      const from = i;
      while (i < data.length && !blockIsZero(data, i)) i += SPARSE_BLOCK;
      const to = Math.min(i, data.length);
      for (let at = from; at < to; ) at += writeSync(fd, data, at, to - at, at);
      if (to > from) written = to;
    }
    if (written < data.length) ftruncateSync(fd, data.length);
    if (ownership && st.hasOwnership) {
      // A new file is already ours: the call is needed only for another owner.
      if (isRoot && (st.uid !== OWN_UID || st.gid !== OWN_GID)) fchownSync(fd, st.uid, st.gid);
      fchmodSync(fd, isRoot ? st.mode & 0o7777 : st.mode & 0o1777);
    }
    if (times && st.mtime) {
      const m = toTime(st.mtime);
      futimesSync(fd, st.atime ? toTime(st.atime) : m, m);
    }
  } catch (err) {
    closeSync(fd);
    throw fromSystemError(err, part, 'output');
  }
  closeSync(fd);
}

function utimesSyncOf(p: string, st: Stat): void {
  const m = toTime(st.mtime!);
  utimesSync(p, st.atime ? toTime(st.atime) : m, m);
}

function applyOwnershipSync(p: string, st: Stat, isRoot: boolean): void {
  if (isRoot) lchownSync(p, st.uid, st.gid);
  chmodSync(p, isRoot ? st.mode & 0o7777 : st.mode & 0o1777);
}

/**
 * Whether the target may be written: 'write' (absent), 'replace' (there, and --force), or
 * 'skip' (--skip-existing). With --skip-existing a file is skipped only when it is complete:
 * diskpick itself only ever puts a whole file under its final name (see PART_SUFFIX), and a
 * file of another size than the one in the image (cut short by an older version or another
 * tool, or a different file) is a failure naming both sizes, never silently kept.
 */
async function makeRoom(p: string, opts: RestoreOptions, size: number | undefined): Promise<'write' | 'replace' | 'skip'> {
  let st;
  try {
    st = await lstat(p);
  } catch {
    return 'write';
  }
  // Never a file the image reads, whatever the options (issue 26: extract --force into the
  // image's folder replaced the image with a restored file of the same name).
  refuseInput(st, p);
  if (opts.skipExisting) {
    if (size !== undefined && st.isFile() && st.size !== size) {
      throw new DiskpickError('output', `exists with ${st.size} bytes, the image's file has ${size}: not complete or not the same file; not skipped, not overwritten (--force replaces it)`, p);
    }
    return 'skip';
  }
  if (!opts.force) throw new DiskpickError('output', 'already exists (use --force to overwrite or --skip-existing)', p);
  if (st.isDirectory()) throw new DiskpickError('output', 'exists as a folder; not overwritten', p);
  return 'replace';
}

/**
 * Creates the temporary file for `base` in `dir` (O_EXCL, never through a link). One left by
 * an earlier run that was killed (SIGKILL, power cut) has the same name: it is removed and
 * made again; a name the image itself restores in that folder is never taken for one.
 */
async function createPart(dir: string, base: string, planned: (name: string) => boolean): Promise<{ path: string; fh: FileHandle }> {
  for (let variant = 0; ; variant++) {
    const name = partName(base, variant);
    if (planned(name)) continue;
    const path = join(dir, name);
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        return { path, fh: await open(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, path, 'output');
        const st = await lstat(path).catch(() => null);
        // A leftover partial file: a regular file under our temporary name.
        if (attempt === 0 && st?.isFile()) {
          await unlink(path).catch(() => undefined);
          continue;
        }
        break;
      }
    }
    if (variant > 8) throw new DiskpickError('output', 'cannot create a temporary file here', join(dir, base));
  }
}

/** Copies a file's (or stream's) bytes into `fh` (closed at the end); -1 when aborted. */
async function copyContent(
  vfs: Vfs, node: VfsNode, stream: string | undefined, fh: FileHandle, target: string,
  signal: AbortSignal | undefined, onBytes: (n: number) => void,
): Promise<number> {
  let src;
  try {
    src = await vfs.openFile(node, stream);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  // Holes stay holes: what the source reports as holes is never read, and 4 KiB blocks that
  // read as zeros are not written (issue 24: a 640 MiB all-zero file was written in full;
  // issue 26: a 1 TiB sparse file was read hole by hole). The size is set at the end.
  let off = 0;
  let lastTurn = Date.now();
  const stop = Symbol('aborted');
  const turn = async () => {
    // Holes and cached reads resolve without I/O: without a turn of the event loop now
    // and then, Ctrl-C (a signal handler) would wait until the whole file is done.
    if (Date.now() - lastTurn > 50) {
      await new Promise((r) => setImmediate(r));
      lastTurn = Date.now();
    }
    if (signal?.aborted) throw stop;
  };
  try {
    await pumpData(src, async (chunk, at) => {
      await turn();
      // Only the 4 KiB blocks holding data are written; runs of them in one write.
      for (let i = 0; i < chunk.length; ) {
        while (i < chunk.length && blockIsZero(chunk, i)) i += SPARSE_BLOCK;
        const from = i;
        while (i < chunk.length && !blockIsZero(chunk, i)) i += SPARSE_BLOCK;
        if (i > from) await writeAll(fh, chunk, from, Math.min(i, chunk.length) - from, at + from);
      }
      // Sink calls overlap (below): a later chunk's may end first.
      off = Math.max(off, at + chunk.length);
      onBytes(chunk.length);
    }, async (at, length) => {
      await turn();
      off = at + length;
      onBytes(length);
    }, { sinks: 3 });
    await fh.truncate(off);
  } catch (err) {
    // The caller removes the temporary file.
    await fh.close().catch(() => undefined);
    if (err === stop) return -1;
    throw err instanceof DiskpickError ? err : fromSystemError(err, target, 'output');
  } finally {
    await src.close();
  }
  await fh.close();
  return off;
}

/** The hole granularity of sparse output: a page, the block size of most host filesystems. */
const SPARSE_BLOCK = 4096;

async function writeAll(fh: FileHandle, buf: Buffer, start: number, length: number, position: number): Promise<void> {
  let done = 0;
  while (done < length) {
    const { bytesWritten } = await fh.write(buf, start + done, length - done, position + done);
    done += bytesWritten;
  }
}

const ZEROS = Buffer.alloc(1 << 20);

/** Native compare against zeros (a JS byte loop costs seconds on a multi-GiB sparse file). */
/**
 * Whether the 4 KiB block at b[i …] reads as zeros. A data block nearly always has a nonzero
 * byte among the three looked at first, which answers with no Buffer made: three views and a
 * native call per block cost ~35 ms of CPU per GiB extracted (262 144 blocks).
 */
function blockIsZero(b: Buffer, i: number): boolean {
  const end = Math.min(i + SPARSE_BLOCK, b.length);
  if (b[i] !== 0 || b[end - 1] !== 0 || b[(i + end) >>> 1] !== 0) return false;
  return isZero(b.subarray(i, end));
}

function isZero(b: Buffer): boolean {
  for (let at = 0; at < b.length; at += ZEROS.length) {
    const part = b.subarray(at, at + ZEROS.length);
    if (!part.equals(ZEROS.subarray(0, part.length))) return false;
  }
  return true;
}

/**
 * Node takes a negative number of seconds as "now"; a Date carries times before 1970 (the
 * 1969 files a Linux backup may hold) through. Dates keep milliseconds only, so they are used
 * just for those.
 */
const toTime = (t: Timespec): number | Date => (t.sec >= 0 ? t.sec + t.nsec / 1e9 : new Date(t.sec * 1000 + Math.floor(t.nsec / 1e6)));

async function setTimes(p: string, st: Stat, isLink: boolean): Promise<void> {
  if (!st.mtime) return;
  const m = toTime(st.mtime);
  const a = st.atime ? toTime(st.atime) : m;
  await (isLink ? lutimes(p, a, m) : utimes(p, a, m));
}

async function applyOwnership(p: string, st: Stat, isRoot: boolean): Promise<void> {
  if (!st.hasOwnership) return;
  // setuid/setgid only make sense (and are only safe) when the owner is restored too.
  const mode = isRoot ? st.mode & 0o7777 : st.mode & 0o1777;
  if (isRoot) await lchown(p, st.uid, st.gid);
  await chmod(p, mode);
}

/** Extended attributes are set with setfattr (Node has no setxattr); `-h`: never through a link. */
async function setXattr(target: string, name: string, value: Buffer): Promise<void> {
  try {
    await execFileP('setfattr', ['-h', '-n', name, '-v', `0s${value.toString('base64')}`, '--', target]);
  } catch (err) {
    const e = err as { code?: string; stderr?: string };
    if (e.code === 'ENOENT') throw new DiskpickError('output', 'setfattr is needed to restore xattrs (Debian package attr)', target);
    throw new DiskpickError('output', `cannot set xattr ${name}: ${String(e.stderr ?? '').trim() || 'not supported here'}`, target);
  }
}

async function restoreStreamsAsXattrs(vfs: Vfs, node: VfsNode, target: string): Promise<void> {
  for (const s of await vfs.streams(node)) {
    const src = await vfs.openFile(node, s.name);
    try {
      const parts: Buffer[] = [];
      for await (const c of chunksOf(src)) parts.push(c);
      await setXattr(target, `user.${s.name}`, Buffer.concat(parts));
    } finally {
      await src.close();
    }
  }
}

async function restoreXattrs(vfs: Vfs, node: VfsNode, target: string): Promise<void> {
  for (const [name, value] of await vfs.xattrs(node)) await setXattr(target, name, value);
}
