/**
 * Issue 26 item 11: sizes past 2^53. An ext i_size of 2^60 + 1 (set by debugfs sif; debugfs
 * stat prints it exactly) is never shown rounded: the file is listed with size 0, one warning
 * gives the stored size exactly, and reading it is a one-line error; the rest reads.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildHugeSizeExt } from '../../scripts/images/hostile2.js';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { debugfsBatch } from '../ext/helpers.js';
import { expectCleanOutput } from './common.js';

const img = cachedImage('h2-huge-size.img', (p) => void buildHugeSizeExt(p));
const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as { size: string };
const rounded = String(Number(BigInt(plan.size)));

describe('sizes past 2^53 (issue 26 item 11)', () => {
  it('debugfs stat shows the exact stored size (the oracle)', () => {
    expect(debugfsBatch(img, ['stat /big.bin'])[0]).toMatch(new RegExp(`Size: ${plan.size}\\b`));
  });

  it('never printed rounded; one warning with the exact size, not repeating the name; reading fails by name', async () => {
    const before = await sha256File(img);
    for (const args of [['ls', '-l', img, '/p0'], ['ls', '--json', img, '/p0'], ['ls', '-l', img, '/p0/big.bin'], ['find', '--json', img, '/p0']]) {
      const r = diskpick(args);
      expect(r.status, r.stderr).toBe(0);
      expectCleanOutput(r, args.join(' '));
      const out = r.stdout.toString();
      expect(out).not.toContain(rounded);
      expect(out).not.toContain(plan.size);
      const warnings = r.stderr.split('\n').filter((l) => l.includes('warning'));
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toContain(plan.size);
      expect(warnings[0]!.split('big.bin').length - 1, 'the name once').toBe(1);
    }
    const c = diskpick(['cat', img, '/p0/big.bin']);
    expect(c.status).toBe(3);
    expect(c.stdout.length).toBe(0);
    expect(c.stderr).toMatch(new RegExp(`big\\.bin: inode \\d+ claims ${plan.size} bytes`));
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-huge-'));
    try {
      const x = diskpick(['extract', img, '/p0', '-o', out]);
      expect(x.status).toBe(1);
      expectCleanOutput(x, 'extract');
      expect(readFileSync(join(out, 'p0', 'ok.txt'), 'utf8')).toBe('ok\n');
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });
});
