/**
 * Hostile QCOW2 snapshot tables (qcow2-snapshot.ts): copies of a qemu-made image with two
 * internal snapshots, one field made absurd each. Asking for a snapshot is a one-line error
 * (exit 3); the active state still reads, with a warning where the table itself is spoilt.
 */
import { readFileSync, rmSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { buildPointsSet, states } from '../../scripts/images/points.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dir = cachedImage('points-set', (d) => void buildPointsSet(d));
const p = (n: string) => join(dir, n);
let work: string;
let before: string;
beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-snaphostile-'));
  before = await sha256File(p('snaps.qcow2'));
});
afterAll(async () => {
  expect(await sha256File(p('snaps.qcow2'))).toBe(before);
  rmSync(work, { recursive: true, force: true });
});

describe('hostile snapshot tables', () => {
  it('a damaged table is a warning for the active state and a one-line error for the snapshot asked for', () => {
    const src = readFileSync(p('snaps.qcow2'));
    const tableAt = Number(src.readBigUInt64BE(64));
    const cases: Array<[string, (b: Buffer) => void, RegExp]> = [
      ['nb_snapshots absurd', (b) => b.writeUInt32BE(0x7fffffff, 60), /nb_snapshots 2147483647 is absurd/],
      ['table past the end', (b) => b.writeBigUInt64BE(BigInt(b.length + 65536 - (b.length % 65536)), 64), /past the end of the file/],
      ['snapshot L1 past the end', (b) => b.writeBigUInt64BE(BigInt(b.length * 4 - ((b.length * 4) % 65536)), tableAt), /snapshot first'?s? ?.*L1 table.*past the end|L1 table is past the end/],
      ['snapshot L1 unaligned', (b) => b.writeBigUInt64BE(12345n, tableAt), /not a cluster boundary/],
      ['extra data absurd', (b) => b.writeUInt32BE(1 << 20, tableAt + 36), /extra_data_size 1048576 is absurd/],
    ];
    for (const [what, patch, msg] of cases) {
      const f = join(work, `hostile-${what.replace(/\W+/g, '-')}.qcow2`);
      const b = Buffer.from(src);
      patch(b);
      writeFileSync(f, b);
      const snap = diskpick(['ls', `${f}@snap:first`, '/p0']);
      expect(snap.status, what).toBe(3);
      expect(snap.stderr.toString().trim().split('\n'), what).toHaveLength(1);
      expect(snap.stderr.toString(), what).toMatch(msg);
      // Only the first two cases spoil the table itself: the active state still reads, with a warning.
      const active = diskpick(['cat', f, '/p0/report.txt']);
      expect(active.status, `${what}: ${active.stderr}`).toBe(0);
      expect(sha(active.stdout)).toBe(sha(states[2]!['report.txt']!));
    }
  });
});

