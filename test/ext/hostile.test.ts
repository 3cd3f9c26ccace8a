/**
 * Damaged and hostile ext volumes: every problem is a one-line DiskpickError for the file it
 * concerns, the rest stays readable, nothing hangs, checksum mismatches are warnings.
 * Structures are located with debugfs (stat, imap, blocks) on the undamaged image.
 */
import { copyFileSync, openSync, readFileSync, rmSync, truncateSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskpickError } from '../../src/errors.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { spawnSync } from 'node:child_process';
import { CACHE, cachedImage, sha256File, tool } from '../helpers/tools.js';
import { buildExtHostileBase, buildJournalImage } from '../../scripts/images/ext.js';
import { SeededRandom } from '../../scripts/images/tree.js';
import { debugfsBatch, parseDebugfsLs, readAll, sha, walkVfs } from './helpers.js';

let base: string;
let tree: string;
const BS = 1024;

/** A damaged copy of the base image: `edit` gets the copy's bytes to change in place. */
function damaged(name: string, edit: (b: Buffer) => void, from = base): string {
  const p = join(CACHE, `ext-hostile-${name}.img`);
  made.push(p);
  copyFileSync(from, p);
  const b = readFileSync(p);
  edit(b);
  const fd = openSync(p, 'r+');
  writeSync(fd, b, 0, b.length, 0);
  closeSync(fd);
  return p;
}

/** Byte offset of an inode record, from debugfs imap ("located at block N, offset 0xOFF"). */
function inodeOffset(img: string, path: string): number {
  const [t] = debugfsBatch(img, [`imap ${path}`]);
  const m = /located at block (\d+), offset 0x([0-9a-f]+)/.exec(t!)!;
  return Number(m[1]) * BS + parseInt(m[2]!, 16);
}

function expectOneLineError(err: unknown): DiskpickError {
  expect(err).toBeInstanceOf(DiskpickError);
  const e = err as DiskpickError;
  expect(e.toLine()).not.toMatch(/\n/);
  return e;
}

async function openErr(vfs: Vfs, path: string): Promise<DiskpickError> {
  try {
    await readAll(vfs, await vfs.lookup(path));
  } catch (err) {
    return expectOneLineError(err);
  }
  throw new Error(`${path} read without an error`);
}

/** The undamaged files read as in the source tree. */
async function othersFine(vfs: Vfs, skip: string[]): Promise<void> {
  for (const f of ['a.txt', 'b.txt', 'c.txt'].filter((x) => !skip.includes(x))) {
    expect(sha(await readAll(vfs, await vfs.lookup(`/p0/${f}`))), f).toBe(sha(readFileSync(join(tree, f))));
  }
}

const made: string[] = [];
afterAll(() => {
  for (const p of made) rmSync(p, { force: true });
});

beforeAll(() => {
  base = cachedImage('ext-hostile-base.img', (p) => void buildExtHostileBase(p));
  tree = base.replace(/\.img$/, '.tree');
});

describe('ext: hostile and damaged volumes', () => {
  it('the base image reads correctly (frag.bin has an extent index level)', async () => {
    const [st] = debugfsBatch(base, ['stat /frag.bin']);
    expect(st).toMatch(/\(ETB0\):\d+/);
    const vfs = await Vfs.open(base);
    expect(sha(await readAll(vfs, await vfs.lookup('/p0/frag.bin')))).toBe(sha(readFileSync(join(tree, 'frag.bin'))));
    await othersFine(vfs, []);
    expect(vfs.info().volumes[0]!.filesystem!.warnings).toEqual([]);
    await vfs.close();
  });

  it('an extent tree that loops back on itself: one error for that file, the rest readable', async () => {
    const [st] = debugfsBatch(base, ['stat /frag.bin']);
    const etb = Number(/\(ETB0\):(\d+)/.exec(st!)![1]);
    const ino = inodeOffset(base, '/frag.bin');
    const img = damaged('extent-loop', (b) => {
      // Root claims depth 2; the index block claims depth 1 and all its entries point at itself.
      b.writeUInt16LE(2, ino + 0x28 + 6);
      const at = etb * BS;
      b.writeUInt16LE(1, at + 6);
      const n = b.readUInt16LE(at + 2);
      for (let i = 0; i < n; i++) {
        b.writeUInt32LE(etb, at + 12 + i * 12 + 4);
        b.writeUInt16LE(0, at + 12 + i * 12 + 8);
      }
    });
    const vfs = await Vfs.open(img);
    expect((await openErr(vfs, '/p0/frag.bin')).message).toMatch(/loop/);
    await othersFine(vfs, []);
    expect((await vfs.readdir(await vfs.lookup('/p0'))).map((k) => k.name)).toContain('frag.bin');
    await vfs.close();
  });

  it('an extent block with the wrong depth', async () => {
    const [st] = debugfsBatch(base, ['stat /frag.bin']);
    const etb = Number(/\(ETB0\):(\d+)/.exec(st!)![1]);
    const img = damaged('extent-depth', (b) => b.writeUInt16LE(3, etb * BS + 6));
    const vfs = await Vfs.open(img);
    expect((await openErr(vfs, '/p0/frag.bin')).message).toMatch(/depth/);
    await othersFine(vfs, []);
    await vfs.close();
  });

  it('a folder block with a bad record length: that folder fails, the rest lists', async () => {
    const [bl] = debugfsBatch(base, ['blocks /dir']);
    const first = Number(bl!.trim().split(/\s+/)[0]);
    const img = damaged('dir-reclen', (b) => {
      // The third entry's rec_len: first "." (12) and ".." follow; break the entry after them.
      const at = first * BS;
      const dot = b.readUInt16LE(at + 4);
      const dotdot = b.readUInt16LE(at + dot + 4);
      b.writeUInt16LE(5, at + dot + dotdot + 4);
    });
    const vfs = await Vfs.open(img);
    let err: unknown;
    try {
      await vfs.readdir(await vfs.lookup('/p0/dir'));
    } catch (e) {
      err = e;
    }
    expect(expectOneLineError(err).message).toMatch(/record length/);
    expect((await vfs.readdir(await vfs.lookup('/p0'))).length).toBeGreaterThan(4);
    await othersFine(vfs, []);
    await vfs.close();
  });

  it('a folder entry naming an inode that does not exist: listed, reading it fails', async () => {
    const [bl] = debugfsBatch(base, ['blocks /']);
    const rootBlock = Number(bl!.trim().split(/\s+/)[0]);
    const img = damaged('bad-ino', (b) => {
      const blk = b.subarray(rootBlock * BS, rootBlock * BS + BS);
      const nameAt = blk.indexOf('b.txt');
      blk.writeUInt32LE(99_999_999, nameAt - 8);
    });
    const vfs = await Vfs.open(img);
    const kids = await vfs.readdir(await vfs.lookup('/p0'));
    const b = kids.find((k) => k.name === 'b.txt')!;
    expect(b.stat.type).toBe('file');
    expect((await openErr(vfs, '/p0/b.txt')).message).toMatch(/inode 99999999/);
    await othersFine(vfs, ['b.txt']);
    await vfs.close();
  });

  it('a folder entry pointing back at the root: skipped with a warning, so walks end', async () => {
    const [bl] = debugfsBatch(base, ['blocks /dir']);
    const first = Number(bl!.trim().split(/\s+/)[0]);
    const img = damaged('dir-loop', (b) => {
      const blk = b.subarray(first * BS, first * BS + BS);
      const nameAt = blk.indexOf('a-fairly-long-file-name-number-003.txt');
      blk.writeUInt32LE(2, nameAt - 8);
      blk[nameAt - 1] = 2; // file_type: directory
    });
    const vfs = await Vfs.open(img);
    const all = await walkVfs(vfs);
    expect(all.has('/dir/a-fairly-long-file-name-number-003.txt')).toBe(false);
    expect(all.has('/dir/a-fairly-long-file-name-number-004.txt')).toBe(true);
    expect(vfs.info().volumes[0]!.filesystem!.warnings.join(' ')).toMatch(/loops back/);
    await vfs.close();
  });

  it('an inode whose extent header is destroyed', async () => {
    const ino = inodeOffset(base, '/a.txt');
    const img = damaged('bad-extent-magic', (b) => b.writeUInt16LE(0x1234, ino + 0x28));
    const vfs = await Vfs.open(img);
    expect((await openErr(vfs, '/p0/a.txt')).message).toMatch(/extent/);
    await othersFine(vfs, ['a.txt']);
    await vfs.close();
  });

  it('checksum mismatches are bounded warnings; the data still reads', async () => {
    const offsets = ['/a.txt', '/b.txt', '/c.txt', ...Array.from({ length: 20 }, (_, i) => `/dir/a-fairly-long-file-name-number-${String(i).padStart(3, '0')}.txt`)]
      .map((p) => inodeOffset(base, p));
    // i_dtime is unused on live inodes: changing it breaks only the checksum.
    const img = damaged('csum', (b) => offsets.forEach((o) => b.writeUInt32LE(0x1234, o + 0x14)));
    const vfs = await Vfs.open(img);
    await walkVfs(vfs);
    await othersFine(vfs, []);
    const w = vfs.info().volumes[0]!.filesystem!.warnings;
    expect(w.some((x) => /inode \d+ checksum mismatch/.test(x))).toBe(true);
    expect(w.some((x) => /more inode checksum mismatches/.test(x))).toBe(true);
    expect(w.length).toBeLessThan(10);
    // The oracle agrees the image has checksum damage: e2fsck -fn reports it and exits non-zero.
    const fsck = spawnSync('e2fsck', ['-fn', img], { encoding: 'utf8' });
    expect(fsck.status).not.toBe(0);
    expect(fsck.stdout + fsck.stderr).toMatch(/checksum/i);
    await vfs.close();
  }, 60_000);

  it('impossible superblock values are refused with one line', async () => {
    for (const [name, off, val] of [['sb-blocksize', 0x18, 30], ['sb-ipg', 0x28, 0], ['sb-inodesize', 0x58, 3]] as const) {
      const img = damaged(name, (b) => (off === 0x58 ? b.writeUInt16LE(val, 1024 + off) : b.writeUInt32LE(val, 1024 + off)));
      let err: unknown;
      try {
        await (await Vfs.open(img)).close();
      } catch (e) {
        err = e;
      }
      expect(expectOneLineError(err).toLine(), name).toMatch(/ext superblock|not a disk image/);
    }
  });

  it('a truncated image: errors name the problem, nothing else escapes', async () => {
    // Cut the image in the middle of a.txt's first data block (debugfs bmap).
    const [bm] = debugfsBatch(base, ['bmap /a.txt 0']);
    const img = damaged('truncated', () => undefined);
    truncateSync(img, Number(bm!.trim()) * BS + 512);
    let errors = 0;
    try {
      const vfs = await Vfs.open(img);
      for (const [p, n] of await walkVfs(vfs)) {
        if (n.stat.type !== 'file') continue;
        try {
          await readAll(vfs, n);
        } catch (err) {
          expectOneLineError(err);
          errors++;
          void p;
        }
      }
      expect(vfs.info().volumes[0]!.filesystem!.warnings.join(' ')).toMatch(/past the end|spans/);
      await vfs.close();
    } catch (err) {
      expectOneLineError(err);
      errors++;
    }
    expect(errors).toBeGreaterThan(0);
  });

  it('seeded fuzzing of inodes, folders and extent blocks: only DiskpickErrors, no hang', async () => {
    // The metadata worth hitting, located by the oracles: the used part of the inode table,
    // the folder blocks and frag.bin's extent block.
    const table = Number(/Inode table at (\d+)/.exec(tool('dumpe2fs', [base]))![1]);
    const [rootBl, dirBl, st] = debugfsBatch(base, ['blocks /', 'blocks /dir', 'stat /frag.bin']);
    const blocks = [...`${rootBl} ${dirBl}`.trim().split(/\s+/).map(Number), Number(/\(ETB0\):(\d+)/.exec(st!)![1])];
    const regions: [number, number][] = [[table * BS, 64 * 256], ...blocks.map((b): [number, number] => [b * BS, BS])];
    const rnd = new SeededRandom(4242);
    let problems = 0;
    for (let round = 0; round < 40; round++) {
      const img = damaged('fuzz', (b) => {
        for (let i = 0; i < 6; i++) {
          const [at, len] = regions[rnd.int(regions.length)]!;
          b[at + rnd.int(len)] = rnd.int(256);
        }
      });
      const t0 = Date.now();
      try {
        const vfs = await Vfs.open(img);
        const stack = [await vfs.lookup('/p0')];
        let seen = 0;
        while (stack.length && seen < 5000) {
          const d = stack.pop()!;
          let kids;
          try {
            kids = await vfs.readdir(d);
          } catch (err) {
            expectOneLineError(err);
            problems++;
            continue;
          }
          for (const k of kids) {
            seen++;
            try {
              await vfs.xattrs(k);
              if (k.stat.type === 'dir') stack.push(k);
              else if (k.stat.type === 'file') {
                const src = await vfs.openFile(k);
                await src.read(0, 1 << 20);
              }
            } catch (err) {
              expectOneLineError(err);
              problems++;
            }
          }
        }
        problems += vfs.info().volumes[0]!.filesystem!.warnings.length;
        await vfs.close();
      } catch (err) {
        expectOneLineError(err);
        problems++;
      }
      expect(Date.now() - t0, `round ${round}`).toBeLessThan(20_000);
    }
    // The damage was noticed (errors or checksum warnings), not silently read past.
    expect(problems).toBeGreaterThan(40);
  }, 300_000);

  it('a torn journal copy (bad csum v3 tag checksum) is skipped like e2fsck recovery skips it', async () => {
    const jimg = cachedImage('ext-journal-ext4.img', (p) => void buildJournalImage(p));
    const log = tool('debugfs', ['-R', 'logdump -a', jimg]);
    const logged = [...log.matchAll(/FS block (\d+) logged at journal block (\d+)/g)];
    const last = logged[logged.length - 1]!;
    const [bm] = debugfsBatch(jimg, [`bmap <8> ${last[2]}`]);
    const img = damaged('journal-torn', (b) => {
      b[Number(bm!.trim()) * 4096 + 100] ^= 0xff;
    }, jimg);
    const vfs = await Vfs.open(img);
    expect(vfs.info().volumes[0]!.filesystem!.details.journalBadChecksums).toBe(1);
    const fixed = join(CACHE, 'ext-hostile-journal-torn.fsck.img');
    made.push(fixed);
    copyFileSync(img, fixed);
    const r = spawnSync('e2fsck', ['-fy', fixed], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toMatch(/checksum/i);
    const ours = await walkVfs(vfs);
    const dirs = ['/', ...[...ours.entries()].filter(([, n]) => n.stat.type === 'dir').map(([p]) => p)];
    const outs = debugfsBatch(fixed, dirs.map((d) => `ls -l "${d}"`));
    for (const [i, d] of dirs.entries()) {
      const kids = await vfs.readdir(await vfs.lookup('/p0' + d));
      expect(kids.map((k) => k.name).sort(), d).toEqual(parseDebugfsLs(outs[i]!).map((e) => e.name).sort());
    }
    await vfs.close();
  });

  it('a damaged journal superblock: a warning, the volume shown as it is on disk', async () => {
    const jimg = cachedImage('ext-journal-ext4.img', (p) => void buildJournalImage(p));
    const [bm] = debugfsBatch(jimg, ['bmap <8> 0']);
    const jsb = Number(bm!.trim()) * 4096;
    const before = await sha256File(jimg);
    const img = damaged('journal-sb', (b) => b.writeUInt32BE(0xfffffff0, jsb + 0x1c), jimg);
    const vfs = await Vfs.open(img);
    const fs = vfs.info().volumes[0]!.filesystem!;
    expect(fs.warnings.join(' ')).toMatch(/could not be replayed/);
    const [ls] = debugfsBatch(img, ['ls -l /']);
    expect((await vfs.readdir(await vfs.lookup('/p0'))).map((k) => k.name).sort()).toEqual(parseDebugfsLs(ls!).map((e) => e.name).sort());
    await vfs.close();
    expect(await sha256File(jimg)).toBe(before);
  });
});
