import { constants as fsc } from 'node:fs';
import { open, lstat, unlink, rename } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { DiskpickError, fromSystemError, warningLine } from '../../errors.js';
import { pump } from '../../source/chunks.js';
import type { ByteSource } from '../../source/source.js';
import { refuseInput } from '../../source/file.js';
import { ProgressBar } from '../progress.js';
import { humanSize } from '../entry-format.js';
import { partName } from '../../restore/restore.js';
import { onStopSignals, signalExitCode } from '../signals.js';
import { openContainer } from '../../container/open.js';
import { parseImageArg } from '../../container/point.js';
import { quietOnEpipe, refuseStdoutInput, runCommand, warnLine, vfsOptions, withImage, writeStdout, type GlobalOptions } from '../run.js';

interface DdOptions {
  output: string;
  volume?: string;
  force?: boolean;
  quiet?: boolean;
}

/**
 * Chunk of the copy: 2 MiB buffers (three in the ring) stay in the CPU caches between the
 * read that fills them and the write; 1 GiB in-process from the page cache, best of 5:
 * raw 137 ms at 2 MiB against 221 ms at 4 MiB, QCOW2 226 against 279, compressed QCOW2
 * 490 against 791.
 */
const CHUNK = 2 << 20;

export function register(program: Command): void {
  program
    .command('dd')
    .description('write the whole virtual disk (or one volume) as a raw image, sparse where it is empty')
    .argument('<image>', 'disk image')
    .requiredOption('-o, --output <file>', 'raw image to write, or - for stdout')
    .option('--volume <name>', 'only this volume (p1, p2 …, VG/LV for an LVM logical volume, disk2 for a further disk)')
    .option('--force', 'overwrite an existing output file')
    .option('-q, --quiet', 'no progress bar')
    .addHelpText('after', '\nExamples:\n  diskpick dd disk.vmdk -o disk.raw\n  diskpick dd disk.qcow2 --volume p2 -o - | ntfsls -f /dev/stdin')
    .action((image: string, opts: DdOptions, cmd: Command) =>
      runCommand(async () => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        // A disk image to a terminal is binary noise and can drive it: refused as gzip does.
        if (opts.output === '-' && process.stdout.isTTY) {
          throw new DiskpickError('usage', 'will not write a disk image to a terminal; redirect it (> FILE or | …) or give -o FILE');
        }
        if (opts.volume) {
          await withImage(image, g, async (vfs) => {
            // A drive letter (`--volume C:`) names the volume Windows gives it (src/vfs/drives.ts).
            const drive = /^([A-Za-z]):\\?$/.exec(opts.volume!);
            const vol = drive ? (await vfs.driveLetters()).get(drive[1]!.toUpperCase()) : undefined;
            if (drive && !vol) throw new DiskpickError('notFound', `no volume has drive letter ${drive[1]!.toUpperCase()}: (volumes: ${vfs.volumeHint()})`, opts.volume);
            return writeRaw(vfs.volumeSource(vol ? vol.name : opts.volume!), opts);
          });
          return;
        }
        // The whole disk needs only the container: it may hold no partition table or
        // filesystem diskpick knows. A shadow copy is a volume's state, not the disk's.
        if ((await parseImageArg(image)).point?.kind === 'vss') throw new DiskpickError('usage', 'a shadow copy is the state of a volume, not of the disk: give the volume, e.g. --volume p2', image);
        const disk = await openContainer(image, vfsOptions(g));
        try {
          for (const w of disk.warnings) process.stderr.write(warningLine(w));
          return await writeRaw(disk, opts);
        } finally {
          await disk.close();
        }
      }),
    );
}

/** Zeros to compare chunks with: memcmp against untouched (shared zero) pages is the fastest test. */
let zeros: Buffer | null = null;

function isZero(b: Buffer): boolean {
  if (!zeros || zeros.length < b.length) zeros = Buffer.alloc(Math.max(CHUNK, b.length));
  return b.equals(zeros.subarray(0, b.length));
}

class Stopped extends Error {}

/**
 * A regular output file is written as .NAME.diskpick-part beside it and renamed to NAME when
 * complete (issue 20: an interrupted dd left a partial image under the real name); SIGINT,
 * SIGTERM, SIGHUP and SIGPIPE remove it with one line. A device or FIFO is written in place.
 */
async function writeRaw(src: ByteSource, opts: DdOptions): Promise<number | void> {
  const bar = new ProgressBar(opts.quiet);
  const progress = { filesDone: 0, filesTotal: 1, bytesDone: 0, bytesTotal: src.size };
  if (opts.output === '-') {
    refuseStdoutInput();
    quietOnEpipe();
    try {
      await pump(
        src,
        async (chunk) => {
          await writeStdout(chunk);
          progress.bytesDone += chunk.length;
          bar.update(progress);
        },
        { chunkSize: CHUNK },
      );
    } finally {
      bar.done();
    }
    return;
  }
  const exists = await lstat(opts.output).then((s) => s, () => null);
  if (exists) refuseInput(exists, opts.output);
  if (exists && !opts.force && exists.isFile()) throw new DiskpickError('output', 'already exists (use --force to overwrite)', opts.output);
  if (exists?.isSymbolicLink()) throw new DiskpickError('output', 'is a symbolic link; not followed', opts.output);
  if (exists?.isDirectory()) throw new DiskpickError('output', 'is a folder; give a file name', opts.output);
  // A new or regular file goes to a temporary name; a device (or FIFO) is written in place.
  const viaPart = !exists || exists.isFile();
  const part = viaPart ? join(dirname(opts.output), partName(basename(opts.output))) : null;
  const target = part ?? opts.output;
  // No O_TRUNC: the file opened is checked (fstat) against the image's own files first, and
  // only then emptied (issue 26: `dd IMAGE -o IMAGE --force` truncated the backup). A leftover
  // temporary file of a killed run is emptied and reused.
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_NOFOLLOW | fsc.O_NONBLOCK;
  const fh = await open(target, flags, 0o644).catch((err) => {
    throw fromSystemError(err, target, 'output');
  });
  let regular: boolean;
  try {
    const st = await fh.stat();
    refuseInput(st, opts.output);
    regular = st.isFile();
    if (regular) await fh.truncate(0);
  } catch (err) {
    await fh.close();
    throw err instanceof DiskpickError ? err : fromSystemError(err, opts.output, 'output');
  }
  const stops = onStopSignals(() => undefined);
  try {
    let end = 0;
    await pump(
      src,
      async (chunk, off) => {
        if (stops.signal) throw new Stopped();
        // Regions that read as zeros become holes in a regular output file.
        if (!(regular && isZero(chunk))) {
          let done = 0;
          while (done < chunk.length) {
            const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, off + done);
            done += bytesWritten;
          }
        }
        // With writes overlapping (below), a later chunk's may end first.
        end = Math.max(end, off + chunk.length);
        progress.bytesDone = end;
        bar.update(progress);
      },
      // A regular file takes positioned writes three at a time, as extract's (restore.ts): one
      // at a time, each waits for the event loop to come round between them.
      { chunkSize: CHUNK, sinks: regular ? 3 : 1 },
    );
    if (regular) await fh.truncate(end);
    await fh.close();
    if (part) {
      await rename(part, opts.output).catch((err) => {
        throw fromSystemError(err, opts.output, 'output');
      });
    }
  } catch (err) {
    // A cut copy must not stay under the name of a whole one (issue 26: a full disk left a
    // 1 MiB file behind): the temporary file is removed.
    await fh.close().catch(() => undefined);
    if (regular) await unlink(target).catch(() => undefined);
    if (err instanceof Stopped) {
      bar.done();
      process.stderr.write(`diskpick: ${stops.signal}: stopped; ${regular ? `removed the partial file ${target} (${humanSize(progress.bytesDone)} of ${humanSize(src.size)})` : `${target} holds the first ${humanSize(progress.bytesDone)} only`}\n`);
      return signalExitCode(stops.signal!);
    }
    throw err instanceof DiskpickError ? err : fromSystemError(err, opts.output, 'output');
  } finally {
    stops.off();
    bar.done();
  }
}
