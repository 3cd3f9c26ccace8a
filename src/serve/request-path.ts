/**
 * A request target, decoded and normalized once, before anything looks it up: percent-escapes
 * decoded as strict UTF-8 (overlong forms and lone surrogates are not UTF-8 and are refused),
 * `.` dropped and `..` resolved without ever leaving the served tree, and a segment that would
 * decode to a separator or NUL (`%2f`, `%00`) refused rather than reinterpreted. A backslash is
 * an ordinary name character here (ext names may hold one); it never separates.
 */

export class BadRequestPath extends Error {}

export interface RequestPath {
  /** The decoded names below the served root, in order. */
  segments: string[];
  /** The request named a folder (its path ended in "/"). */
  trailingSlash: boolean;
  /** The raw query string without "?" ('' when none). */
  query: string;
}

/** The longest request target accepted (the server refuses longer with 414). */
export const MAX_TARGET = 8192;

export function parseRequestTarget(target: string): RequestPath {
  if (target.length > MAX_TARGET) throw new BadRequestPath('request target too long');
  // Absolute-form targets (a proxy's "http://host/path") name the path after the authority.
  let t = target;
  const abs = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.exec(t);
  if (abs) t = t.slice(abs[0].length) || '/';
  if (!t.startsWith('/')) throw new BadRequestPath('request target must start with /');
  const q = t.indexOf('?');
  const rawPath = q < 0 ? t : t.slice(0, q);
  const query = q < 0 ? '' : t.slice(q + 1);
  const hash = rawPath.indexOf('#');
  const path = hash < 0 ? rawPath : rawPath.slice(0, hash);
  const segments: string[] = [];
  const raw = path.split('/');
  for (const r of raw) {
    if (r === '') continue;
    const name = decodeSegment(r);
    if (name === '.') continue;
    if (name === '..') {
      segments.pop();
      continue;
    }
    segments.push(name);
  }
  return { segments, trailingSlash: path.endsWith('/'), query };
}

function decodeSegment(r: string): string {
  let name: string;
  try {
    // decodeURIComponent refuses malformed escapes, overlong UTF-8 and encoded surrogates.
    name = decodeURIComponent(r);
  } catch {
    throw new BadRequestPath('malformed percent-encoding or invalid UTF-8 in the path');
  }
  if (name.includes('/')) throw new BadRequestPath('an encoded "/" inside a name');
  if (name.includes('\0')) throw new BadRequestPath('NUL in the path');
  return name;
}

/** Characters left as they are in an href segment: RFC 3986 unreserved plus a few safe sub-delims. */
const HREF_SAFE = /[A-Za-z0-9\-._~!$()*+,;=:@]/;

/** One name as a URL path segment (every other byte percent-encoded as UTF-8). */
export function encodeSegment(name: string): string {
  // encodeURIComponent leaves only A-Z a-z 0-9 - _ . ! ~ * ' ( ) as they are: all safe here but
  // the quote, encoded too. It throws on a lone surrogate (a name that is not valid UTF-16):
  // those go the slow way below, byte by byte of their WTF-8-free replacement.
  try {
    return encodeURIComponent(name).replace(/'/g, '%27');
  } catch {
    /* below */
  }
  let out = '';
  for (const ch of name) {
    if (HREF_SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** `/a/b/` style href for names below the root; folders end in "/". */
export function hrefOf(segments: readonly string[], folder: boolean): string {
  const p = segments.map(encodeSegment).join('/');
  return `/${p}${folder && p ? '/' : ''}`;
}
