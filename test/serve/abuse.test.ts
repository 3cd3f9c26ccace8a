/**
 * The server under abuse, on loopback, bounded in time: malformed and random request lines,
 * oversized headers, a slow client that never finishes its headers, more connections than
 * allowed. Each must end in a refusal or a closed socket, and the server must go on answering.
 */
import { connect } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { DiskpickServer } from '../../src/serve/server.js';
import { ServedTree } from '../../src/serve/tree.js';
import { ROOT, sha256File } from '../helpers/tools.js';

const DEMO = join(ROOT, 'images', 'fileserver.vmdk');

/** Sends raw bytes, returns what came back before the server closed (or `ms` passed). */
function raw(port: number, data: string | Buffer, ms = 3000): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    const parts: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed: false });
    }, ms);
    sock.on('data', (d) => parts.push(d));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ text: Buffer.concat(parts).toString('latin1'), closed: true });
    });
    sock.on('error', () => undefined);
    sock.write(data);
  });
}

function seeded(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

describe('diskpick serve under abuse', () => {
  let server: DiskpickServer;
  let port: number;
  let before: string;
  const ok = async () => {
    const r = await raw(port, 'GET /fileserver.vmdk/p1/Users/anna/notes.txt HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    expect(r.text.startsWith('HTTP/1.1 200')).toBe(true);
  };

  beforeAll(async () => {
    before = await sha256File(DEMO);
    const vfs = await Vfs.open(DEMO);
    server = new DiskpickServer(new ServedTree([{ path: DEMO, vfs }]), { host: '127.0.0.1', port: 0, headersTimeoutMs: 1500, maxConnections: 20 });
    port = (await server.listen()).port;
  });
  afterAll(async () => {
    await server.close();
    expect(await sha256File(DEMO)).toBe(before);
  });

  it('refuses malformed request lines and oversized headers, and goes on', async () => {
    for (const bad of ['GARBAGE\r\n\r\n', 'GET\r\n\r\n', 'GET /a HTTP/9.9\r\n\r\n', 'GET /\x00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n', `GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX: ${'a'.repeat(64 * 1024)}\r\n\r\n`]) {
      const r = await raw(port, bad);
      expect(r.closed, JSON.stringify(bad.slice(0, 40))).toBe(true);
      if (r.text) expect(r.text, JSON.stringify(bad.slice(0, 40))).toMatch(/^HTTP\/1\.1 (400|403|404|431|505)/);
    }
    await ok();
  });

  it('survives 2000 random request lines (seeded), answering each with a status or a close', async () => {
    const rnd = seeded(20261203);
    const methods = ['GET', 'HEAD', 'PROPFIND', 'OPTIONS', 'POST', 'PUT', 'LOCK', 'BREW'];
    const pieces = ['/', '..', '%2e', '%2f', '%00', '%c0%ae', '\\', '?zip', '?search=*', '?list', '?info', '?preview', '?token=x', 'fileserver.vmdk', 'p1', 'Users', '%ff', '//', '#'];
    const batch: Promise<{ text: string; closed: boolean }>[] = [];
    for (let i = 0; i < 2000; i++) {
      let path = '/';
      const n = Math.floor(rnd() * 8);
      for (let j = 0; j < n; j++) path += pieces[Math.floor(rnd() * pieces.length)]!;
      const m = methods[Math.floor(rnd() * methods.length)]!;
      const depth = ['0', '1', 'infinity', 'x'][Math.floor(rnd() * 4)]!;
      batch.push(raw(port, `${m} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: ${depth}\r\nRange: bytes=${Math.floor(rnd() * 100)}-${Math.floor(rnd() * 100)}\r\nConnection: close\r\n\r\n`, 10_000));
      if (batch.length === 16) {
        for (const r of await Promise.all(batch)) {
          expect(r.closed).toBe(true);
          if (r.text) expect(r.text).toMatch(/^HTTP\/1\.1 [1-5]\d\d /);
          expect(r.text).not.toMatch(/internal error|at .*\.js:\d+/);
        }
        batch.length = 0;
      }
    }
    await ok();
  }, 120_000);

  it('closes a slow client that never finishes its headers (slowloris)', async () => {
    const t0 = Date.now();
    const r = await raw(port, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ', 8000);
    expect(r.closed).toBe(true);
    expect(Date.now() - t0).toBeLessThan(6000);
    await ok();
  });

  it('closes connections past its limit instead of queueing without bound', async () => {
    const socks = Array.from({ length: 40 }, () => connect(port, '127.0.0.1'));
    const closed = await Promise.all(socks.map((s) => new Promise<boolean>((resolve) => {
      s.on('error', () => undefined);
      s.on('close', () => resolve(true));
      setTimeout(() => resolve(false), 1000);
    })));
    expect(closed.filter(Boolean).length).toBeGreaterThanOrEqual(20);
    for (const s of socks) s.destroy();
    await new Promise((r) => setTimeout(r, 200));
    await ok();
  });
});
