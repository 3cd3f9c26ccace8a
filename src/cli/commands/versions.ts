/**
 * `diskpick versions IMAGE... PATH`: one row per point in time (each image given; docs/points-
 * in-time.md), in time order, with the file's modification time, size, SHA-256 and the earlier
 * point whose content is identical.
 */
import type { Command } from 'commander';
import { DiskpickError, ExitCode } from '../../errors.js';
import { imagePoints, pointsFor } from '../../restore/points.js';
import { versionsOf, type VersionRow } from '../../restore/versions.js';
import { displayName, humanSize, isoTime, setUtcTimes, shortTime } from '../entry-format.js';
import { quietOnEpipe, runCommand, vfsOptions, writeStdout, type GlobalOptions } from '../run.js';

interface VersionsCliOptions {
  json?: boolean;
  verify?: boolean;
  inner?: boolean;
}

export function register(program: Command): void {
  program
    .command('versions')
    .description('one file across points in time: every image given (nightly backups of one VM) and the shadow copies inside each, oldest first')
    .argument('<images-and-path...>', 'the images, then the path inside them (e.g. fileserver-*.vmdk /p2/Users/anna/report.docx)')
    .option('--json', 'one JSON object per point (NDJSON)')
    .option('--utc', 'times in UTC instead of local time (TZ)')
    .option('--verify', 'hash every version, even where size, times and inode say it is unchanged')
    .option('--no-inner', 'only the images given, not the points inside them (chain levels, internal snapshots, shadow copies, LVM and Btrfs snapshots)')
    .addHelpText('after', "\nPoints: each image given, and inside each the lower levels of its snapshot chain (IMAGE@level:N),\nQCOW2 internal snapshots (IMAGE@snap:NAME), shadow copies (IMAGE@vss:K), LVM snapshots of the\npath's LV and Btrfs snapshots of its subvolume (IMAGE:/SNAPSHOT). An image's time is its file's\nmodification time; an inner point's is when it was taken. SAME AS names the earliest point with\nidentical content; a file absent from a point shows as (deleted).\n\nExamples:\n  diskpick versions nightly/fileserver-*.vmdk /p2/Users/anna/report.docx\n  diskpick versions --json a.qcow2 b.qcow2 c.qcow2 /p1/etc/fstab")
    .action((args: string[], opts: VersionsCliOptions & { utc?: boolean }, cmd: Command) =>
      runCommand(async () => {
        setUtcTimes(!!opts.utc);
        quietOnEpipe();
        if (args.length < 2) throw new DiskpickError('usage', 'versions needs at least one image and a path (see diskpick versions --help)');
        const path = args[args.length - 1]!;
        const images = args.slice(0, -1);
        const o = vfsOptions(cmd.optsWithGlobals<GlobalOptions>());
        const points = opts.inner === false ? await imagePoints(images, o) : await pointsFor(images, path, o);
        const rows = await versionsOf(points, path, { verify: opts.verify });
        await writeStdout(Buffer.from(opts.json ? rows.map((r) => `${JSON.stringify(rowJson(r))}\n`).join('') : table(rows)));
        for (const r of rows) if (r.error) process.stderr.write(`diskpick: ${r.point}: ${r.error}\n`);
        if (rows.every((r) => !r.stat)) throw new DiskpickError('notFound', 'not found at any point', path);
        return rows.some((r) => r.error) ? ExitCode.partial : ExitCode.ok;
      }),
    );
}

function rowJson(r: VersionRow) {
  return {
    point: r.point,
    path: r.path,
    pointTime: isoTime(r.pointTime ?? undefined),
    exists: r.stat !== null,
    mtime: r.stat ? isoTime(r.stat.mtime) : null,
    size: r.stat ? r.stat.size : null,
    sha256: r.sha256,
    sameAs: r.sameAs,
    error: r.error,
  };
}

function table(rows: VersionRow[]): string {
  const cells = rows.map((r) => [
    displayName(r.point),
    r.stat ? shortTime(r.stat.mtime) : '-',
    r.stat ? humanSize(r.stat.size) : '-',
    r.sha256 ? `${r.sha256.slice(0, 12)}…` : '-',
    r.error ? `(error)` : !r.stat ? '(deleted)' : r.sameAs ? displayName(r.sameAs) : '-',
  ]);
  const head = ['POINT', 'MODIFIED', 'SIZE', 'SHA-256', 'SAME AS'];
  const w = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}
