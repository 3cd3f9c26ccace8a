/**
 * Rock Ridge: the System Use Sharing Protocol (SUSP 1.12, IEEE P1281) and the Rock Ridge
 * Interchange Protocol (RRIP 1.12, IEEE P1282) in the System Use field of directory records.
 * SUSP entries are "signature (2), length (1), version (1), data"; a CE entry continues the
 * area in a Continuation Area elsewhere on the volume. RRIP adds POSIX names (NM), modes and
 * owners (PX), device numbers (PN), symlinks (SL), times (TF) and deep-folder relocation
 * (CL/PL/RE).
 */
import type { Timespec } from '../types.js';
import { parseDirDateTime, parseDecDateTime } from './records.js';

/** What the Rock Ridge entries of one directory record say. */
export interface RockRidge {
  /** NM: the POSIX name (absent for "." and ".." or when not recorded). */
  name?: string;
  /** PX: st_mode (file type bits included), st_nlink, st_uid, st_gid, st_ino (RRIP 1.12). */
  mode?: number;
  nlink?: number;
  uid?: number;
  gid?: number;
  ino?: number;
  /** PN: device number, high and low 32 bits as written. */
  devHigh?: number;
  devLow?: number;
  /** SL: the symlink target, components joined with "/". */
  symlink?: string;
  /** TF: creation, modify, access, attributes (ctime). */
  birthtime?: Timespec;
  mtime?: Timespec;
  atime?: Timespec;
  ctime?: Timespec;
  /** CL: this folder entry was relocated; its directory is at this logical block. */
  childLink?: number;
  /** RE: this entry is the relocated folder in rr_moved; it is shown at its CL entry instead. */
  relocated?: boolean;
  /** ZF: the file is zisofs-compressed (algorithm id, e.g. "pz"), and its uncompressed size. */
  zisofs?: string;
  zisofsSize?: number;
  /** SF: a sparse file (RRIP 1.12). */
  sparse?: boolean;
}

/** SP in the root's "." record: SUSP is in use, and how many bytes to skip in every System Use field. */
export function suspSkip(systemUse: Buffer): number | null {
  if (systemUse.length >= 7 && systemUse.toString('latin1', 0, 2) === 'SP' && systemUse[4] === 0xbe && systemUse[5] === 0xef) {
    return systemUse[6]!;
  }
  return null;
}

/** A continuation area: `length` bytes at byte `offset` of logical block `block`. */
export interface Continuation {
  block: number;
  offset: number;
  length: number;
}

/** One System Use area (the field, or one continuation area) parsed into `rr`; returns its CE, if any. */
export function parseSystemUseArea(area: Buffer, rr: RockRidge, state: ParseState): Continuation | null {
  let at = 0;
  let ce: Continuation | null = null;
  while (at + 4 <= area.length) {
    const sig = area.toString('latin1', at, at + 2);
    const len = area[at + 2]!;
    if (len < 4 || at + len > area.length) break;
    const e = area.subarray(at, at + len);
    at += len;
    switch (sig) {
      case 'ST':
        return ce;
      case 'CE':
        if (len >= 28) ce = { block: e.readUInt32LE(4), offset: e.readUInt32LE(12), length: e.readUInt32LE(20) };
        break;
      case 'PX':
        if (len >= 36) {
          rr.mode = e.readUInt32LE(4);
          rr.nlink = e.readUInt32LE(12);
          rr.uid = e.readUInt32LE(20);
          rr.gid = e.readUInt32LE(28);
          if (len >= 44) rr.ino = e.readUInt32LE(36);
        }
        break;
      case 'PN':
        if (len >= 20) {
          rr.devHigh = e.readUInt32LE(4);
          rr.devLow = e.readUInt32LE(12);
        }
        break;
      case 'NM':
        if (len >= 5) {
          const flags = e[4]!;
          // Flags CURRENT (2) / PARENT (4) name "." / "..", which are never listed.
          if (flags & 0x06) break;
          state.name = (state.name ?? '') + e.toString('utf8', 5);
          if (state.name.length > MAX_NAME) state.name = state.name.slice(0, MAX_NAME);
        }
        break;
      case 'SL':
        if (len >= 5) parseSymlinkEntry(e, state);
        break;
      case 'TF':
        if (len >= 5) parseTimes(e, rr);
        break;
      case 'CL':
        if (len >= 12) rr.childLink = e.readUInt32LE(4);
        break;
      case 'RE':
        rr.relocated = true;
        break;
      case 'ZF':
        if (len >= 16) {
          rr.zisofs = e.toString('latin1', 4, 6);
          rr.zisofsSize = e.readUInt32LE(8);
        }
        break;
      case 'SF':
        rr.sparse = true;
        break;
      default:
        break;
    }
  }
  return ce;
}

/** NM and SL may be split over several entries (and continuation areas): gathered here. */
export interface ParseState {
  name?: string;
  link?: string;
  /** The last SL component had CONTINUE: the next one is appended without a "/". */
  linkGlue?: boolean;
  /** A component has been written (a "/" goes before the next one). */
  linkStarted?: boolean;
}

const MAX_NAME = 4096;
const MAX_LINK = 65536;

function parseSymlinkEntry(e: Buffer, st: ParseState): void {
  let at = 5;
  let link = st.link ?? '';
  while (at + 2 <= e.length) {
    const flags = e[at]!;
    const len = e[at + 1]!;
    if (at + 2 + len > e.length) break;
    const content = e.toString('utf8', at + 2, at + 2 + len);
    at += 2 + len;
    let part: string;
    if (flags & 0x08) {
      // ROOT: the target is absolute.
      link = '/';
      st.linkStarted = false;
      st.linkGlue = false;
      continue;
    } else if (flags & 0x02) part = '.';
    else if (flags & 0x04) part = '..';
    else part = content;
    if (st.linkStarted && !st.linkGlue) link += '/';
    link += part;
    st.linkStarted = true;
    st.linkGlue = (flags & 0x01) !== 0;
  }
  st.link = link.length > MAX_LINK ? link.slice(0, MAX_LINK) : link;
}

function parseTimes(e: Buffer, rr: RockRidge): void {
  const flags = e[4]!;
  const long = (flags & 0x80) !== 0;
  const width = long ? 17 : 7;
  let at = 5;
  const next = (): Timespec | undefined => {
    if (at + width > e.length) return undefined;
    const t = long ? parseDecDateTime(e, at) : parseDirDateTime(e, at);
    at += width;
    return t;
  };
  // Recorded in this order, each only when its flag is set.
  if (flags & 0x01) rr.birthtime = next();
  if (flags & 0x02) rr.mtime = next();
  if (flags & 0x04) rr.atime = next();
  if (flags & 0x08) rr.ctime = next();
}
