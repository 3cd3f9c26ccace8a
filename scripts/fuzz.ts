/**
 * diskpick's structure-aware fuzzer (issue 9).
 *
 *   npm run fuzz -- --minutes N [--format X[,Y]] [--seed S] [--timeout SEC] [--jobs 1]
 *   npm run fuzz -- --class chain,deep --mutants 10000   (issue 26's classes, one at a time)
 *
 * For each format (containers, partition tables, filesystems) it mutates small seed images
 * (scripts/fuzz/seeds.ts; plus ../shared/corpus where present) where their metadata lives
 * (scripts/fuzz/mutate.ts) and runs every mutant through the Vfs in a worker process
 * (scripts/fuzz/worker.ts → exercise.ts). Invariants per mutant: only one-line DiskpickErrors
 * escape; it finishes within --timeout seconds (else the worker is killed: a hang); the worker's
 * RSS stays under --max-rss MiB and it does not die (out of memory); the mutant file's bytes and
 * mtime are unchanged. A failure is shrunk and saved to test/fuzz-cases/<format>-<hash>.bin.gz
 * (+ .json), which test/fuzz/regressions.test.ts replays. Exit status 1 when anything was found.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buildSeeds, corpusSeeds, ROOT, SEED_DIR } from './fuzz/seeds.js';
import { classMutant, HOSTILE_CLASSES, mutate, regionsOf, Rng, type HostileClass, type Mutant, type Region } from './fuzz/mutate.js';
import type { ExerciseResult } from './fuzz/exercise.js';

interface Options {
  minutes: number;
  formats: string[] | null;
  seed: number;
  timeoutSec: number;
  maxRssMiB: number;
  maxMutants: number;
  save: boolean;
  /** Issue 26's mutator classes to run, each on its own (null: the ordinary mixed mutants). */
  classes: HostileClass[] | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { minutes: 2, formats: null, seed: 1, timeoutSec: 10, maxRssMiB: 1536, maxMutants: Infinity, save: true, classes: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = () => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--minutes') o.minutes = Number(v());
    else if (a === '--format') o.formats = v().split(',');
    else if (a === '--seed') o.seed = Number(v());
    else if (a === '--timeout') o.timeoutSec = Number(v());
    else if (a === '--max-rss') o.maxRssMiB = Number(v());
    else if (a === '--mutants') o.maxMutants = Number(v());
    else if (a === '--no-save') o.save = false;
    else if (a === '--class') {
      const v1 = v();
      o.classes = (v1 === 'all' ? [...HOSTILE_CLASSES] : v1.split(',')) as HostileClass[];
      for (const c of o.classes) if (!HOSTILE_CLASSES.includes(c)) throw new Error(`unknown class ${c}; known: ${HOSTILE_CLASSES.join(', ')}, all`);
    }
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run fuzz -- [--minutes N] [--format fat,ext,...] [--class chain,holes,deep,names,huge,nonregular|all] [--seed S] [--timeout SEC] [--max-rss MiB] [--mutants N] [--no-save]');
      console.log('  --class: each class on its own over the formats it applies to; --mutants N per class, --minutes split between classes');
      process.exit(0);
    } else throw new Error(`unknown option ${a}`);
  }
  return o;
}

export interface Finding {
  format: string;
  kind: 'exception' | 'multiline' | 'empty' | 'fs' | 'hang' | 'crash' | 'memory' | 'modified';
  message: string;
  stack: string;
  op?: string;
  path?: string;
}

/** One worker process with a watchdog. */
class Worker {
  private child: ChildProcess | null = null;
  private nextId = 1;

  private async start(): Promise<ChildProcess> {
    const child = fork(join(ROOT, 'scripts', 'fuzz', 'worker.ts'), [], {
      execArgv: ['--import', 'tsx', '--max-old-space-size=1024'],
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: { ...process.env, TZ: 'UTC' },
    });
    child.stderr?.resume();
    await new Promise<void>((res, rej) => {
      child.once('message', () => res());
      child.once('exit', (c) => rej(new Error(`fuzz worker exited with ${c} at start`)));
    });
    this.child = child;
    return child;
  }

  kill(): void {
    if (this.child) {
      this.child.removeAllListeners();
      this.child.kill('SIGKILL');
      this.child = null;
    }
  }

  /** Runs one image; the Finding kinds hang/crash/memory come from here, the rest from the worker. */
  async run(path: string, timeoutSec: number, maxRssMiB: number): Promise<{ result?: ExerciseResult; fault?: Omit<Finding, 'format'>; ms: number }> {
    const child = this.child ?? (await this.start());
    const id = this.nextId++;
    const t0 = performance.now();
    return new Promise((resolve) => {
      let stderr = '';
      const onErr = (d: Buffer) => {
        stderr = (stderr + d.toString()).slice(-4000);
      };
      child.stderr?.on('data', onErr);
      const done = (v: { result?: ExerciseResult; fault?: Omit<Finding, 'format'> }, restart: boolean) => {
        clearTimeout(timer);
        child.removeListener('message', onMsg);
        child.removeListener('exit', onExit);
        child.stderr?.removeListener('data', onErr);
        if (restart) this.kill();
        resolve({ ...v, ms: performance.now() - t0 });
      };
      const timer = setTimeout(() => done({ fault: { kind: 'hang', message: `no answer within ${timeoutSec} s`, stack: '' } }, true), timeoutSec * 1000);
      const onMsg = (m: { type: string; id?: number; result?: ExerciseResult; rss?: number; message?: string; stack?: string }) => {
        if (m.type === 'fatal') return done({ fault: { kind: 'exception', message: m.message ?? '', stack: m.stack ?? '' } }, true);
        if (m.type !== 'done' || m.id !== id) return;
        if ((m.rss ?? 0) > maxRssMiB * 1024 * 1024) {
          return done({ result: m.result, fault: { kind: 'memory', message: `worker RSS ${Math.round((m.rss ?? 0) / 1048576)} MiB > ${maxRssMiB} MiB`, stack: '' } }, true);
        }
        done({ result: m.result }, false);
      };
      const onExit = (code: number | null, sig: string | null) => {
        this.child = null;
        const oom = /heap out of memory|Allocation failed/i.test(stderr);
        done({ fault: { kind: oom ? 'memory' : 'crash', message: `worker died (code ${code}, signal ${sig})${oom ? ': out of memory' : ''}`, stack: stderr.split('\n').slice(-12).join('\n') } }, false);
      };
      child.on('message', onMsg);
      child.once('exit', onExit);
      child.send({ id, path });
    });
  }
}

/** Writes `data` as a read-only file, runs it, and checks the read-only invariant on it. */
async function runCase(w: Worker, file: string, data: Buffer, o: Options): Promise<{ fault: Omit<Finding, 'format'> | null; result?: ExerciseResult; ms: number }> {
  rmSync(file, { force: true });
  writeFileSync(file, data);
  chmodSync(file, 0o444);
  const before = statSync(file);
  const r = await w.run(file, o.timeoutSec, o.maxRssMiB);
  const after = statSync(file);
  if (r.fault) return { fault: r.fault, ms: r.ms };
  const v = r.result!.violation;
  if (v) return { fault: { kind: v.kind as Finding['kind'], message: v.message, stack: v.stack, op: v.op, path: v.path }, result: r.result, ms: r.ms };
  if (after.mtimeMs !== before.mtimeMs || after.size !== data.length || !readFileSync(file).equals(data)) {
    return { fault: { kind: 'modified', message: 'the image file changed while diskpick read it', stack: '' }, ms: r.ms };
  }
  return { fault: null, result: r.result, ms: r.ms };
}

/** Signature of a finding: its kind, message without numbers, and the first stack frame in src/. */
function signature(f: Omit<Finding, 'format'>): string {
  const frame = (f.stack.split('\n').find((l) => l.includes('/src/')) ?? '').replace(/:\d+:\d+\)?$/, '').trim();
  // Messages quote names and numbers from the image; where there is a frame, it alone tells bugs apart.
  return frame ? `${f.kind}|${f.op ?? ''}|${frame}` : `${f.kind}|${f.message.replace(/\d+/g, 'N').slice(0, 120)}`;
}

/**
 * Shrinks a failing mutant: revert runs of bytes that differ from the seed, then zero 64 KiB
 * and 4 KiB blocks, then cut the tail — keeping each step only while the same signature fails.
 */
async function shrink(w: Worker, file: string, seed: Buffer, data: Buffer, sig: string, o: Options, budgetMs: number): Promise<Buffer> {
  const t0 = performance.now();
  let cur = Buffer.from(data);
  // A hang reproduces as a hang under a shorter bound too; that keeps shrinking affordable.
  const so = { ...o, timeoutSec: Math.min(o.timeoutSec, 3) };
  const fails = async (cand: Buffer) => {
    const r = await runCase(w, file, cand, so);
    return r.fault !== null && signature(r.fault) === sig;
  };
  const left = () => performance.now() - t0 < budgetMs;
  // 1. Revert mutated runs.
  const runs: Array<[number, number]> = [];
  const n = Math.min(cur.length, seed.length);
  for (let i = 0; i < n; i++) {
    if (cur[i] !== seed[i]) {
      let j = i;
      while (j < n && j - i < 64 && cur[j] !== seed[j]) j++;
      runs.push([i, j]);
      i = j;
    }
  }
  for (const [a, b] of runs) {
    if (!left()) break;
    const cand = Buffer.from(cur);
    seed.copy(cand, a, a, b);
    if (await fails(cand)) cur = cand;
  }
  // 2. Zero blocks (makes the case compress to a few KB).
  for (const block of [1 << 20, 65536, 4096]) {
    for (let off = 0; off < cur.length && left(); off += block) {
      const end = Math.min(cur.length, off + block);
      if (cur.subarray(off, end).every((x) => x === 0)) continue;
      const cand = Buffer.from(cur);
      cand.fill(0, off, end);
      if (await fails(cand)) cur = cand;
    }
  }
  // 3. Cut the tail.
  for (let len = cur.length >> 1; len >= 512 && left(); len >>= 1) {
    const cand = cur.subarray(0, len);
    if (await fails(cand)) cur = Buffer.from(cand);
    else break;
  }
  return cur;
}

export const CASE_DIR = join(ROOT, 'test', 'fuzz-cases');

/** What one mutant's run adds to a format's (or class's) tally. */
interface Tally { mutants: number; opened: number; entries: number; findings: number; slowest: number }

/**
 * Counts one mutant's run into `t`. A fault whose signature is new becomes a finding: printed
 * (`label` names the format or class/format) and, with --save, shrunk and saved with `meta`.
 */
async function tally(
  t: Tally,
  r: Awaited<ReturnType<typeof runCase>>,
  c: { format: string; label: string; index: number; seed: { path: string; buf: Buffer }; mutant: Mutant; meta: Record<string, unknown>; printMutations: boolean },
  run: { w: Worker; file: string; o: Options; sigs: Set<string>; findings: Finding[] },
): Promise<void> {
  t.mutants++;
  t.slowest = Math.max(t.slowest, r.ms);
  if (r.result?.opened) t.opened++;
  t.entries += r.result?.entries ?? 0;
  if (!r.fault) return;
  const f: Finding = { format: c.format, ...r.fault };
  const sig = signature(f);
  if (run.sigs.has(sig)) return;
  run.sigs.add(sig);
  t.findings++;
  run.findings.push(f);
  console.log(`  FINDING ${c.label} #${c.index} (${f.kind}) ${f.op ?? ''} ${f.path ?? ''}: ${f.message}\n    ${f.stack.split('\n').slice(1, 4).join('\n    ')}${c.printMutations ? `\n    mutations: ${c.mutant.describe.join('; ')}` : ''}`);
  if (run.o.save) {
    const small = await shrink(run.w, run.file, c.seed.buf, c.mutant.data, sig, run.o, 60_000);
    const saved = saveCase(f, small, { seed: run.o.seed, ...c.meta, index: c.index, seedImage: c.seed.path.replace(ROOT + '/', ''), mutations: c.mutant.describe });
    console.log(`    saved ${saved.replace(ROOT + '/', '')} (${small.length} bytes)`);
  }
}

function saveCase(f: Finding, data: Buffer, meta: Record<string, unknown>): string {
  mkdirSync(CASE_DIR, { recursive: true });
  const hash = createHash('sha256').update(data).digest('hex').slice(0, 12);
  const base = join(CASE_DIR, `${f.format}-${hash}`);
  writeFileSync(`${base}.bin.gz`, gzipSync(data, { level: 9 }));
  writeFileSync(
    `${base}.json`,
    JSON.stringify(
      {
        format: f.format,
        found: { kind: f.kind, message: f.message, op: f.op, path: f.path, stack: f.stack.split('\n').slice(0, 8) },
        checks: 'exercise() over the image through the Vfs: only one-line DiskpickErrors, done within the time bound, memory bound, image unchanged',
        ...meta,
      },
      null,
      2,
    ) + '\n',
  );
  return `${base}.bin.gz`;
}

function loadSeed(p: string): Buffer {
  return p.endsWith('.gz') ? gunzipSync(readFileSync(p)) : readFileSync(p);
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const seeds = buildSeeds();
  for (const [fmt, ps] of Object.entries(corpusSeeds())) (seeds[fmt] ??= []).push(...ps);
  const formats = (o.formats ?? Object.keys(seeds)).filter((f) => {
    if (!seeds[f]) throw new Error(`unknown format ${f}; known: ${Object.keys(seeds).join(', ')}`);
    return true;
  });
  const work = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'dp-fuzz-'));
  const file = join(work, 'mutant.img');
  const w = new Worker();
  const perFormatMs = (o.minutes * 60_000) / formats.length;
  const totals: Array<{ format: string; mutants: number; opened: number; entries: number; findings: number; ms: number; slowest: number }> = [];
  const findings: Finding[] = [];
  const sigs = new Set<string>();
  if (o.classes) return runClasses(o, seeds, formats, file, w, work);
  console.log(`fuzz: seed ${o.seed}, ${o.minutes} min over ${formats.length} formats (${formats.join(', ')}), timeout ${o.timeoutSec} s, RSS bound ${o.maxRssMiB} MiB; seeds in ${SEED_DIR}`);
  try {
    for (const format of formats) {
      const seedBufs = seeds[format].map((p) => ({ path: p, buf: loadSeed(p) }));
      const regions: Region[][] = seedBufs.map((s) => regionsOf(format, s.buf));
      const t = { format, mutants: 0, opened: 0, entries: 0, findings: 0, ms: 0, slowest: 0 };
      const start = performance.now();
      for (let i = 0; performance.now() - start < perFormatMs && i < o.maxMutants; i++) {
        const k = i % seedBufs.length;
        const rng = new Rng((o.seed * 1_000_003 + hashStr(format) * 7919 + i) >>> 0);
        const m = mutate(format, seedBufs[k].buf, regions[k], rng);
        const r = await runCase(w, file, m.data, o);
        await tally(t, r, { format, label: format, index: i, seed: seedBufs[k], mutant: m, meta: {}, printMutations: false }, { w, file, o, sigs, findings });
      }
      t.ms = performance.now() - start;
      totals.push(t);
      console.log(
        `${format.padEnd(6)} mutants ${String(t.mutants).padStart(6)}  opened ${String(t.opened).padStart(6)}  entries ${String(t.entries).padStart(8)}  findings ${t.findings}  ` +
          `(${(t.mutants / (t.ms / 1000)).toFixed(1)}/s, slowest ${(t.slowest / 1000).toFixed(2)} s)`,
      );
    }
  } finally {
    w.kill();
    rmSync(work, { recursive: true, force: true });
  }
  const total = totals.reduce((a, t) => a + t.mutants, 0);
  console.log(`fuzz: ${total} mutants, ${findings.length} findings`);
  process.exit(findings.length ? 1 : 0);
}

/**
 * `--class`: each of issue 26's classes on its own (scripts/fuzz/mutate.ts classMutant), its
 * mutants spread round-robin over the formats and seeds it can aim at, up to --mutants per class
 * (or an equal share of --minutes). Same invariants, shrinking and saved cases as the mixed run.
 */
async function runClasses(o: Options, seeds: Record<string, string[]>, formats: string[], file: string, w: Worker, work: string): Promise<void> {
  const classes = o.classes!;
  const perClassMs = (o.minutes * 60_000) / classes.length;
  const findings: Finding[] = [];
  const sigs = new Set<string>();
  const loaded = new Map<string, Array<{ path: string; buf: Buffer; regions: Region[] }>>();
  const seedsOf = (f: string) => {
    let x = loaded.get(f);
    if (!x) loaded.set(f, (x = seeds[f].map((p) => { const buf = loadSeed(p); return { path: p, buf, regions: regionsOf(f, buf) }; })));
    return x;
  };
  console.log(`fuzz: seed ${o.seed}, classes ${classes.join(', ')}, ${Number.isFinite(o.maxMutants) ? `${o.maxMutants} mutants` : `${(perClassMs / 60_000).toFixed(1)} min`} each, timeout ${o.timeoutSec} s, RSS bound ${o.maxRssMiB} MiB`);
  const rows: string[] = [];
  let total = 0;
  try {
    for (const cls of classes) {
      // The (format, seed) pairs this class can aim at: a few trial mutants each.
      const targets: Array<{ format: string; seed: { path: string; buf: Buffer; regions: Region[] } }> = [];
      for (const f of formats) {
        for (const s of seedsOf(f)) {
          let ok = false;
          for (let t = 0; t < 8 && !ok; t++) ok = classMutant(cls, f, s.buf, s.regions, new Rng(t + 1)) !== null;
          if (ok) targets.push({ format: f, seed: s });
        }
      }
      if (!targets.length) {
        console.log(`${cls.padEnd(10)} no seed offers this class anything`);
        continue;
      }
      const t = { mutants: 0, opened: 0, entries: 0, findings: 0, skipped: 0, slowest: 0, perFormat: new Map<string, number>() };
      const start = performance.now();
      for (let i = 0; performance.now() - start < perClassMs && t.mutants < o.maxMutants; i++) {
        const { format, seed } = targets[i % targets.length]!;
        const rng = new Rng((o.seed * 1_000_003 + hashStr(`${cls}:${format}`) * 7919 + i) >>> 0);
        const m: Mutant | null = classMutant(cls, format, seed.buf, seed.regions, rng);
        if (!m) {
          if (++t.skipped > 100_000) break;
          continue;
        }
        const r = await runCase(w, file, m.data, o);
        t.perFormat.set(format, (t.perFormat.get(format) ?? 0) + 1);
        await tally(t, r, { format, label: `${cls}/${format}`, index: i, seed, mutant: m, meta: { class: cls }, printMutations: true }, { w, file, o, sigs, findings });
      }
      const ms = performance.now() - start;
      total += t.mutants;
      const row = `${cls.padEnd(10)} mutants ${String(t.mutants).padStart(6)}  opened ${String(t.opened).padStart(6)}  entries ${String(t.entries).padStart(8)}  findings ${t.findings}  ` +
        `(${(t.mutants / (ms / 1000)).toFixed(1)}/s, slowest ${(t.slowest / 1000).toFixed(2)} s; ${[...t.perFormat].map(([f, n]) => `${f} ${n}`).join(', ')})`;
      rows.push(row);
      console.log(row);
    }
  } finally {
    w.kill();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`fuzz: ${total} mutants over ${classes.length} classes, ${findings.length} findings`);
  process.exit(findings.length ? 1 : 0);
}

function hashStr(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

await main();
