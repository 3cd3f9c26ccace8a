/**
 * Where the keys of encrypted volumes come from: options naming files (--passphrase-file,
 * --key-file, --bek, --header), --recovery-password, the environment (DISKPICK_PASSPHRASE,
 * DISKPICK_RECOVERY_PASSWORD) or, with none of them and a terminal, a prompt that does not echo.
 * Secrets go to the volume layer only: never into messages, logs or `info`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DiskpickError, fromSystemError } from '../errors.js';
import { noKeys, type VolumeKeys } from '../volume/crypt/keys.js';

export interface KeyOptions {
  passphraseFile?: string;
  keyFile?: string;
  recoveryPassword?: string;
  bek?: string;
  header?: string;
}

/** cryptsetup's default key-file limit. */
const MAX_KEY_FILE = 8 << 20;

function readSecretFile(path: string, what: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    throw fromSystemError(err, path, 'usage');
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_KEY_FILE) throw new DiskpickError('usage', `${what} is larger than ${MAX_KEY_FILE} bytes`, path);
    const b = Buffer.alloc(size);
    let n = 0;
    while (n < size) {
      const got = readSync(fd, b, n, size - n, n);
      if (got === 0) break;
      n += got;
    }
    return b.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** The first line of a passphrase file, as typed (a trailing newline is not part of it). */
function firstLine(b: Buffer): Buffer {
  let end = b.indexOf(0x0a);
  if (end < 0) end = b.length;
  if (end > 0 && b[end - 1] === 0x0d) end--;
  return Buffer.from(b.subarray(0, end));
}

export function keysFromOptions(o: KeyOptions, env: NodeJS.ProcessEnv = process.env): VolumeKeys {
  const keys = noKeys();
  if (o.passphraseFile) {
    const raw = readSecretFile(o.passphraseFile, 'the passphrase file');
    keys.passphrases.push(firstLine(raw));
    raw.fill(0);
  }
  if (o.keyFile) keys.keyFiles.push(readSecretFile(o.keyFile, 'the key file'));
  if (o.bek) keys.bekFiles.push(readSecretFile(o.bek, 'the startup key (.BEK) file'));
  if (o.recoveryPassword) keys.recoveryPasswords.push(o.recoveryPassword);
  if (env.DISKPICK_PASSPHRASE) keys.passphrases.push(Buffer.from(env.DISKPICK_PASSPHRASE, 'utf8'));
  if (env.DISKPICK_RECOVERY_PASSWORD) keys.recoveryPasswords.push(env.DISKPICK_RECOVERY_PASSWORD);
  if (o.header) keys.headerFile = o.header;
  return keys;
}

/**
 * A prompt on the terminal (stderr), the answer read from stdin in raw mode and never echoed.
 * Enter ends it, Backspace deletes, Ctrl-C interrupts, Ctrl-D on an empty line gives up.
 * Returns null where stdin or stderr is not a terminal.
 */
export function terminalAsker(): ((what: string) => Promise<Buffer | null>) | undefined {
  const stdin = process.stdin;
  if (!stdin.isTTY || !process.stderr.isTTY) return undefined;
  return (what: string) =>
    new Promise<Buffer | null>((resolve, reject) => {
      let buf = Buffer.alloc(256);
      let n = 0;
      const wasRaw = stdin.isRaw;
      // Echo off before the prompt shows: an answer typed (or pasted) the moment the prompt
      // appears would otherwise be echoed by the terminal (seen in the test, 1 run in 2).
      stdin.setRawMode(true);
      stdin.resume();
      process.stderr.write(`${what.replace(/[\x00-\x1f\x7f]/g, '?')}: `);
      const done = (result: Buffer | null, err?: Error) => {
        stdin.off('data', onData);
        stdin.setRawMode(wasRaw);
        stdin.pause();
        process.stderr.write('\n');
        const out = result ? Buffer.from(buf.subarray(0, n)) : null;
        buf.fill(0);
        if (err) reject(err);
        else resolve(out);
      };
      const onData = (chunk: Buffer) => {
        for (const c of chunk) {
          if (c === 0x0d || c === 0x0a) return done(Buffer.alloc(0));
          if (c === 0x03) return done(null, new DiskpickError('interrupted', 'interrupted'));
          if (c === 0x04 && n === 0) return done(null);
          if (c === 0x7f || c === 0x08) {
            if (n > 0) n--;
            continue;
          }
          if (n === buf.length) {
            const bigger = Buffer.alloc(buf.length * 2);
            buf.copy(bigger);
            buf.fill(0);
            buf = bigger;
          }
          buf[n++] = c;
        }
        chunk.fill(0);
      };
      stdin.on('data', onData);
    });
}
