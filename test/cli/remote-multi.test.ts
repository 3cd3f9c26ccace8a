/**
 * Multi-file images by URL (#19): a split raw image (`.001`, `.002` … made by split(1)) whose
 * parts are found beside the first by URL, and VDI differencing images whose parent, named by
 * UUID only, is searched for by URL — only in the image's folder or a --parent-dir URL — over
 * nginx (with and without its folder index) and s3rver. Oracles: the local files read the same
 * way, the demo image's manifest, and the VDI writer's expected bytes (qemu-img's reading of
 * the parent with the child's blocks laid over).
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { CLI, ROOT, diskpick, sha256, tool } from '../helpers/tools.js';
import { freePort } from '../helpers/nginx.js';
import { mountDaemon, newMountpoint, releaseAll } from '../fuse/mounts.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { startS3, S3_KEY, type S3Server } from '../helpers/s3server.js';
import { seededRaw } from '../../scripts/images/qcow2.js';
import { rawOf } from '../../scripts/images/vhd.js';
import { vdiUuidString } from '../../src/container/vdi.js';
import { writeVdiDifferencing } from '../../scripts/images/vdi.js';

interface ManifestEntry { path: string; type: string; sha256?: string }
const DEMO = join(ROOT, 'images', 'fileserver.vmdk');
const manifest = (JSON.parse(readFileSync(join(ROOT, 'images', 'fileserver.manifest.json'), 'utf8')) as Record<string, ManifestEntry[]>).p1!;
const notes = manifest.find((m) => m.path === '/Users/anna/notes.txt')!;

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) out.push(relative(dir, join(e.parentPath, e.name)));
  return out;
}

describe('multi-file images by URL', () => {
  let root: string;
  let plain: Nginx;
  let indexed: Nginx;
  let s3: S3Server;
  let out: string;
  const expected: Record<string, string> = {};
  let uuids: Record<string, string>;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'dp-remote-multi-'));
    out = mkdtempSync(join(tmpdir(), 'dp-remote-multi-out-'));
    // A split raw image: the demo disk cut into 3 MiB parts numbered from 001.
    tool('qemu-img', ['convert', '-O', 'raw', DEMO, join(root, 'disk.raw')]);
    expected.split = sha256(readFileSync(join(root, 'disk.raw')));
    tool('split', ['-d', '-a', '3', '--numeric-suffixes=1', '-b', '3M', join(root, 'disk.raw'), join(root, 'disk.raw.')]);
    rmSync(join(root, 'disk.raw'));
    // VDI: a base, a child and a grandchild laid out as VirtualBox does (differencing images
    // in Snapshots/ named {UUID}.vdi, the base one folder up under its own name), and a pair
    // with ordinary names in one folder.
    mkdirSync(join(root, 'vm', 'Snapshots'), { recursive: true });
    mkdirSync(join(root, 'pair'));
    seededRaw(join(root, 'base.raw'), 6, 9);
    tool('qemu-img', ['convert', '-f', 'raw', '-O', 'vdi', join(root, 'base.raw'), join(root, 'vm', 'base.vdi')]);
    rmSync(join(root, 'base.raw'));
    const baseHeader = readFileSync(join(root, 'vm', 'base.vdi')).subarray(0, 0x200);
    const baseRaw = rawOf(join(root, 'vm', 'base.vdi'), 'vdi');
    const tmpChild = join(root, 'child.tmp');
    const c1 = writeVdiDifferencing(tmpChild, { parentHeader: baseHeader, parentRaw: baseRaw, blocks: [[0, 41], [2, -1], [5, 42]], seed: 40 });
    const c1Name = `{${vdiUuidString(c1.uuidCreate).toLowerCase()}}.vdi`;
    copyFileSync(tmpChild, join(root, 'vm', 'Snapshots', c1Name));
    const c1Header = readFileSync(tmpChild).subarray(0, 0x200);
    const c2 = writeVdiDifferencing(join(root, 'vm', 'Snapshots', 'grand.tmp'), { parentHeader: c1Header, parentRaw: c1.expected, blocks: [[1, 51], [2, 52]], seed: 50 });
    const c2Name = `{${vdiUuidString(c2.uuidCreate).toLowerCase()}}.vdi`;
    copyFileSync(join(root, 'vm', 'Snapshots', 'grand.tmp'), join(root, 'vm', 'Snapshots', c2Name));
    rmSync(join(root, 'vm', 'Snapshots', 'grand.tmp'));
    copyFileSync(join(root, 'vm', 'base.vdi'), join(root, 'pair', 'disk-base.vdi'));
    copyFileSync(tmpChild, join(root, 'pair', 'disk-child.vdi'));
    rmSync(tmpChild);
    expected.c1 = sha256(c1.expected!);
    expected.c2 = sha256(c2.expected!);
    uuids = { c1: c1Name, c2: c2Name };
    for (const d of [root, join(root, 'vm'), join(root, 'vm', 'Snapshots'), join(root, 'pair')]) chmodSync(d, 0o755);
    // Whole seconds: HTTP's Last-Modified carries no fraction (a FAT root's times come from the file's).
    for (const f of filesUnder(root)) {
      chmodSync(join(root, f), 0o644);
      utimesSync(join(root, f), 1_750_000_000, 1_750_000_000);
    }
    plain = await startNginx(root);
    indexed = await startNginx(root, { autoindex: true });
    s3 = await startS3();
    for (const f of filesUnder(root)) await s3.putFile(`img/${f}`, join(root, f));
  });
  afterAll(async () => {
    plain?.stop();
    indexed?.stop();
    await s3?.stop();
    rmSync(root, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });

  const ddSha = (image: string, args: string[] = [], env?: Record<string, string>) => {
    const file = join(out, `dd-${Math.random().toString(36).slice(2)}.raw`);
    const r = diskpick([...args, 'dd', '-q', image, '-o', file], env ? { env: { ...process.env, ...env } } : {});
    expect(r.status, `${image}: ${r.stderr}`).toBe(0);
    const h = sha256(readFileSync(file));
    rmSync(file);
    return { h, stderr: r.stderr };
  };

  it('a split raw image: its parts found beside the first by URL, over HTTP and S3, as the local parts', async () => {
    const local = diskpick(['ls', '-R', '--json', join(root, 'disk.raw.001')]);
    expect(local.status, local.stderr).toBe(0);
    const env = { ...process.env, ...s3.env };
    for (const url of [`${plain.http.replace('http://', 'http://reader:pw-in-url@')}/disk.raw.001`, 's3://backups/img/disk.raw.001']) {
      const ls = diskpick(['ls', '-R', '--json', url], { env });
      expect(ls.status, `${url}: ${ls.stderr}`).toBe(0);
      // FAT's root folder has no times of its own: they are the image file's, and an S3
      // object's is when it was put. Everything else equals the local reading.
      const rows = (b: Buffer) => b.toString().trim().split('\n').map((l) => {
        const e = JSON.parse(l) as Record<string, unknown>;
        if (url.startsWith('s3:') && e.path === '/p1') for (const k of ['atime', 'mtime', 'ctime']) delete e[k];
        return e;
      });
      expect(rows(ls.stdout), url).toEqual(rows(local.stdout));
      const cat = diskpick(['cat', url, '/p1/Users/anna/notes.txt'], { env });
      expect(sha256(cat.stdout), url).toBe(notes.sha256);
      expect(ddSha(url, [], s3.env).h, url).toBe(expected.split);
      const info = diskpick(['info', '--json', url], { env });
      expect((JSON.parse(info.stdout.toString()) as { container: { variant: string } }).container.variant, url).toBe('split raw');
      expect(`${ls.stderr}${cat.stderr}${info.stdout}${info.stderr}`).not.toContain(S3_KEY);
      expect(`${ls.stderr}${cat.stderr}${info.stdout}${info.stderr}`).not.toContain('pw-in-url');
    }
    // A later part named alone is a raw image of its own bytes, as a local one is.
    const r = diskpick(['info', '--json', `${plain.http}/disk.raw.002`]);
    expect(r.status, r.stderr).toBe(0);
    const c = (JSON.parse(r.stdout.toString()) as { container: { variant: string; virtualSize: number } }).container;
    expect(c).toMatchObject({ variant: 'raw', virtualSize: 3 << 20 });
  });

  it('a VDI parent named by UUID: found by {UUID}.vdi without a folder index, by the index or the bucket listing otherwise, only where allowed', () => {
    const env = { ...process.env, ...s3.env };
    // The grandchild's parent is {UUID}.vdi beside it: found on any server. The base is one
    // folder up, outside the image's folder: refused without --parent-dir.
    for (const base of [plain.http.replace('http://', 'http://reader:pw-in-url@'), indexed.http, 's3://backups/img']) {
      const url = `${base}/vm/Snapshots/${uuids.c2}`;
      const refused = diskpick(['ls', url], { env });
      expect(refused.status, `${url}: ${refused.stderr}`).toBe(3);
      expect(refused.stderr.trim().split('\n')).toHaveLength(1);
      expect(refused.stderr).toMatch(/parent image not found: needs the VDI with UUID/);
      expect(refused.stderr).not.toMatch(/pw-in-url|S3RVER/);
    }
    // With --parent-dir on the folder the base is in: found by listing (nginx's index, S3).
    for (const base of [indexed.http, 's3://backups/img']) {
      const url = `${base}/vm/Snapshots/${uuids.c2}`;
      expect(ddSha(url, ['--parent-dir', `${base}/vm/`], s3.env).h, url).toBe(expected.c2);
    }
    // A server without an index cannot list the base there: one line, and what to do.
    const noIndex = diskpick(['--parent-dir', `${plain.http}/vm/`, 'ls', `${plain.http}/vm/Snapshots/${uuids.c2}`]);
    expect(noIndex.status).toBe(3);
    expect(noIndex.stderr.trim().split('\n')).toHaveLength(1);
    // Ordinary names in one folder: found by the folder's listing alone.
    for (const base of [indexed.http, 's3://backups/img']) {
      expect(ddSha(`${base}/pair/disk-child.vdi`, [], s3.env).h, base).toBe(expected.c1);
    }
    // The same reads of the local files agree.
    expect(ddSha(join(root, 'pair', 'disk-child.vdi')).h).toBe(expected.c1);
    expect(ddSha(join(root, 'vm', 'Snapshots', uuids.c2), ['--parent-dir', join(root, 'vm')]).h).toBe(expected.c2);
    // Nothing of the base was searched in the sibling folder of the top (pair/ is not allowed).
    expect(statSync(join(root, 'pair', 'disk-base.vdi')).size).toBeGreaterThan(0);
  });

  it('a long read of an image by URL shows the network throughput on a terminal; --json stays as it was', async () => {
    // 100 ms each way (bench/latency-proxy.cjs) makes the read last past the bar's first second.
    const port = await freePort();
    const proxy = spawn(process.execPath, [join(ROOT, 'bench', 'latency-proxy.cjs'), String(port), plain.http.replace('http://', ''), '100'], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise((resolve) => proxy.stdout.once('data', resolve));
      const file = join(out, 'tty.raw');
      // script(1) gives diskpick a terminal for stderr, where the bar is drawn.
      const r = spawnSync('script', ['-qec', `${CLI} dd http://127.0.0.1:${port}/disk.raw.001 -o ${file}`, '/dev/null'], { encoding: 'utf8' });
      expect(r.status, r.stdout).toBe(0);
      expect(sha256(readFileSync(file))).toBe(expected.split);
      const bars = r.stdout.split('\r').filter((l) => l.includes('%'));
      expect(bars.length, r.stdout).toBeGreaterThan(0);
      expect(bars[bars.length - 1]).toMatch(/\/s \(network \d[\d.]* (B|KiB|MiB)\/s\)/);
      rmSync(file);
    } finally {
      proxy.kill();
    }
    // extract --json over the URL: the same summary as from the local parts (no throughput in it).
    const summary = (img: string) => {
      const dir = mkdtempSync(join(out, 'x-'));
      const r = diskpick(['extract', '--json', img, '/p1/Users/anna/notes.txt', '-o', dir]);
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.toString().replaceAll(dir, 'DIR');
    };
    const remote = summary(`${plain.http}/disk.raw.001`);
    expect(remote).toBe(summary(join(root, 'disk.raw.001')));
    expect(remote).not.toMatch(/network/);
  });

  it('mounted by a URL with a password: files read as the manifest has them, and neither the output nor the log names the password', () => {
    const url = `${plain.http.replace('http://', 'http://reader:pw-in-url@')}/disk.raw.001`;
    const mnt = newMountpoint('remote');
    try {
      const m = mountDaemon(url, mnt);
      expect(sha256(readFileSync(join(mnt, 'p1', 'Users', 'anna', 'notes.txt')))).toBe(notes.sha256);
      expect(m.stderr()).toContain('mounted');
      expect(m.stderr()).not.toContain('pw-in-url');
    } finally {
      releaseAll();
    }
  });
});
