/**
 * Shared test plumbing: the image cache, running real tools (the oracles), running the
 * built diskpick CLI, and hashing. Test images are built once into .cache/images
 * (git-ignored) and reused.
 */
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE = join(ROOT, '.cache', 'images');
export const CLI = join(ROOT, 'dist', 'cli', 'launch.cjs');
export const CORPUS = resolve(ROOT, '..', 'shared', 'corpus', 'realworld');

mkdirSync(CACHE, { recursive: true });

/** Runs a tool and returns its stdout; throws with its stderr when it fails. */
export function tool(cmd: string, args: string[], opts: { input?: string | Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): string {
  return execFileSync(cmd, args, {
    input: opts.input,
    env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8', ...opts.env },
    cwd: opts.cwd,
    maxBuffer: 1 << 30,
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

/** Same, returning raw bytes. */
export function toolBytes(cmd: string, args: string[]): Buffer {
  return execFileSync(cmd, args, { maxBuffer: 1 << 30, env: { ...process.env, TZ: 'UTC' }, stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface CliResult {
  status: number;
  stdout: Buffer;
  stderr: string;
}

/** Runs the built `diskpick` binary (npm test builds it first). */
export function diskpick(args: string[], opts: { input?: Buffer; env?: NodeJS.ProcessEnv; cwd?: string } = {}): CliResult {
  const r: SpawnSyncReturns<Buffer> = spawnSync(process.execPath, [CLI, ...args], {
    input: opts.input,
    env: { ...process.env, TZ: 'UTC', NO_COLOR: '1', ...opts.env },
    cwd: opts.cwd,
    maxBuffer: 1 << 30,
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr.toString('utf8') };
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (c) => h.update(c)).on('end', () => res(h.digest('hex'))).on('error', rej);
  });
}

/** Builds a cached image with `build(path)` unless it is already there. */
export function cachedImage(name: string, build: (path: string) => void): string {
  const path = join(CACHE, name);
  if (!existsSync(path)) build(path);
  return path;
}

export function hasTool(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** The shared real-world corpus, or null with a visible skip message. */
export function corpusFile(name: string): string | null {
  const p = join(CORPUS, name);
  if (!existsSync(p)) {
    console.warn(`SKIP: ${p} is absent (../shared/corpus not present); real-world test skipped`);
    return null;
  }
  return p;
}

import type { ManifestEntry } from '../../scripts/images/tree.js';
export type { ManifestEntry };

export function readManifest(path: string): ManifestEntry[] {
  return JSON.parse(readFileSync(path, 'utf8')) as ManifestEntry[];
}
