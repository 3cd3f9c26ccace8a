/**
 * Mount lifecycle: loading fuse-native (libfuse2), checking /dev/fuse and the mountpoint,
 * cleaning up a stale mount a killed process left behind, serving until Ctrl-C, SIGTERM or an
 * external `umount`, and `--daemon` (a detached copy of this process that reports back once
 * the mount is ready).
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, realpathSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { stat, writeFile } from 'node:fs/promises';
import type FuseType from 'fuse-native';
import { DiskpickError, ExitCode, fromSystemError } from '../errors.js';
import { escapeText } from '../escape.js';
import { Vfs, type VfsOpenOptions } from '../vfs/vfs.js';
import { Errno } from './errno.js';
import { FuseFs } from './ops.js';
import type { OwnerOptions } from './stat-words.js';
import { loadFuse3, mountFuse3, type Fuse3Binding } from './fuse3.js';

const execFileP = promisify(execFile);

/** Kernel readahead for the mount (sysfs bdi read_ahead_kb; root only, best effort). */
const READ_AHEAD_KB = 4096;

/**
 * fuse-native, loaded on demand so the rest of the CLI works without libfuse2. It is the
 * fallback for machines where the libfuse3 binding does not load (no libfuse3), and no longer a
 * dependency of the package (its install script made `npm install -g diskpick` warn, issue 20):
 * an optional peer, used where the user installed it (`npm install -g fuse-native`, found next
 * to diskpick in the global node_modules).
 */
export function loadFuse(): typeof FuseType {
  try {
    return createRequire(import.meta.url)('fuse-native') as typeof FuseType;
  } catch (err) {
    const msg = (err as Error).message ?? String(err);
    if ((err as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' && /fuse-native/.test(msg.split('\n')[0]!)) {
      throw new DiskpickError('unsupported', 'the libfuse2 fallback "fuse-native" is not installed (npm install -g fuse-native)');
    }
    if (/libfuse\.so\.2/.test(msg)) {
      throw new DiskpickError('unsupported', 'libfuse2 is not installed: install the Debian package libfuse2 (libfuse2t64 on newer releases; not "fuse", which removes fuse3)');
    }
    throw new DiskpickError('unsupported', `cannot load fuse-native: ${msg.split('\n')[0]}`);
  }
}

/** fuse-native's native binding (the one its index.js loads), for the handlers that answer it directly. */
function loadBinding(): FuseType.Binding {
  const req = createRequire(createRequire(import.meta.url).resolve('fuse-native'));
  return (req('node-gyp-build') as (dir: string) => FuseType.Binding)(dirname(req.resolve('fuse-native/package.json')));
}

/** Opening /dev/fuse is what libfuse will do: say plainly why it cannot. */
export function checkDevFuse(): void {
  try {
    closeSync(openSync('/dev/fuse', 'r+'));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENXIO' || code === 'ENODEV') {
      throw new DiskpickError('unsupported', 'missing: load the fuse kernel module (modprobe fuse), or give the container the device (--device /dev/fuse)', '/dev/fuse');
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new DiskpickError('unsupported', 'not permitted: run as root or as a user allowed to use FUSE (in a container: --device /dev/fuse --cap-add SYS_ADMIN)', '/dev/fuse');
    }
    throw fromSystemError(err, '/dev/fuse', 'unsupported');
  }
}

export interface MountEntry {
  /** Mount ID (first field of mountinfo): also shown as mnt_id in /proc/PID/fdinfo. */
  id: string;
  /** "major:minor" of the mounted filesystem. */
  dev: string;
  mountpoint: string;
  fstype: string;
  source: string;
}

/** /proc/self/mountinfo, with its octal escapes (\040 for a space) undone. */
export function readMounts(): MountEntry[] {
  let text: string;
  try {
    text = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const sep = f.indexOf('-');
    if (f.length < 10 || sep < 6) continue;
    out.push({ id: f[0]!, dev: f[2]!, mountpoint: unescape(f[4]!), fstype: f[sep + 1]!, source: unescape(f[sep + 2]!) });
  }
  return out;
}

export function findMount(path: string): MountEntry | null {
  const all = readMounts().filter((m) => m.mountpoint === path);
  return all[all.length - 1] ?? null;
}

/** Detaches a FUSE mount now, even when busy or stale (the kernel finishes it when unused). */
export async function lazyUnmount(path: string): Promise<void> {
  try {
    await execFileP('fusermount', ['-uz', path]);
    return;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code !== 'ENOENT') {
      // fusermount exists but refused: umount(8) as a second opinion (root).
      try {
        await execFileP('umount', ['-l', path]);
        return;
      } catch {
        throw new DiskpickError('output', `cannot unmount: ${(e.stderr ?? e.message).trim().split('\n')[0]}`, path);
      }
    }
  }
  try {
    await execFileP('umount', ['-l', path]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new DiskpickError('output', `cannot unmount (fusermount from Debian fuse3 is not installed): ${(e.stderr ?? e.message).trim().split('\n')[0]}`, path);
  }
}

/** The path /proc/self/mountinfo would show (symlinks resolved); as given when that fails (a stale mount). */
export function realPath(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return resolve(path);
  }
}

function isStale(path: string): boolean {
  try {
    readdirSync(path);
    return false;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOTCONN' || code === 'ECONNABORTED';
  }
}

/**
 * The mountpoint, absolute, checked: a folder, empty, not mounted. A stale FUSE mount
 * ("Transport endpoint is not connected": its process was killed) is unmounted first.
 */
export async function prepareMountpoint(path: string, log: (line: string) => void): Promise<string> {
  let abs = resolve(path);
  let st;
  try {
    st = statSync(abs);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOTCONN' || code === 'ECONNABORTED') {
      log(`${abs}: cleaning up a stale mount left by a process that is gone`);
      await lazyUnmount(abs);
      st = statSync(abs);
    } else if (code === 'ENOENT') {
      throw new DiskpickError('usage', 'mountpoint does not exist (create the folder first)', abs);
    } else {
      throw fromSystemError(err, abs, 'usage');
    }
  }
  if (!st.isDirectory()) throw new DiskpickError('usage', 'mountpoint is not a folder', abs);
  abs = realPath(abs);
  let m = findMount(abs);
  if (m && m.fstype.startsWith('fuse') && isStale(abs)) {
    // The kernel still answers stat() from its attribute cache; a listing needs the process.
    log(`${abs}: cleaning up a stale mount left by a process that is gone`);
    await lazyUnmount(abs);
    m = findMount(abs);
  }
  if (m) throw new DiskpickError('usage', `something is already mounted here (${m.fstype} ${m.source}); unmount it first`, abs);
  if (readdirSync(abs).length > 0) throw new DiskpickError('usage', 'mountpoint is not empty', abs);
  return abs;
}

export interface ServeOptions extends OwnerOptions {
  image: string;
  mountpoint: string;
  allowOther: boolean;
  vfs: VfsOpenOptions;
  debug?: boolean;
  log: (line: string) => void;
  /** Called once the kernel has the mount. */
  onReady: (mnt: string) => void;
}

/** `a,b` option values must not contain the separator; names are for `df`/mountinfo only. */
function optionSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9._+-]/g, '_').slice(0, 64);
}

function devString(dev: number): string {
  // glibc's dev_t encoding (gnu_dev_major/minor).
  const major = ((dev >>> 8) & 0xfff) | Math.floor(dev / 2 ** 32) & ~0xfff;
  const minor = (dev & 0xff) | ((dev >>> 12) & ~0xff);
  return `${major}:${minor}`;
}

/**
 * Which binding serves the mount: diskpick's libfuse3 binding where it was built and loads
 * (1 MiB reads; files lying in host files as they are read without JavaScript), else
 * fuse-native (libfuse2). DISKPICK_FUSE=libfuse2 or =libfuse3 chooses one (tests, comparisons).
 */
function chooseBinding(): { kind: 'libfuse3'; b: Fuse3Binding } | { kind: 'libfuse2'; Fuse: typeof FuseType } {
  const want = process.env.DISKPICK_FUSE;
  let why: string | null = null;
  if (want !== 'libfuse2') {
    const b = loadFuse3();
    if (!('unavailable' in b)) return { kind: 'libfuse3', b };
    if (want === 'libfuse3') throw new DiskpickError('unsupported', `DISKPICK_FUSE=libfuse3: ${b.unavailable}`);
    why = b.unavailable;
  }
  try {
    return { kind: 'libfuse2', Fuse: loadFuse() };
  } catch (err) {
    // Neither binding: say what each one lacks.
    if (why && err instanceof DiskpickError) throw new DiskpickError('unsupported', `${why}; and fuse-native: ${err.message}`);
    throw err;
  }
}

/** Serves `fsys` on `mnt` through fuse-native (libfuse2). */
async function mountFuseNative(Fuse: typeof FuseType, mnt: string, mountOpts: string[], fsys: FuseFs): Promise<void> {
  class DiskpickFuse extends Fuse {
    override _fuseOptions(): string {
      return `-o${mountOpts.join(',')}`;
    }

    /**
     * getattr, readdir and read answer the binding directly. fuse-native's own glue makes a
     * stat array per call (getStatArray) and per folder entry, binds a closure, copies the
     * arguments and defers each answer to the next tick: per 128 KiB read and per entry of a
     * `find`, that was a large share of the mount's time. The answers are the same calls its
     * glue ends in (fuse_native_signal_*: result, then the values, then for read the buffer's
     * memory, which the binding detaches from JavaScript once libfuse has it back).
     * These three have no time limit (as read never had): each answers once, error or not.
     */
    override _makeHandlerArray(): FuseType.Handler[] {
      const handlers = super._makeHandlerArray();
      const b = loadBinding();
      handlers[b.op_getattr] = (native, _op, path: string) => fsys.answerGetattr(path, (err, words) => b.fuse_native_signal_getattr(native, err, words));
      handlers[b.op_readdir] = (native, _op, path: string) =>
        fsys.answerReaddir(path, (err, names, stats) => b.fuse_native_signal_readdir(native, err, names, stats));
      handlers[b.op_read] = (native, _op, _path: string, fd: number, buf: Buffer, len: number, posLow: number, posHigh: number) => {
        const answer = (n: number) => b.fuse_native_signal_read(native, n, 0, buf.buffer);
        fsys.read(fd, buf, len, posHigh * 4294967296 + posLow).then(answer, (err) => answer(fsys.errnoOf('read', _path, err)));
      };
      return handlers;
    }

    // fuse-native copies a value into a too-small buffer and reports the full length; the
    // kernel wants ERANGE then (and the length alone when asked with size 0).
    override _op_getxattr(signal: FuseType.Signal, path: string, name: string, valueBuf: Buffer): void {
      fsys.getxattr(path, name).then((v) => {
        if (typeof v === 'number') return signal(v, valueBuf.buffer);
        if (valueBuf.length === 0) return signal(v.length, valueBuf.buffer);
        if (v.length > valueBuf.length) return signal(Errno.ERANGE, valueBuf.buffer);
        v.copy(valueBuf);
        return signal(v.length, valueBuf.buffer);
      }).catch((err) => signal(fsys.errnoOf('getxattr', path, err), valueBuf.buffer));
    }

    override _op_listxattr(signal: FuseType.Signal, path: string, listBuf: Buffer): void {
      fsys.listxattr(path).then((names) => {
        const data = Buffer.concat(names.map((n) => Buffer.from(`${n}\0`)));
        if (listBuf.length === 0) return signal(data.length, listBuf.buffer);
        if (data.length > listBuf.length) return signal(Errno.ERANGE, listBuf.buffer);
        data.copy(listBuf);
        return signal(data.length, listBuf.buffer);
      }).catch((err) => signal(fsys.errnoOf('listxattr', path, err), listBuf.buffer));
    }
  }

  // No time limit on read: it fills libfuse's own buffer in place, and fuse-native answers a
  // timed-out request at once, after which libfuse frees that buffer while our read may still
  // be writing into it.
  const fuse = new DiskpickFuse(mnt, fsys.operations(), { timeout: { default: 120_000, read: false } });
  await new Promise<void>((res, rej) => fuse.mount((err) => (err ? rej(err) : res())));
}

/**
 * The serving process keeps what it lists (Listing: names and stat words of every folder a walker
 * went through), so much of what a walk allocates survives V8's young-generation collections and
 * is copied by them. V8 starts with semi-spaces of 1 MiB and doubles them, one collection at a
 * time, up to 16 MiB: a first `find` over 100 000 NTFS names ran 5 scavenges (7.6 ms of pauses on
 * the main thread, and the helper threads' CPU on a 2-core machine where `find` needs the other
 * core). Grown to the same maximum in one step (at the first collection that grows it, during the
 * image's opening) the walk ran none. First walks of the bench image (bench/fuse.ts walkRows,
 * image evicted, 10 alternated runs, medians, twice): 89.2 -> 81.4 ms and 87.1 -> 80.1 ms
 * (ntfs-3g 77.0 and 86.4 ms in the same runs). Memory: the mount's RSS after that walk 72 -> 80 MB.
 * Set at run time: as a command-line flag it would change V8's flag hash, and the code cache made
 * at build time would be refused. Not for the other commands, which end soon after: `ls -R` of the
 * same image took 86 -> 95 ms with it (the bigger young generation's fresh pages).
 */
const SERVING_SEMI_SPACE_GROWTH = 16;
/** V8's default (src/flags/flag-definitions.h, semi_space_growth_factor). */
const V8_SEMI_SPACE_GROWTH = 2;

/**
 * Mounts `image` and serves it until a signal or an external unmount; resolves with the exit
 * code. Image errors are thrown before anything is mounted.
 */
export async function serveMount(o: ServeOptions): Promise<number> {
  setFlagsFromString(`--semi-space-growth-factor=${SERVING_SEMI_SPACE_GROWTH}`);
  try {
    return await serve(o);
  } finally {
    // V8's code cache carries a hash of the flags changed from their defaults, taken when it is
    // made: the mount's own cache is made as a training mount exits (scripts/bundle.ts
    // trainMount), and must match a process just started.
    setFlagsFromString(`--semi-space-growth-factor=${V8_SEMI_SPACE_GROWTH}`);
  }
}

async function serve(o: ServeOptions): Promise<number> {
  const binding = chooseBinding();
  checkDevFuse();
  const mnt = await prepareMountpoint(o.mountpoint, o.log);
  const vfs = await Vfs.open(o.image, o.vfs);
  // Container warnings name their file already (fileWarning); warningLine escapes.
  for (const w of vfs.container.warnings) o.log(`warning: ${escapeText(w)}`);
  for (const w of vfs.info().warnings) o.log(`warning: ${escapeText(vfs.imagePath)}: ${escapeText(w)}`);
  const fsys = new FuseFs(vfs, o);

  const mountOpts = [
    'ro',
    'default_permissions',
    // Backups do not change: keep file pages, names and attributes cached by the kernel.
    'kernel_cache',
    'entry_timeout=86400',
    'attr_timeout=86400',
    'negative_timeout=86400',
    `fsname=diskpick:${optionSafe(basename(o.image))}`,
    'subtype=diskpick',
  ];
  if (o.allowOther) mountOpts.push('allow_other');
  if (o.debug) mountOpts.push('debug');

  try {
    if (binding.kind === 'libfuse3') mountFuse3(binding.b, mnt, ['-o', mountOpts.join(',')], fsys);
    // st_ino from us, not libfuse's own counter: hard links share a number (libfuse3: set in init).
    else await mountFuseNative(binding.Fuse, mnt, [...mountOpts, 'use_ino', 'max_read=131072'], fsys);
  } catch (err) {
    await vfs.close().catch(() => undefined);
    const msg = (err as Error).message ?? String(err);
    throw new DiskpickError('unsupported', `cannot mount: ${msg === 'fuse failed' || msg.startsWith('libfuse refused') ? 'libfuse refused the mount (see the line above)' : msg}`, mnt);
  }

  // Asynchronously: a synchronous stat would wait on this very event loop to answer it.
  let dev: string;
  try {
    dev = devString((await stat(mnt)).dev);
  } catch {
    dev = '';
  }
  // The kernel's default readahead for a FUSE mount is 128 KiB: one request in flight at a
  // time. A larger window keeps several in flight (libfuse2's 128 KiB reads: measured about 2x;
  // libfuse3 reads up to 1 MiB per request whatever the window, and gains from it too).
  if (dev) await writeFile(`/sys/class/bdi/${dev}/read_ahead_kb`, String(READ_AHEAD_KB)).catch(() => undefined);
  o.onReady(mnt);

  const code = await new Promise<number>((done) => {
    let finishing = false;
    const finish = async (unmount: boolean) => {
      if (finishing) return;
      finishing = true;
      clearInterval(timer);
      if (unmount) await lazyUnmount(mnt).catch((err) => o.log(err instanceof DiskpickError ? err.toLine() : String(err)));
      await fsys.closeAll();
      await vfs.close().catch(() => undefined);
      done(ExitCode.ok);
    };
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => void finish(true));
    // An external `umount`/`fusermount -uz` detaches the mount: keep serving the files still
    // open through the detached mount, then leave.
    let detached = false;
    const mountId = readMounts().find((m) => m.mountpoint === mnt && (dev === '' || m.dev === dev))?.id;
    const timer = setInterval(() => {
      if (!detached) detached = !readMounts().some((m) => m.mountpoint === mnt && (dev === '' || m.dev === dev));
      // The kernel can end the detached mount before our release() handlers have run (no
      // FUSE_DESTROY reaches fuse-native): once no process holds a file of it, leave.
      if (detached && (fsys.openHandles === 0 || (mountId !== undefined && !mountStillUsed(mountId)))) void finish(false);
    }, 500);
  });
  return code;
}

/**
 * True while some process has a file open on the mount with this ID (/proc/PID/fdinfo shows
 * mnt_id; reading it never touches the FUSE filesystem itself, so it cannot wait on us).
 */
function mountStillUsed(mountId: string): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return true;
  }
  const want = `mnt_id:\t${mountId}\n`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fdinfo`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8').includes(want)) return true;
      } catch {
        // The fd closed meanwhile.
      }
    }
  }
  return false;
}

/** The line a daemon child writes on its report pipe. */
export function reportReady(fd: number, text: string): void {
  try {
    writeSync(fd, text);
    closeSync(fd);
  } catch {
    // The parent is gone: nothing to report to.
  }
}

/**
 * `--daemon`: starts this same command detached (`args` plus `--ready-fd 3`), its stdout and
 * stderr appended to `logPath`, and waits for the child to say "ready" (or why not).
 */
export async function spawnDaemon(args: string[], logPath: string, input?: Buffer): Promise<{ code: number; pid: number; message: string | null }> {
  const out = openSync(logPath, 'a');
  const child = spawn(process.execPath, [...process.execArgv, ...args, '--ready-fd', '3'], {
    detached: true,
    // `input` (keys typed before detaching) goes through a pipe: never argv, environment or log.
    stdio: [input ? 'pipe' : 'ignore', out, out, 'pipe'],
  });
  closeSync(out);
  if (input && child.stdin) {
    child.stdin.on('error', () => undefined);
    child.stdin.end(input);
  }
  const pipe = child.stdio[3] as NodeJS.ReadableStream;
  let text = '';
  pipe.setEncoding('utf8');
  pipe.on('data', (d: string) => (text += d));
  const exited = new Promise<number>((res) => child.once('exit', (c, s) => res(c ?? (s ? 128 : 1))));
  await new Promise<void>((res) => pipe.once('end', res).once('close', res));
  if (text.startsWith('ready')) {
    child.unref();
    (pipe as unknown as { destroy(): void }).destroy();
    return { code: ExitCode.ok, pid: child.pid ?? 0, message: null };
  }
  const m = /^error\t(\d+)\t(.*)/.exec(text);
  if (m) return { code: Number(m[1]), pid: child.pid ?? 0, message: m[2]! };
  const c = await exited;
  // Its last words are in the log (a crash before it could report on the pipe).
  let last = '';
  try {
    last = readFileSync(logPath, 'utf8').trim().split('\n').pop()?.replace(/^diskpick: /, '').slice(0, 300) ?? '';
  } catch {
    // no log
  }
  return { code: c || ExitCode.image, pid: child.pid ?? 0, message: `the mount process exited (status ${c}) before the mount was ready${last ? `: ${last}` : ''} (log: ${logPath})` };
}
