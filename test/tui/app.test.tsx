/**
 * The TUI component over real images (ink-testing-library): the top level against sfdisk and
 * blkid, listings against the manifest of the host tree the image was filled from, previews
 * against mtools (mtype/mcopy) and hexdump -C, restores against the manifest's sha256.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGptFatDisk, buildMbrFatDisk } from '../../scripts/images/fat.js';
import { cachedImage, sha256File, tool, type ManifestEntry } from '../helpers/tools.js';
import { KEY, openApp, type Harness } from './harness.js';
import { humanSize } from '../../src/cli/entry-format.js';

let image: string;
let manifest: Record<string, ManifestEntry[]>;
let parts: { start: number; size: number; name: string }[];
let h: Harness | null = null;
let imageHash: string;

beforeAll(async () => {
  image = cachedImage('fat-gpt.img', buildGptFatDisk);
  manifest = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8'));
  parts = (JSON.parse(tool('sfdisk', ['--json', image])).partitiontable.partitions as { start: number; size: number; name: string }[]);
  imageHash = await sha256File(image);
});

afterEach(async () => {
  await h?.close();
  h = null;
});

/** Names directly in a volume's root, as the host tree had them. */
function topNames(vol: string): ManifestEntry[] {
  return manifest[vol]!.filter((e) => e.path.lastIndexOf('/') === 0);
}

/** Row of the list showing `name` (rows start with a 2-cell mark). */
function rowOf(frame: string, name: string): string | undefined {
  return frame.split('\n').find((l) => l.slice(2).startsWith(name));
}

const byteOffset = (vol: number) => parts[vol - 1]!.start * 512;

describe('browse: top level and navigation', () => {
  it('lists the volumes with label, filesystem, partition name and size (sfdisk, blkid)', async () => {
    h = await openApp(image);
    const f = h.frame();
    expect(f).toContain('fat-gpt.img › (volumes)');
    for (let i = 0; i < parts.length; i++) {
      const blk = tool('blkid', ['-p', '-O', String(byteOffset(i + 1)), '-o', 'export', image]);
      const label = /^LABEL=(.*)$/m.exec(blk)![1]!;
      const version = /^VERSION=(.*)$/m.exec(blk)![1]!;
      const row = rowOf(f, `p${i + 1} `);
      expect(row, `row of p${i + 1}`).toBeDefined();
      expect(row).toContain(label);
      expect(row).toContain(version);
      expect(row).toContain(`"${parts[i]!.name}"`);
      expect(row).toContain(humanSize(parts[i]!.size * 512));
    }
  });

  it('opens a volume: folders first, every entry of the manifest, sizes and dates; ← comes back to it', async () => {
    h = await openApp(image);
    await h.press(KEY.enter);
    const f = await h.waitFor((s) => s.includes('fat-gpt.img › p1') && !s.includes('reading…'), 'p1');
    const top = topNames('p1');
    const rows = f.split('\n').slice(2, 2 + top.length);
    const dirs = top.filter((e) => e.type === 'dir').length;
    rows.forEach((r, i) => expect(r.trimEnd().endsWith('/') || /\d{4}-\d\d-\d\d \d\d:\d\d$/.test(r.trimEnd()), r).toBe(true));
    // Folders first, then files; each with the manifest's size and mtime.
    for (const [i, r] of rows.entries()) {
      const isDirRow = / {2}\S.*\/ +\d{4}-/.test(r) && !/ B |KiB|MiB/.test(r);
      expect(isDirRow, r).toBe(i < dirs);
    }
    for (const e of top) {
      const name = e.path.slice(1);
      const row = rowOf(f, e.type === 'dir' ? `${name}/` : name);
      expect(row, `row of ${name}`).toBeDefined();
      if (e.type === 'file') expect(row).toContain(humanSize(e.size));
      const date = new Date(Math.floor(e.mtime / 2) * 2 * 1000).toISOString().slice(0, 16).replace('T', ' ');
      if (e.type === 'file') expect(row).toContain(date);
    }
    await h.press(KEY.left);
    await h.waitFor((s) => s.includes('(volumes)'), 'the top level again');
    // The cursor is back on p1: Enter opens it again.
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('fat-gpt.img › p1'), 'p1 again');
  });

  it('moves with j/k, arrows, Home/End and PgUp/PgDn; the footer shows the position', async () => {
    h = await openApp(image);
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    const n = topNames('p1').length;
    await h.press(KEY.end);
    await h.waitFor((s) => s.includes(` ${n}/${n}`), 'the last entry');
    await h.press('k', KEY.up);
    await h.waitFor((s) => s.includes(` ${n - 2}/${n}`), 'two up');
    await h.press(KEY.home, 'j', KEY.down);
    await h.waitFor((s) => s.includes(` 3/${n}`), 'two down from the top');
    await h.press(KEY.pageDown);
    await h.waitFor((s) => s.includes(` ${n}/${n}`), 'a page down (short folder: the end)');
    await h.press(KEY.pageUp);
    await h.waitFor((s) => s.includes(` 1/${n}`), 'a page up');
    // Into deep/a/b/… and back up with Backspace.
    const dirs = topNames('p1').filter((e) => e.type === 'dir').map((e) => e.path.slice(1)).sort();
    expect(dirs[0]).toBe('deep');
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1 › deep') && s.includes('a/'), 'deep');
    await h.press(KEY.right);
    await h.waitFor((s) => s.includes('› deep › a'), 'deep/a');
    await h.press(KEY.backspace);
    await h.waitFor((s) => /› deep\s*$/m.test(s.split('\n')[0]!), 'deep again');
  });
});

describe('browse: filter, selection, preview, panels', () => {
  it('/ filters the folder as you type; Esc clears the filter', async () => {
    h = await openApp(image);
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    await h.press('/', 't', 'x', 't');
    const want = topNames('p1').filter((e) => e.path.slice(1).toLowerCase().includes('txt'));
    const f = await h.waitFor((s) => s.includes('filter: txt_'), 'the filter');
    expect(f).toContain(`/${want.length} of ${topNames('p1').length}`);
    const shown = f.split('\n').slice(2, 2 + want.length);
    for (const e of want) expect(shown.some((r) => r.slice(2).startsWith(e.path.slice(1))), e.path).toBe(true);
    expect(f).not.toContain('big.bin');
    // Backspace edits the filter; Enter keeps it and leaves typing; Esc clears it.
    await h.press(KEY.backspace, KEY.backspace, KEY.enter);
    await h.waitFor((s) => s.includes('filter: t ') || /filter: t\s*$/m.test(s), 'the shortened filter');
    await h.press(KEY.esc);
    await h.waitFor((s) => !s.includes('filter:') && s.includes('big.bin'), 'the whole folder');
  });

  it('a burst of keys faster than frames acts in order (filter, select, restore prompt)', async () => {
    h = await openApp(image);
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    // All written at once, without waiting for frames in between.
    h.burst('/', ...'odd', KEY.enter, ' ', 'e');
    const f = await h.waitFor((s) => s.includes('Restore /p1/odd size.bin to: '), 'the prompt for the filtered, selected file');
    expect(f).toContain('selected: 1');
  });

  it('Space selects entries (count and total size); a selects all in view and again none', async () => {
    h = await openApp(image);
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    await h.press('/', 'b', 'i', 'n', KEY.enter);
    await h.waitFor((s) => /filter: bin\s/.test(s), 'filter bin');
    const bins = topNames('p1').filter((e) => e.path.endsWith('.bin'));
    await h.press(' ', ' ');
    // The first two .bin files in the listing's order (name order, case-insensitive).
    const sorted = [...bins].sort((a, b) => a.path.localeCompare(b.path, undefined, { sensitivity: 'base', numeric: true }));
    const two = sorted.slice(0, 2).reduce((n, e) => n + e.size, 0);
    await h.waitFor((s) => s.includes(`selected: 2 (${humanSize(two)})`), 'two selected');
    const f = h.frame();
    for (const e of sorted.slice(0, 2)) expect(rowOf(f.replace(/^\* /gm, '  '), e.path.slice(1)), e.path).toBeDefined();
    expect(f.split('\n').filter((l) => l.startsWith('* ')).length).toBe(2);
    await h.press('a');
    const all = bins.reduce((n, e) => n + e.size, 0);
    await h.waitFor((s) => s.includes(`selected: ${bins.length} (${humanSize(all)})`), 'all in view');
    await h.press('a');
    await h.waitFor((s) => !s.includes('selected:'), 'none');
  });

  it('previews a text file as text (mtype) and a binary file as hex (hexdump -C)', async () => {
    h = await openApp(image);
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    await h.press('/', ...'lower', KEY.enter, 'p');
    const text = tool('mtype', ['-i', `${image}@@${byteOffset(1)}`, '::/lower.txt']).trimEnd();
    let f = await h.waitFor((s) => s.includes('— /p1/lower.txt') && !s.includes('reading…'), 'the text preview');
    expect(f).toContain(text);
    await h.press(KEY.esc, KEY.esc, '/', ...'cluster', KEY.enter, KEY.tab);
    f = await h.waitFor((s) => s.includes('— /p1/cluster.bin') && s.includes('hex'), 'the hex preview');
    const tmp = mkdtempSync(join(tmpdir(), 'tui-hex-'));
    try {
      tool('mcopy', ['-i', `${image}@@${byteOffset(1)}`, '::/cluster.bin', join(tmp, 'c.bin')]);
      const dump = tool('hexdump', ['-C', join(tmp, 'c.bin')]).split('\n');
      const shown = f.split('\n');
      // The screen shows the first rows of the dump exactly.
      for (const line of dump.slice(0, 10)) expect(shown).toContain(line);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    // Scrolling moves through the dump.
    await h.press(KEY.end);
    await h.waitFor((s) => s.includes('00000ff0  '), 'the last hex row (4 KiB file)');
    await h.press('q');
    await h.waitFor((s) => s.includes('filter: cluster'), 'back in the list');
  });

  it('previews only the first 64 KiB of a big file, streamed (20 MiB big.bin)', async () => {
    h = await openApp(image);
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    await h.press('/', ...'big', KEY.enter, KEY.enter);
    const f = await h.waitFor((s) => s.includes('64.0 KiB of 20.0 MiB (first 64 KiB)'), 'the preview limit');
    expect(f).toContain(`of ${4096 + 1}`); // 64 KiB / 16 bytes a row, then the end offset as hexdump -C prints it
  });

  it('i shows the image panel (sfdisk), ? the help', async () => {
    h = await openApp(image);
    await h.press('i');
    const f = await h.waitFor((s) => s.includes('Partitions'), 'the image panel');
    expect(f).toContain('GPT');
    const disk = JSON.parse(tool('sfdisk', ['--json', image])).partitiontable;
    expect(f.toLowerCase()).toContain(disk.id.toLowerCase());
    for (const p of disk.partitions) {
      expect(f).toContain(`"${p.name}"`);
      expect(f.toLowerCase()).toContain(p.uuid.toLowerCase());
    }
    await h.press(KEY.esc, '?');
    await h.waitFor((s) => s.includes('— Help') && s.includes('select or unselect'), 'help');
  });
});

describe('browse: restore and errors', () => {
  it('restores two selected files with the restore engine (sha256 = manifest), asks before overwriting', async () => {
    const out = mkdtempSync(join(tmpdir(), 'tui-restore-'));
    try {
      h = await openApp(image, { cwd: out });
      await h.press(KEY.enter);
      await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
      await h.press('/', ...'size', KEY.enter, ' ', KEY.esc, '/', ...'cluster', KEY.enter, ' ');
      await h.waitFor((s) => s.includes('selected: 2'), 'two selected');
      await h.press('e');
      await h.waitFor((s) => s.includes(`Restore 2 entries to: ${out}_`), 'the target prompt with the default');
      await h.press(KEY.enter);
      const f = await h.waitFor((s) => s.includes('Restore finished'), 'the summary');
      expect(f).toContain(`Restored 2 files`);
      for (const name of ['odd size.bin', 'cluster.bin']) {
        const m = manifest.p1!.find((e) => e.path === `/${name}`)!;
        expect(await sha256File(join(out, name)), name).toBe(m.sha256);
        expect(f).toContain(join(out, name));
        // Times preserved (FAT: 2-second steps).
        expect(Math.abs(statSync(join(out, name)).mtimeMs / 1000 - m.mtime)).toBeLessThanOrEqual(2);
      }
      await h.press(KEY.esc);
      await h.waitFor((s) => s.includes('Restored 2 files') && !s.includes('selected:'), 'the status line; selection cleared');
      // Again onto the same files: asked first; n leaves them alone.
      writeFileSync(join(out, 'cluster.bin'), 'mine');
      await h.press(' ', 'e', KEY.enter);
      await h.waitFor((s) => s.includes('already exists. Overwrite?'), 'the overwrite question');
      await h.press('n');
      await h.waitFor((s) => s.includes('restore cancelled; nothing written'), 'cancelled');
      expect(readFileSync(join(out, 'cluster.bin'), 'utf8')).toBe('mine');
      await h.press('e', KEY.enter);
      await h.waitFor((s) => s.includes('Overwrite?'), 'the question again');
      await h.press('y');
      await h.waitFor((s) => s.includes('Restore finished'), 'the summary after overwriting');
      expect(await sha256File(join(out, 'cluster.bin'))).toBe(manifest.p1!.find((e) => e.path === '/cluster.bin')!.sha256);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(image)).toBe(imageHash);
  });

  it('a target that cannot be written is an error line, and the TUI goes on', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'tui-bad-'));
    try {
      const file = join(tmp, 'a-file');
      writeFileSync(file, 'x');
      h = await openApp(image, { cwd: tmp });
      await h.press(KEY.enter);
      await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
      await h.press('/', ...'lower', KEY.enter, 'e', KEY.ctrlU, ...`${file}/sub`, KEY.enter);
      const f = await h.waitFor((s) => s.includes('error: restore failed'), 'the error line');
      expect(f).toContain(`${file}/sub`);
      // Still alive: the list answers keys.
      await h.press(KEY.esc);
      await h.waitFor((s) => !s.includes('error:') && s.includes('big.bin'), 'the list after the error');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('a read-only target: each file fails with the system reason in the summary and on the status line', async () => {
    const ro = mkdtempSync(join(tmpdir(), 'tui-ro-'));
    const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro', 'tmpfs', ro]).status === 0;
    if (!mounted) {
      console.warn('SKIP: cannot mount a read-only tmpfs here (needs root)');
      rmSync(ro, { recursive: true, force: true });
      return;
    }
    try {
      h = await openApp(image, { cwd: ro });
      await h.press(KEY.enter);
      await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
      await h.press('/', ...'lower', KEY.enter, 'e', KEY.enter);
      const f = await h.waitFor((s) => s.includes('Restore finished'), 'the summary');
      // The reason as the system gives it (touch says the same).
      const why = spawnSync('touch', [join(ro, 'x')], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } }).stderr;
      expect(why).toMatch(/Read-only file system/);
      expect(f).toContain('Failed (1):');
      expect(f).toMatch(/\/p1\/lower\.txt: .*read-only file system/i);
      expect(f.split('\n').at(-1)).toMatch(/^error: Restored 0 files .*; 1 failed/);
    } finally {
      spawnSync('umount', [ro]);
      rmSync(ro, { recursive: true, force: true });
    }
  });

  it('a volume without a readable filesystem is an error line, not a crash', async () => {
    // A copy of the image with p2's boot sector zeroed.
    const tmp = mkdtempSync(join(tmpdir(), 'tui-zero-'));
    try {
      const copy = join(tmp, 'broken.img');
      tool('cp', ['--sparse=always', image, copy]);
      tool('dd', ['if=/dev/zero', `of=${copy}`, 'bs=512', `seek=${parts[1]!.start}`, 'count=1', 'conv=notrunc', 'status=none']);
      h = await openApp(copy);
      expect(rowOf(h.frame(), 'p2 ')).toContain('no filesystem');
      await h.press('j', KEY.enter);
      await h.waitFor((s) => s.split('\n').at(-1)!.startsWith('error: '), 'the error line');
      await h.press('k', KEY.enter);
      await h.waitFor((s) => s.includes('› p1'), 'p1 still opens');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});

describe('browse: damaged files and cancelling', () => {
  it('an unreadable file: preview is an error line; its restore fails with the reason in the summary', async () => {
    // A copy with the first cluster of "odd size.bin" marked bad in both FATs; where the file
    // and the FATs are comes from TSK (fls, istat, fsstat).
    const tmp = mkdtempSync(join(tmpdir(), 'tui-badclu-'));
    try {
      const copy = join(tmp, 'badcluster.img');
      tool('cp', ['--sparse=always', image, copy]);
      const off = String(parts[0]!.start);
      const inode = /^r\/r (\d+):\todd size\.bin$/m.exec(tool('fls', ['-o', off, image]))![1]!;
      const firstSector = Number(/^Sectors:\n(\d+)/m.exec(tool('istat', ['-o', off, image, inode]))![1]);
      const fsstat = tool('fsstat', ['-o', off, image]);
      const dataStart = Number(/Data Area: (\d+)/.exec(fsstat)![1]);
      const clusterSectors = Number(/Cluster Size: (\d+)/.exec(fsstat)![1]) / 512;
      const cluster = (firstSector - dataStart) / clusterSectors + 2;
      const fd = (await import('node:fs')).openSync(copy, 'r+');
      for (const m of fsstat.matchAll(/\* FAT \d+: (\d+) - \d+/g)) {
        const entry = Buffer.alloc(4);
        entry.writeUInt32LE(0x0ffffff7);
        (await import('node:fs')).writeSync(fd, entry, 0, 4, (parts[0]!.start + Number(m[1])) * 512 + cluster * 4);
      }
      (await import('node:fs')).closeSync(fd);
      h = await openApp(copy, { cwd: tmp });
      await h.press(KEY.enter);
      await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
      await h.press('/', ...'odd', KEY.enter, 'p');
      const f = await h.waitFor((s) => s.split('\n').at(-1)!.startsWith('error: '), 'the error line');
      expect(f).toContain(`cluster ${cluster}`);
      expect(f).toContain('filter: odd');
      await h.press(' ', 'e', KEY.ctrlU, ...join(tmp, 'out'), KEY.enter);
      const sum = await h.waitFor((s) => s.includes('Restore finished'), 'the summary');
      expect(sum).toContain('Failed (1):');
      expect(sum).toMatch(new RegExp(`/p1/odd size\\.bin: .*cluster ${cluster}`));
      expect(sum.split('\n').at(-1)).toMatch(/^error: Restored 0 files .*; 1 failed/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('Esc cancels a running restore (MBR image, the 3000-file FAT32 volume)', async () => {
    const mbr = cachedImage('fat-mbr.img', buildMbrFatDisk);
    const mbrManifest = JSON.parse(readFileSync(`${mbr}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    const out = mkdtempSync(join(tmpdir(), 'tui-cancel-'));
    try {
      h = await openApp(mbr, { cwd: out });
      await h.press('/', 'p', '5', KEY.enter, 'e', KEY.enter);
      await h.waitFor((s) => s.includes(`Restoring to ${out}`) && /\d+\/\d+ files/.test(s), 'the progress panel', 30_000);
      await h.press(KEY.esc);
      const f = await h.waitFor((s) => s.includes('Restore cancelled'), 'the cancelled summary', 30_000);
      expect(f).toContain('Cancelled after restoring');
      const total = mbrManifest.p5!.filter((e) => e.type === 'file').length;
      const written = Number(/Cancelled after restoring (\d+) file/.exec(f)![1]);
      expect(written).toBeLessThan(total);
      // What was written is whole: every restored file matches the manifest.
      const restored = tool('find', [join(out, 'p5'), '-type', 'f']).split('\n').filter(Boolean);
      expect(restored.length).toBe(written);
      for (const p of restored.slice(0, 50)) {
        const m = mbrManifest.p5!.find((e) => e.path === p.slice(join(out, 'p5').length))!;
        expect(await sha256File(p), p).toBe(m.sha256);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});

describe('browse: layout', () => {
  it('80×24 fits: 23 lines, none wider than 80 cells; re-lays out on resize', async () => {
    h = await openApp(image, { size: { columns: 80, rows: 24 } });
    await h.press(KEY.enter);
    let f = await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    const { stringWidth } = await import('../../src/tui/width.js');
    expect(f.split('\n').length).toBe(23);
    for (const l of f.split('\n')) expect(stringWidth(l)).toBeLessThanOrEqual(80);
    // Size and date columns end at the same cell on every file row, whatever the name's script.
    const fileRows = f.split('\n').filter((l) => /\d{4}-\d\d-\d\d \d\d:\d\d\s*$/.test(l) && !l.includes('/ '));
    const sizeEnds = new Set(fileRows.map((l) => stringWidth(l.replace(/ \d{4}-\d\d-\d\d \d\d:\d\d\s*$/, ''))));
    expect(fileRows.some((l) => l.includes('日本語'))).toBe(true);
    expect(sizeEnds.size).toBe(1);
    h.rerender({ size: { columns: 120, rows: 40 } });
    f = await h.waitFor((s) => s.split('\n').length === 39, 'the bigger layout');
    expect(Math.max(...f.split('\n').map((l) => stringWidth(l)))).toBe(120);
  });

  it('NO_COLOR: no colour codes at all (only bold/inverse)', async () => {
    h = await openApp(image, { color: false });
    await h.press(KEY.enter);
    await h.waitFor((s) => s.includes('› p1') && !s.includes('reading…'), 'p1');
    // eslint-disable-next-line no-control-regex
    expect(h.raw()).not.toMatch(/\u001B\[(3[0-9]|9[0-7]|4[0-7]|10[0-7])(;[0-9]+)*m/);
    const { colorWanted } = await import('../../src/tui/browse.js');
    expect(colorWanted({ NO_COLOR: '1' })).toBe(false);
    expect(colorWanted({})).toBe(true);
  });
});

