/**
 * `diskpick mount IMAGE MOUNTPOINT` (read-only FUSE, foreground unless --daemon) and
 * `diskpick umount MOUNTPOINT` (lazy: works on busy and on stale mounts).
 */
import { displayImageName } from '../../container/remote-open.js';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { readFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { DiskpickError, ExitCode } from '../../errors.js';
import { findMount, lazyUnmount, realPath, reportReady, serveMount, spawnDaemon } from '../../fuse/mount.js';
import { runCommand, vfsOptions, writeStdout, type GlobalOptions } from '../run.js';
import { newMountLog } from '../mount-log.js';
import { keysFromOptions, terminalAsker } from '../secrets.js';
import { Vfs } from '../../vfs/vfs.js';
import { hasKeys, type VolumeKeys } from '../../volume/crypt/keys.js';

interface MountOptions {
  options?: string;
  uid?: number;
  gid?: number;
  umask?: number;
  daemon?: boolean;
  log?: string;
  readyFd?: number;
  keysStdin?: boolean;
}

function intArg(what: string, max: number, base = 10) {
  return (v: string): number => {
    const n = base === 8 ? (/^[0-7]{1,4}$/.test(v) ? parseInt(v, 8) : NaN) : /^\d+$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n) || n > max) throw new InvalidArgumentError(`${what} must be ${base === 8 ? 'an octal mask like 022' : `a number 0…${max}`}`);
    return n;
  };
}

export function register(program: Command): void {
  program
    .command('mount')
    .description('mount the image read-only as a folder (FUSE): MOUNTPOINT/p1/…, MOUNTPOINT/.raw/{disk,p1,…}')
    .argument('<image>', 'disk image')
    .argument('<mountpoint>', 'an empty folder')
    .option('-o, --options <list>', 'mount options, comma-separated, as for mount(8): allow_other, uid=N, gid=N, umask=MASK, ro (always), nosuid, nodev, noexec, noatime …')
    .option('--uid <n>', 'owner of files on FAT/exFAT/NTFS (default: you)', intArg('--uid', 0xfffffffe))
    .option('--gid <n>', 'group of files on FAT/exFAT/NTFS (default: yours)', intArg('--gid', 0xfffffffe))
    .option('--umask <mask>', 'permissions on FAT/exFAT/NTFS: 0777/0666 minus this (default: 0755 folders, 0644 files)', intArg('--umask', 0o777, 8))
    .option('--daemon', 'run in the background; unmount with `diskpick umount MOUNTPOINT`')
    .option('--log <file>', 'with --daemon: where errors go (default: ~/.local/state/diskpick/mount-MOUNTPOINT.log, or under $XDG_STATE_HOME)')
    .addOption(new Option('--ready-fd <fd>').hideHelp().argParser(intArg('--ready-fd', 1024)))
    .addOption(new Option('--keys-stdin').hideHelp())
    .addHelpText('after', '\nRuns in the foreground until Ctrl-C (or `diskpick umount`). Examples:\n  diskpick mount disk.vmdk /mnt/backup\n  diskpick mount --daemon -o allow_other disk.vhdx /mnt/backup && ls /mnt/backup/p2\n  diskpick umount /mnt/backup')
    .action((image: string, mountpoint: string, opts: MountOptions, cmd: Command) =>
      runCommand(async () => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        let allowOther = false;
        try {
          const o = parseMountOptions(opts.options ?? '');
          allowOther = o.allowOther;
          opts.uid ??= o.uid;
          opts.gid ??= o.gid;
          opts.umask ??= o.umask;
          if (opts.daemon) return await daemonize(image, mountpoint, opts, g);
          const log = (line: string) => process.stderr.write(`diskpick: ${line}\n`);
          const vfs = vfsOptions(g, { prompt: opts.readyFd === undefined });
          if (opts.keysStdin) addTypedKeys(vfs.keys!, readFileSync(0));
          return await serveMount({
            image, mountpoint, allowOther, vfs, debug: false, log,
            uid: opts.uid ?? process.getuid?.() ?? 0,
            gid: opts.gid ?? process.getgid?.() ?? 0,
            umask: opts.umask ?? null,
            onReady: (mnt) => {
              if (opts.readyFd !== undefined) {
                // The daemon child: log, tell the waiting parent, then hold no folder busy. The
                // line before the report: after it, the parent may read the log (a test read it
                // empty on a loaded machine when the line came after).
                log(`mounted ${displayImageName(image)} at ${mnt} (pid ${process.pid})`);
                reportReady(opts.readyFd, 'ready\n');
                process.chdir('/');
              } else {
                log(`mounted ${displayImageName(image)} at ${mnt}; press Ctrl-C or run \`diskpick umount ${mnt}\` to unmount`);
              }
            },
          });
        } catch (err) {
          if (opts.readyFd !== undefined) {
            const code = err instanceof DiskpickError ? err.exitCode : ExitCode.image;
            const line = err instanceof DiskpickError ? err.toLine() : `internal error: ${(err as Error).message}`;
            reportReady(opts.readyFd, `error\t${code}\t${line.replace(/[\r\n\t]+/g, ' ')}\n`);
          }
          throw err;
        }
      }),
    );

  program
    .command('umount')
    .alias('unmount')
    .description('unmount a diskpick mount (lazily: a busy mount goes away once its files are closed)')
    .argument('<mountpoint>', 'the folder given to `diskpick mount`')
    .addHelpText('after', '\nExample:\n  diskpick umount /mnt/backup')
    .action((mountpoint: string) =>
      runCommand(async () => {
        const abs = realPath(mountpoint);
        const m = findMount(abs);
        if (!m) throw new DiskpickError('usage', 'nothing is mounted here', abs);
        if (!m.fstype.startsWith('fuse')) throw new DiskpickError('usage', `not a FUSE mount (${m.fstype}); use umount(8)`, abs);
        await lazyUnmount(abs);
        return ExitCode.ok;
      }),
    );
}

/**
 * `-o` as FUSE and mount(8) users type it (issue 20): allow_other, uid=N, gid=N, umask=MASK
 * mean what they mean to ntfs-3g or sshfs; ro is what every diskpick mount is, and fstab-style
 * flags that change nothing on a read-only mount of files with no devices are accepted.
 */
export function parseMountOptions(list: string): { allowOther: boolean; uid?: number; gid?: number; umask?: number } {
  const out: { allowOther: boolean; uid?: number; gid?: number; umask?: number } = { allowOther: false };
  const harmless = new Set(['ro', 'nosuid', 'nodev', 'noexec', 'noatime', 'nodiratime', 'relatime', 'defaults', 'auto', 'noauto', 'user', 'users', 'nouser', 'nofail', '_netdev', 'default_permissions']);
  for (const o of list.split(',').map((x) => x.trim()).filter(Boolean)) {
    const [k, v] = o.includes('=') ? [o.slice(0, o.indexOf('=')), o.slice(o.indexOf('=') + 1)] : [o, undefined];
    const int = (max: number) => {
      try {
        return intArg(k, max)(v ?? '');
      } catch (err) {
        throw new DiskpickError('usage', `mount option ${o}: ${(err as Error).message}`);
      }
    };
    if (k === 'allow_other' && v === undefined) out.allowOther = true;
    else if (k === 'uid') out.uid = int(0xfffffffe);
    else if (k === 'gid') out.gid = int(0xfffffffe);
    else if (k === 'umask') {
      try {
        out.umask = intArg('umask', 0o777, 8)(v ?? '');
      } catch (err) {
        throw new DiskpickError('usage', `mount option ${o}: ${(err as Error).message}`);
      }
    } else if (k === 'rw') throw new DiskpickError('usage', 'mount option rw: diskpick mounts are read-only (the image never changes)');
    else if (!harmless.has(k) || v !== undefined) {
      throw new DiskpickError('usage', `unknown mount option "${o}" (known: allow_other, uid=N, gid=N, umask=MASK, ro, ${[...harmless].filter((h) => h !== 'ro').join(', ')})`);
    }
  }
  return out;
}

/**
 * With --daemon the mount runs detached, where nobody can be asked: a key for a locked volume is
 * asked here first, on the terminal (the image is opened once for that), and handed to the
 * daemon on its stdin (`--keys-stdin`).
 */
async function askKeysBeforeDetaching(image: string, g: GlobalOptions): Promise<Buffer | undefined> {
  const keys = keysFromOptions(g);
  const ask = terminalAsker();
  if (hasKeys(keys) || !ask) return undefined;
  const typed: Buffer[] = [];
  keys.ask = async (what) => {
    const b = await ask(what);
    if (b && b.length) typed.push(Buffer.from(b));
    return b;
  };
  const vfs = await Vfs.open(image, { ...vfsOptions(g), keys });
  await vfs.close();
  if (!typed.length) return undefined;
  const out = Buffer.from(JSON.stringify(typed.map((b) => b.toString('base64'))));
  for (const b of typed) b.fill(0);
  return out;
}

/** The daemon's side: the answers typed before detaching, as passphrases (and recovery passwords). */
function addTypedKeys(keys: VolumeKeys, input: Buffer): void {
  let list: unknown;
  try {
    list = JSON.parse(input.toString('utf8'));
  } catch {
    list = [];
  }
  input.fill(0);
  for (const s of Array.isArray(list) ? list : []) {
    if (typeof s !== 'string') continue;
    const b = Buffer.from(s, 'base64');
    keys.passphrases.push(b);
    const text = b.toString('utf8');
    if (/^[0-9 -]{48,}$/.test(text)) keys.recoveryPasswords.push(text);
  }
}

async function daemonize(image: string, mountpoint: string, opts: MountOptions, g: GlobalOptions): Promise<number> {
  const typed = await askKeysBeforeDetaching(image, g);
  const mnt = resolve(mountpoint);
  const logPath = opts.log ? resolve(opts.log) : newMountLog(mnt);
  // Same command line without --daemon; paths made absolute because the child leaves the folder.
  const argv = process.argv.slice(1).filter((a) => a !== '--daemon');
  const iImage = argv.lastIndexOf(image);
  const iMnt = argv.lastIndexOf(mountpoint);
  // An image by URL stays as given (resolve() made http://h/x into CWD/http:/h/x).
  if (iImage >= 0 && !/^(https?|s3):\/\//i.test(image)) argv[iImage] = resolve(image);
  if (iMnt >= 0) argv[iMnt] = mnt;
  // Further disks are opened by the daemon too, from wherever it runs.
  argv.forEach((a, i) => {
    const local = (d: string) => (/^(https?|s3):\/\//i.test(d) ? d : resolve(d));
    if (a === '--disk' && argv[i + 1] !== undefined) argv[i + 1] = local(argv[i + 1]!);
    else if (a.startsWith('--disk=')) argv[i] = `--disk=${local(a.slice(7))}`;
  });
  const r = await spawnDaemon(typed ? [...argv, '--keys-stdin'] : argv, logPath, typed);
  typed?.fill(0);
  // A reported failure was printed: its log goes (one that names the log is kept).
  if (r.code !== ExitCode.ok && !opts.log && !r.message?.includes(logPath)) rmSync(logPath, { force: true });
  if (r.code !== ExitCode.ok) {
    process.stderr.write(`diskpick: ${r.message ?? 'mount failed'}\n`);
    return r.code;
  }
  void writeStdout(`mounted ${displayImageName(image)} at ${mnt} (pid ${r.pid}, log ${logPath})\nunmount with: diskpick umount ${mnt}\n`);
  return ExitCode.ok;
}

