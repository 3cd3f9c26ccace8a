/**
 * HTTP/1.1 (RFC 9112) on plain `net`/`tls` sockets, for the one kind of exchange an image read
 * needs: a GET with a Range header whose answer body goes into cache blocks. Node's own client
 * (http.request) costs 1.8 s of CPU per GiB read over loopback (curl: 0.05 s): a Readable
 * stream, a 64 KiB buffer allocated per socket read and garbage-collected, a copy of each into
 * the block. Here a plain-HTTP socket reads (`onread`) straight into the block the body bytes
 * belong in — the kernel's copy is the only one — and the head into one reused scratch buffer.
 * TLS sockets hand their decrypted records over as 'data' (tls has no `onread`): one copy.
 *
 * Connections are kept alive and reused, at most `max` exchanges run at once; answers are
 * framed by Content-Length, chunked transfer coding or the connection's end. A request is never
 * pipelined behind another on the same connection.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** An answer's status and header fields (names in lower case; repeated fields joined by ", "). */
export interface WireHead {
  status: number;
  version: string;
  headers: Map<string, string>;
}

/** What the caller makes of a head: refuse it (the connection is then dropped), or take a body of `length` bytes into blocks of `blockSize`. */
export type HeadVerdict = { refuse: unknown } | { length: number; blockSize: number };

/**
 * A failure of the connection or of the answer's framing. `stale`: a kept-alive connection was
 * closed by the server before any byte of the answer came (servers close idle connections at
 * their own pace): the request never reached it and can go again at once on a new one.
 */
export class WireError extends Error {
  constructor(
    message: string,
    readonly code?: string,
    readonly stale = false,
  ) {
    super(message);
  }
}

const HEAD_MAX = 64 * 1024;
const CRLFCRLF = Buffer.from('\r\n\r\n');

interface Exchange {
  onHead: (head: WireHead) => HeadVerdict;
  count: (bytes: number) => void;
  resolve: (r: { head: WireHead; blocks: Buffer[] }) => void;
  reject: (err: unknown) => void;
  head?: WireHead;
  blocks: Buffer[];
  blockSize: number;
  alloc: (size: number) => Buffer;
  /** Told of each body block as soon as it is whole (index in the body, the block). */
  onBlock?: (index: number, block: Buffer) => void;
  /** Body bytes asked for (the verdict's length) and received. */
  want: number;
  got: number;
  /** Bytes of the answer seen at all (a reused connection that ends before any is stale). */
  seen: number;
}

type Framing =
  | { kind: 'length'; left: number }
  | { kind: 'close' }
  | { kind: 'chunked'; phase: 'size' | 'data' | 'crlf' | 'trailer'; left: number; line: string };

function parseHead(text: string): WireHead | null {
  const lines = text.split('\r\n');
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (!m) return null;
  const headers = new Map<string, string>();
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const c = line.indexOf(':');
    if (c <= 0) return null;
    const name = line.slice(0, c).trim().toLowerCase();
    const value = line.slice(c + 1).trim();
    const had = headers.get(name);
    headers.set(name, had === undefined ? value : `${had}, ${value}`);
  }
  return { version: m[1]!, status: Number(m[2]), headers };
}

class Connection {
  readonly socket: Socket;
  private readonly scratch = Buffer.allocUnsafe(HEAD_MAX);
  private headLen = 0;
  private ex: Exchange | null = null;
  private framing: Framing | null = null;
  /** The buffer last handed to the socket for its next read when it was part of a body block. */
  private target: Buffer | null = null;
  /** Exchanges this connection has carried (a failure on a reused one before any byte is stale). */
  private uses = 0;
  reusable = true;
  closed = false;

  constructor(
    readonly key: string,
    url: URL,
    tls: boolean,
    insecure: boolean,
    timeoutMs: number,
    private readonly released: (c: Connection) => void,
  ) {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port || (tls ? 443 : 80));
    if (tls) {
      this.socket = tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), rejectUnauthorized: !insecure, ALPNProtocols: ['http/1.1'] });
      this.socket.on('data', (d: Buffer) => this.onData(d, false));
    } else {
      this.socket = netConnect({
        host,
        port,
        onread: {
          buffer: () => this.nextReadBuffer(),
          callback: (n: number, buf: Uint8Array) => {
            if (buf === this.target) this.onTargetFilled(n);
            else this.onData(this.scratch.subarray(this.headLen, this.headLen + n), true);
            return true;
          },
        },
      });
    }
    this.socket.setNoDelay(true);
    this.socket.setTimeout(timeoutMs, () => this.fail(new WireError('no answer in time', 'ETIMEDOUT')));
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.fail(new WireError(e.message, e.code, this.isStale())));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => {
      this.closed = true;
      this.onEnd();
    });
  }

  private isStale(): boolean {
    return this.uses > 1 && !!this.ex && this.ex.seen === 0;
  }

  /** Sends one request; its answer's body goes into blocks as the verdict on its head says. */
  run(request: string, ex: Exchange): void {
    this.uses++;
    this.ex = ex;
    this.framing = null;
    this.headLen = 0;
    this.socket.write(request, 'latin1');
  }

  /**
   * Where the socket's next read goes: the rest of the current block when a body of known length
   * is under way (the kernel copies the bytes into the cache block itself), else the scratch
   * buffer after the head bytes so far.
   */
  private nextReadBuffer(): Uint8Array {
    const ex = this.ex;
    const f = this.framing;
    if (ex && f && f.kind === 'length' && f.left > 0 && ex.got < ex.want) {
      const inBlock = ex.got % ex.blockSize;
      if (inBlock === 0) ex.blocks.push(ex.alloc(Math.min(ex.blockSize, ex.want - ex.got)));
      const block = ex.blocks[ex.blocks.length - 1]!;
      this.target = block.subarray(inBlock, inBlock + Math.min(block.length - inBlock, f.left));
      return this.target;
    }
    this.target = null;
    // A full scratch with no end of head: onData fails the exchange; a byte of room keeps the read valid.
    return this.scratch.subarray(Math.min(this.headLen, HEAD_MAX - 1));
  }

  private onTargetFilled(n: number): void {
    const ex = this.ex!;
    const f = this.framing as { kind: 'length'; left: number };
    this.target = null;
    ex.got += n;
    ex.seen += n;
    f.left -= n;
    ex.count(n);
    this.blockDone(ex);
    if (f.left === 0) this.finish();
  }

  /**
   * Hands the last block on once it is whole: a reader waiting for the first 256 KiB of an
   * 8 MiB answer goes on with it while the rest arrives (it waited for the whole answer, up to
   * 130 ms at the start of extract over a 20 ms round trip, eight answers sharing the link).
   */
  private blockDone(ex: Exchange): void {
    if (!ex.onBlock || ex.got === 0 || (ex.got % ex.blockSize !== 0 && ex.got !== ex.want)) return;
    ex.onBlock(ex.blocks.length - 1, ex.blocks[ex.blocks.length - 1]!);
  }

  /** Bytes of the answer outside a body block (`inScratch`: already at scratch[headLen]). */
  private onData(data: Buffer, inScratch: boolean): void {
    const ex = this.ex;
    if (!ex) {
      // Nothing was asked: a server that talks out of turn is not one to reuse.
      this.reusable = false;
      this.socket.destroy();
      return;
    }
    ex.seen += data.length;
    if (this.framing) return this.body(data);
    const all = inScratch ? this.scratch.subarray(0, this.headLen + data.length) : this.headLen ? Buffer.concat([this.scratch.subarray(0, this.headLen), data]) : data;
    const end = all.indexOf(CRLFCRLF, Math.max(0, this.headLen - 3));
    if (end < 0) {
      if (all.length >= HEAD_MAX) return this.fail(new WireError('the answer head is longer than 64 KiB'));
      if (!inScratch) all.copy(this.scratch, 0);
      this.headLen = all.length;
      return;
    }
    const head = parseHead(all.toString('latin1', 0, end));
    const rest = all.subarray(end + 4);
    this.headLen = 0;
    if (!head) return this.fail(new WireError('the server did not answer in HTTP/1.1'));
    if (head.status >= 100 && head.status < 200) {
      // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      if (rest.length) this.onData(Buffer.from(rest), false);
      return;
    }
    ex.head = head;
    let verdict: HeadVerdict;
    try {
      verdict = ex.onHead(head);
    } catch (err) {
      verdict = { refuse: err };
    }
    if ('refuse' in verdict) {
      this.reusable = false;
      return this.fail(verdict.refuse);
    }
    ex.want = verdict.length;
    ex.blockSize = verdict.blockSize;
    if (head.version === '1.0' || /\bclose\b/i.test(head.headers.get('connection') ?? '')) this.reusable = false;
    const te = head.headers.get('transfer-encoding');
    const cl = head.headers.get('content-length');
    if (te && /chunked\s*$/i.test(te)) this.framing = { kind: 'chunked', phase: 'size', left: 0, line: '' };
    else if (te) return this.fail(new WireError(`the server sent a body in transfer coding ${te}`));
    else if (cl !== undefined && /^\d+$/.test(cl)) {
      const length = Number(cl);
      if (length > ex.want) return this.fail(new WireError(`the server sent more than the ${ex.want} bytes asked`));
      this.framing = { kind: 'length', left: length };
    } else {
      this.framing = { kind: 'close' };
      this.reusable = false;
    }
    if (rest.length) this.body(rest);
    else if (this.framing.kind === 'length' && this.framing.left === 0) this.finish();
  }

  /** Body bytes that arrived outside a block (after the head, chunked, over TLS): copied into blocks. */
  private body(data: Buffer): void {
    const f = this.framing!;
    if (f.kind === 'length') {
      if (data.length > f.left) return this.fail(new WireError(`the server sent more than the ${this.ex!.want} bytes asked`));
      f.left -= data.length;
      if (!this.store(data)) return;
      if (f.left === 0) this.finish();
      return;
    }
    if (f.kind === 'close') {
      this.store(data);
      return;
    }
    let at = 0;
    while (at < data.length && this.ex) {
      if (f.phase === 'data') {
        const n = Math.min(f.left, data.length - at);
        if (!this.store(data.subarray(at, at + n))) return;
        at += n;
        f.left -= n;
        if (f.left === 0) f.phase = 'crlf';
        continue;
      }
      const nl = data.indexOf(10, at);
      f.line += data.toString('latin1', at, nl < 0 ? data.length : nl);
      if (f.line.length > 4096) return this.fail(new WireError('a chunk line longer than 4 KiB'));
      if (nl < 0) return;
      at = nl + 1;
      const line = f.line.replace(/\r$/, '');
      f.line = '';
      if (f.phase === 'crlf') {
        if (line !== '') return this.fail(new WireError('a chunk not followed by CRLF'));
        f.phase = 'size';
      } else if (f.phase === 'size') {
        const size = /^([0-9a-fA-F]{1,12})\s*(;.*)?$/.exec(line);
        if (!size) return this.fail(new WireError('a malformed chunk size'));
        f.left = parseInt(size[1]!, 16);
        f.phase = f.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        // The empty line after the trailer fields ends the body.
        if (at < data.length) this.reusable = false;
        return this.finish();
      }
    }
  }

  /** Copies body bytes into the blocks; false (and the exchange failed) when they are more than asked. */
  private store(data: Buffer): boolean {
    const ex = this.ex!;
    ex.count(data.length);
    if (ex.got + data.length > ex.want) {
      this.fail(new WireError(`the server sent more than the ${ex.want} bytes asked`));
      return false;
    }
    for (let at = 0; at < data.length; ) {
      const inBlock = ex.got % ex.blockSize;
      if (inBlock === 0) ex.blocks.push(ex.alloc(Math.min(ex.blockSize, ex.want - ex.got)));
      const n = data.copy(ex.blocks[ex.blocks.length - 1]!, inBlock, at);
      at += n;
      ex.got += n;
      this.blockDone(ex);
    }
    return true;
  }

  private finish(): void {
    const ex = this.ex!;
    this.ex = null;
    this.framing = null;
    if (ex.got !== ex.want) {
      this.reusable = false;
      ex.reject(new WireError(`the connection ended after ${ex.got} of ${ex.want} bytes`));
    } else ex.resolve({ head: ex.head!, blocks: ex.blocks });
    this.released(this);
  }

  private onEnd(): void {
    this.reusable = false;
    if (!this.ex) return;
    if (this.framing?.kind === 'close') return this.finish();
    const stale = this.isStale();
    this.fail(new WireError(stale ? 'the kept-alive connection was closed' : `the connection ended after ${this.ex.got} of ${this.ex.want || '?'} bytes`, 'ECONNRESET', stale));
  }

  fail(err: unknown): void {
    this.reusable = false;
    const ex = this.ex;
    this.ex = null;
    this.socket.destroy();
    if (ex) {
      ex.reject(err);
      this.released(this);
    }
  }
}

/** Kept-alive connections to the servers one image is read from; at most `max` exchanges at once. */
export class WirePool {
  private readonly idle: Connection[] = [];
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private destroyed = false;

  constructor(
    private readonly opts: { max: number; timeoutMs: number; insecure: boolean },
  ) {}

  /**
   * One request on a free connection to `url`'s origin: `request` is the whole request head
   * (latin1), `onHead` judges the answer's head, `count` is told of every body byte received.
   */
  async exchange(url: URL, request: string, onHead: (head: WireHead) => HeadVerdict, count: (bytes: number) => void, alloc: (size: number) => Buffer = Buffer.allocUnsafe, onBlock?: (index: number, block: Buffer) => void): Promise<{ head: WireHead; blocks: Buffer[] }> {
    if (this.destroyed) throw new WireError('closed');
    if (this.running >= this.opts.max) await new Promise<void>((r) => this.waiting.push(r));
    this.running++;
    const tls = url.protocol === 'https:';
    const key = `${url.protocol}//${url.host}`;
    let conn: Connection | undefined;
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const c = this.idle[i]!;
      if (c.key !== key || c.closed || !c.reusable || c.socket.destroyed) continue;
      this.idle.splice(i, 1);
      conn = c;
      break;
    }
    conn ??= new Connection(key, url, tls, this.opts.insecure, this.opts.timeoutMs, (c) => this.release(c));
    const used = conn;
    return new Promise((resolve, reject) => {
      used.run(request, { onHead, count, resolve, reject, blocks: [], blockSize: 1, alloc, ...(onBlock ? { onBlock } : {}), want: 0, got: 0, seen: 0 });
    });
  }

  private release(c: Connection): void {
    this.running--;
    if (c.reusable && !c.closed && !this.destroyed && this.idle.length < this.opts.max) this.idle.push(c);
    else c.socket.destroy();
    this.waiting.shift()?.();
  }

  destroy(): void {
    this.destroyed = true;
    for (const c of this.idle.splice(0)) c.socket.destroy();
  }
}
