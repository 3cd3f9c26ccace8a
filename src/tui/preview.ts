/**
 * File preview: the first 64 KiB, read in pieces so the first screen shows before the rest
 * has arrived; text is wrapped to the terminal width, anything else is a hex dump.
 */
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { wrap } from './width.js';

export const PREVIEW_LIMIT = 64 * 1024;
const PIECE = 16 * 1024;

/**
 * Reads up to PREVIEW_LIMIT bytes of `node`, calling `onData` with everything read so far
 * after each piece. Stops early when `signal` is aborted (the preview was closed).
 */
export async function streamPreview(vfs: Vfs, node: VfsNode, onData: (data: Buffer, done: boolean) => void, signal?: AbortSignal): Promise<void> {
  const src = await vfs.openFile(node);
  try {
    const end = Math.min(src.size, PREVIEW_LIMIT);
    const parts: Buffer[] = [];
    let off = 0;
    if (end === 0) onData(Buffer.alloc(0), true);
    while (off < end) {
      if (signal?.aborted) return;
      const buf = await src.read(off, Math.min(PIECE, end - off));
      if (buf.length === 0) break;
      parts.push(buf);
      off += buf.length;
      onData(Buffer.concat(parts), off >= end);
    }
    if (off < end) onData(Buffer.concat(parts), true);
  } finally {
    await src.close();
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** True when `data` does not look like UTF-8 text (a NUL byte, or bytes that do not decode). */
export function isBinary(data: Buffer, truncated: boolean): boolean {
  if (data.includes(0)) return true;
  // A multi-byte character may be cut at the 64 KiB limit: drop up to 3 trailing bytes.
  let end = data.length;
  if (truncated) {
    let back = 0;
    while (back < 3 && end - back - 1 >= 0 && (data[end - back - 1]! & 0xc0) === 0x80) back++;
    if (end - back - 1 >= 0 && data[end - back - 1]! >= 0xc0) end = end - back - 1;
  }
  try {
    utf8.decode(data.subarray(0, end));
    return false;
  } catch {
    return true;
  }
}

/** Text lines wrapped to `width` cells; tabs expanded, other control characters shown as "·". */
export function textLines(data: Buffer, width: number): string[] {
  const text = data.toString('utf8');
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    let line = '';
    for (const ch of raw) {
      if (ch === '\t') line += ' '.repeat(8 - (line.length % 8));
      else if (ch.charCodeAt(0) < 0x20 || ch === '\x7f') line += '·';
      else line += ch;
    }
    out.push(...wrap(line, width));
  }
  if (out.length > 1 && out[out.length - 1] === '') out.pop();
  return out;
}

/**
 * `00000010  48 65 6c 6c 6f …  |Hello…|`, 16 bytes a line (8 when the terminal is narrow), as
 * hexdump -C shows them: a run of rows equal to the row before is one `*` line, and the last
 * line is the offset just past the bytes shown.
 */
export function hexLines(data: Buffer, width: number): string[] {
  const per = width >= 78 ? 16 : 8;
  const out: string[] = [];
  let starred = false;
  for (let off = 0; off < data.length; off += per) {
    const row = data.subarray(off, off + per);
    if (off > 0 && row.length === per && row.equals(data.subarray(off - per, off))) {
      if (!starred) out.push('*');
      starred = true;
      continue;
    }
    starred = false;
    let hex = '';
    let ascii = '';
    for (let i = 0; i < per; i++) {
      if (i === 8) hex += ' ';
      if (i < row.length) {
        const b = row[i]!;
        hex += `${b.toString(16).padStart(2, '0')} `;
        ascii += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.';
      } else {
        hex += '   ';
      }
    }
    out.push(`${off.toString(16).padStart(8, '0')}  ${hex} |${ascii}|`);
  }
  if (data.length) out.push(data.length.toString(16).padStart(8, '0'));
  return out;
}
