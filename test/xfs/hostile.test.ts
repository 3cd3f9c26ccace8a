/**
 * Hostile XFS: copies of a real volume damaged with `xfs_db -x` (B+tree pointers that loop,
 * a dabtree node pointing at itself, a bmbt root reaching one leaf twice, a truncated image).
 * Each must end in a one-line error (exit 3 through the CLI), never a hang or a crash.
 */
import { copyFileSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { buildXfsHostileBase } from '../../scripts/images/xfs.js';
import { readAll } from '../ext/helpers.js';

let base: string;
let dir: string;

function damaged(name: string, cmds: string[]): string {
  const p = join(dir, name);
  copyFileSync(base, p);
  const r = spawnSync('xfs_db', ['-x', ...cmds.flatMap((c) => ['-c', c]), p], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`xfs_db -x failed: ${r.stderr}`);
  return p;
}

beforeAll(() => {
  base = cachedImage('xfs-hostile-base.img', (p) => buildXfsHostileBase(p));
  dir = mkdtempSync(join(tmpdir(), 'diskpick-xfs-hostile-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('hostile XFS', () => {
  it('the undamaged base reads: bmbt file, node folder, attribute tree', async () => {
    const before = await sha256File(base);
    const vfs = await Vfs.open(base);
    try {
      expect((await vfs.readdir(await vfs.lookup('/p0/big'))).length).toBe(2000);
      expect((await vfs.lookup('/p0/big/name-01234')).stat.type).toBe('file');
      expect((await readAll(vfs, await vfs.lookup('/p0/frag.bin'))).length).toBe(299 * 8192 + 4096);
      expect((await vfs.xattrs(await vfs.lookup('/p0/attrs'))).size).toBe(300);
    } finally {
      await vfs.close();
    }
    expect(await sha256File(base)).toBe(before);
  });

  it('a bmbt root whose two pointers reach the same leaf, or the superblock: one-line errors', async () => {
    const p = damaged('bmbt-twice.img', ['path /frag.bin', 'write u3.bmbt.ptrs[2] 0']);
    const ptr1 = spawnSync('xfs_db', ['-r', '-c', 'path /frag.bin', '-c', 'p u3.bmbt.ptrs', base], { encoding: 'utf8' }).stdout;
    const first = /1:(\d+)/.exec(ptr1)![1]!;
    const q = damaged('bmbt-loop.img', ['path /frag.bin', `write u3.bmbt.ptrs[2] ${first}`]);
    const r = diskpick(['cat', q, '/p0/frag.bin']);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/reached twice \(a loop\)/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    const r2 = diskpick(['cat', p, '/p0/frag.bin']);
    expect(r2.status).toBe(3);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a folder index node pointing at itself: lookups fail with a loop error, listing still works', async () => {
    const leaf = 2 ** 35 / 4096;
    const cmds = ['path /big', `dblock ${leaf}`];
    for (let i = 0; i < 6; i++) cmds.push(`write nbtree[${i}].before ${leaf}`);
    const p = damaged('dir-loop.img', cmds);
    const vfs = await Vfs.open(p);
    try {
      expect((await vfs.readdir(await vfs.lookup('/p0/big'))).length).toBe(2000);
      await expect(vfs.lookup('/p0/big/name-00007')).rejects.toThrow(/loops|too deep|bad magic/);
    } finally {
      await vfs.close();
    }
  });

  it('an attribute node pointing at itself: a loop error', async () => {
    const p = damaged('attr-loop.img', ['path /attrs', 'ablock 0', 'write btree[0].before 0']);
    const vfs = await Vfs.open(p);
    try {
      await expect(vfs.xattrs(await vfs.lookup('/p0/attrs'))).rejects.toThrow(/loops/);
    } finally {
      await vfs.close();
    }
  });

  it('a realtime subvolume is named in info; a realtime file exits 6 (unsupported) with one line', () => {
    // mkfs.xfs -r rtdev=: the data device records the realtime section (sb_rblocks); the file
    // is flagged realtime with xfs_db -x, as a file written there would be.
    const img = join(dir, 'rt.img');
    const rtdev = join(dir, 'rt-section.img');
    const proto = join(dir, 'rt.proto');
    const src = join(dir, 'rt-file.txt');
    writeFileSync(src, 'on the realtime device\n');
    writeFileSync(proto, `/dev/null\n0 0\nd--755 0 0\nrt.txt ---644 0 0 ${src}\nplain.txt ---644 0 0 ${src}\n$\n`);
    execFileSync('truncate', ['-s', '320M', img]);
    execFileSync('truncate', ['-s', '32M', rtdev]);
    execFileSync('mkfs.xfs', ['-f', '-q', '-r', `rtdev=${rtdev}`, '-p', proto, img], { stdio: 'pipe' });
    execFileSync('xfs_db', ['-x', '-c', 'path /rt.txt', '-c', 'write core.realtime 1', img], { stdio: 'pipe' });
    const rblocks = /rblocks = (\d+)/.exec(execFileSync('xfs_db', ['-r', '-c', 'sb 0', '-c', 'p rblocks', img], { encoding: 'utf8' }))![1];
    const info = diskpick(['info', '--json', img]);
    expect(info.stdout.toString()).toContain(`"realtime": "${rblocks} blocks"`);
    const r = diskpick(['cat', img, '/p0/rt.txt']);
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/realtime subvolume/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(diskpick(['cat', img, '/p0/plain.txt']).stdout.toString()).toBe('on the realtime device\n');
  });

  it('an image cut short: opening warns, reading past the end is a one-line error', () => {
    const p = join(dir, 'short.img');
    copyFileSync(base, p);
    truncateSync(p, 8 << 20);
    const info = diskpick(['info', p]);
    expect(info.status).toBe(0);
    expect(info.stdout.toString()).toMatch(/filesystem spans/);
    const r = diskpick(['ls', '-R', p, '/p0']);
    expect([0, 1, 3]).toContain(r.status);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });
});
