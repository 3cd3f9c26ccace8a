import type { Command } from 'commander';
import { DiskpickError, ExitCode } from '../../errors.js';
import { runCommand, withImage, type GlobalOptions } from '../run.js';
import { keysFromOptions } from '../secrets.js';

export function register(program: Command): void {
  program
    .command('browse')
    .description('full-screen browser: look around the image, preview files, pick some and restore them')
    .argument('<image>', 'disk image')
    .argument('[path]', 'folder inside the image to start in', '/')
    .addHelpText('after', '\nKeys: arrows/jk move, Enter open, ← up, / filter, Space select, p preview, i image, e restore, ? help, q quit.\nExample:\n  diskpick browse disk.vmdk')
    .action((image: string, path: string, _opts: unknown, cmd: Command) =>
      runCommand(async () => {
        if (!process.stdin.isTTY || !process.stdout.isTTY) {
          throw new DiskpickError('usage', `browse needs an interactive terminal; to list files use: diskpick ls ${quoteArg(image)} ${path === '/' ? '' : quoteArg(path)}`.trimEnd());
        }
        // The TUI (Ink, React) is loaded only when it is used: the other commands start faster.
        // React picks its build when first loaded: the production one, unless asked otherwise.
        process.env.NODE_ENV ??= 'production';
        // Ink draws only a final frame when CI or CONTINUOUS_INTEGRATION is set (it reads them
        // once, at import). We have just checked for a real terminal: draw interactively.
        delete process.env.CI;
        delete process.env.CONTINUOUS_INTEGRATION;
        // No prompt before the browser starts: a locked volume asks for its key when opened.
        const g = cmd.optsWithGlobals<GlobalOptions>();
        // Loaded while the image is opened: both wait on the disk at times.
        const tui = import('../../tui/browse.js');
        tui.catch(() => {}); // its failure is reported where it is awaited
        const how = await withImage(image, g, async (vfs) => {
          const { runBrowse, colorWanted } = await tui;
          return runBrowse(vfs, { cwd: process.cwd(), color: colorWanted(), start: path === '/' ? undefined : path });
        }, { keys: keysFromOptions(g) });
        return how === 'interrupt' ? ExitCode.interrupted : ExitCode.ok;
      }),
    );
}

function quoteArg(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
