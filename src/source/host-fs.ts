/**
 * The host-file metadata calls that opening an image makes (stat, lstat, realpath, readdir), in
 * the promise shape of node:fs/promises but made synchronously on the main thread.
 *
 * Why: node:fs/promises is not loaded at Node's start; loading it compiles it and what it pulls
 * in (streams, readline, the fs watchers), and its first call starts libuv's thread pool (four
 * threads) for calls that take microseconds on a local disk. With FileSource on a plain fd and
 * stdout written without its stream (src/cli/run.ts), no Node stream module loads for `cat` or
 * `info`: measured (issue 27, callgrind, `cat` of a small file) ~16 M instructions of ~202 M
 * for the three together. The cost: a call that waits for a slow disk (a network mount) holds
 * the event loop, as FileSource's small reads already do. Errors are Node's own, with the same
 * code, syscall and path.
 */
import { lstatSync, readdirSync, realpathSync, statSync, type Stats } from 'node:fs';

export async function stat(path: string): Promise<Stats> {
  return statSync(path);
}

export async function lstat(path: string): Promise<Stats> {
  return lstatSync(path);
}

/** realpath(3), as fs/promises' realpath (not fs.realpathSync's JavaScript walk). */
export async function realpath(path: string): Promise<string> {
  return realpathSync.native(path);
}

export async function readdir(path: string): Promise<string[]> {
  return readdirSync(path);
}
