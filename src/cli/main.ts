#!/usr/bin/env node
/**
 * diskpick — open backed-up VM disks read-only and get single files back.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode } from '../errors.js';

type CommandModule = { register(program: Command): void };

/**
 * The package's version, written into the bundle by scripts/bundle.ts: reading package.json
 * at every start (open, read, JSON.parse, a file URL) was work for a string shown by
 * --version alone (issue 27). The tsc output (tests) reads package.json.
 */
declare const __DISKPICK_VERSION__: string | undefined;

function packageVersion(): string {
  if (typeof __DISKPICK_VERSION__ === 'string') return __DISKPICK_VERSION__;
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

/**
 * Each command's module, in help order, loaded only when needed: a command pulls in the
 * image formats, filesystems and libraries behind it, and loading all of them made every
 * run (even --version) ~120 ms slower than bare node. A name that is not here loads all
 * of them, so help, suggestions and new commands still work, only slower.
 */
const commandModules: [names: string[], load: () => Promise<CommandModule>][] = [
  [['info'], () => import('./commands/info.js')],
  [['ls'], () => import('./commands/ls.js')],
  [['find'], () => import('./commands/find.js')],
  [['cat'], () => import('./commands/cat.js')],
  [['extract'], () => import('./commands/extract.js')],
  [['dd'], () => import('./commands/dd.js')],
  [['mount', 'umount', 'unmount'], () => import('./commands/mount.js')],
  [['browse'], () => import('./commands/browse.js')],
  [['serve'], () => import('./commands/serve.js')],
  [['versions'], () => import('./commands/versions.js')],
  [['diff'], () => import('./commands/diff.js')],
];

/** Global options that take a value (the next argument is not the command name). */
const VALUE_OPTIONS = new Set(['--parent-dir', '--disk', '--passphrase-file', '--key-file', '--recovery-password', '--bek', '--header', '--http-header', '--endpoint', '--region', '--cache-size', '--cache']);

/**
 * The command modules this command line needs: the named command's, none for a bare
 * --version, and all of them for help or anything unrecognised.
 */
function modulesFor(args: string[]): (() => Promise<CommandModule>)[] {
  const all = commandModules.map(([, load]) => load);
  const end = args.indexOf('--');
  const opts = end < 0 ? args : args.slice(0, end);
  if (opts.includes('-h') || opts.includes('--help')) return all;
  let name: string | undefined;
  for (let i = 0; i < args.length && name === undefined; i++) {
    const a = args[i]!;
    if (a === '--') name = args[i + 1];
    else if (!a.startsWith('-') || a === '-') name = a;
    else if (VALUE_OPTIONS.has(a)) i++;
  }
  if (name === undefined) return opts.includes('-V') || opts.includes('--version') ? [] : all;
  const named = commandModules.find(([names]) => names.includes(name));
  return named ? [named[1]] : all;
}

/** Commander's message as our one line, with where to look for help (the command's own help). */
function usageLine(str: string, command?: string): string {
  return `${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see diskpick ${command ? `${command} ` : ''}--help)`;
}

async function main(): Promise<void> {
  const program = new Command();
  program
    .name('diskpick')
    .description('Open backed-up virtual machine disks (raw, VMDK, VHD, VHDX, QCOW2, VDI) read-only and restore single files.\nPaths inside an image start with the volume: /p1/…, /p2/… (/p0 for a disk without partitions), /VG/LV/… for LVM logical volumes.')
    .version(packageVersion(), '-V, --version')
    .option('--debug', 'show stack traces for errors')
    .option('--no-verify', 'read file data without checking its checksums (Btrfs)')
    .addOption(new Option('--parent-dir <dir>', 'also allow parent/extent files from this folder, and look there for a parent by its file name when its recorded path does not exist (repeatable)').argParser((v: string, prev: string[] = []) => [...prev, v]))
    .option('--passphrase-file <file>', 'encrypted volumes (LUKS, BitLocker password): the passphrase, first line of FILE (or DISKPICK_PASSPHRASE; asked on a terminal otherwise)')
    .option('--key-file <file>', 'encrypted volumes (LUKS): a key file, every byte of it')
    .option('--header <file>', 'LUKS: the detached header of an encrypted volume')
    .option('--recovery-password <digits>', 'BitLocker: the 48-digit recovery password (or DISKPICK_RECOVERY_PASSWORD)')
    .option('--bek <file>', 'BitLocker: a startup key file (.BEK)')
    .option('--ignore-parent-id', 'read a differencing image over a parent whose identity (UUID, CID) does not match, with a warning, instead of refusing it')
    .option('--orphans', 'also show files in use that no folder lists, under /pN/$Orphans/ (NTFS, ext)')
    .addOption(new Option('--sector-size <bytes>', 'read the partition table with this logical sector size instead of detecting it (a 4Kn disk: 4096)').choices(['512', '4096']))
    .addOption(new Option('--disk <image>', 'a further disk of the same machine, opened with the image (a VG over several disks; repeatable; shown as /disk2, /disk3 …)').argParser((v: string, prev: string[] = []) => [...prev, v]))
    .addOption(new Option('--http-header <header>', 'images by URL: send this HTTP header ("Name: value", e.g. an Authorization header; repeatable)').argParser((v: string, prev: string[] = []) => [...prev, v]))
    .option('--insecure', 'images by https URL: accept a certificate that cannot be verified (self-signed)')
    .option('--endpoint <url>', 's3:// images: an S3-compatible store (MinIO, Ceph RGW, …); also AWS_ENDPOINT_URL')
    .option('--region <region>', 's3:// images: the region to ask first (found from S3 otherwise)')
    .addOption(new Option('--cache-size <MiB>', 'images by URL: most memory for fetched blocks (default 256)').argParser((v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 8 || n > 65536) throw new InvalidArgumentError('--cache-size takes MiB, 8 to 65536');
      return n;
    }))
    .option('--cache <dir>', 'compressed backups (.vma.zst, .vma.lzo, .vma.gz, gzipped OVA disks): keep the random-access cache of the one decompressing pass in DIR and reuse it next time (default: a temporary one, removed on exit)')
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`diskpick: ${usageLine(str)}\n`) })
    .hook('preAction', async (cmd) => (await import('./run.js')).setDebug(!!cmd.optsWithGlobals().debug))
    .hook('preAction', async (cmd) => (await import('../source/stream-cache.js')).configureStreamCacheFromCli(cmd.optsWithGlobals().cache as string | undefined));

  for (const load of modulesFor(process.argv.slice(2))) (await load()).register(program);
  program
    .command('completion')
    .description('print a shell completion script (commands, options, paths inside the image)')
    .argument('<shell>', 'bash, zsh or fish')
    .addHelpText('after', '\nExamples:\n  diskpick completion bash > /usr/share/bash-completion/completions/diskpick\n  source <(diskpick completion zsh)\n  diskpick completion fish > ~/.config/fish/completions/diskpick.fish')
    .action(async (shell: string) => {
      const { completionScript } = await import('./complete.js');
      const { runCommand, writeStdout } = await import('./run.js');
      await runCommand(() => writeStdout(completionScript(shell)));
    });
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: (str, write) => write(`diskpick: ${usageLine(str, c.name())}\n`) });

  // Hidden: the completion scripts' helper and the man page generator (scripts/man.ts).
  const hidden = process.argv[2];
  if (hidden === '__complete' || hidden === '__man') {
    const { hiddenCommand } = await import('./hidden.js');
    process.exitCode = await hiddenCommand(program, hidden, process.argv.slice(3));
    return;
  }

  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exit(err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? ExitCode.ok : ExitCode.usage);
    }
    throw err;
  }
}

// An error that gets here is a bug: Node prints it with its stack and exits 1.
void main();
