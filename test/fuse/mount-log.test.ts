/**
 * Mount logs (issue 20): `mount --daemon` without --log used to leave a log in /tmp for every
 * mount, failed ones too. Now the log is $XDG_STATE_HOME/diskpick/mount-<mount point>.log
 * (~/.local/state/diskpick without XDG_STATE_HOME), a failed mount's log is removed, and at
 * most 16 logs are kept. TMPDIR, HOME and XDG_STATE_HOME point into a temp folder here.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGptFatDisk } from '../../scripts/images/fat.js';
import { cachedImage, CLI, diskpick } from '../helpers/tools.js';

let root: string;
let env: NodeJS.ProcessEnv;
let mnt: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'dp-mountlog-'));
  for (const d of ['tmp', 'home', 'state', 'mnt']) mkdirSync(join(root, d));
  env = { TMPDIR: join(root, 'tmp'), HOME: join(root, 'home'), XDG_STATE_HOME: join(root, 'state') };
  mnt = join(root, 'mnt');
});

afterEach(() => {
  diskpick(['umount', mnt]);
  rmSync(root, { recursive: true, force: true });
});

const logsIn = (d: string) => (existsSync(d) ? readdirSync(d) : []);

describe('mount --daemon logs', () => {
  it('a failed mount leaves no log, neither in the temp folder nor in the state folder', () => {
    const r = diskpick(['mount', '--daemon', join(root, 'no-such.vmdk'), mnt], { env });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(logsIn(join(root, 'tmp'))).toEqual([]);
    expect(logsIn(join(root, 'state', 'diskpick'))).toEqual([]);
  });

  it('a mount logs under $XDG_STATE_HOME/diskpick (or ~/.local/state/diskpick), never the temp folder', () => {
    const image = cachedImage('fat-gpt.img', buildGptFatDisk);
    for (const [e, dir] of [[env, join(root, 'state', 'diskpick')], [{ ...env, XDG_STATE_HOME: '' }, join(root, 'home', '.local', 'state', 'diskpick')]] as const) {
      const r = diskpick(['mount', '--daemon', image, mnt], { env: e });
      expect(r.status, r.stderr).toBe(0);
      const log = join(dir, `mount-${mnt.replace(/[^A-Za-z0-9.-]+/g, '_').replace(/^_+/, '')}.log`);
      expect(r.stdout.toString()).toContain(`log ${log}`);
      expect(readFileSync(log, 'utf8')).toContain(`mounted ${image} at ${mnt}`);
      expect(readdirSync(join(mnt, 'p1')).length).toBeGreaterThan(0);
      expect(diskpick(['umount', mnt]).status).toBe(0);
      for (let i = 0; i < 100 && readdirSync(mnt).length; i++) spawnSleep(50);
    }
    expect(logsIn(join(root, 'tmp'))).toEqual([]);
  });

  it('the mount process runs from a code cache of its own (trained on a mount walk), which V8 takes', () => {
    const image = cachedImage('fat-gpt.img', buildGptFatDisk);
    const bundle = readFileSync(join(CLI, '..', 'bundle.cjs'), 'latin1');
    const m = /\/\/# diskpickBuild=(\w+) ([\w,]+)/.exec(bundle.slice(-200))!;
    expect(m[2]!.split(',')).toContain('mount');
    expect(existsSync(join(CLI, '..', `bundle.cjs.${m[1]}.mount.cache`))).toBe(true);
    const r = diskpick(['mount', '--daemon', image, mnt], { env: { ...env, DISKPICK_CODE_CACHE_REPORT: '1' } });
    expect(r.status, r.stderr.toString()).toBe(0);
    const log = /log (\S+?)\)/.exec(r.stdout.toString())![1]!;
    expect(readFileSync(log, 'utf8')).toContain('diskpick: code cache used');
    expect(readdirSync(join(mnt, 'p1')).length).toBeGreaterThan(0);
  });

  it('keeps at most 16 logs, the oldest removed first', () => {
    const dir = join(root, 'state', 'diskpick');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < 20; i++) {
      const f = join(dir, `mount-old${String(i).padStart(2, '0')}.log`);
      writeFileSync(f, 'old\n');
      utimesSync(f, 1_600_000_000 + i, 1_600_000_000 + i);
    }
    diskpick(['mount', '--daemon', join(root, 'no-such.vmdk'), mnt], { env });
    const left = logsIn(dir).sort();
    expect(left.length).toBeLessThanOrEqual(16);
    // The newest old ones stay.
    expect(left).toContain('mount-old19.log');
    expect(left).not.toContain('mount-old00.log');
  });
});

function spawnSleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
