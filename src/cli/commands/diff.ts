/**
 * `diskpick diff A B [PATH]`: what was added, removed or changed between two images (two
 * nights' backups of one machine) below PATH, streamed as it is found.
 */
import type { Command } from 'commander';
import { DiskpickError, ExitCode } from '../../errors.js';
import { changedAspects, diffTrees, type Change } from '../../restore/diff.js';
import type { Vfs } from '../../vfs/vfs.js';
import { openPoint } from '../../restore/points.js';
import { displayName, isoTime } from '../entry-format.js';
import { quietOnEpipe, reportError, runCommand, stdoutBatch, vfsOptions, type GlobalOptions } from '../run.js';
import { withPath } from './ls.js';

interface DiffCliOptions {
  json?: boolean;
  content?: boolean;
  xattrs?: boolean;
}

const MARK: Record<Change['change'], string> = { added: '+', removed: '-', changed: 'M' };

export function register(program: Command): void {
  program
    .command('diff')
    .description('what changed between two images below a folder: added (+), removed (-), changed (M)')
    .argument('<a>', 'the earlier image or point (IMAGE@level:N, IMAGE@snap:NAME, IMAGE@vss:K, IMAGE:/vg/snap)')
    .argument('<b>', 'the later image or point')
    .argument('[path]', 'the folder (or file) to compare, the same path in both', '/')
    .option('--json', 'one JSON object per change (NDJSON)')
    .option('--content', 'compare the bytes of files of equal size even where size, times and inode match')
    .option('--xattrs', 'also compare extended attributes and named streams')
    .addHelpText('after', '\nFiles of equal size whose mtime, ctime and inode number also match are taken as unchanged\nunless --content is given. Exit 0 whether or not anything changed; 1 when something could\nnot be compared.\n\nExamples:\n  diskpick diff nightly-1.qcow2 nightly-2.qcow2 /p3/etc\n  diskpick diff --json mon.vmdk tue.vmdk /p2/Users > changes.ndjson')
    .action((a: string, b: string, path: string, opts: DiffCliOptions, cmd: Command) =>
      runCommand(async () => {
        quietOnEpipe();
        const o = vfsOptions(cmd.optsWithGlobals<GlobalOptions>());
        const pa = await openPoint(a, o);
        const va = pa.vfs;
        let vb: Vfs;
        let pb;
        try {
          pb = await openPoint(b, o);
          vb = pb.vfs;
        } catch (err) {
          await va.close();
          throw err;
        }
        try {
          return await diffCommand(va, vb, path, opts, pa.pathIn(path), pb.pathIn(path));
        } finally {
          await va.close();
          await vb.close();
        }
      }),
    );
}

async function diffCommand(va: Vfs, vb: Vfs, path: string, opts: DiffCliOptions, pathA = path, pathB = path): Promise<number> {
  // A snapshot side (IMAGE:/vg/snap) reads the path at its place in the snapshot.
  const na = await va.lookup(pathA).catch(() => null);
  const nb = await vb.lookup(pathB).catch(() => null);
  if (!na && !nb) throw new DiskpickError('notFound', 'in neither image', path);
  const { out, flush } = stdoutBatch();
  let failures = 0;
  const emit = async (c: Change) => {
    out.push(opts.json ? `${JSON.stringify(changeJson(c))}\n` : `${MARK[c.change]} ${displayName(c.path)}${c.type === 'dir' ? '/' : ''}${c.what.length ? ` (${c.what.join(', ')})` : ''}\n`);
    if (out.length >= 512) await flush();
  };
  if (!na || !nb || na.stat.type !== 'dir' || nb.stat.type !== 'dir') {
    // One side missing, or a file: one line.
    const x = na?.stat ?? null;
    const y = nb?.stat ?? null;
    if (!x) await emit({ path, change: 'added', type: y!.type, what: [], a: null, b: y });
    else if (!y) await emit({ path, change: 'removed', type: x.type, what: [], a: x, b: null });
    else {
      const what = await changedAspects(va, na!, vb, nb!, { content: opts.content, xattrs: opts.xattrs });
      if (what.length) await emit({ path, change: 'changed', type: y.type, what, a: x, b: y });
    }
  } else {
    for await (const c of diffTrees(va, na, vb, nb, { content: opts.content, xattrs: opts.xattrs, onError: (p, e) => { failures++; reportError(withPath(e, va, p)); } })) await emit(c);
  }
  await flush();
  return failures ? ExitCode.partial : ExitCode.ok;
}

function changeJson(c: Change) {
  const side = (s: Change['a']) => (s ? { type: s.type, size: s.size, mode: (s.mode & 0o7777).toString(8).padStart(4, '0'), uid: s.uid, gid: s.gid, mtime: isoTime(s.mtime) } : null);
  return { path: c.path, change: c.change, type: c.type, what: c.what, a: side(c.a), b: side(c.b) };
}
