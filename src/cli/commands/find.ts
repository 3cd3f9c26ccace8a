import type { Command } from 'commander';
import { DiskpickError, ExitCode } from '../../errors.js';
import { compileGlob, expandGlob, hasGlob } from '../../restore/glob.js';
import { findNodes, parseDate, parseSize, parseTypes, type FindFilters } from '../../restore/find.js';
import type { Vfs, VfsNode } from '../../vfs/vfs.js';
import { displayName, entryJson, longLine, setUtcTimes, type EntryJson } from '../entry-format.js';
import { jsonText } from '../../escape.js';
import { quietOnEpipe, reportError, runCommand, stdoutBatch, withImage, type GlobalOptions } from '../run.js';
import { checkHashAlgorithm, hashOf, withPath } from './ls.js';

interface FindOptions {
  name?: string;
  iname?: string;
  type?: string;
  size?: string;
  newer?: string;
  older?: string;
  maxDepth?: string;
  minDepth?: string;
  json?: boolean;
  long?: boolean;
  print0?: boolean;
  hash?: string;
  system?: boolean;
}

export function register(program: Command): void {
  program
    .command('find')
    .description('search the image for files by name, type, size and date; prints full paths as they are found')
    .argument('<image>', 'disk image')
    .argument('[path]', 'where to start (a folder, or a glob); default: every volume', '/')
    .option('--name <glob>', 'name matches the glob (case-sensitive, like find -name)')
    .option('--iname <glob>', 'name matches the glob, ignoring case')
    .option('--type <types>', 'f (file), d (folder), l (symlink), c, b, p, s; comma-separated')
    .option('--size <[+-]N>', 'bigger than +N, smaller than -N, or exactly N bytes; k, M, G, T suffixes (1024-based)')
    .option('--newer <date>', 'modified after DATE (2024-03-01, 2024-03-01T14:05:09Z, @EPOCH, 7d ago)')
    .option('--older <date>', 'modified before DATE (same forms)')
    .option('--max-depth <n>', 'descend at most N folders below the start')
    .option('--min-depth <n>', 'print nothing shallower than N (1: not the start itself)')
    .option('-l, --long', 'type, mode, links, uid, gid, size, mtime, path')
    .option('--json', 'one JSON object per match (NDJSON; docs/schema/entry.schema.json)')
    .option('--utc', 'with -l: times in UTC instead of local time (TZ)')
    .option('--print0', 'end each path with NUL instead of a newline (for xargs -0)')
    .option('--hash <algorithm>', 'print a content hash of each matching file (sha256, sha1, md5)')
    .option('--system', 'include filesystem metadata files (NTFS $MFT …)')
    .addHelpText('after', `
Filters combine with AND. Globs: * ? [abc] {a,b}; quote them so the shell does not expand them.

Examples:
  diskpick find disk.vmdk --iname '*.docx'
  diskpick find disk.vmdk /p2/Users --type f --size +100M
  diskpick find disk.qcow2 --newer 2024-03-01 --older 2024-04-01 --json > changed.ndjson
  diskpick find disk.img /p1 --name 'report*' --hash sha256
  diskpick find disk.img '/p*/home/*' --type d --max-depth 0
  diskpick find disk.img --type f --print0 | xargs -0 -n1 echo`)
    .action((image: string, path: string, opts: FindOptions & { utc?: boolean }, cmd: Command) =>
      runCommand(() => {
        setUtcTimes(!!opts.utc);
        return withImage(image, cmd.optsWithGlobals<GlobalOptions>(), (vfs) => findCommand(vfs, path, opts));
      }),
    );
}

function depth(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new DiskpickError('usage', `${flag} takes a whole number, not "${v}"`);
  return Number(v);
}

export function filtersOf(opts: FindOptions): FindFilters {
  const f: FindFilters = {};
  if (opts.name !== undefined) f.name = opts.name;
  if (opts.iname !== undefined) f.iname = opts.iname;
  if (opts.type !== undefined) f.types = parseTypes(opts.type);
  if (opts.size !== undefined) f.size = parseSize(opts.size);
  if (opts.newer !== undefined) f.newer = parseDate(opts.newer);
  if (opts.older !== undefined) f.older = parseDate(opts.older);
  f.maxDepth = depth(opts.maxDepth, '--max-depth');
  f.minDepth = depth(opts.minDepth, '--min-depth');
  return f;
}

export async function findCommand(vfs: Vfs, path: string, opts: FindOptions): Promise<number> {
  quietOnEpipe();
  const filters = filtersOf(opts);
  if (opts.hash) checkHashAlgorithm(opts.hash);
  let failures = 0;
  const onError = (p: string, err: unknown) => {
    failures++;
    reportError(withPath(err, vfs, p));
  };

  const { out, flush } = stdoutBatch();
  const end = opts.print0 ? '\0' : '\n';
  const emit = async (node: VfsNode) => {
    let hash: string | undefined;
    if (opts.hash && node.stat.type === 'file') {
      try {
        hash = await hashOf(vfs, node, opts.hash);
      } catch (err) {
        onError(node.path, err);
      }
    }
    if (opts.json) {
      const j: EntryJson = entryJson(node);
      if (hash) j[opts.hash as 'sha256'] = hash;
      out.push(`${jsonText(j)}\n`);
    } else {
      // With --print0 the path is written as stored: the consumer splits on NUL.
      const shown = opts.print0 ? node.path : opts.long ? longLine(node, node.path) : displayName(node.path);
      out.push(hash ? `${hash}  ${shown}${end}` : `${shown}${end}`);
    }
    // Matches go out as they are found; a slow consumer holds the walk (backpressure).
    if (out.length >= 64 || hash) await flush();
  };

  // Start points: the path, or every match of a glob.
  let starts: AsyncIterable<VfsNode>;
  if (hasGlob(path)) {
    try {
      const node = await vfs.lookup(path);
      starts = (async function* () { yield node; })();
    } catch (err) {
      if (!(err instanceof DiskpickError) || err.kind !== 'notFound') throw err;
      starts = expandGlob(vfs, compileGlob(path), { system: opts.system, pruneMatchedFolders: true, onError });
    }
  } else {
    const node = await vfs.lookup(path);
    starts = (async function* () { yield node; })();
  }
  // Names and types decide --name/--iname/--type and are all a plain path needs: then the
  // walk lists folders names-only (no inode or MFT record read per file).
  const namesOnly = !filters.size && filters.newer === undefined && filters.older === undefined && !opts.long && !opts.json;
  let anyStart = false;
  for await (const start of starts) {
    anyStart = true;
    for await (const node of findNodes(vfs, start, filters, { system: opts.system, namesOnly, onError })) await emit(node);
  }
  await flush();
  if (!anyStart) throw new DiskpickError('notFound', 'no match in the image', path);
  return failures ? ExitCode.partial : ExitCode.ok;
}
