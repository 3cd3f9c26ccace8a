/**
 * LVM on LUKS, the Ubuntu/Debian installer's encrypted layout (GPT → LUKS2 → LVM2 PV → LVs),
 * built by the real tools without device-mapper (scripts/images/luks-lvm.ts). Oracles:
 * cryptsetup's own keyslot check on the partition (`cryptsetup open --test-passphrase` on a
 * read-only loop device over p3), `sgdisk` for the layout, lvs's report of where each LV was
 * placed, and the trees written into the LVs and partitions (the manifests).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LUKS_PASSPHRASE } from '../../scripts/images/luks.js';
import { LUKS_LVM, buildLuksLvmImage } from '../../scripts/images/luks-lvm.js';
import { convertTo } from '../../scripts/images/lvm.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { noKeys } from '../../src/volume/crypt/keys.js';
import { CACHE, diskpick, sha256, sha256File } from '../helpers/tools.js';
import type { InfoJson } from '../volume/lvm-helpers.js';

const IMG = join(CACHE, 'luks-lvm.img');
const QCOW = join(CACHE, 'luks-lvm.qcow2');
const env = { DISKPICK_PASSPHRASE: LUKS_PASSPHRASE };
let trees: string;
let before: string;

function infoJson(args: string[], e: NodeJS.ProcessEnv = env): InfoJson & { volumes: Array<{ encryption: { type: string; locked: boolean; summary: string; openedWith: string | null } | null }> } {
  const r = diskpick(['info', '--json', ...args], { env: e });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString());
}

/** Every file of `tree` restored from `prefix` in one extract run, against the manifest. */
function expectTree(img: string, prefix: string, tree: string): void {
  const files = manifestOf(tree).filter((f) => f.type === 'file');
  expect(files.length).toBeGreaterThan(3);
  const out = mkdtempSync(join(tmpdir(), 'dp-luks-lvm-'));
  try {
    const r = diskpick(['extract', img, prefix, '-o', out, '-q'], { env });
    expect(r.status, r.stderr).toBe(0);
    const base = join(out, prefix.slice(prefix.lastIndexOf('/') + 1));
    for (const f of files) expect(sha256(readFileSync(join(base, f.path))), `${prefix}/${f.path}`).toBe(f.sha256);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

beforeAll(async () => {
  trees = buildLuksLvmImage(IMG);
  convertTo(IMG, QCOW, 'qcow2');
  before = await sha256File(IMG);
});
afterAll(async () => {
  expect(await sha256File(IMG)).toBe(before);
});

describe('LVM on LUKS (GPT → LUKS2 → LVM2 PV → ext4 LVs)', () => {
  it('the oracle: cryptsetup accepts the passphrase on p3 (where sgdisk puts it) and refuses another', () => {
    const first = Number(/First sector: (\d+)/.exec(execFileSync('sgdisk', ['-i', '3', IMG], { encoding: 'utf8' }))![1]);
    expect(first * 512).toBe(LUKS_LVM.p3Start);
    const loop = execFileSync('losetup', ['-f', '--show', '-r', '-o', String(LUKS_LVM.p3Start), '--sizelimit', String(LUKS_LVM.p3Size), IMG], { encoding: 'utf8' }).trim();
    try {
      const ok = spawnSync('cryptsetup', ['open', '--test-passphrase', '--batch-mode', '--key-file', '-', loop], { input: LUKS_PASSPHRASE });
      expect(ok.status).toBe(0);
      const bad = spawnSync('cryptsetup', ['open', '--test-passphrase', '--batch-mode', '--key-file', '-', loop], { input: 'wrong' });
      expect(bad.status).not.toBe(0);
    } finally {
      execFileSync('losetup', ['-d', loop]);
    }
  });

  it('info with the passphrase: p3 opened (LUKS2), its PV, the VG and its LVs as lvs placed them', () => {
    const j = infoJson([IMG]);
    const by = new Map(j.volumes.map((v) => [v.name, v]));
    expect(j.volumes.map((v) => v.name)).toEqual(['p1', 'p2', 'p3', 'vgubuntu/root', 'vgubuntu/swap_1']);
    const p3 = by.get('p3')!;
    expect(p3.encryption).toMatchObject({ type: 'LUKS2', locked: false, openedWith: 'passphrase' });
    expect(p3.encryption!.summary).toContain('aes-xts-plain64 512-bit, 4096-byte sectors');
    expect(p3.system?.describe).toBe('LVM2 PV of VG vgubuntu (2 LVs)');
    expect(p3.start).toBe(LUKS_LVM.p3Start);
    expect(by.get('vgubuntu/root')!.filesystem!.type).toBe('ext4');
    expect(by.get('vgubuntu/root')!.members).toEqual(['p3']);
    expect(by.get('vgubuntu/root')!.size).toBe(36 * 1024 * 1024);
    expect(by.get('vgubuntu/swap_1')!.content).toMatchObject({ type: 'Linux swap', label: 'swap_1' });
    expect(by.get('p2')!.filesystem!.type).toBe('ext4');
    const text = diskpick(['info', IMG], { env }).stdout.toString();
    expect(text).toMatch(/^p3\s+24\.0 MiB\s+72\.0 MiB\s+LVM2 in LUKS2\s+\S+\s+LUKS2 \(UUID [0-9a-f-]+\), opened: LVM2 PV of VG vgubuntu/m);
    expect(text).not.toContain(LUKS_PASSPHRASE);
  });

  it('info without a key: p3 locked, with its keyslots, no prompt, no VG', () => {
    const j = infoJson([IMG], {});
    const p3 = j.volumes.find((v) => v.name === 'p3')!;
    expect(p3.encryption).toMatchObject({ type: 'LUKS2', locked: true, openedWith: null });
    expect(p3.encryption!.summary).toMatch(/keyslots 0 \(pbkdf2\)/);
    expect(j.volumes.map((v) => v.name)).toEqual(['p1', 'p2', 'p3']);
  });

  it('ls, cat and extract reach the files of the ext4 root LV inside LUKS, raw and as QCOW2', () => {
    for (const img of [IMG, QCOW]) {
      const top = diskpick(['ls', img], { env });
      expect(top.stdout.toString().trim().split('\n')).toEqual(['p1', 'p2', 'p3', 'vgubuntu']);
      expectTree(img, '/vgubuntu/root', join(trees, 'root'));
      const f = manifestOf(join(trees, 'root')).find((e) => e.path.replace(/^\//, '') === 'big.bin')!;
      const cat = diskpick(['cat', img, '/vgubuntu/root/big.bin'], { env });
      expect(cat.status, cat.stderr).toBe(0);
      expect(sha256(cat.stdout)).toBe(f.sha256);
    }
    expectTree(IMG, '/p2', join(trees, 'boot'));
    expectTree(IMG, '/p1', join(trees, 'efi'));
  });

  it('a wrong passphrase: one line, exit 6, no secret in it', () => {
    const r = diskpick(['ls', IMG, '/vgubuntu/root'], { env: { DISKPICK_PASSPHRASE: 'not the one' } });
    expect(r.status).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/wrong key/);
    expect(r.stderr).not.toContain('not the one');
  });

  it('a locked volume opened later (as the browser does): the VG appears, its files read', async () => {
    const vfs = await Vfs.open(IMG, { keys: noKeys() });
    try {
      const p3 = await vfs.lookup('/p3');
      const locked = vfs.lockedVolume(p3);
      expect(locked).not.toBeNull();
      await expect(vfs.unlock(locked!, { passphrases: [Buffer.from('wrong')] })).rejects.toMatchObject({ kind: 'wrongKey' });
      expect(vfs.lockedVolume(p3)).not.toBeNull();
      expect(await vfs.unlock(locked!, { passphrases: [Buffer.from(LUKS_PASSPHRASE)] })).toBe(true);
      expect(vfs.lockedVolume(p3)).toBeNull();
      expect((await vfs.readdir(vfs.root())).map((n) => n.name)).toEqual(['p1', 'p2', 'p3', 'vgubuntu']);
      const node = await vfs.lookup('/vgubuntu/root/hello.txt');
      const src = await vfs.openFile(node);
      expect((await src.read(0, src.size)).toString()).toBe(readFileSync(join(trees, 'root', 'hello.txt'), 'utf8'));
      expect(vfs.info().volumes.find((v) => v.name === 'p3')!.encryption!.locked).toBe(false);
    } finally {
      await vfs.close();
    }
  });
});
