import type { Command } from 'commander';
import { chunksOf } from '../../source/chunks.js';
import { quietOnEpipe, runCommand, withImage, type GlobalOptions } from '../run.js';

export function register(program: Command): void {
  program
    .command('cat')
    .description('write a file’s content (or one of its streams) to stdout')
    .argument('<image>', 'disk image')
    .argument('<path>', 'file inside the image, e.g. /p2/Users/anna/report.docx or /p2/file.txt:stream')
    .addHelpText('after', '\nExamples:\n  diskpick cat disk.vmdk /p2/Windows/System32/drivers/etc/hosts\n  diskpick cat disk.img /p1/photo.jpg > photo.jpg')
    .action((image: string, path: string, _opts: unknown, cmd: Command) =>
      runCommand(() =>
        withImage(image, cmd.optsWithGlobals<GlobalOptions>(), async (vfs) => {
          quietOnEpipe();
          const { node, stream } = await vfs.lookupWithStream(path);
          const src = await vfs.openFile(node, stream);
          try {
            for await (const chunk of chunksOf(src)) {
              if (!process.stdout.write(chunk)) {
                await new Promise<void>((resolve) => process.stdout.once('drain', resolve));
              }
            }
          } finally {
            await src.close();
          }
        }),
      ),
    );
}
