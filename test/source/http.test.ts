/**
 * HttpFetcher + RemoteSource against a real nginx on loopback, and through a proxy in the test
 * that injects 5xx answers, dropped connections and latency: the bytes read equal the local
 * file's, only the bytes needed cross the wire, a file replaced during the read and a server
 * that ignores ranges are one-line errors, credentials never show in messages.
 */
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpFetcher, redactUrl } from '../../src/source/http.js';
import { RemoteSource } from '../../src/source/remote.js';
import { pump } from '../../src/source/chunks.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(src: RemoteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pump(src, (c) => void parts.push(Buffer.from(c)));
  return Buffer.concat(parts);
}

/** A proxy to `target` that fails some requests: every `failEvery`-th answers 503, every `dropEvery`-th is cut mid-body. */
function faultyProxy(target: string, failEvery: number, dropEvery: number, delayMs: number): Promise<{ url: string; server: Server; requests: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    const k = ++n;
    setTimeout(() => {
      if (k % failEvery === 0) {
        res.statusCode = 503;
        res.end('busy');
        return;
      }
      const up = request(`${target}${req.url}`, { headers: req.headers, method: req.method }, (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        if (k % dropEvery === 0) {
          ur.once('data', (c: Buffer) => {
            res.write(c.subarray(0, Math.floor(c.length / 2)));
            res.destroy();
            ur.destroy();
          });
        } else ur.pipe(res);
      });
      up.end();
    }, delayMs);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, requests: () => n })));
}

describe('images over HTTP(S)', () => {
  let root: string;
  let nginx: Nginx;
  let data: Buffer;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'dp-http-root-'));
    // nginx's workers run as an unprivileged user: the folder must be open to them.
    chmodSync(root, 0o755);
    data = randomBytes(24 * 1024 * 1024 + 12345);
    writeFileSync(join(root, 'disk.img'), data);
    nginx = await startNginx(root);
  });
  afterAll(() => {
    nginx?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('reads every byte as the local file has it, sequentially and scattered', async () => {
    const src = new RemoteSource(await HttpFetcher.open(`${nginx.http}/disk.img`));
    expect(src.size).toBe(data.length);
    expect(sha(await readAll(src))).toBe(sha(data));
    for (const [off, len] of [[0, 1], [5_000_000, 300_000], [data.length - 100, 100], [262_143, 2]] as const) {
      expect((await src.read(off, len)).equals(data.subarray(off, off + len))).toBe(true);
    }
    await src.close();
  });

  it('reads only what it needs: a few KiB from far into a large file cost one block', async () => {
    const src = new RemoteSource(await HttpFetcher.open(`${nginx.http}/disk.img`));
    await src.read(20_000_000, 4096);
    await src.read(20_001_000, 4096);
    expect(src.transferred).toBeLessThanOrEqual(256 * 1024 + 1);
    await src.close();
  });

  it('verifies TLS: a self-signed server is refused unless --insecure', async () => {
    await expect(HttpFetcher.open(`${nginx.https}/disk.img`)).rejects.toThrow(/TLS certificate not trusted/);
    const src = new RemoteSource(await HttpFetcher.open(`${nginx.https}/disk.img`, { insecure: true }));
    expect((await src.read(1000, 5000)).equals(data.subarray(1000, 6000))).toBe(true);
    await src.close();
  });

  it('retries 5xx answers and dropped connections, through latency, and still reads every byte', async () => {
    const proxy = await faultyProxy(nginx.http, 3, 5, 20);
    try {
      const src = new RemoteSource(await HttpFetcher.open(`${proxy.url}/disk.img`));
      expect(sha(await readAll(src))).toBe(sha(data));
      expect(proxy.requests()).toBeGreaterThan(5);
      await src.close();
    } finally {
      proxy.server.close();
    }
  });

  it('stops with one line when the file changes during the read', async () => {
    copyFileSync(join(root, 'disk.img'), join(root, 'moving.img'));
    chmodSync(join(root, 'moving.img'), 0o644);
    const src = new RemoteSource(await HttpFetcher.open(`${nginx.http}/moving.img`));
    await src.read(0, 1000);
    const other = randomBytes(data.length);
    writeFileSync(join(root, 'moving.img.new'), other);
    // nginx's ETag is mtime and size: a replacement made within the same second would carry the same one.
    utimesSync(join(root, 'moving.img.new'), Date.now() / 1000 + 60, Date.now() / 1000 + 60);
    renameSync(join(root, 'moving.img.new'), join(root, 'moving.img'));
    await expect(src.read(10_000_000, 1000)).rejects.toThrow(/changed on the server during the read/);
    await src.close();
  });

  it('refuses a server that ignores ranges, names missing files, and never shows credentials', async () => {
    const plain = createServer((_req, res) => res.end(data.subarray(0, 100_000)));
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', () => r()));
    const port = (plain.address() as { port: number }).port;
    try {
      await expect(HttpFetcher.open(`http://127.0.0.1:${port}/x.img`)).rejects.toThrow(/ignores range requests/);
    } finally {
      plain.close();
    }
    const err = await HttpFetcher.open(`http://anna:s3cret@127.0.0.1:${new URL(nginx.http).port}/missing.img?X-Amz-Signature=abcdef`).catch((e: Error) => e);
    expect(String((err as { toLine(): string }).toLine())).toMatch(/no such file on the server \(404\)/);
    expect(String((err as { toLine(): string }).toLine())).not.toMatch(/anna|s3cret|abcdef/);
    expect(redactUrl('https://u:p@h.example/a/b.vmdk?sig=1')).toBe('https://h.example/a/b.vmdk?…');
  });

  it('reads a real image file the same over HTTP as from disk', async () => {
    const demo = join(__dirname, '..', '..', 'images', 'fileserver.vmdk');
    copyFileSync(demo, join(root, 'fileserver.vmdk'));
    chmodSync(join(root, 'fileserver.vmdk'), 0o644);
    const src = new RemoteSource(await HttpFetcher.open(`${nginx.http}/fileserver.vmdk`));
    expect(sha(await readAll(src))).toBe(sha(readFileSync(demo)));
    await src.close();
  });
});
