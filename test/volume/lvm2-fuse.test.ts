/**
 * LVs in the mount: VG folders, files read as written (the trees kept by scripts/images/lvm.ts),
 * inode numbers unique across LVs, `.raw/VG/LV` holding the LV's bytes; `--disk` in the mount.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildLvmImageA, buildLvmImagesB } from '../../scripts/images/lvm.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { CACHE, cachedImage, diskpick } from '../helpers/tools.js';
import { hashes, mountDaemon, newMountpoint, release, releaseAll, walk } from '../fuse/mounts.js';

const A = cachedImage('lvm-a.img', (p) => void buildLvmImageA(p));
const B1 = join(CACHE, 'lvm-b1.img');
const B2 = join(CACHE, 'lvm-b2.img');
cachedImage('lvm-b2.img', () => void buildLvmImagesB(B1, B2));

afterAll(() => releaseAll());

describe.skipIf(!existsSync('/dev/fuse'))('LVM2 in the mount', () => {
  it('VG folders with their LVs; files as written; distinct inode numbers across LVs; .raw/tvg/root is the LV', () => {
    const m = mountDaemon(A, newMountpoint('lvm'));
    try {
      expect(readdir(m.mnt)).toEqual(['p1', 'p2', 'p3', 'tvg']);
      expect(readdir(join(m.mnt, 'tvg'))).toEqual(['data', 'mir', 'root']);
      // A PV's folder is empty (its LVs are under tvg/), so a find over the mount meets no error.
      expect(readdir(join(m.mnt, 'p2'))).toEqual([]);
      for (const lv of ['root', 'data', 'mir']) {
        const got = hashes(join(m.mnt, 'tvg', lv));
        const want = manifestOf(join(`${A}.trees`, lv)).filter((e) => e.type === 'file');
        for (const f of want) expect(got.get(f.path), `${lv}${f.path}`).toBe(f.sha256);
      }
      // ext4 on root and on mir number their files alike; the mount must not.
      const inos = new Map<number, string>();
      for (const lv of ['root', 'mir', 'data']) {
        for (const e of walk(join(m.mnt, 'tvg', lv)).values()) {
          const k = `${lv}${e.path}`;
          expect(inos.get(e.ino), `${k} shares inode ${e.ino}`).toBeUndefined();
          inos.set(e.ino, k);
        }
      }
      expect(readdirSync(join(m.mnt, '.raw')).sort()).toEqual(['disk', 'p1', 'p2', 'p3', 'tvg']);
      expect(readdir(join(m.mnt, '.raw', 'tvg'))).toEqual(['data', 'mir', 'root']);
      const raw = join(m.mnt, '.raw', 'tvg', 'root');
      expect(statSync(raw).size).toBe(24 << 20);
      const dd = diskpick(['dd', A, '--volume', 'tvg/root', '-o', '-', '-q']);
      expect(readFileSync(raw).equals(dd.stdout)).toBe(true);
    } finally {
      release(m);
    }
  });

  it('--disk: the VG over two disks reads whole in the mount', () => {
    const m = mountDaemon(B1, newMountpoint('lvm2d'), ['--disk', B2]);
    try {
      expect(readdir(m.mnt)).toEqual(['disk2', 'p1', 'p1~2']);
      const got = hashes(join(m.mnt, 'p1~2', 's'));
      for (const f of manifestOf(join(`${B1}.trees`, 's')).filter((e) => e.type === 'file')) expect(got.get(f.path), f.path).toBe(f.sha256);
      expect(readdir(join(m.mnt, '.raw', 'disk2'))).toEqual(['disk', 'p0']);
      expect(statSync(join(m.mnt, '.raw', 'disk2', 'disk')).size).toBe(48 << 20);
    } finally {
      release(m);
    }
  });
});

function readdir(d: string): string[] {
  return readdirSync(d).filter((n) => n !== '.raw').sort();
}
