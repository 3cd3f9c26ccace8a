/**
 * XFS test plumbing: the kernel's own view of an image through a read-only loop mount (the
 * oracle), xfs_db runs, and comparisons of diskpick's nodes with both.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Timespec } from '../../src/fs/types.js';
import { tool } from '../helpers/tools.js';

export interface KernelEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';
  size: number;
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  rdev: number;
  atimeNs: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  sha256?: string;
  target?: string;
}

/** Names are bytes: shown as diskpick shows them (invalid UTF-8 as U+FFFD). */
function nameOf(b: Buffer): string {
  return b.toString('utf8');
}

/** Every entry under `root` as the kernel shows it (contents hashed for files below 1 GiB). */
export function kernelWalk(root: string): KernelEntry[] {
  const out: KernelEntry[] = [];
  const walk = (d: Buffer, rel: string) => {
    for (const nb of readdirSync(d, { encoding: 'buffer' })) {
      const p = Buffer.concat([d, Buffer.from('/'), nb]);
      const st = lstatSync(p, { bigint: true });
      const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev'
        : st.isBlockDevice() ? 'blockdev' : st.isSocket() ? 'socket' : 'file';
      const path = rel + '/' + nameOf(nb);
      const e: KernelEntry = {
        path, type, size: Number(st.size), mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), nlink: Number(st.nlink),
        ino: Number(st.ino), rdev: Number(st.rdev), atimeNs: st.atimeNs, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs,
      };
      if (type === 'file' && st.size < 1n << 30n) e.sha256 = st.size === 0n ? EMPTY : createHash('sha256').update(readFileSync(p)).digest('hex');
      if (type === 'symlink') e.target = readlinkSync(p, { encoding: 'buffer' }).toString('utf8');
      out.push(e);
      if (type === 'dir') walk(p, path);
    }
  };
  walk(Buffer.from(root), '');
  return out;
}

const EMPTY = createHash('sha256').digest('hex');

/** Runs `fn` with the image mounted by the kernel (loop; read-only unless opts is 'rw'), unmounting after. */
export function withKernelMount<T>(img: string, opts: string, fn: (mnt: string) => T): T {
  const mnt = mkdtempSync(join(tmpdir(), 'diskpick-xfs-mnt-'));
  try {
    execFileSync('mount', ['-o', opts === 'rw' ? 'loop' : `ro,loop${opts ? ',' + opts : ''}`, img, mnt], { stdio: 'pipe' });
    try {
      return fn(mnt);
    } finally {
      execFileSync('umount', [mnt], { stdio: 'pipe' });
    }
  } finally {
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** xattrs of every file under `dir` as getfattr reports them (one process, hex values). */
export function getfattrTree(dir: string, root: string): Map<string, Map<string, Buffer>> {
  const out = new Map<string, Map<string, Buffer>>();
  const text = tool('getfattr', ['-R', '--absolute-names', '-d', '-m', '-', '-e', 'hex', dir]);
  let cur: Map<string, Buffer> | null = null;
  for (const line of text.split('\n')) {
    const f = /^# file: (.*)$/.exec(line);
    if (f) {
      cur = new Map();
      out.set(f[1]!.slice(root.length), cur);
      continue;
    }
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line.trim());
    if (m && cur) cur.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  return out;
}

/** Runs xfs_db read-only with commands; returns stdout. */
export function xfsDb(img: string, cmds: string[]): string {
  const r = spawnSync('xfs_db', ['-r', ...cmds.flatMap((c) => ['-c', c]), img], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`xfs_db failed: ${r.stderr}`);
  return r.stdout;
}

/** Fields of `p` output ("name = value"). */
export function dbFields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) = (.*)$/.exec(line);
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** `ls` output of xfs_db: name → inode number (without . and ..). */
export function dbLs(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^\d+\s+(\d+)\s+\S+\s+0x[0-9a-f]+\s+(\d+)\s(.*) \((good|bad)\)$/.exec(line);
    if (!m) continue;
    const name = m[3]!;
    if (name === '.' || name === '..') continue;
    out.set(name, Number(m[1]));
  }
  return out;
}

export function ns(t: Timespec | undefined): bigint {
  return t ? BigInt(t.sec) * 1_000_000_000n + BigInt(t.nsec) : -1n;
}
