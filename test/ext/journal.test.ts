/**
 * Crash-consistent backups: an ext3/ext4 volume copied while mounted (journal committed, not
 * checkpointed, needs_recovery set). diskpick replays the journal in memory; the oracle is
 * e2fsck -fy on a second copy (the real recovery), then debugfs on that copy.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { CACHE, cachedImage, sha256File, tool } from '../helpers/tools.js';
import { buildJournalImage } from '../../scripts/images/ext.js';
import { debugfsBatch, parseDebugfsLs, readAll, sha, walkVfs } from './helpers.js';
import { spawnSync } from 'node:child_process';

const cases = [
  { name: 'ext-journal-ext4.img', mkfs: 'mkfs.ext4' as const, args: ['-b', '4096'], tags: '64-bit tags, csum v3' },
  { name: 'ext-journal-ext3.img', mkfs: 'mkfs.ext3' as const, args: ['-b', '1024'], tags: '32-bit tags, no checksums' },
];

describe.each(cases)('journal replay: $name ($tags)', (c) => {
  let img: string;
  let fixed: string;
  let before: string;
  let vfs: Vfs;
  let skip = false;

  beforeAll(async () => {
    img = cachedImage(c.name, (p) => {
      if (!buildJournalImage(p, c.mkfs, c.args)) skip = true;
    });
    if (skip) {
      console.warn(`SKIP: ${c.name}: the kernel refused the loop mount needed to build it`);
      return;
    }
    before = await sha256File(img);
    fixed = join(CACHE, c.name.replace(/\.img$/, '.fsck.img'));
    copyFileSync(img, fixed);
    const r = spawnSync('e2fsck', ['-fy', fixed], { stdio: 'pipe' });
    if (r.status !== 0 && r.status !== 1) throw new Error(`e2fsck failed: ${r.stderr}`);
    vfs = await Vfs.open(img);
  });
  afterAll(async () => {
    await vfs?.close();
    if (fixed) rmSync(fixed, { force: true });
  });

  it('the copy really needs recovery and differs from the recovered volume', () => {
    if (skip) return;
    expect(tool('dumpe2fs', ['-h', img])).toMatch(/needs_recovery/);
    const [raw] = debugfsBatch(img, ['ls -l /']);
    const [rec] = debugfsBatch(fixed, ['ls -l /']);
    expect(parseDebugfsLs(raw!).map((e) => e.name).sort()).not.toEqual(parseDebugfsLs(rec!).map((e) => e.name).sort());
  });

  it('info says the journal was replayed, with as many transactions as debugfs logdump shows', () => {
    if (skip) return;
    const fs = vfs.info().volumes[0]!.filesystem!;
    expect(fs.warnings.join('\n')).toMatch(/journal replayed in memory/);
    expect(fs.details.journal).toBe('replayed in memory');
    const log = tool('debugfs', ['-R', 'logdump', img]);
    const commits = (log.match(/\(commit block\)/g) ?? []).length;
    expect(commits).toBeGreaterThan(1);
    expect(fs.details.journalTransactions).toBe(commits);
  });

  it('every folder and file equals debugfs on the e2fsck-recovered copy', async () => {
    if (skip) return;
    const ours = await walkVfs(vfs);
    const dirs = ['/', ...[...ours.entries()].filter(([, n]) => n.stat.type === 'dir').map(([p]) => p)];
    const outs = debugfsBatch(fixed, dirs.map((d) => `ls -l "${d}"`));
    const files: string[] = [];
    let count = 0;
    for (const [i, d] of dirs.entries()) {
      const theirs = parseDebugfsLs(outs[i]!);
      const kids = await vfs.readdir(await vfs.lookup('/p0' + d));
      expect(kids.map((k) => k.name).sort(), d).toEqual(theirs.map((t) => t.name).sort());
      for (const t of theirs) {
        const k = kids.find((x) => x.name === t.name)!;
        expect({ ino: k.stat.ino, size: k.stat.size, uid: k.stat.uid }, `${d}/${t.name}`).toEqual({ ino: t.ino, size: t.size, uid: t.uid });
        if (k.stat.type === 'file') files.push(d === '/' ? `/${t.name}` : `${d}/${t.name}`);
        count++;
      }
    }
    expect(count).toBeGreaterThan(40);
    const out = mkdtempSync(join(tmpdir(), 'diskpick-ext-journal-'));
    try {
      debugfsBatch(fixed, files.map((f, i) => `dump "${f}" ${join(out, String(i))}`));
      for (const [i, f] of files.entries()) {
        expect(sha(await readAll(vfs, await vfs.lookup('/p0' + f))), f).toBe(sha(readFileSync(join(out, String(i)))));
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('leaves the image unchanged', async () => {
    if (skip) return;
    expect(await sha256File(img)).toBe(before);
  });
});
