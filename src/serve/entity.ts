/**
 * GET and HEAD of a file (RFC 9110): ETag and Last-Modified, the conditional headers
 * (If-None-Match, If-Modified-Since, If-Range), and Range with one or several ranges
 * (multipart/byteranges). The image never changes while it is served, so a file's validators
 * are fixed for the life of the server.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { pump } from '../source/chunks.js';
import type { ByteSource } from '../source/source.js';
import { httpDate } from './propfind.js';
import type { ServedEntry } from './tree.js';

const TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8', log: 'text/plain; charset=utf-8', md: 'text/plain; charset=utf-8', csv: 'text/csv; charset=utf-8',
  ini: 'text/plain; charset=utf-8', conf: 'text/plain; charset=utf-8', cfg: 'text/plain; charset=utf-8', json: 'application/json',
  xml: 'application/xml', html: 'text/html; charset=utf-8', htm: 'text/html; charset=utf-8', svg: 'image/svg+xml',
  png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', bmp: 'image/bmp', ico: 'image/x-icon',
  pdf: 'application/pdf', zip: 'application/zip', gz: 'application/gzip', mp3: 'audio/mpeg', mp4: 'video/mp4',
  doc: 'application/msword', docx: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document',
  xls: 'application/vnd.ms-excel', xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  ppt: 'application/vnd.ms-powerpoint', pptx: 'application/vnd.openxmlformats-officedocument.presentationml.presentation',
};

export function contentTypeOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return (dot > 0 && TYPES[name.slice(dot + 1).toLowerCase()]) || 'application/octet-stream';
}

/**
 * Types a browser may show inline from this origin. Anything that can run script (HTML, SVG,
 * XML) is sent as an attachment, and every file response carries a sandboxing CSP as well.
 */
const INLINE_SAFE = /^(text\/plain|text\/csv|image\/(png|jpeg|gif|webp|bmp|x-icon)|application\/pdf|audio\/|video\/)/;

/** A strong validator: image, volume, inode, size and mtime (the image cannot change under us). */
export function etagOf(e: ServedEntry): string {
  const pl = e.place;
  const where = pl.kind === 'node' ? `${pl.image.name}:${pl.node.place.kind === 'fs' ? pl.node.place.vol.name : ''}` : e.segments.join('/');
  const h = Buffer.from(where).toString('base64url');
  return `"${h}-${e.stat.ino.toString(36)}-${e.stat.size.toString(36)}-${(e.stat.mtime?.sec ?? 0).toString(36)}.${(e.stat.mtime?.nsec ?? 0).toString(36)}"`;
}

/** Byte ranges of a Range header, each [start, end) within `size`; null: ignore the header (serve 200). */
export function parseRange(header: string | undefined, size: number): [number, number][] | 'unsatisfiable' | null {
  if (!header) return null;
  const m = /^bytes=(.+)$/i.exec(header.trim());
  if (!m) return null;
  const parts = m[1]!.split(',');
  // More pieces than any real client asks for is a way to make one request cost a lot: ignore.
  if (parts.length > 32) return null;
  const out: [number, number][] = [];
  for (const raw of parts) {
    const p = raw.trim();
    const r = /^(\d*)-(\d*)$/.exec(p);
    if (!r || (r[1] === '' && r[2] === '')) return null;
    if (r[1] === '') {
      const n = Number(r[2]);
      if (n === 0) continue;
      out.push([Math.max(0, size - n), size]);
    } else {
      const s = Number(r[1]);
      const e = r[2] === '' ? size - 1 : Math.min(Number(r[2]), size - 1);
      if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e) || e < s) {
        if (Number.isSafeInteger(s) && r[2] !== '' && Number(r[2]) < s) return null; // invalid: ignore
        continue;
      }
      if (s >= size) continue;
      out.push([s, e + 1]);
    }
  }
  return out.length ? out : 'unsatisfiable';
}

function etagMatches(list: string, etag: string): boolean {
  if (list.trim() === '*') return true;
  return list.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

/** 304 where the client's copy is current (RFC 9110 §13.2.2 order: If-None-Match before If-Modified-Since). */
export function notModified(req: IncomingMessage, etag: string, mtimeSec: number | undefined): boolean {
  const inm = req.headers['if-none-match'];
  if (inm) return etagMatches(inm, etag);
  const ims = req.headers['if-modified-since'];
  if (ims && mtimeSec !== undefined) {
    const t = Date.parse(ims);
    if (!Number.isNaN(t)) return Math.floor(mtimeSec) <= Math.floor(t / 1000);
  }
  return false;
}

/** If-Range: the ranges apply only while the client's validator still names this file. */
function ifRangeHolds(req: IncomingMessage, etag: string, mtimeSec: number | undefined): boolean {
  const raw = req.headers['if-range'];
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (!v) return true;
  if (v.startsWith('"') || v.startsWith('W/')) return v === etag;
  const t = Date.parse(v);
  return mtimeSec !== undefined && !Number.isNaN(t) && Math.floor(mtimeSec) === Math.floor(t / 1000);
}

/**
 * Writes one chunk and resolves once the socket has handed it to the kernel (the write
 * callback), not merely queued it: pump reuses its buffers as soon as the sink resolves, and
 * a queued view of a reused buffer would send the wrong bytes. Rejects with ClientGone when
 * the client left.
 */
export function writeChunk(res: ServerResponse, chunk: Buffer | string): Promise<void> {
  if (res.destroyed) return Promise.reject(new ClientGone());
  return new Promise((resolve, reject) => {
    const gone = () => reject(new ClientGone());
    res.once('close', gone);
    res.write(chunk, (err) => {
      res.off('close', gone);
      if (err) reject(new ClientGone());
      else resolve();
    });
  });
}

/** The client closed the connection mid-response: not an error of the server. */
export class ClientGone extends Error {}

export interface SendFileOptions {
  /** Content-Disposition: attachment (download links, types unsafe to show inline). */
  download?: boolean;
}

/** Answers GET/HEAD for a regular file. `open` is called only when bytes are to be sent. */
export async function sendFile(req: IncomingMessage, res: ServerResponse, e: ServedEntry, open: () => Promise<ByteSource>, opts: SendFileOptions = {}): Promise<void> {
  const size = e.stat.size;
  const etag = etagOf(e);
  const mtime = e.stat.mtime?.sec;
  const type = contentTypeOf(e.name);
  res.setHeader('ETag', etag);
  const lm = httpDate(e.stat.mtime);
  if (lm) res.setHeader('Last-Modified', lm);
  res.setHeader('Accept-Ranges', 'bytes');
  // Files from an image are data, never this site's code, whatever they contain.
  res.setHeader('Content-Security-Policy', "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox");
  const inline = !opts.download && INLINE_SAFE.test(type);
  res.setHeader('Content-Disposition', `${inline ? 'inline' : 'attachment'}; filename*=UTF-8''${encodeURIComponent(e.name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`);
  if (notModified(req, etag, mtime)) {
    res.statusCode = 304;
    res.end();
    return;
  }
  const ranges = ifRangeHolds(req, etag, mtime) ? parseRange(req.headers.range, size) : null;
  if (ranges === 'unsatisfiable') {
    res.statusCode = 416;
    res.setHeader('Content-Range', `bytes */${size}`);
    res.end();
    return;
  }
  const head = req.method === 'HEAD';
  if (!ranges || ranges.length === 1) {
    const [start, end] = ranges ? ranges[0]! : [0, size];
    res.statusCode = ranges ? 206 : 200;
    if (ranges) res.setHeader('Content-Range', `bytes ${start}-${end - 1}/${size}`);
    res.setHeader('Content-Type', type);
    res.setHeader('Content-Length', String(end - start));
    if (head || end === start) {
      res.end();
      return;
    }
    const src = await open();
    try {
      res.flushHeaders();
      await pump(src, (chunk) => writeChunk(res, chunk), { start, end });
    } finally {
      await src.close();
    }
    res.end();
    return;
  }
  // Several ranges: multipart/byteranges (RFC 9110 §14.6), each part with its own header.
  const boundary = randomBytes(12).toString('hex');
  const partHead = (s: number, e2: number) => `\r\n--${boundary}\r\nContent-Type: ${type}\r\nContent-Range: bytes ${s}-${e2 - 1}/${size}\r\n\r\n`;
  const tail = `\r\n--${boundary}--\r\n`;
  let length = tail.length;
  for (const [s, e2] of ranges) length += Buffer.byteLength(partHead(s, e2)) + (e2 - s);
  res.statusCode = 206;
  res.setHeader('Content-Type', `multipart/byteranges; boundary=${boundary}`);
  res.setHeader('Content-Length', String(length));
  if (head) {
    res.end();
    return;
  }
  const src = await open();
  try {
    for (const [s, e2] of ranges) {
      await writeChunk(res, partHead(s, e2));
      await pump(src, (chunk) => writeChunk(res, chunk), { start: s, end: e2 });
    }
    await writeChunk(res, tail);
  } finally {
    await src.close();
  }
  res.end();
}

/** A request body as text, or null when it is longer than `max` (the rest is not read). */
export async function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return null;
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) return null;
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}
