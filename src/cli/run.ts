/**
 * How every command ends: success, or one line on stderr naming the file and the problem and
 * a documented exit code. A stack trace only with --debug.
 */
import { fstatSync, writeSync } from 'node:fs';
import { DiskpickError, ExitCode, warningLine } from '../errors.js';
import { escapeText } from '../escape.js';
import { refuseInput } from '../source/file.js';
import { keysFromOptions, terminalAsker, type KeyOptions } from './secrets.js';
import { Vfs, type VfsOpenOptions } from '../vfs/vfs.js';
import { displayImageName } from '../container/remote-open.js';

export interface GlobalOptions extends KeyOptions {
  debug?: boolean;
  parentDir?: string[];
  disk?: string[];
  ignoreParentId?: boolean;
  orphans?: boolean;
  /** Commander's form of --no-verify (false when given). */
  verify?: boolean;
  /** --http-header (repeatable): for images by URL. (--header is LUKS's detached header.) */
  httpHeader?: string[];
  insecure?: boolean;
  endpoint?: string;
  region?: string;
  cacheSize?: number;
  /** --sector-size: the disk's logical sector size, not detected. */
  sectorSize?: string;
}

let debugMode = false;

export function setDebug(on: boolean): void {
  debugMode = on;
}

export function reportError(err: unknown): number {
  if (err instanceof DiskpickError) {
    process.stderr.write(`diskpick: ${oneLine(err.toLine())}\n`);
    if (debugMode && err.cause) process.stderr.write(`${(err.cause as Error).stack ?? String(err.cause)}\n`);
    if (debugMode) process.stderr.write(`${err.stack}\n`);
    return err.exitCode;
  }
  const e = err as NodeJS.ErrnoException;
  if (e && e.code === 'EPIPE') return ExitCode.ok;
  process.stderr.write(`diskpick: internal error: ${escapeText(e?.message ?? String(err))} (run with --debug for details; please report it)\n`);
  if (debugMode) process.stderr.write(`${e?.stack}\n`);
  return ExitCode.image;
}

function oneLine(s: string): string {
  return s.replace(/[\r\n]+/g, ' ');
}

/** Runs a command body; exits with its code (or the error's). */
export async function runCommand(body: () => Promise<number | void>): Promise<never> {
  let code: number;
  try {
    code = (await body()) ?? ExitCode.ok;
  } catch (err) {
    code = reportError(err);
  }
  await flushStdout();
  process.exit(code);
}

function flushStdout(): Promise<void> {
  return new Promise((resolve) => {
    if (!stdoutStream || stdoutStream.writableLength === 0) return resolve();
    stdoutStream.write('', () => resolve());
  });
}

/**
 * Options for opening an image. `prompt`: with no key given and a terminal at hand, ask for the
 * passphrase of a locked volume (not for `info`, which describes locked volumes as they are).
 */
export function vfsOptions(g: GlobalOptions, opts: { prompt?: boolean } = {}): VfsOpenOptions {
  const keys = keysFromOptions(g);
  // Whether there is a terminal to ask on is looked at only when a locked volume needs a key:
  // process.stdin loads Node's stream modules (measured: ~2-3 ms of CPU on every start).
  if (opts.prompt) keys.ask = (what) => terminalAsker()?.(what) ?? Promise.resolve(null);
  return {
    parentDirs: g.parentDir ?? [], disks: g.disk ?? [], ignoreParentId: g.ignoreParentId ?? false, orphans: g.orphans ?? false, keys,
    ...(g.verify === false ? { verifyData: false } : {}),
    ...(g.sectorSize ? { sectorSize: Number(g.sectorSize) as 512 | 4096 } : {}),
    remote: { headers: g.httpHeader, insecure: g.insecure, endpoint: g.endpoint, region: g.region, ...(g.cacheSize ? { cacheBytes: g.cacheSize * 1024 * 1024 } : {}) },
  };
}

/** One warning line; the warning quotes the image, so it is escaped (src/escape.ts). */
export function warnLine(image: string, w: string): void {
  process.stderr.write(`diskpick: warning: ${escapeText(displayImageName(image))}: ${escapeText(w)}\n`);
}

/** Opens the image, runs `body`, closes the image. */
export async function withImage<T>(image: string, g: GlobalOptions, body: (vfs: Vfs) => Promise<T>, extra: Partial<VfsOpenOptions> = {}): Promise<T> {
  const vfs = await Vfs.open(image, { ...vfsOptions(g, { prompt: !extra.allowEmpty }), ...extra });
  try {
    for (const w of vfs.container.warnings) process.stderr.write(warningLine(w));
    for (const w of vfs.info().warnings) process.stderr.write(warningLine(w, vfs.imagePath));
    vfs.onWarning = (w) => process.stderr.write(warningLine(w, vfs.imagePath));
    return await body(vfs);
  } finally {
    await vfs.close();
  }
}

/**
 * Refuses to write file content to a stdout that is one of the image's own files
 * (`diskpick cat IMG … >> IMG` would read what it writes, without end).
 */
export function refuseStdoutInput(): void {
  let st;
  try {
    st = fstatSync(1);
  } catch {
    return;
  }
  refuseInput(st, 'standard output');
}

/**
 * Node's process.stdout, once made: until then output goes to fd 1 with write(2) directly.
 * Making the stream loads Node's stream modules (a file: SyncWriteStream; a pipe: net.Socket),
 * which are not loaded at start (see src/source/host-fs.ts for what that saved). Node's docs
 * say it writes stdout synchronously on Linux for files, pipes and terminals anyway, so
 * writing fd 1 ourselves changes nothing but the cost. The first write that fails (EPIPE,
 * EAGAIN on a non-blocking pipe, a closed fd 1, ...) hands its rest and every later write to
 * the stream, which then behaves as before (the quietOnEpipe handler, Node's own errors).
 */
let stdoutStream: NodeJS.WriteStream | null = null;
let quietEpipe = false;

function onStdoutError(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(ExitCode.ok);
  process.stderr.write(`diskpick: cannot write output: ${err.message}\n`);
  process.exit(ExitCode.output);
}

function stdout(): NodeJS.WriteStream {
  if (!stdoutStream) {
    stdoutStream = process.stdout;
    if (quietEpipe) stdoutStream.on('error', onStdoutError);
  }
  return stdoutStream;
}

/** A closed stdout (`| head`) ends the program quietly. */
export function quietOnEpipe(): void {
  if (quietEpipe) return;
  quietEpipe = true;
  stdoutStream?.on('error', onStdoutError);
}

const written = Promise.resolve();

/**
 * Writes a chunk to stdout and resolves once stdout is done with it, so the caller may
 * refill the same buffer (see `pump`). Errors go to the handler of quietOnEpipe.
 */
export function writeStdout(chunk: Buffer | string): Promise<void> {
  const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
  let done = 0;
  if (!stdoutStream) {
    try {
      while (done < buf.length) done += writeSync(1, buf, done, buf.length - done);
      return written;
    } catch {
      // The stream takes over from here and meets the same error, or writes what write(2) could not.
    }
  }
  return new Promise((resolve) => {
    stdout().write(done ? buf.subarray(done) : buf, (err) => {
      if (!err) resolve();
    });
  });
}

/**
 * Collects output lines and writes them in batches, waiting for stdout to drain, so long
 * listings neither hold everything in memory nor overrun a slow pipe.
 */
export function stdoutBatch(): { out: string[]; flush: () => Promise<void> } {
  const out: string[] = [];
  // One buffer encodes every batch (written before the next batch is encoded): a fresh one per
  // write cost a page fault per 4 KiB of output, slow on virtual machines.
  let buf = Buffer.allocUnsafeSlow(0);
  const flush = async () => {
    if (!out.length) return;
    let bytes = 0;
    for (const s of out) bytes += Buffer.byteLength(s);
    if (bytes > buf.length) buf = Buffer.allocUnsafeSlow(Math.max(bytes, 256 * 1024));
    let n = 0;
    for (const s of out) n += buf.write(s, n);
    out.length = 0;
    await writeStdout(buf.subarray(0, n));
  };
  return { out, flush };
}
