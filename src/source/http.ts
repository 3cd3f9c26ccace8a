/**
 * Images on an HTTP(S) server, read by range requests (RFC 9110 §14) through Node's own HTTP
 * client: one keep-alive connection pool, redirects followed, TLS verified unless `--insecure`
 * was asked for, credentials from the URL, `--http-header` or ~/.netrc — and never shown: the name in
 * every message is the URL without its user information and query. Each response is checked
 * against the first one's validators (ETag, Last-Modified): an object replaced during the read
 * is a one-line error, never a mix of two files. Transient failures (5xx, 429, resets, time-outs)
 * are retried with backoff.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DiskpickError, cannotOpen, readFailed } from '../errors.js';
import { WireError, WirePool, type HeadVerdict, type WireHead } from './http-wire.js';
import type { RangeFetcher } from './remote.js';

export interface HttpOptions {
  /** Extra request headers ("Name: value"), e.g. an Authorization header. */
  headers?: string[];
  /** Accept any TLS certificate (self-signed test servers): off unless asked for. */
  insecure?: boolean;
  /** Attempts per request before giving up (default 5). */
  attempts?: number;
  /** Socket idle time before a request counts as failed, ms (default 30 s). */
  timeoutMs?: number;
  /** Read credentials for the host from this netrc file (default ~/.netrc; null: none). */
  netrc?: string | null;
}

/** The URL as messages show it: no user information, no query (presigned URLs carry signatures there). */
export function redactUrl(u: URL | string): string {
  const url = typeof u === 'string' ? new URL(u) : u;
  return `${url.protocol}//${url.host}${url.pathname}${url.search ? '?…' : ''}`;
}

/** `machine HOST login USER password PASS` from a netrc file, for Basic authentication. */
function netrcCredentials(file: string, host: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const tokens = text.split(/\s+/).filter(Boolean);
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] !== 'machine' && tokens[i] !== 'default') continue;
    const isDefault = tokens[i] === 'default';
    const machine = isDefault ? null : tokens[i + 1];
    let login = '';
    let password = '';
    let j = i + (isDefault ? 1 : 2);
    for (; j < tokens.length && tokens[j] !== 'machine' && tokens[j] !== 'default'; j += 2) {
      if (tokens[j] === 'login') login = tokens[j + 1] ?? '';
      if (tokens[j] === 'password') password = tokens[j + 1] ?? '';
    }
    if (isDefault || machine === host) return Buffer.from(`${login}:${password}`).toString('base64');
    i = j - 1;
  }
  return null;
}

/** The request headers for `url` (from --http-header, the URL's user information or ~/.netrc); takes the credentials out of `url`. */
function requestHeaders(url: URL, opts: HttpOptions): Record<string, string> {
  const headers: Record<string, string> = { 'User-Agent': 'diskpick', 'Accept-Encoding': 'identity' };
  for (const h of opts.headers ?? []) {
    const c = h.indexOf(':');
    if (c <= 0) throw new DiskpickError('usage', '--http-header takes "Name: value"');
    headers[h.slice(0, c).trim()] = h.slice(c + 1).trim();
  }
  if (url.username || url.password) {
    headers.Authorization ??= `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
    url.username = '';
    url.password = '';
  } else if (opts.netrc !== null && !Object.keys(headers).some((k) => k.toLowerCase() === 'authorization')) {
    const basic = netrcCredentials(opts.netrc ?? join(homedir(), '.netrc'), url.hostname);
    if (basic) headers.Authorization = `Basic ${basic}`;
  }
  return headers;
}

/**
 * The files of a folder on a web server, when it lists them: a GET of the folder URL answered
 * with an HTML index (nginx autoindex, Apache mod_autoindex, lighttpd dir-listing), whose links
 * to files directly in that folder are taken. Null when the server lists nothing (most do
 * not, and none has to); at most `limit` names, from at most 8 MiB of page.
 */
export function listHttpFolder(folder: string, opts: HttpOptions = {}, limit = 10_000): Promise<string[] | null> {
  const url = new URL(folder);
  const headers = requestHeaders(url, opts);
  const req = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    const r = req(url, { method: 'GET', headers, ...(url.protocol === 'https:' ? { rejectUnauthorized: !opts.insecure } : {}) }, (res) => {
      if (res.statusCode !== 200 || !/^text\/html/i.test(String(res.headers['content-type'] ?? ''))) {
        res.resume();
        return resolve(null);
      }
      let page = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        page += c;
        if (page.length > 8 << 20) res.destroy();
      });
      res.on('close', () => {
        const names = new Set<string>();
        for (const m of page.matchAll(/href\s*=\s*"([^"]*)"|href\s*=\s*'([^']*)'/gi)) {
          const href = (m[1] ?? m[2] ?? '').replace(/&amp;/g, '&');
          let target: URL;
          try {
            target = new URL(href, url);
          } catch {
            continue;
          }
          if (target.origin !== url.origin || target.search || !target.pathname.startsWith(url.pathname)) continue;
          const rest = target.pathname.slice(url.pathname.length);
          if (rest === '' || rest.includes('/')) continue;
          if (names.size < limit) names.add(decodeURIComponent(rest));
        }
        resolve([...names].sort());
      });
      res.on('error', () => resolve(null));
    });
    r.setTimeout(opts.timeoutMs ?? 30_000, () => r.destroy());
    r.on('error', () => resolve(null));
    r.end();
  });
}

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

class Retryable extends Error {}

type Validators = { etag: string | null; lastModified: string | null };

/** A redirect to follow, thrown out of a head verdict. */
class Redirect {
  constructor(readonly to: URL) {}
}

/** The request head's header lines for `headers`, refusing values that would break the head (CR, LF). */
function headerLines(headers: Record<string, string>): string {
  let out = '';
  for (const [k, v] of Object.entries(headers)) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(k) || /[\r\n\0]/.test(v)) throw new DiskpickError('usage', '--http-header takes "Name: value" on one line');
    if (/^(host|range|connection|content-length|transfer-encoding)$/i.test(k)) continue;
    out += `${k}: ${v}\r\n`;
  }
  return out;
}

export class HttpFetcher implements RangeFetcher {
  transferred = 0;
  private constructor(
    private url: URL,
    readonly name: string,
    readonly size: number,
    private readonly validators: Validators,
    private readonly headers: string,
    private readonly pool: WirePool,
    private readonly opts: HttpOptions,
  ) {}

  /**
   * The object's first bytes, fetched by the opening request when `firstBytes` asked for more
   * than one: the format probe reads them next, and a round trip (20 ms and more on a real
   * link) is saved per file. Taken once by RemoteSource.
   */
  initial: Buffer | null = null;

  static async open(raw: string, opts: HttpOptions = {}, firstBytes = 1): Promise<HttpFetcher> {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new DiskpickError('usage', 'not a valid URL', raw.replace(/\/\/[^/@]*@/, '//'));
    }
    const name = redactUrl(url);
    const headers = headerLines(requestHeaders(url, opts));
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DiskpickError('usage', `unsupported URL scheme ${url.protocol} (http, https, s3)`, name);
    const pool = new WirePool({ max: 16, timeoutMs: opts.timeoutMs ?? 30_000, insecure: !!opts.insecure });
    // The first request learns the size and the validators: one byte, by range.
    const probe = new HttpFetcher(url, name, 0, { etag: null, lastModified: null }, headers, pool, opts);
    let first;
    try {
      first = await probe.request(0, Math.max(1, firstBytes), true);
    } catch (err) {
      pool.destroy();
      throw err;
    }
    const f = new HttpFetcher(probe.url, name, first.size, first.validators, headers, pool, opts);
    f.transferred = probe.transferred;
    if (firstBytes > 1) f.initial = first.body[0] ?? null;
    return f;
  }

  get lastModified(): number | null {
    const t = this.validators.lastModified ? Date.parse(this.validators.lastModified) : NaN;
    return Number.isNaN(t) ? null : t;
  }

  async fetch(offset: number, length: number): Promise<Buffer> {
    const body = (await this.request(offset, length, false, length)).body;
    return body.length === 1 ? body[0]! : Buffer.concat(body);
  }

  async fetchBlocks(offset: number, length: number, blockSize: number, alloc?: (size: number) => Buffer, onBlock?: (index: number, block: Buffer) => void): Promise<Buffer[]> {
    return (await this.request(offset, length, false, blockSize, alloc, onBlock)).body;
  }

  private async request(offset: number, length: number, first: boolean, blockSize = Math.max(1, length), alloc?: (size: number) => Buffer, onBlock?: (index: number, block: Buffer) => void): Promise<{ body: Buffer[]; size: number; validators: Validators }> {
    const attempts = this.opts.attempts ?? 5;
    let lastErr: unknown;
    let stale = 0;
    for (let a = 0; a < attempts; a++) {
      if (a > 0) await new Promise((r) => setTimeout(r, Math.min(8000, 200 * 2 ** (a - 1))));
      try {
        return await this.once(offset, length, first, 0, blockSize, alloc, onBlock);
      } catch (err) {
        // A kept-alive connection the server had closed: the request never reached it; again at once, on a new one.
        if (err instanceof WireError && err.stale && stale++ < 4) {
          a--;
          continue;
        }
        if (!(err instanceof Retryable)) throw err;
        lastErr = err;
      }
    }
    throw readFailed(this.name, `${(lastErr as Error).message} (after ${attempts} attempts)`);
  }

  /**
   * One range request (http-wire.ts). The body is written straight into buffers of `blockSize`
   * bytes (the cache's blocks): on plain HTTP the socket reads into them, no copy at all.
   */
  private async once(offset: number, length: number, first: boolean, redirects: number, blockSize: number, alloc?: (size: number) => Buffer, onBlock?: (index: number, block: Buffer) => void): Promise<{ body: Buffer[]; size: number; validators: Validators }> {
    const url = this.url;
    const request = `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n${this.headers}Range: bytes=${offset}-${offset + length - 1}\r\n\r\n`;
    let size = NaN;
    let validators: Validators = { etag: null, lastModified: null };
    let result;
    try {
      result = await this.pool.exchange(url, request, (res) => this.judge(res, offset, first, blockSize, (s, v) => ((size = s), (validators = v))), (n) => (this.transferred += n), alloc, onBlock);
    } catch (err) {
      if (err instanceof Redirect) {
        if (redirects >= 5) throw readFailed(this.name, 'too many redirects');
        if (err.to.protocol !== url.protocol) throw readFailed(this.name, `a redirect changes the scheme to ${err.to.protocol}; refused`);
        this.url = err.to;
        return this.once(offset, length, first, redirects + 1, blockSize, alloc, onBlock);
      }
      if (!(err instanceof WireError)) throw err;
      if (err.stale) throw err;
      const e = err;
      if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') throw cannotOpen(this.name, `cannot resolve the host ${url.hostname}`);
      if (/certificate|self.signed|CERT_|UNABLE_TO_VERIFY/i.test(`${e.code} ${e.message}`)) {
        throw cannotOpen(this.name, `TLS certificate not trusted (${e.code ?? e.message}); use --insecure only for a server you trust`);
      }
      if (e.code === 'ECONNREFUSED') throw cannotOpen(this.name, 'connection refused');
      if (e.code === 'ETIMEDOUT') throw new Retryable('no answer in time');
      // The answer's framing (cut short, too long) says so itself; a socket's failure by its code.
      throw new Retryable(e.message.startsWith('the ') ? e.message : `the connection failed: ${e.code ?? e.message}`);
    }
    return { body: result.blocks, size, validators };
  }

  /** What an answer's head says: follow, retry, fail, or take its body (then `take` learns the size and validators). */
  private judge(res: WireHead, offset: number, first: boolean, blockSize: number, take: (size: number, v: Validators) => void): HeadVerdict {
    const status = res.status;
    const location = res.headers.get('location');
    if (status >= 300 && status < 400 && location) return { refuse: new Redirect(new URL(location, this.url)) };
    if (RETRY_STATUS.has(status)) return { refuse: new Retryable(`the server answered ${status}`) };
    if (status === 401 || status === 403) return { refuse: cannotOpen(this.name, `the server refused access (${status}): give credentials with --http-header, in the URL or in ~/.netrc`) };
    if (status === 404 || status === 410) return { refuse: cannotOpen(this.name, `no such file on the server (${status})`) };
    if (status === 416 && first) return { refuse: cannotOpen(this.name, 'empty file, not a disk image') };
    if (status !== 206) {
      return { refuse: status === 200 ? cannotOpen(this.name, 'the server ignores range requests: diskpick reads images in place and cannot use it') : readFailed(this.name, `unexpected answer ${status} from the server`) };
    }
    const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!range || Number(range[1]) !== offset) return { refuse: readFailed(this.name, 'the server answered a range request with another range') };
    const size = range[3] === '*' ? NaN : Number(range[3]);
    const validators = { etag: res.headers.get('etag') ?? null, lastModified: res.headers.get('last-modified') ?? null };
    if (!first && ((this.validators.etag && validators.etag !== this.validators.etag) || (!this.validators.etag && this.validators.lastModified && validators.lastModified !== this.validators.lastModified) || size !== this.size)) {
      return { refuse: readFailed(this.name, 'the file changed on the server during the read (its ETag, Last-Modified or size is not what it was)') };
    }
    take(size, validators);
    return { length: Number(range[2]) - offset + 1, blockSize };
  }

  async close(): Promise<void> {
    this.pool.destroy();
  }
}
