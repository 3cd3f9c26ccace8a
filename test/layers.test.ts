/**
 * The layering of docs/architecture.md, enforced: every import under src/ (static, dynamic,
 * re-export) goes to the same folder, a lower layer, never a higher one or a sibling. The
 * layer order is read from the doc's ```layers block, so the doc and the check cannot drift.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/root.js';

const SRC = join(ROOT, 'src');

/** Rank of each layer (folder of src/, or a top-level module such as errors). */
function layerRanks(): Map<string, number> {
  const doc = readFileSync(join(ROOT, 'docs', 'architecture.md'), 'utf8');
  const block = /```layers\n([\s\S]*?)```/.exec(doc);
  if (!block) throw new Error('docs/architecture.md has no ```layers block');
  const ranks = new Map<string, number>();
  block[1]!
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .forEach((line, rank) => {
      for (const name of line.split(/\s+/)) ranks.set(name, rank);
    });
  return ranks;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|tsx)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** The layer a file of src/ belongs to: its top folder, or its own name for a top-level module. */
function layerOf(file: string): string {
  const rel = relative(SRC, file).split('/');
  return rel.length === 1 ? rel[0]!.replace(/\.(ts|tsx|js)$/, '') : rel[0]!;
}

/** Relative module specifiers imported by `text`: import/export … from '…', import('…'), import '…'. */
export function importsOf(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])(\.{1,2}\/[^'"]+)\1/g;
  for (let m = re.exec(code); m; m = re.exec(code)) out.push(m[2]!);
  return out;
}

describe('layers (docs/architecture.md)', () => {
  const ranks = layerRanks();
  const files = sourceFiles(SRC);

  it('reads the layer order and the imports it checks', () => {
    expect(ranks.get('errors')!).toBeLessThan(ranks.get('source')!);
    expect(ranks.get('source')!).toBeLessThan(ranks.get('container')!);
    expect(ranks.get('fs')!).toBeLessThan(ranks.get('vfs')!);
    expect(ranks.get('tui')).toBe(ranks.get('fuse'));
    expect(importsOf("import a from '../x.js';\nexport { b } from './y.js';\nconst c = await import('../../z.js');\n// import d from '../no.js'")).toEqual(['../x.js', './y.js', '../../z.js']);
    expect(files.length).toBeGreaterThan(50);
  });

  it('every folder of src/ has a place in the order', () => {
    const unplaced = [...new Set(files.map(layerOf))].filter((l) => !ranks.has(l));
    expect(unplaced, 'add these to the ```layers block of docs/architecture.md').toEqual([]);
  });

  it('no module imports a layer above its own, or a sibling layer', () => {
    const bad: string[] = [];
    for (const file of files) {
      const from = layerOf(file);
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const target = resolve(dirname(file), spec);
        if (!target.startsWith(SRC + '/')) {
          bad.push(`${relative(ROOT, file)} imports ${spec}, outside src/`);
          continue;
        }
        const to = layerOf(target);
        if (to === from || !ranks.has(from) || !ranks.has(to)) continue;
        if (ranks.get(to)! >= ranks.get(from)!) bad.push(`${relative(ROOT, file)} (${from}) imports ${spec} (${to})`);
      }
    }
    expect(bad).toEqual([]);
  });
});
