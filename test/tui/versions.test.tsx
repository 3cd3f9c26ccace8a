/**
 * The browser's versions panel (`v`) over a QCOW2 chain of three states of one ext4 filesystem
 * (scripts/images/points.ts): one row per level, the sizes of the states written, and Enter
 * restores the chosen level's bytes (the manifest of that state) into CWD/versions/POINT/.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cachedImage, sha256File } from '../helpers/tools.js';
import { buildPointsSet, states } from '../../scripts/images/points.js';
import { KEY, openApp, type Harness } from './harness.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
let h: Harness | null = null;
afterEach(async () => {
  await h?.close();
  h = null;
});

describe('browse: versions panel', () => {
  it('lists the file at every level of the chain and restores the chosen one', async () => {
    const dir = cachedImage('points-set', (d) => void buildPointsSet(d));
    const top = join(dir, 'top.qcow2');
    const before = await sha256File(top);
    const cwd = mkdtempSync(join(tmpdir(), 'dp-tui-versions-'));
    try {
      h = await openApp(top, { cwd });
      await h.press(KEY.enter);
      await h.waitFor((f) => f.includes('report.txt'), 'the volume');
      // Down to report.txt (folders first: lost+found), then v.
      for (let i = 0; i < 10 && !/^›.*report\.txt/m.test(h.frame()); i++) await h.press('j');
      await h.press('v');
      const f = await h.waitFor((s) => s.includes('Versions of /p0/report.txt') && s.includes('@level:2'), 'the versions panel');
      const rows = f.split('\n').filter((l) => /^\d{4}-\d\d-\d\d /.test(l));
      expect(rows).toHaveLength(3);
      // Sizes as each state wrote the file, oldest first.
      for (const [k, r] of rows.entries()) expect(r, `row ${k}`).toContain(states[k]!['report.txt']!.length < 1024 ? `${states[k]!['report.txt']!.length} B` : `${(states[k]!['report.txt']!.length / 1024).toFixed(2)} KiB`);
      // The cursor starts on the image itself (the newest row): two up is level 1.
      await h.press('k', 'k');
      await h.press(KEY.enter);
      await h.waitFor((s) => s.includes('Restored /p0/report.txt as of'), 'the restore');
      const out = join(cwd, 'versions', 'top.qcow2@level_1', 'report.txt');
      expect(sha(readFileSync(out))).toBe(sha(states[0]!['report.txt']!));
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
    expect(await sha256File(top)).toBe(before);
  }, 60_000);
});
