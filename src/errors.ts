/**
 * One error type for every problem diskpick reports to a user. The CLI prints
 * `diskpick: <file>: <message>` on one line and exits with `exitCode`.
 * Anything that is not a DiskpickError is a bug in diskpick, and is reported as such.
 */

/** Documented exit codes (README "Exit codes"). */
import { escapeText } from './escape.js';

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
  /**
   * An encrypted volume's key is wrong or missing (no keyslot or protector opens with it). The
   * same code as `unsupported` (the volume cannot be read as given), its own kind and message
   * ("wrong key: …", "locked: …") so callers and scripts can tell them apart.
   */
  wrongKey: 6,
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
   * or terminal escapes (fuzz cases qcow2-*: a FAT name with "\n"), so they go through
   * escapeText and cannot forge lines or drive the terminal.
   */
  toLine(): string {
    return escapeText(this.file ? `${this.file}: ${this.message}` : this.message);
  }
}


/**
 * A warning as warning lists keep it (Container.warnings, FsInfo.warnings): "FILE: MESSAGE".
 * The file is named here, once; whoever prints the warning adds no file of its own.
 */
export function fileWarning(file: string, message: string): string {
  return `${file}: ${message}`;
}

/**
 * The one line a warning is printed as: `diskpick: warning: [FILE: ]MESSAGE`. `file` is given
 * for warnings that do not name one (a filesystem's, about the image being read); container
 * warnings already do (fileWarning), so naming the image again printed it twice.
 */
export function warningLine(message: string, file?: string): string {
  return `diskpick: warning: ${escapeText(file ? `${file}: ${message}` : message)}\n`;
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

/**
 * An image that opened cannot be read on: its server or bucket fails, answers what was not
 * asked, or the object changed during the read (a network source; the bytes are not at fault).
 */
export function readFailed(file: string, message: string): DiskpickError {
  return new DiskpickError('image', message, file);
}

export function unsupported(file: string, message: string): DiskpickError {
  return new DiskpickError('unsupported', message, file);
}

/**
 * Output errors after which no further file can be written either: the first one stops a
 * restore (one line, exit code `output`) instead of one line per remaining file (issue 26).
 */
export const STOPPING_OUTPUT_ERRORS: ReadonlySet<string> = new Set(['ENOSPC', 'EDQUOT', 'EROFS']);

/** The errno code behind an error (a DiskpickError made from one keeps it as its cause). */
export function errnoOf(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 4; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string') return e.code;
  }
  return undefined;
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
    EDQUOT: 'disk quota exceeded',
    ENAMETOOLONG: 'name too long for the host filesystem',
    EEXIST: 'already exists',
    EROFS: 'read-only file system',
    EMFILE: 'too many open files',
    EIO: 'input/output error',
  };
  const text = (e && e.code && byCode[e.code]) || (e && e.message) || String(err);
  return new DiskpickError(kind, text, file, { cause: err });
}
