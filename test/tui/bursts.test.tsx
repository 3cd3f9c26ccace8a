/**
 * Keys that arrive together (issue 20, "the browser"): one read of the terminal holding
 * several keys ("j" and Enter from one `tmux send-keys`, a fast typist over SSH) and keys that
 * come while a folder is still being read. Every key must act, in order. The folder contents
 * come from the manifest of the host tree the image was made from.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { buildGptFatDisk } from '../../scripts/images/fat.js';
import { cachedImage, type ManifestEntry } from '../helpers/tools.js';
import { openApp, type Harness } from './harness.js';

let image: string;
let manifest: Record<string, ManifestEntry[]>;
let h: Harness | null = null;

beforeAll(() => {
  image = cachedImage('fat-gpt.img', buildGptFatDisk);
  manifest = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8'));
});

afterEach(async () => {
  await h?.close();
  h = null;
});

const title = (f: string) => f.split('\n')[0]!.trim();

describe('browse: keys that arrive together', () => {
  it('"j" and Enter in one read open the second volume', async () => {
    h = await openApp(image);
    h.burst('j\r');
    await h.waitFor((s) => title(s).endsWith('› p2') && !s.includes('reading…'), 'p2 opened');
  });

  it('"/odd" and Enter in one read filter; Space and "e" in the same read select it and ask where to', async () => {
    h = await openApp(image);
    h.burst('\r');
    await h.waitFor((s) => title(s).endsWith('› p1') && !s.includes('reading…'), 'p1');
    h.burst('/odd\r e');
    const f = await h.waitFor((s) => s.includes('Restore /p1/odd size.bin to: '), 'the prompt for the filtered, selected file');
    expect(f).toContain('selected: 1');
  });

  it('keys typed while a folder is read act in the new folder (Enter, then "/docs" Enter Enter, one read)', async () => {
    h = await openApp(image);
    // Enter opens p1; the rest arrives before p1 has been read and must wait for it.
    h.burst('\r/docs\r\r');
    const f = await h.waitFor((s) => title(s).endsWith('› p1 › docs') && !s.includes('reading…'), 'p1/docs');
    const want = manifest.p1!.filter((e) => e.path.startsWith('/docs/')).map((e) => e.path.slice('/docs/'.length));
    for (const name of want) expect(f).toContain(name);
  });

  it('each key in its own read, all written before the first is drawn, act in order (Enter j j Space, ← j Enter)', async () => {
    h = await openApp(image);
    // Folders first: in p1 "deep" then "docs"; j j Space selects the first file.
    h.burst('\r', 'j', 'j', ' ');
    await h.waitFor((s) => s.includes('selected: 1') && s.includes('› p1'), 'one selected in p1');
    const rows = h.lines().filter((l) => l.startsWith('* '));
    expect(rows).toHaveLength(1);
    // Back up, down to p2 and into it, in three reads written at once.
    h.burst('\x1b[D', 'j', '\r');
    await h.waitFor((s) => title(s).endsWith('› p2') && !s.includes('reading…'), 'p2');
  });

  it('"j" then Space in one read moves, then selects the entry under the cursor', async () => {
    h = await openApp(image);
    h.burst('\r');
    await h.waitFor((s) => title(s).endsWith('› p1') && !s.includes('reading…'), 'p1');
    h.burst('j ');
    const f = await h.waitFor((s) => s.includes('selected: 1'), 'one selected');
    // "j" moved from the first row (deep/) to the second (docs/), Space selected docs/ and moved on.
    expect(f.split('\n').find((l) => l.startsWith('* '))).toMatch(/^\* docs\//);
    expect(f).toMatch(/ 3\/\d+/);
  });
});
