/**
 * Images on an HTTP(S) server, read by range requests (RFC 9110 §14) through Node's own HTTP
 * client: one keep-alive connection pool, redirects followed, TLS verified unless `--insecure`
 * was asked for, credentials from the URL, `--http-header` or ~/.netrc — and never shown: the name in
 * every message is the URL without its user information and query. Each response is checked
 * against the first one's validators (ETag, Last-Modified): an object replaced during the read
 * is a one-line error, never a mix of two files. Transient failures (5xx, 429, resets, time-outs)
 * are retried with backoff.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { DiskpickError } from '../errors.js';
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

export class HttpFetcher implements RangeFetcher {
  transferred = 0;
  private constructor(
    private url: URL,
    readonly name: string,
    readonly size: number,
    private readonly validators: { etag: string | null; lastModified: string | null },
    private readonly headers: Record<string, string>,
    private readonly agent: HttpAgent | HttpsAgent,
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
    const headers = requestHeaders(url, opts);
    const agent = url.protocol === 'https:'
      ? new HttpsAgent({ keepAlive: true, maxSockets: 16, rejectUnauthorized: !opts.insecure })
      : new HttpAgent({ keepAlive: true, maxSockets: 16 });
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new DiskpickError('usage', `unsupported URL scheme ${url.protocol} (http, https, s3)`, name);
    // The first request learns the size and the validators: one byte, by range.
    const probe = new HttpFetcher(url, name, 0, { etag: null, lastModified: null }, headers, agent, opts);
    const first = await probe.request(0, Math.max(1, firstBytes), true);
    const f = new HttpFetcher(probe.url, name, first.size, first.validators, headers, agent, opts);
    f.transferred = probe.transferred;
    if (firstBytes > 1) f.initial = first.body[0] ?? null;
    return f;
  }

  get lastModified(): number | null {
    const t = this.validators.lastModified ? Date.parse(this.validators.lastModified) : NaN;
    return Number.isNaN(t) ? null : t;
  }

  async fetch(offset: number, length: number): Promise<Buffer> {
    return (await this.request(offset, length, false, length)).body[0] ?? Buffer.alloc(0);
  }

  async fetchBlocks(offset: number, length: number, blockSize: number): Promise<Buffer[]> {
    return (await this.request(offset, length, false, blockSize)).body;
  }

  private async request(offset: number, length: number, first: boolean, blockSize = Math.max(1, length)): Promise<{ body: Buffer[]; size: number; validators: { etag: string | null; lastModified: string | null } }> {
    const attempts = this.opts.attempts ?? 5;
    let lastErr: unknown;
    for (let a = 0; a < attempts; a++) {
      if (a > 0) await new Promise((r) => setTimeout(r, Math.min(8000, 200 * 2 ** (a - 1))));
      try {
        return await this.once(offset, length, first, 0, blockSize);
      } catch (err) {
        if (!(err instanceof Retryable)) throw err;
        lastErr = err;
      }
    }
    throw new DiskpickError('image', `${(lastErr as Error).message} (after ${attempts} attempts)`, this.name);
  }

  /**
   * One range request. The body is written straight into buffers of `blockSize` bytes (the
   * cache's blocks): one copy of each byte, not a list of socket chunks joined and then cut
   * into blocks (extract of 1 GiB: two of three copies, and their garbage, gone).
   */
  private once(offset: number, length: number, first: boolean, redirects: number, blockSize: number): Promise<{ body: Buffer[]; size: number; validators: { etag: string | null; lastModified: string | null } }> {
    const req = this.url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const r = req(this.url, { method: 'GET', agent: this.agent, headers: { ...this.headers, Range: `bytes=${offset}-${offset + length - 1}` } }, (res: IncomingMessage) => {
        const status = res.statusCode ?? 0;
        if (status >= 300 && status < 400 && res.headers.location) {
          res.resume();
          if (redirects >= 5) return reject(new DiskpickError('image', 'too many redirects', this.name));
          const next = new URL(res.headers.location, this.url);
          if (next.protocol !== this.url.protocol) return reject(new DiskpickError('image', `a redirect changes the scheme to ${next.protocol}; refused`, this.name));
          this.url = next;
          return this.once(offset, length, first, redirects + 1, blockSize).then(resolve, reject);
        }
        if (RETRY_STATUS.has(status)) {
          res.resume();
          return reject(new Retryable(`the server answered ${status}`));
        }
        if (status === 401 || status === 403) {
          res.resume();
          return reject(new DiskpickError('image', `the server refused access (${status}): give credentials with --http-header, in the URL or in ~/.netrc`, this.name));
        }
        if (status === 404 || status === 410) {
          res.resume();
          return reject(new DiskpickError('image', `no such file on the server (${status})`, this.name));
        }
        if (status === 416 && first) {
          res.resume();
          return reject(new DiskpickError('image', 'empty file, not a disk image', this.name));
        }
        if (status !== 206) {
          res.resume();
          return reject(new DiskpickError('image', status === 200 ? 'the server ignores range requests: diskpick reads images in place and cannot use it' : `unexpected answer ${status} from the server`, this.name));
        }
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
        if (!range || Number(range[1]) !== offset) {
          res.resume();
          return reject(new DiskpickError('image', 'the server answered a range request with another range', this.name));
        }
        const size = range[3] === '*' ? NaN : Number(range[3]);
        const validators = { etag: (res.headers.etag as string | undefined) ?? null, lastModified: (res.headers['last-modified'] as string | undefined) ?? null };
        if (!first && ((this.validators.etag && validators.etag !== this.validators.etag) || (!this.validators.etag && this.validators.lastModified && validators.lastModified !== this.validators.lastModified) || size !== this.size)) {
          res.resume();
          return reject(new DiskpickError('image', 'the file changed on the server during the read (its ETag, Last-Modified or size is not what it was)', this.name));
        }
        const want = Number(range[2]) - offset + 1;
        const blocks: Buffer[] = [];
        let got = 0;
        res.on('data', (c: Buffer) => {
          this.transferred += c.length;
          if (got + c.length > want) {
            res.destroy();
            return reject(new Retryable(`the server sent more than the ${want} bytes asked`));
          }
          for (let at = 0; at < c.length; ) {
            const inBlock = got % blockSize;
            if (inBlock === 0) blocks.push(Buffer.allocUnsafe(Math.min(blockSize, want - got)));
            const n = c.copy(blocks[blocks.length - 1]!, inBlock, at);
            at += n;
            got += n;
          }
        });
        res.on('end', () => {
          if (got !== want) return reject(new Retryable(`the connection ended after ${got} of ${want} bytes`));
          resolve({ body: blocks, size, validators });
        });
        res.on('error', (e) => reject(new Retryable(`the connection failed: ${e.message}`)));
      });
      r.setTimeout(this.opts.timeoutMs ?? 30_000, () => r.destroy(new Retryable('no answer in time')));
      r.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof Retryable) return reject(e);
        if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') return reject(new DiskpickError('image', `cannot resolve the host ${this.url.hostname}`, this.name));
        if (/certificate|self.signed|CERT_|UNABLE_TO_VERIFY/i.test(`${e.code} ${e.message}`)) {
          return reject(new DiskpickError('image', `TLS certificate not trusted (${e.code ?? e.message}); use --insecure only for a server you trust`, this.name));
        }
        if (e.code === 'ECONNREFUSED') return reject(new DiskpickError('image', 'connection refused', this.name));
        reject(new Retryable(`the connection failed: ${e.code ?? e.message}`));
      });
      r.end();
    });
  }

  async close(): Promise<void> {
    this.agent.destroy();
  }
}
