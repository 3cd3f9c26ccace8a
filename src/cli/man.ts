/**
 * The man page, diskpick(1), written from the commander definitions (every command, argument
 * and option, as --help shows them) with the sections a man page has around them. `npm run
 * build` (through `npm run man`) writes man/diskpick.1, which package.json's "man" installs;
 * being generated, it cannot drift from the commands.
 */
import type { Command, Option } from 'commander';
import { ExitCode } from '../errors.js';

/** Text as roff shows it: backslashes doubled, a leading "." or "'" guarded, dashes kept as typed. */
function roff(s: string): string {
  return s
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

function optionItem(o: Option): string {
  const def = o.defaultValue !== undefined && o.defaultValue !== false && o.defaultValue !== true ? ` (default: ${JSON.stringify(o.defaultValue)})` : '';
  return `.TP\n.B ${roff(o.flags)}\n${roff(o.description + def)}\n`;
}

function usageOf(c: Command): string {
  return `${c.name()} ${c.usage()}`.trim();
}

function helpAfter(c: Command): string {
  // Text added with addHelpText('after') (examples, notes): what --help prints after the help itself.
  let text = '';
  const saved = c.configureOutput();
  c.configureOutput({ ...saved, writeOut: (s: string) => void (text += s), writeErr: () => undefined });
  try {
    c.outputHelp();
  } finally {
    c.configureOutput(saved);
  }
  const help = c.helpInformation();
  return text.startsWith(help) ? text.slice(help.length).trim() : '';
}

const EXIT: [number, string][] = [
  [ExitCode.ok, 'everything done'],
  [ExitCode.partial, 'partial: some files failed (listed on standard error), the rest were done'],
  [ExitCode.usage, 'usage: wrong command line'],
  [ExitCode.image, 'the image, or a file it references, cannot be opened or parsed'],
  [ExitCode.notFound, 'a path is not in the image, or a glob matched nothing'],
  [ExitCode.wrongType, 'a folder where a file is needed, or the reverse'],
  [ExitCode.unsupported, 'the image uses a feature diskpick does not read, or a key is wrong or missing'],
  [ExitCode.output, 'the output cannot be written'],
  [130, 'interrupted'],
];

export function manPage(program: Command): string {
  const cmds = program.commands.filter((c) => !c.name().startsWith('__'));
  const out: string[] = [];
  out.push(`.TH DISKPICK 1 "" "diskpick ${program.version() ?? ''}" "User Commands"`);
  out.push('.SH NAME', `diskpick \\- ${roff('open backed-up virtual machine disks read-only and restore single files')}`);
  out.push('.SH SYNOPSIS');
  for (const c of cmds) out.push(`.B diskpick\n${roff(usageOf(c))}\n.br`);
  out.push('.SH DESCRIPTION', roff(program.description()));
  out.push('.PP', roff('Windows paths are accepted as Windows admins type them: \\p2\\Users, p2\\Users, and drive letters C:\\Users or C:/Users, which name the volume the Windows installation on the disk gives that letter (diskpick info lists them). In a path written with backslashes, a glob character is made literal with brackets ([*]); in a path with "/", "\\" escapes it.'));
  out.push('.SH GLOBAL OPTIONS');
  for (const o of program.options) if (!o.hidden) out.push(optionItem(o).trimEnd());
  out.push('.SH COMMANDS');
  for (const c of cmds) {
    out.push(`.SS ${roff(usageOf(c))}`, roff(c.description()));
    const args = c.registeredArguments;
    if (args.length) {
      out.push('.PP\nArguments:');
      for (const a of args) out.push(`.TP\n.I ${roff(a.name())}\n${roff(a.description || '')}`);
    }
    const opts = c.options.filter((o) => !o.hidden);
    if (opts.length) {
      out.push('.PP\nOptions:');
      for (const o of opts) out.push(optionItem(o).trimEnd());
    }
    const after = helpAfter(c);
    if (after) out.push('.PP', '.nf', roff(after), '.fi');
  }
  out.push('.SH EXIT STATUS');
  for (const [code, what] of EXIT) out.push(`.TP\n.B ${code}\n${roff(what)}`);
  out.push('.SH ENVIRONMENT');
  out.push('.TP\n.B TZ\nTimes in listings are local time in this zone (\\-\\-utc for UTC); JSON always carries UTC.');
  out.push('.TP\n.B DISKPICK_PASSPHRASE, DISKPICK_RECOVERY_PASSWORD\nKeys for LUKS and BitLocker volumes.');
  out.push('.SH SEE ALSO', 'Shell completion: \\fBdiskpick completion bash|zsh|fish\\fR. Documentation: README.md and docs/cli.md of the package.');
  return `${out.join('\n')}\n`;
}
