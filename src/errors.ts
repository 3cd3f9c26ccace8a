/**
 * One error type for every problem diskpick reports to a user. The CLI prints
 * `diskpick: <file>: <message>` on one line and exits with `exitCode`.
 * Anything that is not a DiskpickError is a bug in diskpick, and is reported as such.
 */

/** Documented exit codes (README "Exit codes"). */
export const ExitCode = {
  ok: 0,
  /** Some files failed; the rest were done. */
  partial: 1,
  /** Wrong command line. */
  usage: 2,
  /** The image (or a file it references) cannot be opened or parsed. */
  image: 3,
  /** A path inside the image does not exist. */
  notFound: 4,
  /** A path has the wrong type (a folder where a file is needed, or the reverse). */
  wrongType: 5,
  /** The image uses a feature diskpick does not read (encryption, ...). */
  unsupported: 6,
  /** The output cannot be written (exists, permission, disk full). */
  output: 7,
  /** Interrupted by the user. */
  interrupted: 130,
} as const;

export type ErrorKind = Exclude<keyof typeof ExitCode, 'ok'>;

export class DiskpickError extends Error {
  readonly kind: ErrorKind;
  /** The file (image, parent, output path or path inside the image) the problem is about. */
  readonly file: string | undefined;

  constructor(kind: ErrorKind, message: string, file?: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DiskpickError';
    this.kind = kind;
    this.file = file;
  }

  get exitCode(): number {
    return ExitCode[this.kind];
  }

  /**
   * The one line shown to a user. Messages quote names from the image, which may hold newlines
   * or terminal escapes (fuzz cases qcow2-*: a FAT name with "\n"), so control characters are
   * shown as \xHH and cannot forge lines or drive the terminal.
   */
  toLine(): string {
    const line = this.file ? `${this.file}: ${this.message}` : this.message;
    return line.replace(/[\x00-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  }
}

/** A structure in the image is damaged or hostile. */
export function corrupt(file: string, message: string): DiskpickError {
  return new DiskpickError('image', message, file);
}

/**
 * The image, or a file it needs (a parent, a part), cannot be opened as one: not found,
 * outside the allowed folders, a folder, empty, or in no known format.
 */
export function cannotOpen(file: string, message: string): DiskpickError {
  return new DiskpickError('image', message, file);
}

export function unsupported(file: string, message: string): DiskpickError {
  return new DiskpickError('unsupported', message, file);
}

/** Turns a Node system error about a host file into a one-line DiskpickError. */
export function fromSystemError(err: unknown, file: string, kind: ErrorKind = 'image'): DiskpickError {
  if (err instanceof DiskpickError) return err;
  const e = err as NodeJS.ErrnoException;
  const byCode: Record<string, string> = {
    ENOENT: 'no such file',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EISDIR: 'is a folder, not a file',
    ENOTDIR: 'a part of the path is not a folder',
    ENOSPC: 'no space left on the device',
    EEXIST: 'already exists',
    EROFS: 'read-only file system',
    EMFILE: 'too many open files',
    EIO: 'input/output error',
  };
  const text = (e && e.code && byCode[e.code]) || (e && e.message) || String(err);
  return new DiskpickError(kind, text, file, { cause: err });
}
