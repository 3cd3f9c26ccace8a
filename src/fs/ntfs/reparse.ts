/**
 * Reparse points ($REPARSE_POINT) and ntfs-3g's Interix special files: which ones are
 * symbolic links, and their targets rewritten relative to the volume.
 * See docs/formats/ntfs.md "Reparse points".
 */

export const IO_REPARSE_TAG_MOUNT_POINT = 0xa0000003;
export const IO_REPARSE_TAG_SYMLINK = 0xa000000c;
export const IO_REPARSE_TAG_WOF = 0x80000017;
const SYMLINK_FLAG_RELATIVE = 0x1;

/** Names for tags users meet on Windows volumes (shown as attributes, never followed). */
const TAG_NAMES: Record<number, string> = {
  0x80000013: 'dedup',
  0x80000017: 'wof',
  0x8000001b: 'appexeclink',
  0x80000023: 'af-unix',
  0x80000024: 'lx-fifo',
  0x80000025: 'lx-chr',
  0x80000026: 'lx-blk',
  0xa000001d: 'lx-symlink',
  0x9000001a: 'cloud',
  0x9000101a: 'cloud',
  0x9000201a: 'cloud',
  0x9000301a: 'cloud',
  0x9000401a: 'cloud',
  0x9000501a: 'cloud',
  0x9000601a: 'cloud',
  0x9000701a: 'cloud',
  0x9000801a: 'cloud',
  0x9000901a: 'cloud',
  0x9000a01a: 'cloud',
  0x9000b01a: 'cloud',
  0x9000c01a: 'cloud',
  0x9000d01a: 'cloud',
  0x9000e01a: 'cloud',
  0x9000f01a: 'cloud',
  0x80000014: 'nfs',
  0x8000000a: 'dfs',
  0x80000012: 'dfsr',
  0xa0000019: 'global-reparse',
};

export function reparseTagName(tag: number): string {
  return TAG_NAMES[tag] ?? `reparse-tag-0x${tag.toString(16).padStart(8, '0')}`;
}

/** REPARSE_DATA_BUFFER header: the tag and the tag-specific data. */
export interface ReparsePoint {
  tag: number;
  data: Buffer;
}

export function parseReparsePoint(v: Buffer): ReparsePoint | null {
  if (v.length < 8) return null;
  const tag = v.readUInt32LE(0);
  const len = v.readUInt16LE(4);
  return { tag, data: v.subarray(8, Math.min(v.length, 8 + len)) };
}

/**
 * A Windows path to a link target relative to this volume: "\??\C:\dir\x" and "C:\dir\x"
 * become "/dir/x"; relative targets keep their form with "/" separators.
 */
export function rewriteWindowsTarget(t: string): string {
  let s = t;
  if (s.startsWith('\\??\\')) s = s.slice(4);
  if (/^[A-Za-z]:(\\|$)/.test(s)) s = s.slice(2) || '\\';
  return s.replace(/\\/g, '/');
}

/** The target of a symlink or junction reparse point, or null when it is neither (or damaged). */
export function reparseLinkTarget(rp: ReparsePoint): string | null {
  const d = rp.data;
  let head: number;
  if (rp.tag === IO_REPARSE_TAG_SYMLINK) head = 12;
  else if (rp.tag === IO_REPARSE_TAG_MOUNT_POINT) head = 8;
  else return null;
  if (d.length < head) return null;
  const subOff = d.readUInt16LE(0);
  const subLen = d.readUInt16LE(2);
  const prnOff = d.readUInt16LE(4);
  const prnLen = d.readUInt16LE(6);
  const relative = rp.tag === IO_REPARSE_TAG_SYMLINK && (d.readUInt32LE(8) & SYMLINK_FLAG_RELATIVE) !== 0;
  const str = (off: number, len: number) => (head + off + len <= d.length && len > 0 ? d.toString('utf16le', head + off, head + off + len) : '');
  const sub = str(subOff, subLen);
  const prn = str(prnOff, prnLen);
  const raw = sub || prn;
  if (!raw) return null;
  if (relative) return raw.replace(/\\/g, '/');
  return rewriteWindowsTarget(raw);
}

/** ntfs-3g's Interix symlink: a system file holding "IntxLNK\x01" + the UTF-16LE target. */
export const INTERIX_SYMLINK_MAGIC = Buffer.from('IntxLNK\x01', 'latin1');

export function interixSymlinkTarget(content: Buffer): string | null {
  if (content.length < 10 || !content.subarray(0, 8).equals(INTERIX_SYMLINK_MAGIC) || (content.length - 8) & 1) return null;
  return content.toString('utf16le', 8);
}
