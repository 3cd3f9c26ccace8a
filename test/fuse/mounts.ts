/**
 * Real FUSE mounts for the tests: mount with the built CLI, walk with plain shell tools, and
 * always unmount (fusermount -uz, then SIGKILL of the mount process) so a failed test never
 * leaves a mount behind.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, diskpick } from '../helpers/tools.js';
import type { ExtVariant } from '../../scripts/images/ext.js';

/** The ext4 image of the mount tests (fuse-ext4.img): 4 KiB blocks, a 50 MiB file, a sparse file, 300-file folder. */
export const FUSE_EXT: ExtVariant = {
  name: 'fuse-ext4', mkfs: 'mkfs.ext4', args: ['-b', '4096', '-I', '256', '-O', 'huge_file,64bit'], size: '96M',
  big: true, smallInodes: false, many: 300, kernelDates: true,
};

export interface Mounted {
  mnt: string;
  pid: number;
  /** Foreground mounts: the child, its stderr so far. */
  child?: ChildProcess;
  stderr: () => string;
}

const live: Mounted[] = [];

/** Runs a shell command; returns stdout, throws with stderr on failure. */
export function sh(cmd: string, opts: { allowFail?: boolean } = {}): string {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
  if (r.status !== 0 && !opts.allowFail) throw new Error(`${cmd} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

export function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function newMountpoint(tag: string): string {
  return mkdtempSync(join(tmpdir(), `dp-fuse-${tag}-`));
}

export function isMounted(mnt: string): boolean {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  return text.split('\n').some((l) => l.split(' ')[4] === mnt.replace(/ /g, '\\040'));
}

/** `diskpick mount --daemon`: returns once the mount is ready (the CLI waits for that). */
export function mountDaemon(image: string, mnt: string, extra: string[] = []): Mounted {
  const log = `${mnt}.log`;
  const r = diskpick(['mount', '--daemon', '--log', log, ...extra, image, mnt]);
  if (r.status !== 0) throw new Error(`mount failed (${r.status}): ${r.stderr}`);
  const pid = Number(/pid (\d+)/.exec(r.stdout.toString())?.[1] ?? 0);
  const m: Mounted = { mnt, pid, stderr: () => (existsSync(log) ? readFileSync(log, 'utf8') : '') };
  live.push(m);
  return m;
}

/** A foreground `diskpick mount`; resolves once the mount is in the mount table. */
export async function mountForeground(image: string, mnt: string, extra: string[] = []): Promise<Mounted> {
  const child = spawn(process.execPath, [CLI, 'mount', ...extra, image, mnt], { stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const m: Mounted = { mnt, pid: child.pid ?? 0, child, stderr: () => err };
  live.push(m);
  for (let i = 0; i < 200; i++) {
    if (/mounted /.test(err)) return m;
    if (child.exitCode !== null) throw new Error(`mount exited ${child.exitCode}: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`mount not ready after 10 s: ${err}`);
}

export function alive(pid: number): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    // A zombie is not serving anything.
    return !/State:\s+Z/.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** Unmounts and stops one mount, whatever state it is in. */
export function release(m: Mounted): void {
  spawnSync('fusermount', ['-uz', m.mnt], { stdio: 'ignore' });
  if (alive(m.pid)) {
    try {
      process.kill(m.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('fusermount', ['-uz', m.mnt], { stdio: 'ignore' });
  const i = live.indexOf(m);
  if (i >= 0) live.splice(i, 1);
  // Not recursive: should anything still be mounted there, rm must not walk into it.
  try {
    rmdirSync(m.mnt);
  } catch {
    // not empty or already gone
  }
  rmSync(`${m.mnt}.log`, { force: true });
}

/** afterAll: nothing stays mounted, no mount process stays alive, no folder is left. */
export function releaseAll(): void {
  for (const m of [...live]) release(m);
}

export interface FoundEntry {
  path: string;
  type: string;
  size: number;
  /** mtime in whole milliseconds, from find's %T@ (nanoseconds as the kernel has them). */
  mtimeMs: number;
  target: string;
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  blocks: number;
}

/** `find -printf` over a mounted folder: one record per entry, paths as "/a/b". */
export function walk(dir: string): Map<string, FoundEntry> {
  const out = sh(`find ${q(dir)} -mindepth 1 -printf '%P\\t%y\\t%s\\t%T@\\t%l\\t%i\\t%m\\t%U\\t%G\\t%n\\t%b\\n'`);
  const map = new Map<string, FoundEntry>();
  for (const line of out.split('\n')) {
    if (!line) continue;
    const [p, y, s, t, l, i, m, u, g, n, b] = line.split('\t');
    const [sec, frac = ''] = t!.split('.');
    const mtimeMs = Number(sec) * 1000 + Number((frac + '000').slice(0, 3));
    map.set('/' + p, { path: '/' + p, type: y!, size: Number(s), mtimeMs, target: l!, ino: Number(i), mode: parseInt(m!, 8), uid: Number(u), gid: Number(g), nlink: Number(n), blocks: Number(b) });
  }
  return map;
}

/** sha256 of every regular file below `dir`, keyed "/a/b". */
export function hashes(dir: string): Map<string, string> {
  const out = sh(`cd ${q(dir)} && find . -type f -print0 | xargs -0 -r sha256sum`);
  const map = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]{64}) {2}\.(\/.*)$/.exec(line);
    if (m) map.set(m[2]!, m[1]!);
  }
  return map;
}
