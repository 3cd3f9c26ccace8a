/**
 * Issue 20, "Habits of the command line": what GNU ls users type (-lh, -a, -1, -d, -t, -S, -r,
 * several paths), listings in name order everywhere (-U for disk order), times in local time
 * (TZ) or --utc, hints that name the command's own help, the volume hint for paths without
 * one, standard input as an image, and mount -o as FUSE users type it. Oracles: GNU ls on the
 * host tree the ext image was made from (mke2fs -d), debugfs for the on-disk order.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { lstatSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { diskpick, sha256 } from '../helpers/tools.js';
import { cliExt } from './helpers.js';
import { fatImages } from '../fat/images.js';
import { mountDaemon, newMountpoint, release, releaseAll } from '../fuse/mounts.js';
import { parseMountOptions } from '../../src/cli/commands/mount.js';
import { lsHumanSize } from '../../src/cli/entry-format.js';

function gnuLs(args: string[], cwd: string, tz = 'UTC'): string {
  const r = spawnSync('ls', args, { cwd, encoding: 'utf8', env: { ...process.env, LC_ALL: 'C', TZ: tz } });
  if (r.status !== 0) throw new Error(`ls ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const out = (r: { stdout: Buffer }) => r.stdout.toString();
/** The columns of ls -l that mean the same on the host tree and in the image: type, size, time, name. */
const cols = (line: string) => {
  const f = line.trim().split(/\s+/);
  return [f[0]![0], f[4], f[5], f[6], f.slice(7).join(' ')].join(' ');
};

afterAll(() => releaseAll());

describe('GNU ls habits', () => {
  const { img, tree } = cliExt();
  const before = sha256(readFileSync(img));

  it('ls -lh lists with human sizes (it printed the help and exited 0), as GNU ls -lh does', () => {
    const r = diskpick(['ls', '-lh', img, '/p0/docs']);
    expect(r.status, r.stderr).toBe(0);
    expect(out(r)).not.toMatch(/Usage:/);
    const want = gnuLs(['-lh', '--time-style=+%Y-%m-%d %H:%M:%S', 'docs'], tree).split('\n').filter((l) => l.startsWith('-'));
    const got = out(r).split('\n').filter((l) => l.startsWith('-'));
    expect(got.map(cols)).toEqual(want.map(cols));
    for (const n of [0, 1023, 1024, 1536, 10 * 1024, 30000, 10239, 1048575, 5 << 20, 2 ** 40]) {
      const f = spawnSync('numfmt', ['--to=iec', '--round=up', String(n)], { encoding: 'utf8' }).stdout.trim();
      // numfmt writes 1.0K as "1.0K" and 1024 as "1.0K" too, as ls -h does.
      expect(lsHumanSize(n), String(n)).toBe(f);
    }
  });

  it('-a and -1 are accepted; several paths are listed one after the other with headers', () => {
    const r = diskpick(['ls', '-a1', img, '/p0/docs', '/p0/small', '/p0/hello.txt']);
    expect(r.status, r.stderr).toBe(0);
    // GNU ls lists the file arguments first; diskpick keeps the order given (documented).
    const want = gnuLs(['-1', 'docs', 'small'], tree).replace(/^docs:/m, '/p0/docs:').replace(/^small:/m, '/p0/small:');
    expect(out(r)).toBe(`${want}hello.txt\n`);
  });

  it('-d lists the folder itself', () => {
    const r = diskpick(['ls', '-ld', img, '/p0/docs']);
    expect(r.status, r.stderr).toBe(0);
    expect(out(r).trim().split('\n')).toHaveLength(1);
    expect(out(r)).toMatch(/^d\S+ .* \/p0\/docs\n$/);
  });

  it('listings are in name order (as LC_ALL=C ls); -U gives the on-disk order of debugfs ls', () => {
    const want = gnuLs(['-1'], join(tree, 'many')).split('\n').filter(Boolean);
    expect(out(diskpick(['ls', img, '/p0/many'])).split('\n').filter(Boolean)).toEqual(want);
    expect(out(diskpick(['ls', '-l', img, '/p0/many'])).split('\n').filter(Boolean).map((l) => l.split(' ').pop())).toEqual(want);
    const json = out(diskpick(['ls', '--json', img, '/p0/many'])).trim().split('\n').map((l) => (JSON.parse(l) as { name: string }).name);
    expect(json).toEqual(want);
    const disk = spawnSync('debugfs', ['-R', 'ls -p /many', img], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).map((l) => l.split('/')[5]!).filter((n) => n !== '.' && n !== '..');
    expect(disk).not.toEqual(want); // hashed folder: on-disk order is not name order
    expect(out(diskpick(['ls', '-U', img, '/p0/many'])).split('\n').filter(Boolean)).toEqual(disk);
    // ls -R: every folder sorted; the tree walk the same as GNU ls -R's folders.
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    const walk = (host: string, shown: string): string[] => {
      const names = readdirSync(host).sort(byName);
      const dirs = names.filter((n) => lstatSync(join(host, n)).isDirectory());
      return [...names.map((n) => `${shown}/${n}`), ...dirs.flatMap((d) => walk(join(host, d), `${shown}/${d}`))];
    };
    expect(out(diskpick(['ls', '-R', img, '/p0/docs'])).split('\n').filter(Boolean)).toEqual(walk(join(tree, 'docs'), '/p0/docs'));
  });

  it('-t, -S and -r order as GNU ls does (ties by name)', () => {
    const files = (s: string) => s.split('\n').filter((l) => l.startsWith('-')).map((l) => l.split(' ').pop());
    for (const flags of [['-lt'], ['-lS'], ['-ltr'], ['-lSr'], ['-lr']]) {
      const want = files(gnuLs(flags, join(tree, 'dates')));
      const r = diskpick(['ls', ...flags, img, '/p0/dates']);
      expect(r.status, r.stderr).toBe(0);
      expect(files(out(r)), flags.join(' ')).toEqual(want);
    }
    const want = files(gnuLs(['-lS'], tree));
    expect(files(out(diskpick(['ls', '-lS', img, '/p0'])))).toEqual(want);
  });

  it('times are local (TZ) as ls -l shows them, --utc gives UTC, JSON stays ISO 8601 with Z', () => {
    for (const tz of ['Asia/Tokyo', 'America/New_York', 'UTC']) {
      const want = gnuLs(['-l', '--time-style=+%Y-%m-%d %H:%M:%S'], join(tree, 'dates'), tz).split('\n').filter((l) => l.startsWith('-'));
      const r = diskpick(['ls', '-l', img, '/p0/dates'], { env: { TZ: tz } });
      expect(out(r).split('\n').filter((l) => l.startsWith('-')).map(cols), tz).toEqual(want.map(cols));
      const u = diskpick(['ls', '-l', '--utc', img, '/p0/dates'], { env: { TZ: tz } });
      const wantUtc = gnuLs(['-l', '--time-style=+%Y-%m-%d %H:%M:%S'], join(tree, 'dates'), 'UTC').split('\n').filter((l) => l.startsWith('-'));
      expect(out(u).split('\n').filter((l) => l.startsWith('-')).map(cols), `${tz} --utc`).toEqual(wantUtc.map(cols));
    }
    const j = JSON.parse(out(diskpick(['ls', '--json', img, '/p0/hello.txt'], { env: { TZ: 'Asia/Tokyo' } }))) as { mtime: string };
    expect(j.mtime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    expect(Math.floor(Date.parse(j.mtime) / 1000)).toBe(Math.floor(statSync(join(tree, 'hello.txt')).mtimeMs / 1000));
  });

  it('usage errors point at the command\'s own help', () => {
    const r = diskpick(['ls', '-Z', img]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/see diskpick ls --help\)\n$/);
    expect(diskpick(['find', img, '--bogus']).stderr).toMatch(/see diskpick find --help\)/);
  });

  it('a path without a volume says that paths start with one (/p0 here)', () => {
    const r = diskpick(['ls', img, '/docs']);
    expect(r.status).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/\/docs: no such volume; paths start with a volume: \/p0/);
  });

  it('- and a piped /dev/stdin say what is supported (exit 2), a redirected file works', () => {
    for (const name of ['-', '/dev/stdin']) {
      const r = diskpick(['ls', name], { input: Buffer.alloc(1024) });
      expect(r.status, name).toBe(2);
      expect(r.stderr, name).toMatch(/cannot be read from a pipe or standard input.*URL/);
    }
    const r = spawnSync('bash', ['-c', `node ${JSON.stringify(join(__dirname, '../../dist/cli/launch.cjs'))} ls /dev/stdin /p0/docs < ${JSON.stringify(img)}`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(gnuLs(['-1', 'docs'], tree));
  });

  it('dd --volume with a volume that is not there lists the volumes', () => {
    const r = diskpick(['dd', img, '--volume', '3', '-o', '/dev/null']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/no such volume \(volumes: p0\)/);
  });

  it('mount -o uid=N,gid=N,umask=…,allow_other,ro,nosuid,nodev as FUSE users type them', () => {
    expect(parseMountOptions('uid=1234,gid=99,allow_other,ro,nosuid,nodev,noatime,umask=027')).toEqual({ allowOther: true, uid: 1234, gid: 99, umask: 0o27 });
    expect(() => parseMountOptions('rw')).toThrow(/read-only/);
    expect(() => parseMountOptions('uid=x')).toThrow(/uid=x/);
    expect(() => parseMountOptions('frobnicate')).toThrow(/unknown mount option "frobnicate" \(known: allow_other, uid=N/);
    const fat = fatImages.gpt();
    const mnt = newMountpoint('habits');
    const m = mountDaemon(fat, mnt, ['-o', 'uid=1234,gid=99,ro,nosuid,nodev,umask=027']);
    try {
      const vol = readdirSync(mnt).find((n) => n.startsWith('p'))!;
      const f = readdirSync(join(mnt, vol)).find((n) => lstatSync(join(mnt, vol, n)).isFile())!;
      const st = statSync(join(mnt, vol, f));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1234, 99, 0o640]);
      // The mount lists in name order too.
      const names = readdirSync(join(mnt, vol));
      expect(spawnSync('ls', ['-1f', join(mnt, vol)], { encoding: 'utf8' }).stdout.split('\n').filter((n) => n && n !== '.' && n !== '..')).toEqual([...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
    } finally {
      release(m);
    }
    const mnt2 = newMountpoint('habits-rw');
    const bad = diskpick(['mount', '-o', 'rw', fat, mnt2]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/mount option rw: diskpick mounts are read-only/);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(mnt2);
    rmdirSync(mnt2);
  });

  it('leaves the image unchanged', () => {
    expect(sha256(readFileSync(img))).toBe(before);
  });
});
