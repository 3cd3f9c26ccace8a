#!/usr/bin/env node
/**
 * diskpick — open backed-up VM disks read-only and get single files back.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../errors.js';

type CommandModule = { register(program: Command): void };

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
];

/** Global options that take a value (the next argument is not the command name). */
const VALUE_OPTIONS = new Set(['--parent-dir']);

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

/** Commander's message as our one line, with where to look for help. */
function usageLine(str: string): string {
  return `${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see diskpick --help)`;
}

async function main(): Promise<void> {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  const program = new Command();
  program
    .name('diskpick')
    .description('Open backed-up virtual machine disks (raw, VMDK, VHD, VHDX, QCOW2, VDI) read-only and restore single files.\nPaths inside an image start with the volume: /p1/…, /p2/… (/p0 for a disk without partitions).')
    .version(pkg.version, '-V, --version')
    .option('--debug', 'show stack traces for errors')
    .addOption(new Option('--parent-dir <dir>', 'also allow parent/extent files from this folder (repeatable)').argParser((v: string, prev: string[] = []) => [...prev, v]))
    .exitOverride()
    .configureOutput({ outputError: (str, write) => write(`diskpick: ${usageLine(str)}\n`) })
    .hook('preAction', async (cmd) => (await import('./run.js')).setDebug(!!cmd.optsWithGlobals().debug));

  for (const load of modulesFor(process.argv.slice(2))) (await load()).register(program);
  for (const c of program.commands) c.exitOverride().configureOutput({ outputError: (str, write) => write(`diskpick: ${usageLine(str)}\n`) });

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
