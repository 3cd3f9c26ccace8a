/**
 * `diskpick serve` as its clients see it: rclone (a real WebDAV client) and unzip against the
 * demo image's manifest of what was written, a headless Chromium against names built to inject
 * markup, and raw HTTP for every method, range, condition, hostile path and header. The server
 * runs as the built command, on an ephemeral loopback port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, cachedImage, sha256, sha256File, tool } from '../helpers/tools.js';

const DEMO = join(ROOT, 'images', 'fileserver.vmdk');
interface ManifestEntry { path: string; type: string; size: number; sha256?: string; mtime: number }
const manifest = (JSON.parse(readFileSync(join(ROOT, 'images', 'fileserver.manifest.json'), 'utf8')) as Record<string, ManifestEntry[]>).p1!;
const files = manifest.filter((e) => e.type === 'file');

interface Served { proc: ChildProcess; url: string; token: string | null; stderr: string[] }

async function startServer(args: string[]): Promise<Served> {
  const proc = spawn(process.execPath, [CLI, 'serve', ...args, '--listen', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr: string[] = [];
  proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    rl.once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr.join('')}`)));
  });
  const j = JSON.parse(line) as { url: string; token: string | null };
  return { proc, url: j.url, token: j.token, stderr };
}

async function stopServer(s: Served): Promise<number | null> {
  const done = new Promise<number | null>((resolve) => s.proc.once('exit', (code) => resolve(code)));
  s.proc.kill('SIGTERM');
  return done;
}

interface Res { status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }

function http(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Res> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, method, path, headers: { Host: u.host, ...headers } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const enc = (p: string) => p.split('/').map(encodeURIComponent).join('/');

describe('diskpick serve on the demo image', () => {
  let s: Served;
  let imageSha: string;
  const base = '/fileserver.vmdk/p1';

  beforeAll(async () => {
    imageSha = await sha256File(DEMO);
    s = await startServer([DEMO]);
  });
  afterAll(async () => {
    if (s) expect(await stopServer(s)).toBe(0);
    // Served, listed, downloaded and zipped: the image is unchanged.
    expect(await sha256File(DEMO)).toBe(imageSha);
  });

  it('lists and copies every file through rclone, byte for byte and with its times', () => {
    const list = JSON.parse(tool('rclone', ['lsjson', '-R', ':webdav:', '--webdav-url', `${s.url}fileserver.vmdk/p1/`, '--config', '/dev/null'])) as { Path: string; Size: number; IsDir: boolean; ModTime: string }[];
    const got = new Map(list.map((e) => [`/${e.Path}`, e]));
    for (const m of manifest) {
      const e = got.get(m.path);
      expect(e, m.path).toBeDefined();
      expect(e!.IsDir).toBe(m.type === 'dir');
      if (m.type === 'file') {
        expect(e!.Size).toBe(m.size);
        expect(Math.floor(Date.parse(e!.ModTime) / 1000)).toBe(m.mtime);
      }
    }
    expect(list.length).toBe(manifest.length);
    const out = mkdtempSync(join(tmpdir(), 'dp-serve-rclone-'));
    try {
      tool('rclone', ['copy', ':webdav:', out, '--webdav-url', `${s.url}fileserver.vmdk/p1/`, '--config', '/dev/null']);
      for (const f of files) {
        expect(sha256(readFileSync(join(out, f.path))), f.path).toBe(f.sha256);
        expect(Math.floor(statSync(join(out, f.path)).mtimeMs / 1000), f.path).toBe(f.mtime);
      }
      tool('rclone', ['check', ':webdav:', out, '--webdav-url', `${s.url}fileserver.vmdk/p1/`, '--config', '/dev/null']);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('answers PROPFIND depth 0 and 1 with every entry and refuses depth infinity', async () => {
    const r = await http(s.url, 'PROPFIND', `${base}/Users/anna/`, { Depth: '1' });
    expect(r.status).toBe(207);
    const xml = r.body.toString();
    const kids = manifest.filter((m) => m.path.startsWith('/Users/anna/') && m.path.split('/').length === 4);
    for (const k of kids) expect(xml).toContain(`<D:href>${base}${enc(k.path)}${k.type === 'dir' ? '/' : ''}</D:href>`);
    expect(xml.match(/<D:response>/g)!.length).toBe(kids.length + 1);
    const notes = files.find((f) => f.path === '/Users/anna/notes.txt')!;
    expect(xml).toContain(`<D:getcontentlength>${notes.size}</D:getcontentlength>`);
    const zero = await http(s.url, 'PROPFIND', `${base}/Users/anna/notes.txt`, { Depth: '0' }, '<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getcontentlength/><quota-used-bytes/></prop></propfind>');
    expect(zero.status).toBe(207);
    expect(zero.body.toString()).toContain(`<D:getcontentlength>${notes.size}</D:getcontentlength>`);
    expect(zero.body.toString()).toMatch(/<D:quota-used-bytes\/><\/D:prop><D:status>HTTP\/1.1 404 Not Found/);
    const inf = await http(s.url, 'PROPFIND', `${base}/`, { Depth: 'infinity' });
    expect(inf.status).toBe(403);
    expect(inf.body.toString()).toContain('propfind-finite-depth');
    const opt = await http(s.url, 'OPTIONS', '/');
    expect(opt.headers.dav).toBe('1');
  });

  it('serves ranges, several ranges, and the conditional requests', async () => {
    const f = files.find((x) => x.size > 100_000)!;
    const path = `${base}${enc(f.path)}`;
    const whole = await http(s.url, 'GET', path);
    expect(whole.status).toBe(200);
    expect(sha256(whole.body)).toBe(f.sha256);
    const etag = whole.headers.etag as string;
    const one = await http(s.url, 'GET', path, { Range: 'bytes=1000-1999' });
    expect(one.status).toBe(206);
    expect(one.headers['content-range']).toBe(`bytes 1000-1999/${f.size}`);
    expect(one.body.equals(whole.body.subarray(1000, 2000))).toBe(true);
    const suffix = await http(s.url, 'GET', path, { Range: 'bytes=-500' });
    expect(suffix.body.equals(whole.body.subarray(f.size - 500))).toBe(true);
    const multi = await http(s.url, 'GET', path, { Range: 'bytes=0-9,5000-5099' });
    expect(multi.status).toBe(206);
    const boundary = /boundary=(\w+)/.exec(multi.headers['content-type'] as string)![1]!;
    const parts = multi.body.toString('latin1').split(`--${boundary}`).slice(1, -1);
    expect(parts).toHaveLength(2);
    const bodyOf = (p: string) => Buffer.from(p.slice(p.indexOf('\r\n\r\n') + 4, -2), 'latin1');
    expect(bodyOf(parts[0]!).equals(whole.body.subarray(0, 10))).toBe(true);
    expect(bodyOf(parts[1]!).equals(whole.body.subarray(5000, 5100))).toBe(true);
    expect(Number(multi.headers['content-length'])).toBe(multi.body.length);
    expect((await http(s.url, 'GET', path, { Range: `bytes=${f.size}-` })).status).toBe(416);
    expect((await http(s.url, 'GET', path, { 'If-None-Match': etag })).status).toBe(304);
    expect((await http(s.url, 'GET', path, { 'If-Modified-Since': new Date((f.mtime + 10) * 1000).toUTCString() })).status).toBe(304);
    expect((await http(s.url, 'GET', path, { 'If-Modified-Since': new Date((f.mtime - 10) * 1000).toUTCString() })).status).toBe(200);
    const stale = await http(s.url, 'GET', path, { Range: 'bytes=0-9', 'If-Range': '"other"' });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(f.size);
    const head = await http(s.url, 'HEAD', path);
    expect(head.status).toBe(200);
    expect(Number(head.headers['content-length'])).toBe(f.size);
    expect(head.body.length).toBe(0);
  });

  it('refuses every method that writes, saying it is read-only', async () => {
    for (const m of ['PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK']) {
      const r = await http(s.url, m, `${base}/Users/anna/notes.txt`, {}, m === 'PUT' ? 'overwrite' : undefined);
      expect([403, 405], m).toContain(r.status);
      expect(r.body.toString(), m).toMatch(/read-only/);
    }
  });

  it('decodes each request path once and never leaves the tree', async () => {
    const outside = await http(s.url, 'GET', '/%2e%2e/%2e%2e/%2e%2e/etc/passwd');
    expect(outside.status).toBe(404);
    expect((await http(s.url, 'GET', `${base}/Users%2fanna/notes.txt`)).status).toBe(400);
    expect((await http(s.url, 'GET', `${base}/Users/anna/notes.txt%00.jpg`)).status).toBe(400);
    expect((await http(s.url, 'GET', `${base}/%c0%ae%c0%ae/Users`)).status).toBe(400);
    expect((await http(s.url, 'GET', `${base}/%zz`)).status).toBe(400);
    const dotdot = await http(s.url, 'GET', `${base}/Users/../Users/./anna/notes.txt`);
    expect(dotdot.status).toBe(200);
    expect(sha256(dotdot.body)).toBe(files.find((f) => f.path === '/Users/anna/notes.txt')!.sha256);
  });

  it('checks Host and Origin against DNS rebinding and cross-site requests', async () => {
    expect((await http(s.url, 'GET', `${base}/Users/anna/notes.txt`, { Host: 'evil.example:80' })).status).toBe(403);
    expect((await http(s.url, 'GET', `${base}/Users/anna/notes.txt`, { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await http(s.url, 'GET', `${base}/Users/anna/notes.txt`, { Host: `localhost:${new URL(s.url).port}` })).status).toBe(200);
  });

  it('streams a folder and a selection as ZIP archives equal to the manifest', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-serve-zip-'));
    try {
      const z = await http(s.url, 'GET', `${base}/?zip`);
      expect(z.status).toBe(200);
      writeFileSync(join(dir, 'all.zip'), z.body);
      tool('unzip', ['-q', join(dir, 'all.zip'), '-d', join(dir, 'all')]);
      for (const f of files) {
        const p = join(dir, 'all', 'p1', f.path);
        expect(sha256(readFileSync(p)), f.path).toBe(f.sha256);
        expect(Math.floor(statSync(p).mtimeMs / 1000), f.path).toBe(f.mtime);
      }
      const sel = await http(s.url, 'POST', `${base}/Users/anna/?zip`, { 'Content-Type': 'application/x-www-form-urlencoded' }, 'name=notes.txt&name=Documents');
      expect(sel.status).toBe(200);
      writeFileSync(join(dir, 'sel.zip'), sel.body);
      const names = tool('unzip', ['-Z1', join(dir, 'sel.zip')]).trim().split('\n').sort();
      const want = manifest.filter((m) => m.path === '/Users/anna/notes.txt' || m.path.startsWith('/Users/anna/Documents')).map((m) => m.path.slice('/Users/anna/'.length) + (m.type === 'dir' ? '/' : '')).sort();
      expect(names).toEqual(want);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('diskpick serve through davfs2 (the kernel mounts it)', () => {
  const root = process.getuid?.() === 0 && spawnSync('sh', ['-c', 'command -v mount.davfs']).status === 0;
  it.skipIf(!root)('reads every file by its path, equal to the manifest', async () => {
    const s = await startServer([DEMO]);
    const mnt = mkdtempSync(join(tmpdir(), 'dp-serve-dav-'));
    const cache = mkdtempSync(join(tmpdir(), 'dp-serve-davcache-'));
    spawnSync('chmod', ['1777', cache]);
    const conf = join(cache, 'davfs2.conf');
    writeFileSync(conf, `use_locks 0\ncache_dir ${cache}\nask_auth 0\n`);
    try {
      const m = spawnSync('mount', ['-t', 'davfs', '-o', `ro,conf=${conf}`, s.url, mnt], { encoding: 'utf8', input: '', timeout: 60_000 });
      expect(m.status, m.stderr).toBe(0);
      try {
        // Lookups and reads only: davfs2 1.6.1 answers every readdir with EINVAL on this
        // kernel (6.x) whatever the server (rclone's own WebDAV server shows the same), so a
        // find over the mount cannot be the oracle here; rclone's walk above is.
        for (const f of files) {
          const p = join(mnt, 'fileserver.vmdk', 'p1', f.path);
          expect(sha256(readFileSync(p)), f.path).toBe(f.sha256);
          const st = statSync(p);
          expect(st.size, f.path).toBe(f.size);
          expect(Math.floor(st.mtimeMs / 1000), f.path).toBe(f.mtime);
        }
      } finally {
        spawnSync('umount', [mnt], { timeout: 60_000 });
      }
    } finally {
      await stopServer(s);
      rmSync(mnt, { recursive: true, force: true });
      rmSync(cache, { recursive: true, force: true });
    }
  });
});

describe('diskpick serve with a token', () => {
  it('asks for the token by Basic, Bearer or the printed URL, and refuses without it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-serve-token-'));
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, 'sesame-1234\n');
    const s = await startServer([DEMO, '--token-file', tokenFile]);
    try {
      expect(s.token).toBe('sesame-1234');
      const path = '/fileserver.vmdk/p1/Users/anna/notes.txt';
      const none = await http(s.url, 'GET', path);
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toMatch(/^Basic/);
      expect((await http(s.url, 'GET', path, { Authorization: `Basic ${Buffer.from('x:wrong').toString('base64')}` })).status).toBe(401);
      expect((await http(s.url, 'GET', path, { Authorization: `Basic ${Buffer.from('anyone:sesame-1234').toString('base64')}` })).status).toBe(200);
      expect((await http(s.url, 'GET', path, { Authorization: 'Bearer sesame-1234' })).status).toBe(200);
      const link = await http(s.url, 'GET', '/?token=sesame-1234');
      expect(link.status).toBe(303);
      const cookie = (link.headers['set-cookie'] as string[])[0]!.split(';')[0]!;
      expect((await http(s.url, 'GET', path, { Cookie: cookie })).status).toBe(200);
      // The token never shows in what the server writes.
      expect(s.stderr.join('')).not.toContain('sesame');
    } finally {
      await stopServer(s);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('diskpick serve and names built to inject markup', () => {
  const hostileNames = ['<img src=x onerror=alert(1)>.txt', '"><svg onload=alert(2)>', 'ctl\x1b[2Jname.txt', 'a&b;c.txt'];

  function hostileImage(): string {
    return cachedImage('serve-hostile-names.img', (p) => {
      const tree = mkdtempSync(join(tmpdir(), 'dp-serve-names-'));
      try {
        mkdirSync(join(tree, 'names'));
        hostileNames.forEach((n, i) => writeFileSync(join(tree, 'names', n), `file ${i}\n`));
        tool('truncate', ['-s', '8M', p]);
        tool('mkfs.ext4', ['-q', '-F', '-d', tree, p]);
      } finally {
        rmSync(tree, { recursive: true, force: true });
      }
    });
  }

  it('shows them as text in the page, in PROPFIND and in JSON, and Chromium runs none of them', async () => {
    const img = hostileImage();
    const before = await sha256File(img);
    const s = await startServer([img]);
    try {
      const dir = `/serve-hostile-names.img/p0/names/`;
      const pf = await http(s.url, 'PROPFIND', dir, { Depth: '1' });
      const xml = pf.body.toString();
      expect(xml).not.toMatch(/[\x00-\x08\x0b\x0c\x0e-\x1f]/);
      expect(xml).toContain('<D:displayname>&lt;img src=x onerror=alert(1)&gt;.txt</D:displayname>');
      expect(xml).toContain('<D:displayname>a&amp;b;c.txt</D:displayname>');
      const list = JSON.parse((await http(s.url, 'GET', `${dir}?list`)).body.toString()) as { entries: { name: string; href: string }[] };
      expect(list.entries.map((e) => e.name).sort()).toEqual([...hostileNames].sort());
      for (const e of list.entries) {
        const r = await http(s.url, 'GET', e.href);
        expect(r.body.toString(), e.name).toBe(`file ${hostileNames.indexOf(e.name)}\n`);
      }
      const chrome = spawnSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--virtual-time-budget=5000', '--dump-dom', `${s.url.replace(/\/$/, '')}${dir}`], { encoding: 'utf8', timeout: 60_000 });
      expect(chrome.status, chrome.stderr).toBe(0);
      const dom = chrome.stdout;
      // The listing rendered (the script ran) and every name is text, not markup.
      expect(dom).toContain('4 entries');
      expect(dom).toContain('&lt;img src=x onerror=alert(1)&gt;.txt');
      expect(dom).toContain('"&gt;&lt;svg onload=alert(2)&gt;');
      expect(dom).not.toMatch(/<img[^>]*onerror/i);
      expect(dom).not.toMatch(/<svg[^>]*onload/i);
    } finally {
      await stopServer(s);
    }
    expect(await sha256File(img)).toBe(before);
  });
});
