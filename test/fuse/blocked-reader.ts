/**
 * Run by test/fuse/fat.test.ts in its own process: mounts IMAGE on MNT through diskpick's
 * libfuse3 binding in this very process, opens FILE on the mount, then reads it with readSync
 * on the JavaScript thread. While that thread is blocked in read(2), nothing can answer a
 * request that needs JavaScript: the read completes only if the binding serves it by itself
 * (the file's host runs). Prints the sha256 of what it read; hangs otherwise (the test kills it).
 */
import { createHash } from 'node:crypto';
import { readSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { Vfs } from '../../src/vfs/vfs.js';
import { FuseFs } from '../../src/fuse/ops.js';
import { loadFuse3, mountFuse3 } from '../../src/fuse/fuse3.js';

const [image, mnt, file] = process.argv.slice(2) as [string, string, string];
const b = loadFuse3();
if ('unavailable' in b) throw new Error(b.unavailable);
const vfs = await Vfs.open(image);
const fsys = new FuseFs(vfs, { uid: 0, gid: 0, umask: null, log: (l) => process.stderr.write(`${l}\n`) });
mountFuse3(b, mnt, ['-o', 'ro,kernel_cache'], fsys);
try {
  // Lookup and open need JavaScript: asynchronous, so this thread is free to answer them.
  const fh = await open(`${mnt}${file}`, 'r');
  const h = createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  for (let pos = 0; ; ) {
    const n = readSync(fh.fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    pos += n;
  }
  process.stdout.write(`${h.digest('hex')}\n`);
  await fh.close();
} finally {
  spawnSync('fusermount', ['-uz', mnt]);
}
process.exit(0);
