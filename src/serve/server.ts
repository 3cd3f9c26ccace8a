/**
 * `diskpick serve`: the served images over HTTP, read-only, as WebDAV (class 1) for Windows
 * Explorer, macOS Finder, rclone and davfs2, and as a web page for browsers, from one process.
 * Safe by default: loopback only unless a token guards it; Host/Origin checked against DNS
 * rebinding; every request path decoded once (request-path.ts); headers, bodies, concurrency
 * and slow clients bounded.
 */
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { DiskpickError } from '../errors.js';
import { BadRequestPath, hrefOf, parseRequestTarget, type RequestPath } from './request-path.js';
import { ClientGone, readBody, sendFile, writeChunk } from './entity.js';
import { MAX_PROPFIND_BODY, MULTISTATUS_CLOSE, MULTISTATUS_OPEN, parsePropfindBody, responseXml, servable } from './propfind.js';
import { ASSET_DIR, type ServedEntry, type ServedTree } from './tree.js';
import { ASSETS, pageHtml } from './page.js';
import { apiRequest, isApiQuery } from './api.js';
import { escapeText } from '../escape.js';

export interface ServeOptions {
  host: string;
  port: number;
  /** Required when listening beyond loopback: Basic password, Bearer token, or the page's cookie. */
  token?: string;
  tls?: { cert: Buffer; key: Buffer };
  /** One line per request. */
  log?: (line: string) => void;
  /** Most connections open at once; more are closed as they arrive. */
  maxConnections?: number;
  /** A client must have sent its whole request head within this (default 10 s; slowloris). */
  headersTimeoutMs?: number;
}

const READ_ONLY_METHODS = new Set(['GET', 'HEAD', 'OPTIONS', 'PROPFIND']);
const WRITE_METHODS = new Set(['PUT', 'DELETE', 'MKCOL', 'COPY', 'MOVE', 'PROPPATCH', 'LOCK', 'UNLOCK', 'PATCH']);
const ALLOW = 'OPTIONS, GET, HEAD, PROPFIND, POST';

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return '';
  }
}

function hostOnly(hostHeader: string): string {
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1);
  const c = hostHeader.lastIndexOf(':');
  return c < 0 ? hostHeader : hostHeader.slice(0, c);
}

export class DiskpickServer {
  readonly server: Server;
  private readonly tokenBuf: Buffer | null;

  constructor(private readonly tree: ServedTree, private readonly opts: ServeOptions) {
    this.tokenBuf = opts.token ? Buffer.from(opts.token) : null;
    const handler = (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res);
    // Bounds against slow or hostile clients: headers within 10 s and 16 KiB, a whole request
    // (bodies are small) within 30 s, idle keep-alive sockets closed after 30 s.
    const headersTimeout = opts.headersTimeoutMs ?? 10_000;
    // Node checks those two timeouts every connectionsCheckingInterval (30 s by default, which
    // would let a slow client hold a socket for 40 s): check every second.
    const common = { maxHeaderSize: 16 * 1024, headersTimeout, requestTimeout: Math.max(headersTimeout, 30_000), keepAliveTimeout: 30_000, connectionsCheckingInterval: 1000 };
    this.server = opts.tls ? createHttps({ ...common, cert: opts.tls.cert, key: opts.tls.key }, handler) : createHttp(common, handler);
    this.server.maxConnections = opts.maxConnections ?? 128;
    this.server.maxHeadersCount = 100;
  }

  listen(): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.opts.port, this.opts.host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Host and Origin checks (DNS rebinding, cross-site requests) and the token. */
  private admit(req: IncomingMessage, res: ServerResponse): boolean {
    const host = req.headers.host;
    if (!host) return this.fail(res, 400, 'a Host header is required');
    // Without a token the server is for this machine only: a page on another site that points
    // a DNS name at 127.0.0.1 must not be able to read the images through the visitor's browser.
    if (!this.tokenBuf && !isLoopback(hostOnly(host)) && hostOnly(host) !== this.opts.host) {
      return this.fail(res, 403, `Host ${host} is not this server's address`);
    }
    const origin = req.headers.origin;
    if (origin && origin !== 'null') {
      let o: URL | null = null;
      try {
        o = new URL(origin);
      } catch {
        /* refused below */
      }
      if (!o || o.host !== host) return this.fail(res, 403, 'cross-origin requests are refused');
    }
    if (!this.tokenBuf) return true;
    if (this.tokenOk(req)) return true;
    res.setHeader('WWW-Authenticate', 'Basic realm="diskpick (any user name; the token as password)", charset="UTF-8"');
    return this.fail(res, 401, 'a token is required: give it as the password, as a Bearer token, or open the printed URL');
  }

  private tokenOk(req: IncomingMessage): boolean {
    const t = this.tokenBuf!;
    const same = (s: string) => {
      const b = Buffer.from(s);
      return b.length === t.length && timingSafeEqual(b, t);
    };
    const auth = req.headers.authorization ?? '';
    if (/^Bearer /i.test(auth) && same(auth.slice(7).trim())) return true;
    if (/^Basic /i.test(auth)) {
      const dec = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
      const c = dec.indexOf(':');
      if (c >= 0 && same(dec.slice(c + 1))) return true;
    }
    const cookie = /(?:^|;\s*)diskpick_token=([^;]+)/.exec(req.headers.cookie ?? '');
    if (cookie && same(safeDecode(cookie[1]!))) return true;
    // The printed URL (?token=…), opened once in a browser: answered with the cookie.
    const q = req.method === 'GET' ? /[?&]token=([^&#]*)/.exec(req.url ?? '') : null;
    return !!q && same(safeDecode(q[1]!));
  }

  private fail(res: ServerResponse, status: number, message: string): false {
    if (!res.headersSent) {
      res.statusCode = status;
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.end(`${message}\n`);
    } else res.destroy();
    return false;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = process.hrtime.bigint();
    res.on('finish', () => this.logLine(req, res, started));
    res.setHeader('Server', 'diskpick');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    try {
      if (!this.admit(req, res)) return;
      const method = req.method ?? 'GET';
      let rp: RequestPath;
      try {
        rp = parseRequestTarget(req.url ?? '/');
      } catch (err) {
        if (err instanceof BadRequestPath) return void this.fail(res, 400, err.message);
        throw err;
      }
      // ?token= from the printed URL: remembered as a cookie, then the address without it.
      const tq = /(?:^|&)token=([^&]*)/.exec(rp.query);
      if (tq && this.tokenBuf && method === 'GET') {
        res.statusCode = 303;
        res.setHeader('Set-Cookie', `diskpick_token=${encodeURIComponent(safeDecode(tq[1]!))}; Path=/; HttpOnly; SameSite=Strict${this.opts.tls ? '; Secure' : ''}`);
        res.setHeader('Location', hrefOf(rp.segments, rp.trailingSlash));
        res.end();
        return;
      }
      if (WRITE_METHODS.has(method)) {
        res.setHeader('Allow', ALLOW);
        return void this.fail(res, method === 'LOCK' || method === 'UNLOCK' ? 405 : 403, 'this server is read-only: diskpick never changes an image');
      }
      if (!READ_ONLY_METHODS.has(method) && method !== 'POST') {
        res.setHeader('Allow', ALLOW);
        return void this.fail(res, 405, `method ${method} is not supported`);
      }
      if (rp.segments[0] === ASSET_DIR && rp.segments.length === 2 && (method === 'GET' || method === 'HEAD')) return this.asset(res, rp.segments[1]!, method);
      if (method === 'OPTIONS') {
        res.setHeader('DAV', '1');
        res.setHeader('MS-Author-Via', 'DAV');
        res.setHeader('Allow', ALLOW);
        res.setHeader('Content-Length', '0');
        res.end();
        return;
      }
      const entry = await this.tree.resolve(rp.segments);
      if (!entry) return void this.fail(res, 404, 'no such file or folder');
      if (method === 'PROPFIND') return await this.propfind(req, res, entry);
      if (isApiQuery(rp.query) || method === 'POST') return await apiRequest(this.tree, req, res, entry, rp.query);
      if (entry.stat.type === 'dir') {
        // A folder without its trailing slash: point clients (and relative links) at the folder.
        if (!rp.trailingSlash && entry.segments.length) {
          res.statusCode = 301;
          res.setHeader('Location', hrefOf(entry.segments, true));
          res.end();
          return;
        }
        return this.page(res, method);
      }
      if (entry.stat.type !== 'file') return void this.fail(res, 409, `a ${entry.stat.type} has no content to download`);
      const pl = entry.place;
      if (pl.kind !== 'node') return void this.fail(res, 404, 'no such file');
      await sendFile(req, res, entry, () => pl.image.vfs.openFile(pl.node), { download: /(?:^|&)download(?:=|&|$)/.test(rp.query) });
    } catch (err) {
      if (err instanceof ClientGone) return;
      if (err instanceof DiskpickError) {
        const status = err.kind === 'notFound' ? 404 : err.kind === 'wrongType' ? 409 : err.kind === 'unsupported' ? 501 : 500;
        this.opts.log?.(`error ${escapeText(req.method ?? '')} ${escapeText(req.url ?? '')}: ${err.toLine()}`);
        return void this.fail(res, status, err.toLine());
      }
      this.opts.log?.(`internal error ${escapeText(req.method ?? '')} ${escapeText(req.url ?? '')}: ${escapeText((err as Error).message)}`);
      this.fail(res, 500, 'internal error');
    }
  }

  private logLine(req: IncomingMessage, res: ServerResponse, started: bigint): void {
    if (!this.opts.log) return;
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    // The one escaper (src/escape.ts): request paths quote names from the image.
    this.opts.log(`${new Date().toISOString()} ${req.socket.remoteAddress ?? '-'} ${escapeText(req.method ?? '')} ${escapeText(req.url ?? '')} ${res.statusCode} ${ms.toFixed(1)}ms`);
  }

  private asset(res: ServerResponse, name: string, method: string): void {
    const a = ASSETS[name];
    if (!a) return void this.fail(res, 404, 'no such file');
    res.setHeader('Content-Type', a.type);
    res.setHeader('Content-Length', String(Buffer.byteLength(a.body)));
    res.setHeader('Cache-Control', 'no-cache');
    res.end(method === 'HEAD' ? undefined : a.body);
  }

  private page(res: ServerResponse, method: string): void {
    const html = pageHtml();
    res.setHeader('Content-Type', 'text/html; charset=utf-8');
    // Only the page's own script and style run; names from the image are inserted as text.
    res.setHeader('Content-Security-Policy', "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; media-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'");
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('Content-Length', String(Buffer.byteLength(html)));
    res.end(method === 'HEAD' ? undefined : html);
  }

  private async propfind(req: IncomingMessage, res: ServerResponse, entry: ServedEntry): Promise<void> {
    const depth = (req.headers.depth ?? 'infinity').toString().trim().toLowerCase();
    if (depth !== '0' && depth !== '1') {
      res.statusCode = 403;
      res.setHeader('Content-Type', 'application/xml; charset=utf-8');
      res.end('<?xml version="1.0" encoding="utf-8"?>\n<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>\n');
      return;
    }
    const body = await readBody(req, MAX_PROPFIND_BODY);
    if (body === null) return void this.fail(res, 413, `a PROPFIND body is at most ${MAX_PROPFIND_BODY} bytes`);
    let want;
    try {
      want = parsePropfindBody(body);
    } catch (err) {
      return void this.fail(res, 400, (err as Error).message);
    }
    const kids = depth === '1' && entry.stat.type === 'dir' ? (await this.tree.children(entry)).filter(servable) : [];
    res.statusCode = 207;
    res.setHeader('Content-Type', 'application/xml; charset=utf-8');
    let xml = MULTISTATUS_OPEN + responseXml(entry, want);
    // Large folders go out in pieces of ~256 KiB rather than one string of every entry.
    for (const k of kids) {
      xml += responseXml(k, want);
      if (xml.length > 256 * 1024) {
        await writeChunk(res, xml);
        xml = '';
      }
    }
    await writeChunk(res, xml + MULTISTATUS_CLOSE);
    res.end();
  }
}

