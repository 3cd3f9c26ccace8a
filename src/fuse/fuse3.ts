/**
 * The mount through diskpick's own libfuse3 binding (src/fuse/native/fuse3.c, built by
 * scripts/native.ts): 1 MiB reads, and files whose bytes lie in host files as they are (raw
 * images, uncompressed files) read by libfuse's threads without a trip through JavaScript.
 * Everything else is asked of FuseFs here, with the same answers fuse-native gets.
 * Where the binding was not built (no compiler or libfuse3-dev at install), or libfuse3 is
 * missing, the mount uses fuse-native (libfuse2) instead: see mount.ts.
 */
import { createRequire } from 'node:module';
import { addonPath } from '../source/addon.js';
import type { FuseFs } from './ops.js';
import { Errno } from './errno.js';
import { corrupt } from '../errors.js';

/** Operation numbers, as src/fuse/native/fuse3.c numbers them (enum op). */
const Op = { getattr: 0, readdir: 1, open: 2, read: 3, release: 4, readlink: 5, statfs: 6, getxattr: 7, listxattr: 8, log: 9, lseek: 10 } as const;

type Dispatch = (op: number, id: number, path: string, a?: unknown, b?: unknown, c?: unknown, d?: unknown) => void;

export interface Fuse3Binding {
  /** Mounts and starts serving; throws when libfuse refuses (its reason is on stderr). */
  mount(mountpoint: string, args: string[], dispatch: Dispatch): void;
  /** The answer to request `id` (see reply() in fuse3.c for what each operation takes). */
  reply(id: number, result: number, a?: unknown, b?: unknown): void;
  /** A folder's listing made ahead of the walker, and its stat, for libfuse's threads to answer from; false when refused. */
  offer(path: string, names: string, modeIno: Uint32Array, stat: Uint32Array): boolean;
}


/** The binding, or why it cannot be used (then the mount uses fuse-native). */
export function loadFuse3(): Fuse3Binding | { unavailable: string } {
  const path = addonPath('fuse3');
  if (!path) return { unavailable: 'the libfuse3 binding was not built (needs gcc and libfuse3-dev at install)' };
  try {
    return createRequire(import.meta.url)(path) as Fuse3Binding;
  } catch (err) {
    const msg = ((err as Error).message ?? String(err)).split('\n')[0]!;
    return { unavailable: /libfuse3\.so/.test(msg) ? 'libfuse3 is not installed (Debian package libfuse3-3, a dependency of fuse3)' : `cannot load the libfuse3 binding: ${msg}` };
  }
}

/** Serves `fsys` on `mountpoint` through the binding; mount options as libfuse3 spells them. */
export function mountFuse3(b: Fuse3Binding, mountpoint: string, options: string[], fsys: FuseFs): void {
  const reply = b.reply;
  const fail = (id: number, op: string, path: string) => (err: unknown) => reply(id, fsys.errnoOf(op, path, err));
  const dispatch: Dispatch = (op, id, path, a, c, d, e) => {
    try {
      switch (op) {
        case Op.getattr:
          fsys.answerGetattr(path, (err, words) => reply(id, err, words));
          return;
        case Op.readdir:
          fsys.readdir(path).then((l) => reply(id, 0, l.joined, l.modeIno), fail(id, 'readdir', path));
          return;
        case Op.open:
          fsys.open(path, a as number).then(async (fh) => {
            if (fh < 0) return reply(id, fh);
            reply(id, 0, fh, await fsys.hostRuns(fh));
          }).catch(fail(id, 'open', path));
          return;
        case Op.read:
          fsys.read(a as number, c as Buffer, d as number, e as number).then((n) => reply(id, n), fail(id, 'read', path));
          return;
        case Op.release:
          fsys.release(a as number).then(() => reply(id, 0), () => reply(id, 0));
          return;
        case Op.readlink:
          fsys.readlink(path).then((t) => reply(id, 0, t), fail(id, 'readlink', path));
          return;
        case Op.statfs: {
          const s = fsys.statfs();
          reply(id, 0, Float64Array.of(s.bsize, s.frsize, s.blocks, s.bfree, s.bavail, s.files, s.ffree, s.favail, s.fsid, s.flag, s.namemax));
          return;
        }
        case Op.getxattr:
          fsys.getxattr(path, a as string).then((v) => (typeof v === 'number' ? reply(id, v) : reply(id, 0, v)), fail(id, 'getxattr', path));
          return;
        case Op.listxattr:
          fsys.listxattr(path).then((names) => reply(id, 0, Buffer.from(names.map((n) => `${n}\0`).join(''))), fail(id, 'listxattr', path));
          return;
        case Op.lseek:
          fsys.lseek(a as number, c as number, d as number).then((at) => (at < 0 ? reply(id, at) : reply(id, 0, at)), fail(id, 'lseek', path));
          return;
        case Op.log:
          // A read the binding served itself failed (it answered EIO): one line, as for ours.
          fsys.errnoOf('read', path, corrupt(fsys.imageName, a as string));
          return;
        default:
          reply(id, Errno.EIO);
      }
    } catch (err) {
      reply(id, fsys.errnoOf('request', path, err));
    }
  };
  b.mount(mountpoint, options, dispatch);
  fsys.ahead.offer = (path, l, st) => b.offer(path, l.joined, l.modeIno, st);
}
