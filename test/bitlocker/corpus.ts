/**
 * The Windows-made BitLocker test images (docs/formats/bitlocker.md, "Test data"): kept
 * gzipped (1.1 MB for all) in ../shared/corpus/realworld/bde/ (or, until they are put there,
 * in this worktree's .cache/corpus/bde-gz/), unpacked once into .cache/corpus/bde/ (~560 MB),
 * each checked against SHA256SUMS. Absent: null, and the tests say SKIP visibly (as the other
 * real-world corpus tests do).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { CORPUS, ROOT } from '../helpers/tools.js';

const OUT = join(ROOT, '.cache', 'corpus', 'bde');

export function bdeDir(): string | null {
  const src = [join(CORPUS, 'bde'), join(ROOT, '.cache', 'corpus', 'bde-gz')].find((d) => existsSync(join(d, 'SHA256SUMS')));
  if (!src) {
    console.warn(`SKIP: BitLocker test images absent (${join(CORPUS, 'bde')}); see docs/formats/bitlocker.md`);
    return null;
  }
  mkdirSync(OUT, { recursive: true });
  for (const line of readFileSync(join(src, 'SHA256SUMS'), 'utf8').split('\n').filter(Boolean)) {
    const [sum, name] = line.trim().split(/\s+/) as [string, string];
    const plain = name.replace(/\.gz$/, '');
    if (existsSync(join(OUT, plain))) continue;
    const data = readFileSync(join(src, name));
    if (createHash('sha256').update(data).digest('hex') !== sum) throw new Error(`${name}: sha256 does not match SHA256SUMS`);
    const tmp = join(OUT, `${plain}.tmp`);
    writeFileSync(tmp, name.endsWith('.gz') ? gunzipSync(data) : data);
    renameSync(tmp, join(OUT, plain));
  }
  return OUT;
}
