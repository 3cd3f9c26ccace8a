/**
 * The mount of a point (`diskpick mount 'IMAGE@snap:NAME' DIR`, `IMAGE@level:N`): the kernel
 * reads through FUSE the files of the state that point was made from (scripts/images/points.ts).
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cachedImage, sha256File } from '../helpers/tools.js';
import { buildPointsSet, states } from '../../scripts/images/points.js';
import { mountDaemon, newMountpoint, release, releaseAll, walk } from './mounts.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
afterAll(() => releaseAll());

describe('mount of a point in time', () => {
  it('an internal snapshot and a chain level mount as the states they were made from', async () => {
    const dir = cachedImage('points-set', (d) => void buildPointsSet(d));
    const before = await sha256File(join(dir, 'snaps.qcow2'));
    for (const [arg, k] of [[`${join(dir, 'snaps.qcow2')}@snap:second`, 1], [`${join(dir, 'top.qcow2')}@level:1`, 0]] as const) {
      const m = mountDaemon(arg, newMountpoint('point'));
      try {
        const files = [...walk(join(m.mnt, 'p0')).values()].filter((e) => e.type === 'f').map((e) => e.path.replace(/^\//, '')).sort();
        expect(files, arg).toEqual(Object.keys(states[k]!).sort());
        for (const [name, data] of Object.entries(states[k]!)) expect(sha(readFileSync(join(m.mnt, 'p0', name))), `${arg} ${name}`).toBe(sha(data));
      } finally {
        release(m);
      }
    }
    expect(await sha256File(join(dir, 'snaps.qcow2'))).toBe(before);
  }, 60_000);
});
