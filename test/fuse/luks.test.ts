/**
 * An encrypted volume through the mount: a LUKS2 volume (made by cryptsetup, scripts/images/luks.ts)
 * mounted with --daemon and its key from a file or the environment; files read through the
 * mount against the tree it was made from. The mount's log must never hold the key, also when
 * the key is wrong (the mount then fails, exit 6, naming no secret).
 */
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { buildLuksLvmImage } from '../../scripts/images/luks-lvm.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LUKS_PASSPHRASE, LUKS_VARIANTS, buildLuksImage, luksPaths } from '../../scripts/images/luks.js';
import { CACHE, diskpick, sha256 } from '../helpers/tools.js';
import { mountDaemon, newMountpoint, releaseAll } from './mounts.js';

afterAll(() => releaseAll());

describe('LUKS2 through the mount', () => {
  const v = LUKS_VARIANTS[0]!;

  it('reads the files with the key from a file; the log never holds the passphrase', () => {
    const img = buildLuksImage(CACHE, v);
    const tree = luksPaths(CACHE, v).tree;
    const pw = join(CACHE, 'fuse-luks.pw');
    writeFileSync(pw, `${LUKS_PASSPHRASE}\n`);
    const mnt = newMountpoint('luks');
    const m = mountDaemon(img, mnt, ['--passphrase-file', pw]);
    try {
      for (const f of ['readme.txt', 'data/seeded.bin', 'Ünïcödé 日本語.txt']) {
        expect(sha256(readFileSync(join(mnt, 'p0', f))), f).toBe(sha256(readFileSync(join(tree, f))));
      }
      expect(m.stderr()).toContain('mounted');
      expect(m.stderr()).not.toContain(LUKS_PASSPHRASE);
    } finally {
      releaseAll();
      rmSync(pw, { force: true });
    }
  });

  it('mount --daemon asks for the passphrase on the terminal before it detaches; the daemon reads with it, its log holds no key', async () => {
    const img = buildLuksImage(CACHE, v);
    const tree = luksPaths(CACHE, v).tree;
    const mnt = newMountpoint('luks-typed');
    const log = `${mnt}.log`;
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('../helpers/tools.js');
    // script(1) gives diskpick a pseudo-terminal; the passphrase is typed once the prompt shows.
    const child = spawn('script', ['-qec', `${process.execPath} ${CLI} mount --daemon --log ${log} ${img} ${mnt}`, '/dev/null'], { env: { ...process.env, DISKPICK_PASSPHRASE: '' } });
    let out = '';
    let typed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!typed && out.includes('passphrase for the LUKS2 volume')) {
        typed = true;
        child.stdin.write(`${LUKS_PASSPHRASE}\r`);
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      expect(typed).toBe(true);
      expect(status, out).toBe(0);
      expect(out).toContain('mounted');
      expect(out).not.toContain(LUKS_PASSPHRASE);
      expect(sha256(readFileSync(join(mnt, 'p0', 'data/seeded.bin')))).toBe(sha256(readFileSync(join(tree, 'data/seeded.bin'))));
      expect(readFileSync(log, 'utf8')).not.toContain(LUKS_PASSPHRASE);
    } finally {
      diskpick(['umount', mnt]);
    }
  });

  it('LVM on LUKS: the VG inside the LUKS partition is a folder of the mount; its files as written', () => {
    const img = join(CACHE, 'luks-lvm.img');
    const trees = buildLuksLvmImage(img);
    const pw = join(CACHE, 'fuse-luks-lvm.pw');
    writeFileSync(pw, `${LUKS_PASSPHRASE}\n`);
    const mnt = newMountpoint('luks-lvm');
    mountDaemon(img, mnt, ['--passphrase-file', pw]);
    try {
      expect(readdirSync(mnt).sort()).toEqual(['.raw', 'p1', 'p2', 'p3', 'vgubuntu']);
      expect(readdirSync(join(mnt, 'vgubuntu')).sort()).toEqual(['root', 'swap_1']);
      for (const f of manifestOf(join(trees, 'root')).filter((e) => e.type === 'file')) {
        expect(sha256(readFileSync(join(mnt, 'vgubuntu', 'root', f.path))), f.path).toBe(f.sha256);
      }
    } finally {
      releaseAll();
      rmSync(pw, { force: true });
    }
  });

  it('a wrong key from the environment: the mount fails with exit 6, and neither its output nor its log names the key', () => {
    const img = buildLuksImage(CACHE, v);
    const mnt = newMountpoint('luks-wrong');
    const log = `${mnt}.log`;
    const secret = 'wrong-secret-31337';
    const r = diskpick(['mount', '--daemon', '--log', log, img, mnt], { env: { DISKPICK_PASSPHRASE: secret } });
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/wrong key: no keyslot of this LUKS2 volume opens with this passphrase/);
    expect(r.stderr + r.stdout.toString()).not.toContain(secret);
    const text = readFileSync(log, 'utf8');
    expect(text).toMatch(/wrong key/);
    expect(text).not.toContain(secret);
  });
});
