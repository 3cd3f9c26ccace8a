/**
 * The answer the kernel gets when an operation fails: a negated Linux errno, and one log line
 * for anything that is not an ordinary outcome of a lookup (a thrown error never kills the mount).
 */
import { DiskpickError } from '../errors.js';
import { escapeText } from '../escape.js';

/** errno values (Linux), negated as fuse-native wants them. */
export const Errno = {
  EPERM: -1,
  ENOENT: -2,
  EIO: -5,
  EBADF: -9,
  EACCES: -13,
  ENOTDIR: -20,
  EISDIR: -21,
  EINVAL: -22,
  E2BIG: -7,
  EROFS: -30,
  ERANGE: -34,
  ENODATA: -61,
  ENXIO: -6,
  EOPNOTSUPP: -95,
} as const;

/** errno for an error; writes one line to `log` unless it is an ordinary outcome of a lookup. */
export function errnoFor(log: (line: string) => void, op: string, path: string, err: unknown): number {
  if (err instanceof DiskpickError) {
    switch (err.kind) {
      case 'notFound':
        return Errno.ENOENT;
      case 'wrongType':
        return Errno.ENOTDIR;
      case 'usage':
        return Errno.EINVAL;
      case 'unsupported':
        log(`${op} ${escapeText(path)}: ${err.toLine()}`);
        return Errno.EOPNOTSUPP;
      default:
        log(`${op} ${escapeText(path)}: ${err.toLine()}`);
        return Errno.EIO;
    }
  }
  const e = err as Error;
  log(`${op} ${escapeText(path)}: internal error: ${escapeText(e?.message ?? String(err))}`);
  return Errno.EIO;
}
