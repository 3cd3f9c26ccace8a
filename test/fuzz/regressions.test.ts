/**
 * Replays every minimized fuzz finding in test/fuzz-cases/ (saved by `npm run fuzz`) and asserts
 * the invariant it broke now holds: run through the Vfs exactly as the fuzzer does (open, info,
 * recursive listing with metadata files, lookups, streams, xattrs, every file read fully), only
 * one-line DiskpickErrors come out, it finishes within the bound, and the image file is unchanged.
 */
import { chmodSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { exercise } from '../../scripts/fuzz/exercise.js';
import { ROOT } from '../helpers/tools.js';

const DIR = join(ROOT, 'test', 'fuzz-cases');
const cases = readdirSync(DIR).filter((f) => f.endsWith('.bin.gz')).sort();
/** The fuzzer's watchdog bound; a replay gets the same. */
const BOUND_MS = 10_000;

describe('fuzz regressions', () => {
  it('has cases to replay', () => {
    expect(cases.length).toBeGreaterThan(0);
  });
  for (const c of cases) {
    const meta = JSON.parse(readFileSync(join(DIR, c.replace(/\.bin\.gz$/, '.json')), 'utf8')) as { format: string; found: { kind: string; message: string } };
    it(`${c}: ${meta.found.kind} (${meta.found.message.slice(0, 80)}) no longer happens`, async () => {
      const img = join(mkdtempSync(join(tmpdir(), 'dp-fuzzcase-')), c.replace(/\.gz$/, ''));
      const data = gunzipSync(readFileSync(join(DIR, c)));
      writeFileSync(img, data);
      chmodSync(img, 0o444);
      const before = statSync(img);
      const t0 = performance.now();
      const r = await exercise(img);
      const ms = performance.now() - t0;
      expect(r.violation, JSON.stringify(r.violation)).toBeNull();
      expect(ms).toBeLessThan(BOUND_MS);
      const after = statSync(img);
      expect(after.mtimeMs).toBe(before.mtimeMs);
      expect(readFileSync(img).equals(data)).toBe(true);
    }, BOUND_MS * 3);
  }
});
