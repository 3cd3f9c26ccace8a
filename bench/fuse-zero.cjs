// The floor of a fuse-native mount on this machine: one file whose reads fill nothing, answered
// the way `diskpick mount` answers reads (straight to the binding, no per-request glue). A `dd`
// through it costs only the kernel <-> libfuse2 <-> JavaScript round trip of each 128 KiB
// request (libfuse2's largest), which no filesystem behind the mount can go below.
// Usage: node bench/fuse-zero.cjs MOUNTPOINT SIZE   (prints "ready" once mounted; SIGTERM unmounts)
'use strict';
const path = require('node:path');
const Fuse = require('fuse-native');
const binding = require(require.resolve('node-gyp-build', { paths: [path.dirname(require.resolve('fuse-native'))] }))(path.dirname(require.resolve('fuse-native/package.json')));

const [mnt, sizeArg] = process.argv.slice(2);
const size = Number(sizeArg);
const t = Date.now();
const dir = { mtime: t, atime: t, ctime: t, size: 4096, mode: 0o40555, uid: 0, gid: 0, nlink: 2 };
const file = { mtime: t, atime: t, ctime: t, size, mode: 0o100444, uid: 0, gid: 0, nlink: 1 };

class ZeroFuse extends Fuse {
  _makeHandlerArray() {
    const handlers = super._makeHandlerArray();
    handlers[binding.op_read] = (native, _op, _path, _fd, buf, len, posLow, posHigh) => {
      const n = Math.max(0, Math.min(len, size - (posHigh * 4294967296 + posLow)));
      // Answered from a microtask, as diskpick's reads are (they finish in a promise).
      Promise.resolve().then(() => binding.fuse_native_signal_read(native, n, 0, buf.buffer));
    };
    return handlers;
  }
}

const ops = {
  getattr: (p, cb) => (p === '/' ? cb(0, dir) : p === '/zero' ? cb(0, file) : cb(Fuse.ENOENT)),
  readdir: (p, cb) => cb(0, p === '/' ? ['zero'] : []),
  open: (_p, _flags, cb) => cb(0, 1),
  release: (_p, _fd, cb) => cb(0),
  read: (_p, _fd, _buf, len, _pos, cb) => cb(len),
};
const fuse = new ZeroFuse(mnt, ops, { timeout: false });
fuse._fuseOptions = () => '-oro,kernel_cache,max_read=131072';
fuse.mount((err) => {
  if (err) {
    process.stderr.write(`mount failed: ${err.message}\n`);
    process.exit(1);
  }
  process.stdout.write('ready\n');
});
process.on('SIGTERM', () => fuse.unmount(() => process.exit(0)));
