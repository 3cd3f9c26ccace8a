/**
 * Points of an image by URL (issue 18 with issue 19): `URL@level:N` and `URL@snap:NAME` read
 * what the same point of the local file reads (itself checked against qemu-img in
 * test/restore/point-grammar.test.ts), over a real nginx; the points' errors are one line.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { buildPointsSet } from '../../scripts/images/points.js';

const dir = cachedImage('points-set', (d) => void buildPointsSet(d));
const watched = ['base.qcow2', 'mid.qcow2', 'top.qcow2', 'snaps.qcow2'].map((n) => join(dir, n));
const before = new Map<string, string>();
let nginx: Nginx;
let work: string;

beforeAll(async () => {
  for (const f of watched) before.set(f, await sha256File(f));
  nginx = await startNginx(dir);
  work = mkdtempSync(join(tmpdir(), 'dp-remote-points-'));
});
afterAll(async () => {
  nginx?.stop();
  rmSync(work, { recursive: true, force: true });
  for (const f of watched) expect(await sha256File(f), f).toBe(before.get(f));
});

/** sha256 of the whole disk as diskpick dd reads it. */
function ddSha(arg: string): string {
  const out = join(work, `${Math.random().toString(36).slice(2)}.raw`);
  const r = diskpick(['dd', '-q', arg, '-o', out]);
  expect(r.status, `${arg}: ${r.stderr}`).toBe(0);
  const h = createHash('sha256').update(readFileSync(out)).digest('hex');
  rmSync(out);
  return h;
}

describe('points of an image by URL', () => {
  it('each level of a QCOW2 chain by URL reads as the same level of the local chain', () => {
    for (const level of [1, 2, 3]) {
      expect(ddSha(`${nginx.http}/top.qcow2@level:${level}`), `level ${level}`).toBe(ddSha(`${join(dir, 'top.qcow2')}@level:${level}`));
    }
    // The levels differ from each other (the test would pass on a reader that ignored them otherwise).
    expect(ddSha(`${nginx.http}/top.qcow2@level:1`)).not.toBe(ddSha(`${nginx.http}/top.qcow2@level:3`));
  });

  it('each internal snapshot by URL (by name and by id) reads as the same snapshot of the local file', () => {
    for (const snap of ['first', 'second', '1']) {
      expect(ddSha(`${nginx.http}/snaps.qcow2@snap:${snap}`), snap).toBe(ddSha(`${join(dir, 'snaps.qcow2')}@snap:${snap}`));
    }
    expect(ddSha(`${nginx.http}/snaps.qcow2@snap:first`)).not.toBe(ddSha(`${nginx.http}/snaps.qcow2`));
  });

  it('a level past the chain, an unknown snapshot and @snap: of a raw image are one-line errors', () => {
    const past = diskpick(['info', `${nginx.http}/top.qcow2@level:4`]);
    expect(past.status).toBe(4);
    expect(past.stderr.trim().split('\n')).toHaveLength(1);
    expect(past.stderr).toMatch(/no level 4: the chain has 3 levels/);
    const unknown = diskpick(['info', `${nginx.http}/snaps.qcow2@snap:nosuch`]);
    expect(unknown.status).toBe(4);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    const raw = diskpick(['info', `${nginx.http}/state1.raw@snap:first`]);
    expect(raw.status).toBe(6);
    expect(raw.stderr.trim().split('\n')).toHaveLength(1);
  });
});
