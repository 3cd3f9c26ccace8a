/**
 * How RemoteSource and the HTTP reader behave under a stream of big reads (extract over a link
 * with latency): each block goes to its readers as soon as it is whole, reads that share a
 * block at their border never make it fetched twice, and the opening asks for the file's tail
 * only when a format that looks there could match. The oracles are the bytes served (random,
 * made here), the requests a server on raw sockets saw, and qemu-img's images.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { openRemoteContainer } from '../../src/container/remote-open.js';
import { HttpFetcher } from '../../src/source/http.js';
import { RemoteSource, type RangeFetcher } from '../../src/source/remote.js';

/**
 * Serves the files in `files` by range on raw sockets, recording every range asked for. A
 * request for `stallPath` sends its head and the first `stallAt` body bytes, then waits for
 * `release()`.
 */
function server(files: Record<string, Buffer>, stall?: { path: string; at: number }) {
  const ranges: { path: string; from: number; to: number }[] = [];
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => (release = r));
  const srv = createServer((sock: Socket) => {
    let buf = '';
    sock.on('error', () => undefined);
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const path = /^GET (\S+) HTTP\/1\.1/.exec(head)![1]!;
        const data = files[path];
        if (!data) {
          sock.write('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
          continue;
        }
        const m = /\r\nRange: bytes=(\d+)-(\d+)/i.exec(head)!;
        const [from, to] = [Number(m[1]), Math.min(Number(m[2]), data.length - 1)];
        ranges.push({ path, from, to });
        const body = data.subarray(from, to + 1);
        sock.write(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${from}-${to}/${data.length}\r\nETag: "v1"\r\nContent-Length: ${body.length}\r\n\r\n`);
        if (stall && path === stall.path && body.length > stall.at) {
          sock.write(body.subarray(0, stall.at));
          void released.then(() => sock.write(body.subarray(stall.at)));
        } else sock.write(body);
      }
    });
  });
  return new Promise<{ url: string; srv: Server; ranges: typeof ranges; release: () => void }>((resolve) =>
    srv.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, srv, ranges, release })),
  );
}

describe('RemoteSource under a stream of big reads', () => {
  let srv: Server | undefined;
  afterEach(() => srv?.close());

  it('hands a block to its readers as soon as it is whole, before the rest of the answer', async () => {
    const data = randomBytes(4 << 20);
    const s = await server({ '/disk.img': data }, { path: '/disk.img', at: 300 * 1024 });
    srv = s.srv;
    const src = new RemoteSource(await HttpFetcher.open(`${s.url}/disk.img`, { attempts: 1 }), { blockSize: 256 * 1024, maxRequest: 4 << 20 });
    // One request for the whole file; the server sends its first 300 KiB and stops.
    const all = Buffer.alloc(data.length);
    const whole = src.readInto(all, 0, 0, data.length);
    const first = Buffer.alloc(256 * 1024);
    const early = await Promise.race([src.readInto(first, 0, 0, first.length), new Promise<number>((r) => setTimeout(() => r(-1), 5000))]);
    expect(early).toBe(first.length);
    expect(first.equals(data.subarray(0, first.length))).toBe(true);
    expect(s.ranges.map((r) => [r.from, r.to])).toEqual([[0, 0], [0, data.length - 1]]);
    s.release();
    expect(await whole).toBe(data.length);
    expect(all.equals(data)).toBe(true);
    await src.close();
  });

  it('never fetches a block twice when two reads under way share it and the later one ends first', async () => {
    const bs = 64 * 1024;
    const data = randomBytes(4 * bs);
    // A transport whose blocks arrive when the test says: the later read's first.
    const asked: [number, number][] = [];
    const answers: { onBlock: (k: number, b: Buffer) => void; offset: number; done: (b: Buffer[]) => void }[] = [];
    const fetcher: RangeFetcher = {
      name: 'test', size: data.length, transferred: 0, lastModified: null,
      fetch: async (o, l) => Buffer.from(data.subarray(o, o + l)),
      fetchBlocks: (offset, length, blockSize, _alloc, onBlock) => {
        asked.push([offset, length]);
        return new Promise((done) => answers.push({ onBlock: onBlock!, offset, done }));
      },
      close: async () => undefined,
    };
    // A window of one block is the largest at once: the second read is a stream read that drops behind.
    const src = new RemoteSource(fetcher, { blockSize: bs, maxReadAhead: bs });
    const a = Buffer.alloc(bs);
    const b = Buffer.alloc(bs);
    const ra = src.readInto(a, 0, bs / 2, bs); // blocks 0 and 1
    const rb = src.readInto(b, 0, bs / 2 + bs, bs); // blocks 1 and 2
    expect(asked).toEqual([[0, 2 * bs], [2 * bs, bs]]);
    const block = (k: number) => Buffer.from(data.subarray(k * bs, (k + 1) * bs));
    answers[0]!.onBlock(1, block(1));
    answers[1]!.onBlock(0, block(2));
    expect(await rb).toBe(bs);
    answers[0]!.onBlock(0, block(0));
    expect(await ra).toBe(bs);
    answers[0]!.done([block(0), block(1)]);
    answers[1]!.done([block(2)]);
    expect(a.equals(data.subarray(bs / 2, bs / 2 + bs))).toBe(true);
    expect(b.equals(data.subarray(bs / 2 + bs, bs / 2 + 2 * bs))).toBe(true);
    // Block 1 was asked for once, in the first request.
    expect(asked).toEqual([[0, 2 * bs], [2 * bs, bs]]);
    await src.close();
  });
});

describe('opening a remote image', () => {
  const dir = mkdtempSync(join(tmpdir(), 'diskpick-remote-stream-'));
  let srv: Server | undefined;
  afterEach(() => srv?.close());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the tail only where a format that looks there could match (a fixed VHD still opens)', async () => {
    // 8 MiB of guest data at 0 and at 40 MiB; the image's last cluster holds the second part.
    const raw = join(dir, 'disk.raw');
    const guest = Buffer.alloc(48 << 20);
    randomBytes(1 << 20).copy(guest, 0);
    randomBytes(1 << 20).copy(guest, 40 << 20);
    writeFileSync(raw, guest);
    execFileSync('qemu-img', ['convert', '-O', 'qcow2', raw, join(dir, 'disk.qcow2')]);
    execFileSync('qemu-img', ['convert', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', raw, join(dir, 'fixed.vhd')]);
    const qcow2 = readFileSync(join(dir, 'disk.qcow2'));
    const vhd = readFileSync(join(dir, 'fixed.vhd'));
    const s = await server({ '/disk.qcow2': qcow2, '/fixed.vhd': vhd });
    srv = s.srv;
    const opts = { blockSize: 64 * 1024 };
    const c = await openRemoteContainer(`${s.url}/disk.qcow2`, opts);
    expect(c.format).toBe('qcow2');
    expect((await c.read(0, 4096)).equals(guest.subarray(0, 4096))).toBe(true);
    await c.close();
    expect(s.ranges.length).toBeGreaterThan(0);
    for (const r of s.ranges) expect(r.to).toBeLessThan(qcow2.length - 512);
    const v = await openRemoteContainer(`${s.url}/fixed.vhd`, opts);
    expect(v.format).toBe('vhd');
    expect((await v.read(40 << 20, 4096)).equals(guest.subarray(40 << 20, (40 << 20) + 4096))).toBe(true);
    await v.close();
    expect(s.ranges.some((r) => r.path === '/fixed.vhd' && r.to === vhd.length - 1)).toBe(true);
  });
});
