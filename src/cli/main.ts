#!/usr/bin/env node
/**
 * diskpick — open backed-up VM disks read-only and get single files back.
 */
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { ExitCode } from '../errors.js';
import { setDebug } from './run.js';
import { register as registerInfo } from './commands/info.js';
import { register as registerLs } from './commands/ls.js';
import { register as registerCat } from './commands/cat.js';
import { register as registerExtract } from './commands/extract.js';
import { register as registerDd } from './commands/dd.js';
import { register as registerBrowse } from './commands/browse.js';
import { register as registerMount } from './commands/mount.js';
import { register as registerFind } from './commands/find.js';
// commands:

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** Commander's message as our one line, with where to look for help. */
function usageLine(str: string): string {
  return `${str.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ').trim()} (see diskpick --help)`;
}

const program = new Command();
program
  .name('diskpick')
  .description('Open backed-up virtual machine disks (raw, VMDK, VHD, VHDX, QCOW2, VDI) read-only and restore single files.\nPaths inside an image start with the volume: /p1/…, /p2/… (/p0 for a disk without partitions).')
  .version(pkg.version, '-V, --version')
  .option('--debug', 'show stack traces for errors')
  .addOption(new Option('--parent-dir <dir>', 'also allow parent/extent files from this folder (repeatable)').argParser((v: string, prev: string[] = []) => [...prev, v]))
  .exitOverride()
  .configureOutput({ outputError: (str, write) => write(`diskpick: ${usageLine(str)}\n`) })
  .hook('preAction', (cmd) => setDebug(!!cmd.optsWithGlobals().debug));

for (const register of [registerInfo, registerLs, registerFind, registerCat, registerExtract, registerDd, registerMount, registerBrowse]) register(program);
for (const c of program.commands) c.exitOverride().configureOutput({ outputError: (str, write) => write(`diskpick: ${usageLine(str)}\n`) });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exit(err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? ExitCode.ok : ExitCode.usage);
  }
  throw err;
}
