/**
 * extract of many small files (issue 24 item 12): a 10 000-file ext4 tree (2 000 folders of
 * five 100–4 000-byte files) restored by `diskpick extract` against `7zz x` of the same image,
 * in the same run, alternating, median of 5 each (the machine is shared: medians, not bests).
 * Target: >= 0.5x (7-Zip's time over ours).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, run, timeRow, type BenchRow } from './harness.js';
import { seededBytes } from '../scripts/images/tree.js';

/** Builds the image from a seeded tree (mkfs.ext4 -d). */
function buildManySmall(image: string): void {
  const tree = `${image}.tree`;
  rmSync(tree, { recursive: true, force: true });
  let seed = 1;
  for (let a = 0; a < 40; a++) {
    for (let b = 0; b < 50; b++) {
      const d = join(tree, `a${String(a).padStart(2, '0')}`, `b${String(b).padStart(2, '0')}`);
      mkdirSync(d, { recursive: true });
      for (let c = 0; c < 5; c++) {
        seed++;
        writeFileSync(join(d, `f${c}.txt`), seededBytes(seed, 100 + ((seed * 7919) % 3900)));
      }
    }
  }
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', tree, `${image}.part`, '128M'], { stdio: 'pipe' });
  execFileSync('mv', [`${image}.part`, image]);
  rmSync(tree, { recursive: true, force: true });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function timed(cmd: string, out: string): number {
  rmSync(out, { recursive: true, force: true });
  const t0 = process.hrtime.bigint();
  run(cmd);
  const t = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(out, { recursive: true, force: true });
  return t;
}

export async function run_(): Promise<BenchRow[]> {
  const image = join(BENCH_CACHE, 'many-small.img');
  if (!existsSync(image)) buildManySmall(image);
  const out = join(BENCH_CACHE, 'many-small.out');
  const ours: number[] = [];
  const theirs: number[] = [];
  // Warm the page cache for both.
  timed(`${diskpickCmd(`extract -q ${image} /p0 -o ${out}`)}`, out);
  for (let i = 0; i < 5; i++) {
    ours.push(timed(`${diskpickCmd(`extract -q ${image} /p0 -o ${out}`)}`, out));
    theirs.push(timed(`7zz x -y -o${out} ${image} > /dev/null`, out));
  }
  process.stderr.write(`bench: restore: extract ${ours.map((x) => x.toFixed(2)).join(' ')} s; 7zz x ${theirs.map((x) => x.toFixed(2)).join(' ')} s\n`);
  return [timeRow('restore', 'extract 10 000 small files in 2 000 folders (ext4), median of 5', median(ours), '7zz x', median(theirs), 0.5)];
}

export { run_ as run };
