/**
 * The HTTP/1.1 reader of http-wire.ts against servers that answer the ways nginx does not:
 * chunked and close-delimited 206 bodies, an interim 100 answer, keep-alive connections the
 * server drops while idle, redirects, answers longer than asked, and request headers that would
 * split the request. The servers are written here on raw sockets (so each framing is exactly
 * what the test says); the oracle is the file they serve, byte for byte.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpFetcher } from '../../src/source/http.js';
import { RemoteSource } from '../../src/source/remote.js';

const data = randomBytes(3 * 1024 * 1024 + 777);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

type Mode = 'length' | 'chunked' | 'close' | 'continue' | 'idle-drop' | 'too-long';

/** A range server on raw sockets: each request's answer framed as `mode` says; /old redirects to /disk.img. */
function rangeServer(mode: Mode): Promise<{ url: string; server: Server; connections: () => number }> {
  let connections = 0;
  const server = createServer((sock: Socket) => {
    connections++;
    let buf = '';
    let answered = 0;
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      // A server whose keep-alive timer fires just as the next request comes: closed, unanswered.
      if (mode === 'idle-drop' && answered === 1) return void sock.destroy();
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const path = /^GET (\S+) HTTP\/1\.1/.exec(head)?.[1];
        if (path === '/old') {
          sock.write('HTTP/1.1 302 Found\r\nLocation: /disk.img\r\nContent-Length: 0\r\n\r\n');
          continue;
        }
        const m = /\r\nRange: bytes=(\d+)-(\d+)/i.exec(head)!;
        const [from, to] = [Number(m[1]), Math.min(Number(m[2]), data.length - 1)];
        const body = data.subarray(from, to + 1);
        const fields = `Content-Range: bytes ${from}-${to}/${data.length}\r\nETag: "v1"\r\n`;
        if (mode === 'chunked') {
          sock.write(`HTTP/1.1 206 Partial Content\r\n${fields}Transfer-Encoding: chunked\r\n\r\n`);
          // Uneven chunks, one with an extension, split across writes.
          for (let at = 0, k = 0; at < body.length; k++) {
            const n = Math.min(body.length - at, 1000 + ((k * 7919) % 70_000));
            sock.write(`${n.toString(16)}${k % 3 === 0 ? ';ext=1' : ''}\r\n`);
            sock.write(body.subarray(at, at + n));
            sock.write('\r\n');
            at += n;
          }
          sock.write('0\r\nX-Trailer: yes\r\n\r\n');
        } else if (mode === 'close') {
          sock.end(Buffer.concat([Buffer.from(`HTTP/1.1 206 Partial Content\r\n${fields}Connection: close\r\n\r\n`), body]));
          return;
        } else if (mode === 'too-long') {
          sock.write(`HTTP/1.1 206 Partial Content\r\n${fields}Content-Length: ${body.length + 10}\r\n\r\n`);
          sock.write(Buffer.concat([body, Buffer.alloc(10)]));
        } else {
          const interim = mode === 'continue' ? 'HTTP/1.1 100 Continue\r\n\r\n' : '';
          sock.write(Buffer.concat([Buffer.from(`${interim}HTTP/1.1 206 Partial Content\r\n${fields}Content-Length: ${body.length}\r\n\r\n`), body]));
        }
        answered++;
      }
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server, connections: () => connections })));
}

async function readAll(src: RemoteSource): Promise<Buffer> {
  const out = Buffer.alloc(src.size);
  for (let at = 0; at < src.size; ) at += await src.readInto(out, at, at, Math.min(1 << 20, src.size - at));
  return out;
}

describe('http-wire: HTTP/1.1 framings and connections', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  for (const mode of ['length', 'chunked', 'close', 'continue'] as const) {
    it(`reads every byte of 206 answers framed by ${mode}`, async () => {
      const s = await rangeServer(mode);
      server = s.server;
      // One attempt: any framing mistake is an error here, not a silent retry.
      const src = new RemoteSource(await HttpFetcher.open(`${s.url}/disk.img`, { attempts: 1 }, 64 * 1024), { blockSize: 64 * 1024 });
      expect(src.size).toBe(data.length);
      expect(sha(await readAll(src))).toBe(sha(data));
      expect((await src.read(1_000_003, 200_000)).equals(data.subarray(1_000_003, 1_200_003))).toBe(true);
      expect(src.transferred).toBeGreaterThanOrEqual(data.length);
      await src.close();
    });
  }

  it('recycles cache blocks without touching what a reader was handed', async () => {
    const s = await rangeServer('length');
    server = s.server;
    // A cache of 8 blocks: streaming 3 MiB through it evicts, drops behind and refills blocks many times over.
    const src = new RemoteSource(await HttpFetcher.open(`${s.url}/disk.img`, { attempts: 1 }), { blockSize: 64 * 1024, cacheBytes: 8 * 64 * 1024, maxReadAhead: 1 << 20, maxRequest: 256 * 1024 });
    const views = await Promise.all([src.read(70_000, 1000), src.read(2_100_000, 64), src.read(0, 65_536)]);
    for (let pass = 0; pass < 3; pass++) expect(sha(await readAll(src))).toBe(sha(data));
    expect(views[0]!.equals(data.subarray(70_000, 71_000))).toBe(true);
    expect(views[1]!.equals(data.subarray(2_100_000, 2_100_064))).toBe(true);
    expect(views[2]!.equals(data.subarray(0, 65_536))).toBe(true);
    await src.close();
  });

  it('reuses kept-alive connections', async () => {
    const s = await rangeServer('length');
    server = s.server;
    const f = await HttpFetcher.open(`${s.url}/disk.img`, { attempts: 1 });
    for (const at of [100, 2000, 3_000_000]) expect((await f.fetch(at, 1000)).equals(data.subarray(at, at + 1000))).toBe(true);
    expect(s.connections()).toBe(1);
    await f.close();
  });

  it('goes again at once on a new connection when the server closed a kept-alive one as the request came', async () => {
    const s = await rangeServer('idle-drop');
    server = s.server;
    // One attempt: the request never reached the server, so going again is not a retry.
    const f = await HttpFetcher.open(`${s.url}/disk.img`, { attempts: 1 });
    for (const at of [100, 2000, 3_000_000]) expect((await f.fetch(at, 1000)).equals(data.subarray(at, at + 1000))).toBe(true);
    expect(s.connections()).toBe(4);
    await f.close();
  });

  it('follows a redirect, and fails in one line on answers longer than asked', async () => {
    const s = await rangeServer('length');
    server = s.server;
    const f = await HttpFetcher.open(`${s.url}/old`, { attempts: 1 });
    expect((await f.fetch(10, 100)).equals(data.subarray(10, 110))).toBe(true);
    await f.close();
    s.server.close();
    const t = await rangeServer('too-long');
    server = t.server;
    const err = await HttpFetcher.open(`${t.url}/disk.img`, { attempts: 2 }).catch((e: { toLine(): string }) => e.toLine());
    expect(err).toBe(`${t.url}/disk.img: the server sent more than the 1 bytes asked (after 2 attempts)`);
  });

  it('refuses a header that would split the request', async () => {
    await expect(HttpFetcher.open('http://127.0.0.1:9/disk.img', { headers: ['X-A: b\r\nHost: evil'] })).rejects.toThrow(/--http-header takes "Name: value"/);
  });
});
