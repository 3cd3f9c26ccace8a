import { createHash } from 'node:crypto';
import type { Command } from 'commander';
import { DiskpickError, ExitCode } from '../../errors.js';
import { pump } from '../../source/chunks.js';
import type { Vfs, VfsNode } from '../../vfs/vfs.js';
import { compileGlob, expandGlob, hasGlob } from '../../restore/glob.js';
import { displayName, entryJson, longLine, needsEscape, setUtcTimes, type EntryJson } from '../entry-format.js';
import { jsonText } from '../../escape.js';
import { quietOnEpipe, reportError, runCommand, stdoutBatch, withImage, type GlobalOptions } from '../run.js';

export interface LsOptions {
  long?: boolean;
  /** -h: sizes as 1.5K, 12M in -l. */
  humanReadable?: boolean;
  /** -a: accepted as GNU ls users type it; nothing is hidden here (dot files are always listed). */
  all?: boolean;
  /** -d: the folder itself, not its contents. */
  directory?: boolean;
  /** -t: newest first. */
  t?: boolean;
  /** -S: largest first. */
  S?: boolean;
  reverse?: boolean;
  /** -U: in the order the filesystem stores entries. */
  unsorted?: boolean;
  utc?: boolean;
  recursive?: boolean;
  json?: boolean;
  system?: boolean;
  streams?: boolean;
  xattr?: boolean;
  hash?: string;
}

export function register(program: Command): void {
  program
    .command('ls')
    .description('list a folder of the image (the top level lists volumes p1, p2, … or p0)')
    .argument('<image>', 'disk image')
    .argument('[paths...]', 'folders or files inside the image (/p2/Users, \\p2\\Users, C:\\Users), or globs (quote them): \'/p2/Users/*/Documents\'')
    .helpOption('--help', 'display help for command')
    .option('-l, --long', 'type, mode, links, uid, gid, size, mtime (local time; --utc)')
    .option('-h, --human-readable', 'with -l: sizes as 1.5K, 234M, 2.0G')
    .option('-R, --recursive', 'list everything below, as full paths')
    .option('-d, --directory', 'list folders themselves, not their contents')
    .option('-t', 'sort by modification time, newest first')
    .option('-S', 'sort by size, largest first')
    .option('-r, --reverse', 'reverse the order')
    .option('-U, --unsorted', 'entries in the order the filesystem stores them (default: by name)')
    .option('-a, --all', 'accepted for habit: nothing is hidden (dot files are always listed; --system adds metadata files)')
    .option('-1', 'one entry per line (always so)')
    .option('--utc', 'times in UTC instead of local time (TZ)')
    .option('--json', 'one JSON object per entry (NDJSON)')
    .option('--system', 'include filesystem metadata files (NTFS $MFT …)')
    .option('--streams', 'also list named data streams (NTFS) as PATH:STREAM')
    .option('--xattr', 'show extended attributes')
    .option('--hash <algorithm>', 'print a content hash of each file (sha256, sha1, md5)')
    .addHelpText('after', '\nA glob lists every match by its full path (and, with -R, everything below matching folders).\n\nListings are sorted by name (byte order, as LC_ALL=C ls); volumes stay in disk order.\n\nExamples:\n  diskpick ls disk.vmdk\n  diskpick ls -lh disk.vmdk /p2/Users /p2/Shared\n  diskpick ls -lt disk.vhdx \'C:\\Users\\anna\\Documents\'\n  diskpick ls -l disk.vmdk /p2/Users\n  diskpick ls -R --json disk.qcow2 /p1 > tree.ndjson\n  diskpick ls --hash sha256 disk.img /p1/docs\n  diskpick ls -l disk.img \'/p*/docs/*.txt\'')
    .action((image: string, paths: string[], opts: LsOptions, cmd: Command) => {
      setUtcTimes(!!opts.utc);
      return runCommand(() => withImage(image, cmd.optsWithGlobals<GlobalOptions>(), (vfs) => listPaths(vfs, paths.length ? paths : ['/'], opts)));
    });
}

export async function hashOf(vfs: Vfs, node: VfsNode, algorithm: string, stream?: string): Promise<string> {
  const h = createHash(algorithm);
  const src = await vfs.openFile(node, stream);
  try {
    await pump(src, (c) => void h.update(c));
  } finally {
    await src.close();
  }
  return h.digest('hex');
}

export function checkHashAlgorithm(alg: string): void {
  if (alg !== 'sha256' && alg !== 'sha1' && alg !== 'md5') {
    throw new DiskpickError('usage', `unknown hash algorithm "${alg}" (use sha256, sha1 or md5)`);
  }
}

/**
 * Several paths, as GNU ls takes them: each folder under a `PATH:` header (only when there are
 * several and not with -R, whose lines are full paths), separated by blank lines. A path that
 * fails is reported and the others are listed; the exit code is then that failure's.
 */
export async function listPaths(vfs: Vfs, paths: string[], opts: LsOptions): Promise<number> {
  if (paths.length === 1) return listCommand(vfs, paths[0]!, opts);
  let code: number = ExitCode.ok;
  let first = true;
  for (const p of paths) {
    let header: string | undefined;
    if (!opts.recursive && !opts.directory && !opts.json) {
      const node = await vfs.lookup(p).catch(() => null);
      if (node && node.stat.type === 'dir') header = `${first ? '' : '\n'}${displayName(p)}:\n`;
    }
    first = false;
    try {
      const c = await listCommand(vfs, p, opts, header);
      if (c !== ExitCode.ok && code === ExitCode.ok) code = c;
    } catch (err) {
      const c = reportError(err);
      if (code === ExitCode.ok || code === ExitCode.partial) code = c;
    }
  }
  return code;
}

/** How a folder's entries are ordered: by name from the Vfs, then -t/-S/-r here. */
function orderKids(kids: VfsNode[], opts: LsOptions): VfsNode[] {
  if (opts.unsorted && !opts.t && !opts.S) return opts.reverse ? kids.reverse() : kids;
  const ms = (n: VfsNode) => (n.stat.mtime ? n.stat.mtime.sec * 1e9 + n.stat.mtime.nsec : -Infinity);
  // Stable sorts: equal times or sizes stay in name order, as GNU ls leaves them.
  if (opts.S) kids.sort((a, b) => b.stat.size - a.stat.size);
  else if (opts.t) kids.sort((a, b) => ms(b) - ms(a));
  return opts.reverse ? kids.reverse() : kids;
}

export async function listCommand(vfs: Vfs, path: string, opts: LsOptions, header?: string): Promise<number> {
  quietOnEpipe();
  if (opts.hash) checkHashAlgorithm(opts.hash);
  let failures = 0;
  const { out, flush } = stdoutBatch();

  const emit = async (node: VfsNode, shown: string) => {
    const st = node.stat;
    let hash: string | undefined;
    if (opts.hash && st.type === 'file') {
      try {
        hash = await hashOf(vfs, node, opts.hash);
      } catch (err) {
        failures++;
        reportError(withPath(err, vfs, node.path));
      }
    }
    // Folders too: NTFS folders carry named streams as files do.
    const streams = opts.streams && node.place.kind === 'fs' ? await vfs.streams(node).catch(() => []) : [];
    let xattrs: Map<string, Buffer> | null = null;
    if (opts.xattr) xattrs = await vfs.xattrs(node).catch(() => new Map());
    if (opts.json) {
      const j: EntryJson = entryJson(node);
      if (hash) j[opts.hash as 'sha256'] = hash;
      if (opts.streams) j.streams = streams;
      if (xattrs) j.xattrs = Object.fromEntries([...xattrs].map(([k, v]) => [k, v.toString('base64')]));
      out.push(`${jsonText(j)}\n`);
    } else {
      const name = opts.long ? longLine(node, shown, opts.humanReadable) : displayName(shown);
      out.push(hash ? `${hash}  ${name}\n` : `${name}\n`);
      if (xattrs) for (const [k, v] of xattrs) out.push(`    ${displayName(k)}=${showXattr(v)}\n`);
    }
    for (const s of streams) {
      const label = `${shown}:${s.name}`;
      if (opts.json) {
        const j: EntryJson = { ...entryJson(node), path: `${node.path}:${s.name}`, name: `${node.name}:${s.name}`, type: 'stream', size: s.size };
        if (opts.hash) j[opts.hash as 'sha256'] = await hashOf(vfs, node, opts.hash, s.name);
        out.push(`${jsonText(j)}\n`);
      } else {
        const h = opts.hash ? `${await hashOf(vfs, node, opts.hash, s.name)}  ` : '';
        out.push(opts.long ? `${h}stream ${String(s.size).padStart(12)} ${displayName(label)}\n` : `${h}${displayName(label)}\n`);
      }
    }
    if (out.length > 256) await flush();
  };

  // Plain names need no stat beyond the type: folders list without reading every file's
  // inode or MFT record, and lines go out without a per-entry await.
  const namesOnly = !opts.long && !opts.json && !opts.t && !opts.S;
  const plain = namesOnly && !opts.hash && !opts.streams && !opts.xattr && !opts.reverse;
  let pending = 0;
  const failed = async (err: unknown, dir: VfsNode, top: boolean) => {
    if (top) throw err;
    failures++;
    await flush();
    reportError(withPath(err, vfs, dir.path));
  };
  /**
   * Lists one folder and returns the folders to list next (with -R). The walk below keeps them
   * on an explicit stack: depth costs memory only, never call stack (issue 26).
   */
  const listOne = async (dir: VfsNode, top: boolean): Promise<VfsNode[]> => {
    // A volume shown in its own folder too (an LVM PV's LVs under /VG) is listed there.
    if (!top && vfs.shownElsewhere(dir)) return [];
    if (plain) {
      // Names by column (no node per file), one string per folder: its shown path once, then
      // each name.
      let l;
      try {
        l = await vfs.readdirNames(dir, { system: opts.system, unsorted: opts.unsorted });
      } catch (err) {
        await failed(err, dir, top);
        return [];
      }
      const prefix = !opts.recursive ? '' : dir.path === '/' ? '/' : `${displayName(dir.path)}/`;
      // One test of the names joined by "/" (itself safe, and it keeps a lone surrogate at a
      // name's edge lone) instead of a call per name.
      const names = needsEscape(l.names.join('/')) ? l.names.map(displayName) : l.names;
      // One join makes the folder's text as one flat string (no string per line).
      const text = names.length ? `${prefix}${names.join(`\n${prefix}`)}\n` : '';
      out.push(text);
      pending += text.length;
      if (pending > 1 << 16) {
        pending = 0;
        await flush();
      }
      if (!opts.recursive) return [];
      const dirs: VfsNode[] = [];
      for (let i = 0; i < l.types.length; i++) if (l.types[i] === 'dir' && l.nodes[i]) dirs.push(l.nodes[i]!);
      return dirs;
    }
    let kids: VfsNode[];
    try {
      kids = orderKids(await vfs.readdir(dir, { system: opts.system, namesOnly, unsorted: opts.unsorted }), opts);
    } catch (err) {
      await failed(err, dir, top);
      return [];
    }
    for (const k of kids) await emit(k, opts.recursive ? k.path : k.name);
    return opts.recursive ? kids.filter((k) => k.stat.type === 'dir') : [];
  };
  /** A folder, then (with -R) each subfolder's listing in order, depth first. */
  const walk = async (start: VfsNode, top: boolean): Promise<void> => {
    const stack: { dirs: VfsNode[]; next: number }[] = [{ dirs: [start], next: 0 }];
    let first = top;
    while (stack.length) {
      const f = stack[stack.length - 1]!;
      if (f.next >= f.dirs.length) {
        stack.pop();
        continue;
      }
      const dirs = await listOne(f.dirs[f.next++]!, first);
      first = false;
      if (dirs.length) stack.push({ dirs, next: 0 });
    }
  };

  if (header) out.push(header);
  let start: VfsNode;
  try {
    start = await vfs.lookup(path);
  } catch (err) {
    // Not there as written: a glob (a name may contain * itself, so the literal path wins).
    if (!(err instanceof DiskpickError) || err.kind !== 'notFound' || !hasGlob(path)) throw err;
    failures += await listGlob(vfs, path, opts, emit, (dir) => walk(dir, false));
    await flush();
    return failures ? ExitCode.partial : ExitCode.ok;
  }
  if (start.stat.type !== 'dir' || opts.directory) {
    await emit(start, opts.recursive || opts.directory ? start.path : start.name);
    await flush();
    return failures ? ExitCode.partial : ExitCode.ok;
  }
  await walk(start, true);
  await flush();
  return failures ? ExitCode.partial : ExitCode.ok;
}

/** Every match of a glob, by full path; with -R the content of matching folders follows each. */
async function listGlob(
  vfs: Vfs, pattern: string, opts: LsOptions, emit: (n: VfsNode, shown: string) => Promise<void>,
  below: (dir: VfsNode) => Promise<void>,
): Promise<number> {
  let failures = 0;
  let any = false;
  const onError = (p: string, err: unknown) => {
    failures++;
    reportError(withPath(err, vfs, p));
  };
  for await (const m of expandGlob(vfs, compileGlob(pattern), { system: opts.system, pruneMatchedFolders: !!opts.recursive, onError })) {
    any = true;
    await emit(m, m.path);
    if (opts.recursive && m.stat.type === 'dir') await below(m);
  }
  if (!any) throw new DiskpickError('notFound', 'no match in the image', pattern);
  return failures;
}

function showXattr(v: Buffer): string {
  const printable = v.length > 0 && [...v].every((c, i) => (c >= 0x20 && c < 0x7f) || (c === 0 && i === v.length - 1));
  return printable ? JSON.stringify(v.toString('latin1').replace(/\0$/, '')) : `0s${v.toString('base64')}`;
}

/** Errors inside the filesystem name the volume; for the user, name the path too. */
export function withPath(err: unknown, vfs: Vfs, path: string): unknown {
  if (err instanceof DiskpickError && err.file !== path) {
    return new DiskpickError(err.kind, `${path}: ${err.message}`, vfs.imagePath, { cause: err });
  }
  return err;
}
