/**
 * WebDAV PROPFIND (RFC 4918 §9.1), read-only: the live properties clients use, and the
 * Win32 ones Windows Explorer asks for (urn:schemas-microsoft-com:) so a mapped drive shows
 * hidden/system/read-only files as Explorer would. Depth 0 and 1; depth infinity is refused
 * with 403 and `propfind-finite-depth`, as §9.1 allows, so one request cannot walk a volume.
 */
import type { Stat, Timespec } from '../fs/types.js';
import { hrefOf } from './request-path.js';
import { contentTypeOf, etagOf } from './entity.js';
import type { ServedEntry } from './tree.js';

const DAV = 'DAV:';
const MS = 'urn:schemas-microsoft-com:';

/** A property by namespace and local name. */
export interface PropName {
  ns: string;
  name: string;
}

/** What the request body asked for: every property, only their names, or a list. */
export type PropRequest = { kind: 'allprop' } | { kind: 'propname' } | { kind: 'prop'; props: PropName[] };

/** Bodies larger than this are refused (413) before they are parsed. */
export const MAX_PROPFIND_BODY = 64 * 1024;

/**
 * Reads a PROPFIND body. Not a general XML parser: it finds the element names inside <prop>
 * and resolves their prefixes through the xmlns declarations, which is all a PROPFIND says.
 * No entities are expanded and nothing nests deeper than a regular expression reaches, so a
 * hostile body costs at most its (bounded) length.
 */
export function parsePropfindBody(body: string): PropRequest {
  if (!body.trim()) return { kind: 'allprop' };
  if (/<!DOCTYPE|<!ENTITY/i.test(body)) throw new Error('DTDs are not accepted');
  const ns = new Map<string, string>();
  for (const m of body.matchAll(/xmlns(?::([\w.-]+))?\s*=\s*("([^"]*)"|'([^']*)')/g)) ns.set(m[1] ?? '', m[3] ?? m[4] ?? '');
  const resolve = (qname: string): PropName => {
    const c = qname.indexOf(':');
    const prefix = c < 0 ? '' : qname.slice(0, c);
    return { ns: ns.get(prefix) ?? (prefix === '' ? '' : prefix), name: c < 0 ? qname : qname.slice(c + 1) };
  };
  const elements = [...body.matchAll(/<([\w.-]+(?::[\w.-]+)?)[^>]*?(\/?)>|<\/([\w.-]+(?::[\w.-]+)?)\s*>/g)];
  let inProp = 0;
  const props: PropName[] = [];
  for (const e of elements) {
    if (e[3]) {
      const n = resolve(e[3]);
      if (n.ns === DAV && n.name === 'prop') inProp = Math.max(0, inProp - 1);
      continue;
    }
    const n = resolve(e[1]!);
    if (n.ns === DAV && (n.name === 'allprop' || n.name === 'propname') && inProp === 0) return { kind: n.name };
    if (n.ns === DAV && n.name === 'prop' && inProp === 0) {
      if (e[2] !== '/') inProp = 1;
      continue;
    }
    if (inProp === 1) {
      props.push(n);
      if (e[2] !== '/') inProp = 2; // inside a property element: its content is not a property name
    } else if (inProp >= 2 && e[2] !== '/') inProp++;
  }
  return props.length ? { kind: 'prop', props } : { kind: 'allprop' };
}

const NEEDS_XML_ESCAPE = /[&<>"'\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/;
export function xmlEscape(s: string): string {
  if (!NEEDS_XML_ESCAPE.test(s)) return s;
  // XML 1.0 cannot carry C0 controls even as character references: show them as \xHH.
  return s.replace(/[&<>"'\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, (c) =>
    c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&quot;' : c === "'" ? '&apos;' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * Dates as HTTP writes them, cached by second: a folder's entries share few distinct times, and
 * Date#toUTCString was a third of a 10 000-entry PROPFIND's time.
 */
const httpDates = new Map<number, string>();
export function httpDate(t: Timespec | undefined): string | null {
  if (!t) return null;
  let s = httpDates.get(t.sec);
  if (s === undefined) {
    const d = new Date(t.sec * 1000);
    if (Number.isNaN(d.getTime())) return null;
    s = d.toUTCString();
    if (httpDates.size > 65536) httpDates.clear();
    httpDates.set(t.sec, s);
  }
  return s;
}

function isoDate(t: Timespec | undefined): string | null {
  if (!t) return null;
  const d = new Date(t.sec * 1000);
  return Number.isNaN(d.getTime()) ? null : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** FILE_ATTRIBUTE_* bits Explorer reads from Win32FileAttributes. */
function win32Attributes(st: Stat, name: string): number {
  const a = new Set(st.attributes ?? []);
  let bits = 0x1; // read-only: nothing served can be changed
  if (a.has('hidden') || (name.startsWith('.') && name.length > 1)) bits |= 0x2;
  if (a.has('system')) bits |= 0x4;
  if (st.type === 'dir') bits |= 0x10;
  if (a.has('archive')) bits |= 0x20;
  return bits;
}

/** Every live property: namespace, name, and its XML content for an entry (null: absent). */
type Getter = (e: ServedEntry) => string | null;
const LIVE: [string, string, Getter][] = [
  [DAV, 'displayname', (e) => xmlEscape(e.name)],
  [DAV, 'resourcetype', (e) => (e.stat.type === 'dir' ? '<D:collection/>' : '')],
  [DAV, 'getcontentlength', (e) => (e.stat.type === 'dir' ? null : String(e.stat.size))],
  [DAV, 'getcontenttype', (e) => (e.stat.type === 'dir' ? null : xmlEscape(contentTypeOf(e.name)))],
  [DAV, 'getlastmodified', (e) => httpDate(e.stat.mtime)],
  [DAV, 'creationdate', (e) => isoDate(e.stat.birthtime ?? e.stat.ctime ?? e.stat.mtime)],
  [DAV, 'getetag', (e) => (e.stat.type === 'dir' ? null : xmlEscape(etagOf(e)))],
  [DAV, 'supportedlock', () => ''],
  [DAV, 'lockdiscovery', () => ''],
  [DAV, 'isreadonly', () => '1'],
  [MS, 'Win32FileAttributes', (e) => win32Attributes(e.stat, e.name).toString(16).padStart(8, '0')],
  [MS, 'Win32CreationTime', (e) => httpDate(e.stat.birthtime ?? e.stat.ctime ?? e.stat.mtime)],
  [MS, 'Win32LastAccessTime', (e) => httpDate(e.stat.atime ?? e.stat.mtime)],
  [MS, 'Win32LastModifiedTime', (e) => httpDate(e.stat.mtime)],
];
const LIVE_BY_NAME = new Map(LIVE.map((l) => [`${l[0]} ${l[1]}`, l]));

function tag(ns: string, name: string, content: string): string {
  if (ns === DAV) return content === '' ? `<D:${name}/>` : `<D:${name}>${content}</D:${name}>`;
  if (ns === MS) return content === '' ? `<Z:${name}/>` : `<Z:${name}>${content}</Z:${name}>`;
  return `<X:${name} xmlns:X="${xmlEscape(ns)}"${content === '' ? '/>' : `>${content}</X:${name}>`}`;
}

/** One <D:response> for an entry; only the properties asked for are computed. */
export function responseXml(e: ServedEntry, req: PropRequest): string {
  const href = xmlEscape(hrefOf(e.segments, e.stat.type === 'dir'));
  let found = '';
  let missing = '';
  if (req.kind === 'prop') {
    for (const p of req.props) {
      const l = LIVE_BY_NAME.get(`${p.ns} ${p.name}`);
      const v = l ? l[2](e) : null;
      if (v !== null) found += tag(p.ns, p.name, v);
      else missing += tag(p.ns, p.name, '');
    }
  } else {
    for (const [ns, name, get] of LIVE) {
      const v = get(e);
      if (v !== null) found += tag(ns, name, req.kind === 'propname' ? '' : v);
    }
  }
  let out = `<D:response><D:href>${href}</D:href>`;
  if (found) out += `<D:propstat><D:prop>${found}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>`;
  if (missing) out += `<D:propstat><D:prop>${missing}</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>`;
  return `${out}</D:response>`;
}

export const MULTISTATUS_OPEN = `<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:Z="${MS}">`;
export const MULTISTATUS_CLOSE = '</D:multistatus>\n';

/** The entries a PROPFIND shows: folders and regular files (links and devices have no WebDAV form). */
export function servable(e: ServedEntry): boolean {
  return e.stat.type === 'dir' || e.stat.type === 'file';
}
