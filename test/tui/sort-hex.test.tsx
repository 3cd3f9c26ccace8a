/**
 * The hex preview collapses repeated rows as hexdump -C does (checked against hexdump -C of
 * the file debugfs dumps); `s` sorts by name, size and time (against the manifest of the host
 * tree the ext4 image was made from, as ls -S / ls -t order it); `z` adds up folder sizes
 * (against the manifest's file sizes under each folder).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSortHexExt } from '../../scripts/images/tui.js';
import { cachedImage, tool, type ManifestEntry } from '../helpers/tools.js';
import { humanSize } from '../../src/present/names.js';
import { KEY, openApp, type Harness } from './harness.js';

let image: string;
let manifest: ManifestEntry[];
let h: Harness | null = null;

beforeAll(() => {
  image = cachedImage('tui-sorthex.img', buildSortHexExt);
  manifest = (JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>).p0!;
});

afterEach(async () => {
  await h?.close();
  h = null;
});

const top = () => manifest.filter((e) => e.path.lastIndexOf('/') === 0 && e.type !== 'symlink');
/** Names of the rows on screen, in order (rows start with a 2-cell mark). */
const rows = (f: string) => f.split('\n').slice(2).map((l) => l.slice(2).split(/\s+/)[0]!).filter((n) => top().some((e) => n === e.path.slice(1) + (e.type === 'dir' ? '/' : '')));
const nameOrder = (a: ManifestEntry, b: ManifestEntry) => a.path.localeCompare(b.path, undefined, { numeric: true, sensitivity: 'base' });
const shown = (list: ManifestEntry[]) => list.map((e) => e.path.slice(1) + (e.type === 'dir' ? '/' : ''));

async function openP0(): Promise<string> {
  h = await openApp(image, { size: { columns: 100, rows: 40 } });
  await h.press(KEY.enter);
  return h.waitFor((s) => s.includes('› p0') && s.includes('zeros.bin'), 'p0');
}

describe('browse: hex preview as hexdump -C', () => {
  it.each(['zeros.bin', 'pattern.bin', 'mixed.bin', 'c-large.bin'])('%s: the rows, the * of repeated rows and the end offset', async (name) => {
    await openP0();
    await h!.press('/', ...name, KEY.enter, 'p');
    const f = await h!.waitFor((s) => s.includes(`— /p0/${name}`) && / hex\b/.test(s) && !s.includes('reading…'), 'the hex preview');
    const tmp = mkdtempSync(join(tmpdir(), 'tui-hexdump-'));
    try {
      tool('debugfs', ['-R', `dump /${name} ${join(tmp, 'f')}`, image]);
      // The preview holds the first 64 KiB: hexdump -C of those bytes.
      const dump = tool('sh', ['-c', `head -c 65536 '${join(tmp, 'f')}' | hexdump -C`]).split('\n').filter(Boolean);
      const lines = f.split('\n').slice(1, -2).map((l) => l.trimEnd());
      const bodyRows = lines.length;
      // The pager shows the dump's first rows exactly, '*' lines included.
      const want = dump.slice(0, bodyRows).map((l) => l.trimEnd());
      expect(lines.slice(0, want.length)).toEqual(want);
      if (name !== 'c-large.bin') expect(dump).toContain('*');
      // Its last page ends as the dump does, with the offset past the end.
      await h!.press(KEY.end);
      const g = await h!.waitFor((s) => s.includes(`lines ${Math.max(1, dump.length - bodyRows + 1)}-${dump.length} of ${dump.length}`), 'the end of the dump');
      const end = g.split('\n').slice(1, -2).map((l) => l.trimEnd()).filter(Boolean);
      expect(end).toEqual(dump.slice(-end.length).map((l) => l.trimEnd()));
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('browse: sort and folder sizes', () => {
  it('s sorts by size (largest first), by time (newest first), then by name again; folders stay first', async () => {
    let f = await openP0();
    const dirs = top().filter((e) => e.type === 'dir').sort(nameOrder);
    const files = top().filter((e) => e.type === 'file');
    expect(rows(f)).toEqual(shown([...dirs, ...[...files].sort(nameOrder)]));
    await h!.press('s');
    f = await h!.waitFor((s) => s.includes('by size'), 'by size');
    expect(rows(f)).toEqual(shown([...dirs, ...[...files].sort((a, b) => b.size - a.size || nameOrder(a, b))]));
    await h!.press('s');
    f = await h!.waitFor((s) => s.includes('by time'), 'by time');
    const byTime = (a: ManifestEntry, b: ManifestEntry) => b.mtime - a.mtime || nameOrder(a, b);
    expect(rows(f)).toEqual(shown([...[...dirs].sort(byTime), ...[...files].sort(byTime)]));
    await h!.press('s');
    f = await h!.waitFor((s) => !s.includes('by time') && !s.includes('by size'), 'by name');
    expect(rows(f)).toEqual(shown([...dirs, ...[...files].sort(nameOrder)]));
  });

  it('z adds up each folder (manifest file sizes under it); sorted by size, folders go by their totals', async () => {
    let f = await openP0();
    const dirs = top().filter((e) => e.type === 'dir');
    const total = (d: ManifestEntry) => manifest.filter((e) => e.type === 'file' && e.path.startsWith(`${d.path}/`)).reduce((n, e) => n + e.size, 0);
    await h!.press('z');
    f = await h!.waitFor((s) => s.includes('added up'), 'the folder sizes');
    for (const d of dirs) {
      const row = f.split('\n').find((l) => l.slice(2).startsWith(`${d.path.slice(1)}/ `))!;
      expect(row, d.path).toContain(` ${humanSize(total(d))} `);
    }
    await h!.press('s');
    f = await h!.waitFor((s) => s.includes('by size'), 'by size');
    expect(rows(f).slice(0, dirs.length)).toEqual(shown([...dirs].sort((a, b) => total(b) - total(a))));
  });
});
