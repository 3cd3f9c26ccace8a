/**
 * A tar index (POSIX ustar, with GNU long names and pax `path`/`size` records): where each
 * member's bytes lie in the archive, read in place, never extracted. An OVA is such a tar
 * (DSP0243 "OVF" §5.3: the .ovf descriptor first, then manifest, certificate, disks).
 */
import { corrupt } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';

export interface TarMember {
  name: string;
  /** Byte offset of the member's data in the archive. */
  offset: number;
  size: number;
  /** ustar typeflag: "0" (or NUL) regular file, "5" folder … */
  type: string;
}

const BLOCK = 512;
/** An OVA holds a handful of members; hostile archives end here. */
const MAX_MEMBERS = 10_000;
const MAX_EXTENDED_HEADER = 1 << 20;

/** True when `b` starts with a ustar header (magic "ustar" at 257 and a valid checksum). */
export function isTarHeader(b: Buffer): boolean {
  if (b.length < BLOCK || b.toString('latin1', 257, 262) !== 'ustar') return false;
  return checksumOk(b);
}

function checksumOk(b: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i]!;
  const stored = parseNumber(b, 148, 8);
  return stored === sum;
}

/** An octal field, or GNU base-256 (first byte 0x80) for big sizes. */
function parseNumber(b: Buffer, at: number, len: number): number {
  if (b[at]! & 0x80) {
    let v = 0;
    for (let i = at + 1; i < at + len; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = b.toString('latin1', at, at + len).replace(/[\0 ]+$/, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return NaN;
  return parseInt(s, 8);
}

function cstring(b: Buffer, at: number, len: number): string {
  const end = b.indexOf(0, at);
  return b.toString('utf8', at, end >= 0 && end < at + len ? end : at + len);
}

/** pax extended header records: "LEN key=value\n". */
function paxRecords(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let at = 0;
  while (at < b.length) {
    const sp = b.indexOf(0x20, at);
    if (sp < 0) break;
    const len = Number(b.toString('latin1', at, sp));
    if (!Number.isInteger(len) || len <= 0 || at + len > b.length) break;
    const rec = b.toString('utf8', sp + 1, at + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    at += len;
  }
  return out;
}

/** Every member of the archive, in order. */
export async function readTarIndex(src: ByteSource): Promise<TarMember[]> {
  const out: TarMember[] = [];
  let at = 0;
  let longName: string | null = null;
  let pax: Record<string, string> = {};
  for (let n = 0; at + BLOCK <= src.size; n++) {
    if (n > MAX_MEMBERS * 3) throw corrupt(src.name, `tar: more than ${MAX_MEMBERS} members`);
    const h = await readExact(src, at, BLOCK, 'tar header');
    if (h.every((x) => x === 0)) break; // end of archive
    if (!checksumOk(h)) throw corrupt(src.name, `tar: header at byte ${at} has a bad checksum`);
    const size = parseNumber(h, 124, 12);
    if (!Number.isSafeInteger(size) || size < 0) throw corrupt(src.name, `tar: member at byte ${at} has an invalid size`);
    const type = String.fromCharCode(h[156]!) || '0';
    const dataAt = at + BLOCK;
    if (dataAt + size > src.size) throw corrupt(src.name, `tar: member at byte ${at} (${size} bytes) runs past the end of the archive`);
    const next = dataAt + Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'L' || type === 'x' || type === 'g') {
      if (size > MAX_EXTENDED_HEADER) throw corrupt(src.name, `tar: extended header at byte ${at} is ${size} bytes`);
      const body = await readExact(src, dataAt, size, 'tar extended header');
      if (type === 'L') longName = cstring(body, 0, body.length);
      else if (type === 'x') pax = paxRecords(body);
      at = next;
      continue;
    }
    const prefix = h.toString('latin1', 257, 263) === 'ustar\0' ? cstring(h, 345, 155) : '';
    let name = longName ?? pax.path ?? (prefix ? `${prefix}/${cstring(h, 0, 100)}` : cstring(h, 0, 100));
    const realSize = pax.size !== undefined && /^\d+$/.test(pax.size) ? Number(pax.size) : size;
    if (name.startsWith('./')) name = name.slice(2);
    if (dataAt + realSize > src.size) throw corrupt(src.name, `tar: member ${JSON.stringify(name)} (${realSize} bytes) runs past the end of the archive`);
    out.push({ name, offset: dataAt, size: realSize, type: type === '\0' ? '0' : type });
    if (out.length > MAX_MEMBERS) throw corrupt(src.name, `tar: more than ${MAX_MEMBERS} members`);
    longName = null;
    pax = {};
    at = realSize === size ? next : dataAt + Math.ceil(realSize / BLOCK) * BLOCK;
  }
  return out;
}
