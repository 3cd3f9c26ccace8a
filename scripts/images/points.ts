/**
 * Points-in-time images (docs/points-in-time.md): one ext4 filesystem in three states, each made
 * from the one before by debugfs edits (so each state's overlay holds only what changed), as
 *   - a QCOW2 chain: base.qcow2 (state 1) <- mid.qcow2 (2) <- top.qcow2 (3), the overlays
 *     written by `qemu-img convert -B` (only clusters that differ from the backing file);
 *   - one QCOW2 with internal snapshots: `first` (state 1), `second` (state 2), active state 3,
 *     taken with `qemu-img snapshot -c` between `qemu-img convert -n` rewrites.
 * The states' files are the manifest (`states`); the oracles are qemu-img convert of each level
 * and `qemu-img convert -l snapshot.name=`.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededBytes } from './tree.js';

/** The files of each state, by path below the filesystem's root. */
export const states: Array<Record<string, Buffer>> = [
  { 'report.txt': Buffer.from('first draft\n'.repeat(300)), 'keep.bin': seededBytes(1, 70000), 'old.txt': Buffer.from('old\n') },
  { 'report.txt': Buffer.from('second draft, longer\n'.repeat(400)), 'keep.bin': seededBytes(1, 70000), 'new.txt': Buffer.from('new\n') },
  { 'report.txt': Buffer.from('third draft\n'.repeat(250)), 'keep.bin': seededBytes(1, 70000), 'new.txt': Buffer.from('new, edited\n') },
];

function sh(cmd: string, args: string[], cwd?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...(cwd ? { cwd } : {}) });
}

/** debugfs edits that turn state `from` (or nothing) into state `to`. */
function debugfsScript(tmp: string, from: Record<string, Buffer> | null, to: Record<string, Buffer>, n: number): string {
  const lines: string[] = [];
  for (const name of Object.keys(from ?? {})) if (!(name in to) || !to[name]!.equals(from![name]!)) lines.push(`rm /${name}`);
  for (const [name, data] of Object.entries(to)) {
    if (from && from[name]?.equals(data)) continue;
    const host = join(tmp, `s${n}-${name}`);
    writeFileSync(host, data);
    lines.push(`write ${host} /${name}`);
  }
  const script = join(tmp, `s${n}.debugfs`);
  writeFileSync(script, `${lines.join('\n')}\n`);
  return script;
}

export interface PointsSet {
  dir: string;
  /** state k (0-based) as a raw ext4 image */
  raws: string[];
  chain: { base: string; mid: string; top: string };
  snaps: string;
}

export function buildPointsSet(dir: string): PointsSet {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const raws: string[] = [];
  for (let k = 0; k < states.length; k++) {
    const raw = join(tmp, `state${k + 1}.raw`);
    if (k === 0) {
      sh('truncate', ['-s', '16M', raw]);
      sh('mkfs.ext4', ['-q', '-F', '-E', 'lazy_itable_init=0,lazy_journal_init=0', raw]);
    } else copyFileSync(raws[k - 1]!, raw);
    sh('debugfs', ['-w', '-f', debugfsScript(tmp, k === 0 ? null : states[k - 1]!, states[k]!, k + 1), raw]);
    raws.push(raw);
  }
  sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raws[0]!, 'base.qcow2'], tmp);
  sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-B', 'base.qcow2', '-o', 'backing_fmt=qcow2', raws[1]!, 'mid.qcow2'], tmp);
  sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-B', 'mid.qcow2', '-o', 'backing_fmt=qcow2', raws[2]!, 'top.qcow2'], tmp);
  sh('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raws[0]!, 'snaps.qcow2'], tmp);
  sh('qemu-img', ['snapshot', '-c', 'first', 'snaps.qcow2'], tmp);
  sh('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', raws[1]!, 'snaps.qcow2'], tmp);
  sh('qemu-img', ['snapshot', '-c', 'second', 'snaps.qcow2'], tmp);
  sh('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'qcow2', raws[2]!, 'snaps.qcow2'], tmp);
  // A file whose name holds a point suffix: it must open as that file (the precedence rule).
  copyFileSync(raws[0]!, join(tmp, 'odd@vss:1'));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  const p = (n: string) => join(dir, n);
  return { dir, raws: raws.map((r) => r.replace(tmp, dir)), chain: { base: p('base.qcow2'), mid: p('mid.qcow2'), top: p('top.qcow2') }, snaps: p('snaps.qcow2') };
}
