/**
 * Commands no user types: `diskpick __complete INDEX WORD…` (for the completion scripts of
 * src/cli/complete.ts) and `diskpick __man` (the man page, src/cli/man.ts). They run outside
 * commander's parsing, which would take the completed words for options of their own.
 */
import type { Command } from 'commander';
import { completionFor, imageCandidates } from './complete.js';
import { manPage } from './man.js';
import { Vfs } from '../vfs/vfs.js';
import { vfsOptions, writeStdout } from './run.js';

export async function hiddenCommand(program: Command, name: string, args: string[]): Promise<number> {
  if (name === '__man') {
    void writeStdout(manPage(program));
    return 0;
  }
  const index = Number(args[0]);
  const words = args.slice(1);
  if (!Number.isInteger(index) || index < 1) return 2;
  const c = completionFor(program, words, index);
  let lines: string[];
  if (c.kind === 'files') lines = [':files'];
  else if (c.kind === 'dirs') lines = [':dirs'];
  else if (c.kind === 'words') lines = c.words;
  else {
    try {
      lines = await imageCandidates(c.image, c.prefix, async (image) => {
        const vfs = await Vfs.open(image, vfsOptions({}));
        return {
          lookup: (p) => vfs.lookup(p),
          listNames: async (p) => {
            const l = await vfs.readdirNames(await vfs.lookup(p));
            return l.names.map((n, i) => ({ name: n, dir: l.types[i] === 'dir' }));
          },
          close: () => vfs.close(),
        };
      });
    } catch {
      // No image yet, a locked volume, a path not there: nothing to offer.
      lines = [];
    }
  }
  void writeStdout(lines.length ? `${lines.join('\n')}\n` : '');
  return 0;
}
