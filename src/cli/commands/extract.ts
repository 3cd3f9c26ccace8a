import type { Command } from 'commander';
import { DiskpickError, ExitCode } from '../../errors.js';
import { escapeText, jsonText } from '../../escape.js';
import { countWritten, restore, type RestoreOptions, type RestoreSelection, type RestoreSummary } from '../../restore/restore.js';
import { onStopSignals, signalExitCode } from '../signals.js';
import { compileGlob, expandGlob, hasGlob } from '../../restore/glob.js';
import { splitPath } from '../../vfs/vfs.js';
import type { Vfs } from '../../vfs/vfs.js';
import { humanSize } from '../entry-format.js';
import { ProgressBar } from '../progress.js';
import { runCommand, withImage, writeStdout, type GlobalOptions } from '../run.js';
import { withPath } from './ls.js';

interface ExtractOptions {
  output?: string;
  force?: boolean;
  skipExisting?: boolean;
  preserve?: boolean;
  flatten?: boolean;
  dryRun?: boolean;
  streams?: string | boolean;
  xattrs?: boolean;
  system?: boolean;
  quiet?: boolean;
  json?: boolean;
  windowsNames?: boolean;
}

export function register(program: Command): void {
  program
    .command('extract')
    .description('copy files or whole folders out of the image into a folder')
    .argument('<image>', 'disk image')
    .argument('<paths...>', 'files or folders inside the image (PATH:STREAM for one NTFS stream), or globs (quote them)')
    .option('-o, --output <dir>', 'target folder (created if missing; default: the current folder, as 7zz x); nothing is written outside it')
    .option('--force', 'overwrite existing files')
    .option('--skip-existing', 'leave existing files alone')
    .option('--preserve', 'restore times; modes and owners where the image has them (owners only as root) (default)')
    .option('--no-preserve', 'do not restore times, modes and owners')
    .option('--flatten', 'put all files directly into the target folder (same names get "~2")')
    .option('--dry-run', 'print what would be written, write nothing')
    .option('--streams [mode]', 'named streams: siblings (file:stream, default), xattr (user.* xattrs) or none; --streams=xattr')
    .option('--no-streams', 'skip named streams')
    .option('--xattrs', 'restore extended attributes (needs setfattr)')
    .option('--system', 'include filesystem metadata files')
    .option('-q, --quiet', 'no progress and no summary')
    .option('--json', 'print the summary as JSON (docs/schema/extract-summary.schema.json)')
    .option('--windows-names', 'also rename names Windows cannot store (CON, NUL, COM1, a:b, trailing dots)')
    .addHelpText('after', `
A glob's matches keep their folders below the pattern's fixed part: '/p2/Users/*/Documents/**/*.docx'
restores /p2/Users/anna/Documents/x.docx as DIR/anna/Documents/x.docx. A path that exists as
written is taken literally, so a name containing * works too. Symlinks are recreated, never followed.
Files are written as .NAME.diskpick-part and renamed when complete, so a name in DIR is always
a whole file; SIGINT, SIGTERM, SIGHUP and SIGPIPE remove the partial file and say so.
Exit codes: 0 all done, 1 some failed, 2 usage, 3 image, 4 not found, 7 output,
130 interrupted (129 SIGHUP, 141 SIGPIPE, 143 SIGTERM).

Examples:
  diskpick extract disk.vmdk /p2/Users/anna/report.docx -o restored/
  diskpick extract disk.img /p1/projects -o /srv/restore --skip-existing
  diskpick extract --dry-run disk.qcow2 /p1/etc -o out/
  diskpick extract disk.vmdk '/p2/Users/*/Documents/**/*.docx' -o out/
  diskpick extract --json -q disk.vhdx /p2/data -o out/ > summary.json
  diskpick extract disk.img -o out/ -- /p1/-strange-name`)
    .action((image: string, paths: string[], opts: ExtractOptions, cmd: Command) =>
      runCommand(() => withImage(image, cmd.optsWithGlobals<GlobalOptions>(), (vfs) => extractCommand(vfs, paths, opts))),
    );
}

function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

function streamsMode(v: string | boolean | undefined): RestoreOptions['streams'] {
  if (v === undefined || v === true) return 'siblings';
  if (v === false) return 'none';
  if (v === 'siblings' || v === 'xattr' || v === 'none') return v;
  throw new DiskpickError('usage', `--streams must be siblings, xattr or none, not "${v}"`);
}

export async function extractCommand(vfs: Vfs, paths: string[], opts: ExtractOptions): Promise<number> {
  // No -o: the current folder, as `7zz x` and `tar x` do.
  const output = opts.output ?? '.';
  if (opts.force && opts.skipExisting) throw new DiskpickError('usage', '--force and --skip-existing exclude each other');
  const streams = streamsMode(opts.streams);
  const selection: RestoreSelection[] = [];
  const missing: { path: string; err: DiskpickError }[] = [];
  const listFailures: { path: string; err: unknown }[] = [];
  // One item once: a folder selected twice, or a file inside a selected folder, is restored once.
  const chosen = new Set<string>();
  const covered = (path: string): boolean => {
    if (chosen.has(path)) return true;
    for (let i = path.lastIndexOf('/'); i > 0; i = path.lastIndexOf('/', i - 1)) if (chosen.has(path.slice(0, i))) return true;
    return chosen.has('/');
  };
  // Two entries of one folder may carry one name (damage, or case on a case-insensitive
  // reader): the same path, different files. Each is restored (the second renamed), never
  // dropped as "already chosen" (issue 26: a ** glob lost one silently).
  const chosenIds = new Map<string, Set<number>>();
  const add = (sel: RestoreSelection) => {
    const key = sel.stream ? `${sel.node.path}:${sel.stream}` : sel.node.path;
    const ids = chosenIds.get(key);
    if (ids && !ids.has(sel.node.stat.ino) && !covered(parentOf(sel.node.path))) {
      ids.add(sel.node.stat.ino);
      selection.push(sel);
      return;
    }
    if (covered(sel.node.path) || chosen.has(key)) return;
    chosen.add(key);
    chosenIds.set(key, new Set([sel.node.stat.ino]));
    selection.push(sel);
  };
  for (const p of paths) {
    try {
      add(await vfs.lookupWithStream(p));
    } catch (err) {
      if (!(err instanceof DiskpickError) || err.kind !== 'notFound') throw err;
      if (hasGlob(p)) {
        // Matches are placed below the pattern's literal prefix, keeping the folders between.
        const g = compileGlob(p);
        const base = g.literalPrefix.length;
        let n = 0;
        for await (const m of expandGlob(vfs, g, { system: opts.system, pruneMatchedFolders: true, onError: (path, e) => listFailures.push({ path, err: e }) })) {
          n++;
          add({ node: m, under: splitPath(m.path).slice(base, -1) });
        }
        if (n) continue;
        const noMatch = new DiskpickError('notFound', 'no match in the image', p);
        if (paths.length > 1) missing.push({ path: p, err: noMatch });
        else throw noMatch;
      } else if (paths.length > 1) {
        missing.push({ path: p, err });
      } else {
        throw err;
      }
    }
  }
  const bar = new ProgressBar(opts.quiet || opts.json);
  const abort = new AbortController();
  // Every signal that ends a run from outside (Ctrl-C, a kill, an SSH drop, a closed pipe)
  // stops it the same way: the file being written is removed, the rest stays.
  const stops = onStopSignals(() => abort.abort());
  let summary: RestoreSummary;
  try {
    summary = await restore(vfs, selection, {
      outDir: output,
      force: opts.force,
      skipExisting: opts.skipExisting,
      preserve: opts.preserve,
      flatten: opts.flatten,
      dryRun: opts.dryRun,
      streams,
      xattrs: opts.xattrs,
      system: opts.system,
      windowsNames: opts.windowsNames,
      signal: abort.signal,
      onProgress: (p) => bar.update(p),
    });
  } finally {
    stops.off();
    bar.done();
  }
  for (const m of missing) summary.failed.push({ source: m.path, target: null, error: m.err.message });
  for (const f of listFailures) {
    const e = withPath(f.err, vfs, f.path);
    summary.failed.push({ source: f.path, target: null, error: e instanceof Error ? e.message : String(e) });
  }
  printSummary(summary, opts, output, stops.signal);
  if (summary.cancelled) return stops.signal ? signalExitCode(stops.signal) : ExitCode.interrupted;
  if (summary.stopped) return ExitCode.output;
  if (summary.failed.length === 0) return ExitCode.ok;
  const nothingDone = summary.written.length === 0 && summary.skipped.length === 0;
  return nothingDone && paths.length === 1 && selection.length === 1 && selection[0]!.node.stat.type !== 'dir' ? ExitCode.output : ExitCode.partial;
}

function printSummary(s: RestoreSummary, opts: ExtractOptions, output: string, signal: NodeJS.Signals | null): void {
  if (signal) {
    // What was cleaned up, in one line, even with --quiet or --json (stderr).
    const removed = (s.removed ?? []).map((r) => `${escapeText(r.target)} (${humanSize(r.bytes)} of ${escapeText(r.source)})`);
    process.stderr.write(`diskpick: ${signal}: stopped; ${removed.length ? `removed the partial file ${removed.join(', ')}` : 'no partial file left'}\n`);
  }
  if (opts.json) {
    void writeStdout(`${jsonText(s)}\n`);
    return;
  }
  if (s.dryRun) {
    for (const w of s.written) void writeStdout(`would write ${w.type.padEnd(7)} ${escapeText(w.target)}\n`);
  }
  for (const f of s.failed) process.stderr.write(`diskpick: ${escapeText(f.source)}: ${escapeText(f.error)}\n`);
  if (opts.quiet) return;
  for (const r of s.renamed) process.stderr.write(`diskpick: renamed "${escapeText(r.source, { backslash: true })}" to ${escapeText(r.target)} (${r.reason})\n`);
  // Files the user chose (and the links and files below chosen folders); streams apart.
  const { files, streams, dirs } = countWritten(s);
  const verb = s.dryRun ? 'would extract' : s.cancelled ? 'cancelled after extracting' : s.stopped ? 'stopped after extracting' : 'extracted';
  const what = `${files} file${files === 1 ? '' : 's'}${streams ? ` and ${streams} stream${streams === 1 ? '' : 's'}` : ''}`;
  const parts = [`${verb} ${what} (${humanSize(s.bytes)})`, `${dirs} folder${dirs === 1 ? '' : 's'}`];
  if (s.skipped.length) parts.push(`${s.skipped.length} skipped`);
  if (s.renamed.length) parts.push(`${s.renamed.length} renamed`);
  if (s.failed.length) parts.push(`${s.failed.length} failed`);
  process.stderr.write(`${parts.join(', ')} → ${escapeText(output)}\n`);
}
