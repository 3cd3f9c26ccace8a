/**
 * Where `diskpick mount --daemon` writes its log when --log is not given: the XDG state folder
 * ($XDG_STATE_HOME/diskpick, else ~/.local/state/diskpick), one file per mount point
 * (mount-<mount point>.log). Logs used to pile up in /tmp, failed mounts too. Now:
 * - each mount starts its log afresh; the previous one is kept as `.log.1`;
 * - at most MAX_LOGS files are kept in the folder, the oldest removed first;
 * - a mount that fails with a reported error removes its new log (the error was printed);
 *   a mount process that died before reporting keeps it (the message names it).
 */
import { mkdirSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { isAbsolute, join } from 'node:path';

export const MAX_LOGS = 16;

export function mountLogDir(env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME && isAbsolute(env.XDG_STATE_HOME) ? env.XDG_STATE_HOME : join(env.HOME || homedir(), '.local', 'state');
  return join(state, 'diskpick');
}

/** The log for a mount at `mountpoint` (absolute), its folder made and old logs trimmed. */
export function newMountLog(mountpoint: string, env: NodeJS.ProcessEnv = process.env): string {
  const dir = mountLogDir(env);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = `mount-${mountpoint.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/^_+/, '') || 'root'}.log`;
  const path = join(dir, name);
  try {
    renameSync(path, `${path}.1`);
  } catch {
    // no earlier log of this mount point
  }
  trimLogs(dir, MAX_LOGS - 1);
  return path;
}

/** Leaves at most `keep` logs in `dir`, removing the oldest (by modification time). */
export function trimLogs(dir: string, keep: number): void {
  const logs = readdirSync(dir)
    .filter((f) => /^mount-.*\.log(\.1)?$/.test(f))
    .map((f) => {
      try {
        return { path: join(dir, f), mtime: statSync(join(dir, f)).mtimeMs };
      } catch {
        return null;
      }
    })
    .filter((x): x is { path: string; mtime: number } => x !== null)
    .sort((a, b) => b.mtime - a.mtime);
  for (const l of logs.slice(Math.max(0, keep))) rmSync(l.path, { force: true });
}
