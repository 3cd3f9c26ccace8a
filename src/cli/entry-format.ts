/** How entries and sizes are shown: `ls -l` columns, JSON objects, human sizes. */
import type { Stat, Timespec } from '../fs/types.js';
import type { VfsNode } from '../vfs/vfs.js';
import { displayName } from '../present/names.js';

// Shared with the TUI: src/present/names.ts.
export { displayName, humanSize, needsEscape } from '../present/names.js';

export function isoTime(t: Timespec | undefined): string | null {
  if (!t) return null;
  const d = new Date(t.sec * 1000);
  if (Number.isNaN(d.getTime())) return null;
  const base = d.toISOString().slice(0, 19);
  return `${base}.${String(t.nsec).padStart(9, '0')}Z`;
}

const TYPE_CHAR: Record<Stat['type'], string> = {
  file: '-', dir: 'd', symlink: 'l', chardev: 'c', blockdev: 'b', fifo: 'p', socket: 's', other: '?',
};

export function modeString(st: Stat): string {
  const m = st.mode;
  const rwx = (bits: number, special: boolean, ch: string) =>
    (bits & 4 ? 'r' : '-') + (bits & 2 ? 'w' : '-') + (special ? (bits & 1 ? ch : ch.toUpperCase()) : bits & 1 ? 'x' : '-');
  return (
    TYPE_CHAR[st.type] +
    rwx((m >> 6) & 7, (m & 0o4000) !== 0, 's') +
    rwx((m >> 3) & 7, (m & 0o2000) !== 0, 's') +
    rwx(m & 7, (m & 0o1000) !== 0, 't')
  );
}

/**
 * Times in listings: local time as `ls -l` shows it (the zone from TZ, else the system's), or
 * UTC with `--utc`. JSON always carries ISO 8601 in UTC with its `Z` (isoTime).
 */
let utcTimes = false;
export function setUtcTimes(on: boolean): void {
  utcTimes = on;
}

const p2 = (n: number) => String(n).padStart(2, '0');

/** `2024-03-01 14:05:09` in local time (TZ), or in UTC after setUtcTimes(true). */
export function shortTime(t: Timespec | undefined): string {
  if (!t) return '-                  ';
  const d = new Date(t.sec * 1000);
  if (Number.isNaN(d.getTime())) return '?';
  if (utcTimes) return d.toISOString().slice(0, 19).replace('T', ' ');
  const y = d.getFullYear();
  return `${y < 0 ? '-' : ''}${String(Math.abs(y)).padStart(4, '0')}-${p2(d.getMonth() + 1)}-${p2(d.getDate())} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

/** A size as `ls -lh` shows it: 900, 1.5K, 12K, 3.4M (powers of 1024, rounded up as GNU ls does). */
export function lsHumanSize(n: number): string {
  if (n < 1024) return String(n);
  const units = ['K', 'M', 'G', 'T', 'P', 'E'];
  let v = n;
  let i = -1;
  do {
    v /= 1024;
    i++;
  } while (v >= 1024 && i < units.length - 1);
  if (v < 10) {
    const r = Math.ceil(v * 10) / 10;
    return r >= 10 ? `10${units[i]}` : `${r.toFixed(1)}${units[i]}`;
  }
  const r = Math.ceil(v);
  return r >= 1024 && i < units.length - 1 ? `1.0${units[i + 1]}` : `${r}${units[i]}`;
}

/** "major, minor" of a Linux new-style device number (12-bit major, 20-bit minor). */
export function deviceNumbers(rdev: number): string {
  const major = (rdev >>> 8) & 0xfff;
  const minor = (rdev & 0xff) | ((rdev >>> 12) & 0xfff00);
  return `${major}, ${minor}`;
}

export function longLine(node: VfsNode, shownPath: string, human = false): string {
  const st = node.stat;
  const size = st.type === 'chardev' || st.type === 'blockdev' ? deviceNumbers(st.rdev ?? 0) : human ? lsHumanSize(st.size) : String(st.size);
  const link = st.type === 'symlink' && st.symlinkTarget !== undefined ? ` -> ${displayName(st.symlinkTarget)}` : '';
  return `${modeString(st)} ${String(st.nlink).padStart(2)} ${String(st.uid).padStart(5)} ${String(st.gid).padStart(5)} ${size.padStart(12)} ${shortTime(st.mtime)} ${displayName(shownPath)}${link}`;
}

export interface EntryJson {
  path: string;
  name: string;
  type: Stat['type'] | 'stream';
  size: number;
  allocated: number;
  mode: string;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  atime: string | null;
  mtime: string | null;
  ctime: string | null;
  birthtime: string | null;
  target?: string;
  rdev?: number;
  attributes?: string[];
  streams?: { name: string; size: number }[];
  xattrs?: Record<string, string>;
  /** Content hash with --hash, named by the algorithm. */
  sha256?: string;
  sha1?: string;
  md5?: string;
}

export function entryJson(node: VfsNode): EntryJson {
  const st = node.stat;
  const j: EntryJson = {
    path: node.path,
    name: node.name,
    type: st.type,
    size: st.size,
    allocated: st.allocated,
    mode: (st.mode & 0o7777).toString(8).padStart(4, '0'),
    uid: st.uid,
    gid: st.gid,
    nlink: st.nlink,
    ino: st.ino,
    atime: isoTime(st.atime),
    mtime: isoTime(st.mtime),
    ctime: isoTime(st.ctime),
    birthtime: isoTime(st.birthtime),
  };
  if (st.symlinkTarget !== undefined) j.target = st.symlinkTarget;
  if (st.rdev !== undefined) j.rdev = st.rdev;
  if (st.attributes && st.attributes.length) j.attributes = st.attributes;
  return j;
}
