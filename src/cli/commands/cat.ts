import type { Command } from 'commander';
import { DiskpickError, ExitCode } from '../../errors.js';
import { compileGlob, expandGlob, hasGlob } from '../../restore/glob.js';
import { pumpData } from '../../source/chunks.js';
import type { Vfs, VfsNode } from '../../vfs/vfs.js';
import { quietOnEpipe, refuseStdoutInput, reportError, runCommand, withImage, writeStdout, type GlobalOptions } from '../run.js';
import { withPath } from './ls.js';

/** Zeros for holes, shared by every write (stdout is done with a chunk before the next). */
const ZEROS = Buffer.alloc(1 << 20);

export function register(program: Command): void {
  program
    .command('cat')
    .description('write a file’s content (or one of its streams) to stdout')
    .argument('<image>', 'disk image')
    .argument('<path>', 'file inside the image, e.g. /p2/Users/anna/report.docx or /p2/file.txt:stream; a glob concatenates every matching file')
    .addHelpText('after', "\nExamples:\n  diskpick cat disk.vmdk /p2/Windows/System32/drivers/etc/hosts\n  diskpick cat disk.img /p1/photo.jpg > photo.jpg\n  diskpick cat disk.vhdx '/p2/logs/*.log' | grep ERROR\n  diskpick cat disk.vhdx /p2/doc.txt:Zone.Identifier")
    .action((image: string, path: string, _opts: unknown, cmd: Command) =>
      runCommand(() => withImage(image, cmd.optsWithGlobals<GlobalOptions>(), (vfs) => catCommand(vfs, path))),
    );
}

async function writeOut(vfs: Vfs, node: VfsNode, stream?: string): Promise<void> {
  const src = await vfs.openFile(node, stream);
  try {
    // Holes are written from one buffer of zeros, never read: at memory speed (issue 26).
    await pumpData(src, writeStdout, async (_at, length) => {
      for (let done = 0; done < length; done += ZEROS.length) await writeStdout(ZEROS.subarray(0, Math.min(ZEROS.length, length - done)));
    });
  } finally {
    await src.close();
  }
}

export async function catCommand(vfs: Vfs, path: string): Promise<number> {
  refuseStdoutInput();
  quietOnEpipe();
  let target: { node: VfsNode; stream?: string };
  try {
    target = await vfs.lookupWithStream(path);
  } catch (err) {
    if (!(err instanceof DiskpickError) || err.kind !== 'notFound' || !hasGlob(path)) throw err;
    // A glob: every matching regular file, in listing order (folders and links are reported).
    let failures = 0;
    let any = false;
    const onError = (p: string, e: unknown) => {
      failures++;
      reportError(withPath(e, vfs, p));
    };
    for await (const m of expandGlob(vfs, compileGlob(path), { onError })) {
      any = true;
      try {
        await writeOut(vfs, m);
      } catch (e) {
        onError(m.path, e);
      }
    }
    if (!any) throw new DiskpickError('notFound', 'no match in the image', path);
    return failures ? ExitCode.partial : ExitCode.ok;
  }
  await writeOut(vfs, target.node, target.stream);
  return ExitCode.ok;
}
