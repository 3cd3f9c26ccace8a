/**
 * Issue 26 item 3: cluster chains that loop, and sizes more than the volume can hold. The file
 * ends with a one-line error naming it (fsck.fat -n, the oracle, calls the chain circular),
 * nothing of it is written, the other files read as mcopy wrote them, memory stays bounded.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFatChainLoop, type FatChainPlan } from '../../scripts/images/hostile2.js';
import { CLI, cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { expectCleanOutput } from './common.js';

const img = cachedImage('h2-fat-chains.img', (p) => void buildFatChainLoop(p));
const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as FatChainPlan;

/** Peak RSS in MiB of a shell command (GNU time). */
function peakRss(cmd: string): { mib: number; status: number | null; stderr: string } {
  const r = spawnSync('/usr/bin/time', ['-f', 'RSS %M', 'bash', '-c', cmd], { encoding: 'utf8' });
  const m = /RSS (\d+)\s*$/.exec(r.stderr);
  return { mib: Number(m![1]) / 1024, status: r.status, stderr: r.stderr.replace(/RSS \d+\s*$/, '') };
}

describe('FAT chains (issue 26 item 3)', () => {
  it('fsck.fat -n sees the damage', () => {
    const r = spawnSync('fsck.fat', ['-n', img], { encoding: 'utf8' });
    expect(r.stdout).toMatch(/LOOP\.BIN\s+Circular cluster chain/);
    expect(r.stdout).toMatch(/BIG\.BIN/);
  });

  it('cat of the looping file: exit 3, one line naming it, no byte written', async () => {
    const before = await sha256File(img);
    const r = diskpick(['cat', img, '/p0/loop.bin']);
    expect(r.status).toBe(3);
    expectCleanOutput(r, 'cat');
    expect(r.stdout.length).toBe(0);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/loop\.bin: cluster chain loops/);
    const big = diskpick(['cat', img, '/p0/big.bin']);
    expect(big.status).toBe(3);
    expectCleanOutput(big, 'cat big');
    expect(big.stdout.length).toBe(0);
    expect(big.stderr).toMatch(/big\.bin: needs \d+ clusters, more than the volume's \d+/);
    const ok = diskpick(['cat', img, '/p0/ok.txt']);
    expect(ok.status).toBe(0);
    expect(ok.stdout.toString('hex')).toBe(plan.intact['ok.txt']);
    expect(await sha256File(img)).toBe(before);
  });

  it('extract of the folder: the two damaged files fail by name (exit 1), the rest restores, bounded memory', async () => {
    const before = await sha256File(img);
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-chain-'));
    try {
      const r = peakRss(`node ${CLI} extract ${img} /p0 -o ${out}/x`);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).not.toMatch(/\n\s+at |internal error/);
      for (const n of Object.keys(plan.damaged)) {
        expect(r.stderr).toMatch(new RegExp(`/p0/${n.replace('.', '\\.')}: `));
        expect(existsSync(join(out, 'x', 'p0', n)), `${n} is not left behind`).toBe(false);
      }
      expect(readFileSync(join(out, 'x', 'p0', 'ok.txt')).toString('hex')).toBe(plan.intact['ok.txt']);
      expect(r.mib).toBeLessThan(200);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });
});
