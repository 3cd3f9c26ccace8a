/**
 * Benchmark plumbing shared by every bench/<area>.ts module. Each area measures diskpick and
 * the reference tool in the same run and reports a ratio; nothing here is asserted in tests.
 */
import { spawnSync } from 'node:child_process';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdirSync } from 'node:fs';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const BENCH_CACHE = join(ROOT, '.cache', 'bench');
export const CLI = join(ROOT, 'dist', 'cli', 'launch.cjs');
mkdirSync(BENCH_CACHE, { recursive: true });

export interface BenchRow {
  area: string;
  what: string;
  /** diskpick's figure (MiB/s for throughput rows, seconds for time rows). */
  ours: number;
  reference: string;
  theirs: number;
  unit: 'MiB/s' | 's' | 'MB';
  /** ours/theirs for throughput; theirs/ours for time — so > 1 always means diskpick is better. */
  ratio: number;
  target: string;
  met: boolean;
}

/** Runs a shell command `runs` times (after one warm-up) and returns the best wall time in seconds. */
export function timeShell(cmd: string, runs = 3, warm = true): number {
  if (warm) run(cmd);
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    run(cmd);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

export function run(cmd: string): string {
  const r = spawnSync('bash', ['-c', cmd], { encoding: 'utf8', maxBuffer: 1 << 28, env: { ...process.env, TZ: 'UTC' } });
  if (r.status !== 0) throw new Error(`bench command failed (${r.status}): ${cmd}\n${r.stderr}`);
  return r.stdout;
}

/** diskpick as a user runs it: the installed bin, through its #! line. */
export function diskpickCmd(args: string): string {
  return `${CLI} ${args}`;
}

/** A throughput row: bytes moved by both, higher is better. */
export function throughputRow(area: string, what: string, bytes: number, oursSec: number, reference: string, theirsSec: number, targetRatio: number): BenchRow {
  const ours = bytes / oursSec / 2 ** 20;
  const theirs = bytes / theirsSec / 2 ** 20;
  const ratio = ours / theirs;
  return { area, what, ours, reference, theirs, unit: 'MiB/s', ratio, target: `>= ${targetRatio.toFixed(1)}x`, met: ratio >= targetRatio };
}

/** A time row: lower is better; ratio = theirs/ours. */
export function timeRow(area: string, what: string, oursSec: number, reference: string, theirsSec: number, targetRatio: number): BenchRow {
  const ratio = theirsSec / oursSec;
  return { area, what, ours: oursSec, reference, theirs: theirsSec, unit: 's', ratio, target: `>= ${targetRatio.toFixed(1)}x`, met: ratio >= targetRatio };
}

/** Peak RSS in MB of a shell command, from GNU time's %M. */
export function peakRssMb(cmd: string): number {
  const r = spawnSync('bash', ['-c', `/usr/bin/time -f '%M' bash -c ${JSON.stringify(cmd)} > /dev/null`], { encoding: 'utf8' });
  const lines = r.stderr.trim().split('\n');
  return Number(lines[lines.length - 1]) / 1024;
}

let startup: number | undefined;
/**
 * Wall time of a Node process that does nothing (`node -e 1`): no Node program, diskpick or any
 * other, can finish faster, so where a reference tool finishes sooner a ratio of 1.0 is out of
 * reach for the whole-command rows. Measured once per run, with the rows it explains.
 */
export function nodeStartup(): number {
  // Without NODE_EXTRA_CA_CERTS, as diskpick's own #! line runs Node.
  startup ??= timeShell(`env -u NODE_EXTRA_CA_CERTS ${JSON.stringify(process.execPath)} -e 1`, 5);
  return startup;
}

/**
 * A row that shows the floor: bare Node start-up against the reference tool's whole run. Its
 * ratio is the best a Node program could score against that tool, whatever it does after start.
 */
export function floorRow(area: string, what: string, reference: string, theirsSec: number): BenchRow {
  const node = nodeStartup();
  return {
    area, what: `${what}: floor = \`node -e 1\` alone`, ours: node, reference, theirs: theirsSec, unit: 's',
    ratio: theirsSec / node, target: 'for scale', met: true,
  };
}
