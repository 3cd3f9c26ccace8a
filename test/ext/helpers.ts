/**
 * ext test plumbing: the host-side manifest of a source tree (including FIFOs and devices,
 * which tree.ts's manifestOf would try to read), debugfs runs and their parsed output, and a
 * whole-file reader over the Vfs.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Vfs, VfsNode } from '../../src/vfs/vfs.js';
import { tool } from '../helpers/tools.js';

export interface HostEntry {
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'chardev' | 'blockdev' | 'socket';
  size: number;
  sha256?: string;
  target?: string;
  mode: number;
  uid: number;
  gid: number;
  ino: bigint;
  nlink: number;
  rdev: number;
  mtimeNs: bigint;
}

/** Every entry under `root` as the host sees it (lstat; contents hashed for regular files only). */
export function hostManifest(root: string): HostEntry[] {
  const out: HostEntry[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p, { bigint: true });
      const type = st.isSymbolicLink() ? 'symlink' : st.isDirectory() ? 'dir' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'chardev'
        : st.isBlockDevice() ? 'blockdev' : st.isSocket() ? 'socket' : 'file';
      const e: HostEntry = {
        path: '/' + relative(root, p), type, size: Number(st.size), mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid),
        ino: st.ino, nlink: Number(st.nlink), rdev: Number(st.rdev), mtimeNs: st.mtimeNs,
      };
      // Multi-GiB sparse files are compared piecewise by their own test.
      if (type === 'file' && st.size < 1n << 30n) e.sha256 = createHash('sha256').update(readFileSync(p)).digest('hex');
      if (type === 'symlink') e.target = readlinkSync(p);
      out.push(e);
      if (type === 'dir') walk(p);
    }
  };
  walk(root);
  return out;
}

/** Runs debugfs commands read-only in one process; returns each command's output. */
export function debugfsBatch(img: string, cmds: string[]): string[] {
  const r = spawnSync('debugfs', ['-f', '-', img], { input: cmds.join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 30, env: { ...process.env, TZ: 'UTC' } });
  if (r.status !== 0) throw new Error(`debugfs failed: ${r.stderr}`);
  // debugfs echoes "debugfs: <command>" before each command's output.
  const parts = r.stdout.split(/^debugfs: .*$/m);
  return parts.slice(1);
}

export interface DebugfsLsEntry {
  ino: number;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  name: string;
}

/** Parses `ls -l` lines: "  ino  mode (ft)  uid  gid  size dd-Mon-yyyy hh:mm name". */
export function parseDebugfsLs(text: string): DebugfsLsEntry[] {
  const out: DebugfsLsEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+\((\d+)\)\s+(\d+)\s+(\d+)\s+(\d+)\s+\d+-\w+-\d+ \d+:\d+ (.*)$/.exec(line);
    if (!m) continue;
    // debugfs prints bytes outside ASCII as \xNN escapes.
    const name = Buffer.from(m[7]!.replace(/\\x([0-9a-f]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
    if (name === '.' || name === '..') continue;
    out.push({ ino: Number(m[1]), mode: parseInt(m[2]!, 8), uid: Number(m[4]), gid: Number(m[5]), size: Number(m[6]), name });
  }
  return out;
}

/** A field from `stat` output, e.g. "Blockcount" or "Links". */
export function statField(text: string, field: string): string | null {
  const m = new RegExp(`${field}:\\s*(\\S+)`).exec(text);
  return m ? m[1]! : null;
}

/** The date debugfs prints for a time field ("mtime: 0x…:… -- Sun Jul 20 20:17:40 1969"), in seconds. */
export function statTime(text: string, field: string): number | null {
  const m = new RegExp(`^\\s*${field}: 0x[0-9a-f]+(?::[0-9a-f]+)? -- (.*)$`, 'm').exec(text);
  if (!m) return null;
  return Date.parse(m[1]!.trim() + ' UTC') / 1000;
}

/** Whole content of a file node through the Vfs, read in 4 MiB pieces. */
export async function readAll(vfs: Vfs, node: VfsNode): Promise<Buffer> {
  const src = await vfs.openFile(node);
  const parts: Buffer[] = [];
  for (let off = 0; off < src.size; off += 4 << 20) parts.push(Buffer.from(await src.read(off, Math.min(4 << 20, src.size - off))));
  await src.close();
  return Buffer.concat(parts);
}

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** xattrs of a host file as getfattr reports them (all namespaces, hex values). */
export function hostXattrs(path: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const text = tool('getfattr', ['--absolute-names', '-h', '-d', '-m', '-', '-e', 'hex', path]);
  for (const line of text.split('\n')) {
    const m = /^([^#=][^=]*)=0x([0-9a-f]*)$/.exec(line.trim());
    if (m) out.set(m[1]!, Buffer.from(m[2]!, 'hex'));
  }
  return out;
}

/** All entries (path → node) by walking the Vfs from `/p0`. */
export async function walkVfs(vfs: Vfs, start = '/p0'): Promise<Map<string, VfsNode>> {
  const out = new Map<string, VfsNode>();
  const stack = [await vfs.lookup(start)];
  while (stack.length) {
    const d = stack.pop()!;
    for (const k of await vfs.readdir(d)) {
      out.set(k.path.slice(start.length), k);
      if (k.stat.type === 'dir') stack.push(k);
    }
  }
  return out;
}
