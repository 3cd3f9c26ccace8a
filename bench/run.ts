/**
 * `npm run bench [-- AREA...]`: runs every bench/<area>.ts (or the named ones) and prints one
 * table of diskpick against the reference tools measured in the same run.
 */
import { readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, type BenchRow } from './harness.js';

const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const areas = readdirSync(join(ROOT, 'bench'))
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'harness.ts'].includes(f))
  .map((f) => f.replace(/\.ts$/, ''))
  .filter((a) => wanted.length === 0 || wanted.includes(a));

const rows: BenchRow[] = [];
for (const area of areas) {
  process.stderr.write(`bench: ${area} …\n`);
  const mod = (await import(`./${area}.ts`)) as { run: () => Promise<BenchRow[]> };
  try {
    rows.push(...(await mod.run()));
  } catch (err) {
    process.stderr.write(`bench: ${area} failed: ${(err as Error).message}\n`);
  }
}

const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toFixed(3));
const header = ['area', 'what', 'diskpick', 'reference', 'ref value', 'ratio', 'target', 'met'];
const table = rows.map((r) => [r.area, r.what, `${fmt(r.ours)} ${r.unit}`, r.reference, `${fmt(r.theirs)} ${r.unit}`, `${r.ratio.toFixed(2)}x`, r.target, r.met ? 'yes' : 'NO']);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i]!.length)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
console.log(line(header));
for (const t of table) console.log(line(t));
mkdirSync(join(ROOT, 'bench', 'out'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'out', 'latest.json'), JSON.stringify(rows, null, 2));
