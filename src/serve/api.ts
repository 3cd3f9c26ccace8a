/**
 * What the web page asks besides files: a folder's listing as JSON (`?list`), a search below a
 * folder (`?search=GLOB`), an image's description (`?info`), the first bytes of a file for the
 * preview pane (`?preview`), and downloads of a folder or a selection as one streaming ZIP
 * (`?zip`, GET for a whole folder, POST with `name=` fields for a selection).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import picomatch from 'picomatch';
import { pump } from '../source/chunks.js';
import { DiskpickError } from '../errors.js';
import { ClientGone, readBody, writeChunk } from './entity.js';
import type { ServedEntry, ServedTree } from './tree.js';
import { hrefOf } from './request-path.js';
import { ZipWriter } from './zip.js';
import type { Timespec } from '../fs/types.js';

const API_KEYS = ['list', 'search', 'info', 'preview', 'zip'];

export function isApiQuery(query: string): boolean {
  if (!query) return false;
  const q = new URLSearchParams(query);
  return API_KEYS.some((k) => q.has(k));
}

/** Most search results sent (the page says when there were more). */
const MAX_RESULTS = 2000;
/** Bytes of a file the preview shows. */
const PREVIEW_BYTES = 64 * 1024;
/** A selection posted for a ZIP: at most this many bytes of form data. */
const MAX_FORM = 1024 * 1024;

function iso(t: Timespec | undefined): string | null {
  if (!t) return null;
  const d = new Date(t.sec * 1000);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

function entryJson(e: ServedEntry) {
  const st = e.stat;
  return {
    name: e.name,
    href: hrefOf(e.segments, st.type === 'dir'),
    type: st.type,
    size: st.size,
    mtime: iso(st.mtime),
    ...(st.symlinkTarget !== undefined ? { target: st.symlinkTarget } : {}),
    ...(st.attributes?.includes('hidden') ? { hidden: true } : {}),
  };
}

function sendJson(res: ServerResponse, value: unknown, status = 200): void {
  const body = JSON.stringify(value);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', String(Buffer.byteLength(body)));
  res.end(body);
}

export async function apiRequest(tree: ServedTree, req: IncomingMessage, res: ServerResponse, entry: ServedEntry, query: string): Promise<void> {
  const q = new URLSearchParams(query);
  const dir = entry.stat.type === 'dir';
  if (q.has('zip')) return zipRequest(tree, req, res, entry);
  if (req.method === 'POST') throw new DiskpickError('usage', 'POST is only for ?zip');
  if (q.has('list')) {
    if (!dir) throw new DiskpickError('wrongType', 'is not a folder', entry.segments.join('/'));
    const kids = await tree.children(entry);
    return sendJson(res, { href: hrefOf(entry.segments, true), entries: kids.map(entryJson) });
  }
  if (q.has('info')) {
    const pl = entry.place;
    if (pl.kind === 'top') return sendJson(res, { images: tree.images.map((i) => ({ name: i.name, info: i.vfs.info() })) });
    return sendJson(res, pl.image.vfs.info());
  }
  if (q.has('preview')) {
    const pl = entry.place;
    if (pl.kind !== 'node' || entry.stat.type !== 'file') throw new DiskpickError('wrongType', 'is not a file', entry.segments.join('/'));
    const src = await pl.image.vfs.openFile(pl.node);
    try {
      const buf = await src.read(0, PREVIEW_BYTES);
      const binary = buf.includes(0) || !isMostlyText(buf);
      return sendJson(res, { size: entry.stat.size, truncated: entry.stat.size > buf.length, binary, text: binary ? null : buf.toString('utf8') });
    } finally {
      await src.close();
    }
  }
  if (q.has('search')) return searchRequest(tree, res, entry, q.get('search') ?? '');
}

function isMostlyText(b: Buffer): boolean {
  let bad = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c < 9 || (c > 13 && c < 32)) bad++;
  }
  return bad <= b.length / 100;
}

/**
 * Every entry below `start` whose name matches `glob` (case-insensitive, as `find -iname`),
 * walked with an explicit stack so depth costs nothing but memory. Folders that cannot be
 * listed are skipped. At most MAX_RESULTS.
 */
async function searchRequest(tree: ServedTree, res: ServerResponse, start: ServedEntry, glob: string): Promise<void> {
  if (!glob || glob.length > 1000) throw new DiskpickError('usage', 'a search needs a name pattern (at most 1000 characters)');
  if (start.stat.type !== 'dir') throw new DiskpickError('wrongType', 'is not a folder', start.segments.join('/'));
  const match = picomatch(glob.includes('*') || glob.includes('?') || glob.includes('[') ? glob : `*${glob}*`, { nocase: true, dot: true });
  const results: ReturnType<typeof entryJson>[] = [];
  const stack: ServedEntry[] = [start];
  let truncated = false;
  let errors = 0;
  while (stack.length) {
    const dir = stack.pop()!;
    let kids: ServedEntry[];
    try {
      kids = await tree.children(dir);
    } catch {
      errors++;
      continue;
    }
    for (const k of kids) {
      if (match(k.name)) {
        if (results.length >= MAX_RESULTS) {
          truncated = true;
          break;
        }
        results.push(entryJson(k));
      }
    }
    if (truncated) break;
    for (let i = kids.length - 1; i >= 0; i--) if (kids[i]!.stat.type === 'dir') stack.push(kids[i]!);
  }
  sendJson(res, { results, truncated, unreadableFolders: errors });
}

/** ZIP member names: "/" separated, no "..", no leading "/", no NUL (zip-slip safe for whoever unpacks). */
function memberName(parts: string[]): string {
  return parts.map((p) => p.replace(/[\\/\0]/g, '_').replace(/^\.\.?$/, '_')).join('/');
}

async function zipRequest(tree: ServedTree, req: IncomingMessage, res: ServerResponse, entry: ServedEntry): Promise<void> {
  if (entry.stat.type !== 'dir') throw new DiskpickError('wrongType', 'a ZIP is made of a folder or a selection in one', entry.segments.join('/'));
  let roots: ServedEntry[];
  if (req.method === 'POST') {
    const body = await readBody(req, MAX_FORM);
    if (body === null) throw new DiskpickError('usage', `a selection is at most ${MAX_FORM} bytes of form data`);
    const names = new URLSearchParams(body).getAll('name');
    if (!names.length) throw new DiskpickError('usage', 'no name= fields in the selection');
    const kids = await tree.children(entry);
    const byName = new Map(kids.map((k) => [k.name, k]));
    roots = [];
    for (const n of new Set(names)) {
      const k = byName.get(n);
      if (!k) throw new DiskpickError('notFound', 'no such file or folder', [...entry.segments, n].join('/'));
      roots.push(k);
    }
  } else roots = [entry];
  const archiveName = `${entry.name || 'diskpick'}${req.method === 'POST' ? '-selection' : ''}.zip`;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/zip');
  res.setHeader('Content-Disposition', `attachment; filename*=UTF-8''${encodeURIComponent(archiveName)}`);
  res.setHeader('Cache-Control', 'no-store');
  const zip = new ZipWriter((chunk) => writeChunk(res, chunk));
  try {
    const stack: { e: ServedEntry; parts: string[] }[] = roots.reverse().map((e) => ({ e, parts: [e.name || 'root'] }));
    while (stack.length) {
      const { e, parts } = stack.pop()!;
      if (e.stat.type === 'dir') {
        await zip.addFolder(memberName(parts), e.stat.mtime);
        const kids = await tree.children(e);
        for (let i = kids.length - 1; i >= 0; i--) stack.push({ e: kids[i]!, parts: [...parts, kids[i]!.name] });
        continue;
      }
      const pl = e.place;
      if (e.stat.type !== 'file' || pl.kind !== 'node') continue; // links and devices have no ZIP form here
      const src = await pl.image.vfs.openFile(pl.node);
      try {
        await zip.addFile(memberName(parts), e.stat.mtime, e.stat.mode, (put) => pump(src, put));
      } finally {
        await src.close();
      }
    }
    await zip.finish();
    res.end();
  } catch (err) {
    // Headers are gone: the only honest signal left is a broken download, never a ZIP that
    // looks complete without the file that failed.
    if (!(err instanceof ClientGone)) res.destroy(err as Error);
    throw err;
  }
}
