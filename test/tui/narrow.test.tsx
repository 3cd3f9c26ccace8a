/**
 * Narrow terminals (issue 20): down to 60×20 everything stays readable — at 60, 80 and 120
 * columns no line is wider than the terminal, the key line always ends with "? help" and
 * "q quit", the overwrite question and its answers show whole (at 120 columns it was cut
 * "n = ca…" behind a long path), the restore prompt keeps what is typed in view, and the help
 * shows every key's description whole (wrapped, not cut).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGptFatDisk } from '../../scripts/images/fat.js';
import { cachedImage } from '../helpers/tools.js';
import { HELP } from '../../src/tui/panels.js';
import { stringWidth } from '../../src/tui/width.js';
import { KEY, openApp, type Harness } from './harness.js';

let image: string;
let h: Harness | null = null;

beforeAll(() => {
  image = cachedImage('fat-gpt.img', buildGptFatDisk);
});

afterEach(async () => {
  await h?.close();
  h = null;
});

const SIZES = [{ columns: 60, rows: 20 }, { columns: 80, rows: 24 }, { columns: 120, rows: 30 }];
const last = (f: string) => f.split('\n').at(-1)!;
const fits = (f: string, columns: number) => f.split('\n').every((l) => stringWidth(l) <= columns);

describe.each(SIZES)('browse at $columns×$rows', (size) => {
  it('the list and its key line fit; "? help" and "q quit" always show', async () => {
    h = await openApp(image, { size });
    await h.press(KEY.enter);
    let f = await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    expect(f.split('\n').length).toBe(size.rows - 1);
    expect(fits(f, size.columns)).toBe(true);
    expect(last(f)).toMatch(/\? help {2}q quit$/);
    expect(f.split('\n')[1]).toMatch(/Name +Size/);
    await h.press('G', 'p');
    f = await h.waitFor((s) => s.includes('Esc/q close'), 'the pager keys');
    expect(fits(f, size.columns)).toBe(true);
  });

  it('the overwrite question shows whole behind a long target path; the prompt shows what is typed', async () => {
    const deep = join(mkdtempSync(join(tmpdir(), 'tui-narrow-')), 'a-rather-long-folder-name-for-restores', 'and-another-level-below-it');
    mkdirSync(deep, { recursive: true });
    try {
      writeFileSync(join(deep, 'cluster.bin'), 'mine');
      writeFileSync(join(deep, 'big.bin'), 'mine');
      h = await openApp(image, { size, cwd: deep });
      await h.press(KEY.enter);
      await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
      await h.press('/', ...'bin', KEY.enter, ' ', ' ', 'e');
      let f = await h.waitFor((s) => /^Restore /.test(last(s)), 'the target prompt');
      // What is typed (the default target, then an edit) shows up to its cursor.
      expect(last(f).endsWith(`${deep.slice(-20)}_`) || last(f).includes(`${deep}_`)).toBe(true);
      expect(fits(f, size.columns)).toBe(true);
      await h.press(KEY.enter);
      f = await h.waitFor((s) => s.includes('Overwrite?'), 'the overwrite question');
      expect(last(f)).toContain('Overwrite? y = ');
      expect(last(f)).toMatch(/s = skip existing, n = (cancel|no)$/);
      expect(fits(f, size.columns)).toBe(true);
      await h.press('n');
      await h.waitFor((s) => s.includes('restore cancelled'), 'cancelled');
    } finally {
      rmSync(join(deep, '..', '..'), { recursive: true, force: true });
    }
  });

  it('the help shows every key and its whole description (wrapped)', async () => {
    h = await openApp(image, { size });
    await h.press('?');
    let f = await h.waitFor((s) => s.includes('— Help'), 'the help');
    const total = Number(/of (\d+)/.exec(f.split('\n').at(-2)!)![1]);
    const seen: string[] = [];
    for (;;) {
      expect(fits(f, size.columns)).toBe(true);
      seen.push(...f.split('\n').slice(1, -2));
      const to = Number(/lines \d+-(\d+)/.exec(f.split('\n').at(-2)!)![1]);
      if (to >= total) break;
      await h.press(' ');
      f = await h.waitFor((s) => Number(/lines \d+-(\d+)/.exec(s.split('\n').at(-2)!)?.[1]) > to, 'the next page');
    }
    const text = seen.join(' ').replace(/\s+/g, ' ');
    expect(text).not.toContain('…');
    for (const [k, what] of HELP) {
      expect(text, k).toContain(k.replace(/\s+/g, ' '));
      expect(text, what).toContain(what);
    }
  });
});
