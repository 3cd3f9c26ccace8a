/**
 * Hyper-V export folders (docs/formats/hyperv-export.md), built by scripts/images/hyperv.ts:
 * two base disks with checkpoint chains, one of them branched. Oracles: the disk states the
 * builder wrote with mkfs.vfat + mtools (whole disk and each file), libvhdi's vhdimount
 * reading each chain from its tip (qemu-img refuses differencing VHDX: "Operation not
 * supported"), and the folders' files unchanged after use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openContainer } from '../../src/container/open.js';
import type { Container } from '../../src/container/container.js';
import { CACHE, cachedImage, diskpick, hasTool, sha256, sha256File } from '../helpers/tools.js';
import { buildHyperV, hyperVSet, type HyperVSet } from '../../scripts/images/hyperv.js';
import { vhdimountRaw } from '../../scripts/images/vhd.js';

let set: HyperVSet;
const before = new Map<string, string>();
const work = mkdtempSync(join(tmpdir(), 'dp-hyperv-'));

async function digest(c: Container): Promise<string> {
  const h = createHash('sha256');
  for (let off = 0; off < c.size; off += 1 << 20) h.update(await c.read(off, 1 << 20));
  return h.digest('hex');
}

beforeAll(async () => {
  const root = cachedImage('hyperv-export', (p) => void buildHyperV(p));
  set = hyperVSet(root);
  for (const f of readdirSync(set.disks)) before.set(f, await sha256File(join(set.disks, f)));
}, 120_000);

afterAll(async () => {
  for (const [f, h] of before) expect(await sha256File(join(set.disks, f)), `${f} changed`).toBe(h);
  rmSync(work, { recursive: true, force: true });
});

/** Every file of a state through `cat` under `prefix` (e.g. "/disk2/p0"), and no other file. */
function expectState(image: string, prefix: string, state: string): void {
  const files = set.states[state]!.files;
  for (const [path, hash] of Object.entries(files)) {
    const r = diskpick(['cat', image, `${prefix}${path}`]);
    expect(r.status, `${state} ${path}: ${r.stderr}`).toBe(0);
    expect(sha256(r.stdout), `${state} ${path}`).toBe(hash);
  }
  const ls = diskpick(['find', image, prefix, '--type', 'f']);
  expect(ls.status, ls.stderr).toBe(0);
  const listed = ls.stdout.toString().trim().split('\n').map((l) => l.slice(prefix.length)).sort();
  expect(listed, state).toEqual(Object.keys(files).sort());
}

describe('Hyper-V export folder', () => {
  it('opens the newest checkpoint chain of each base disk (mtime beats depth); disks equal the states written and vhdimount', async () => {
    const c = await openContainer(set.folder);
    try {
      expect(c.format).toBe('hyperv');
      expect(c.variant).toBe('export folder, 2 disks, newest checkpoint chain');
      expect(c.chain.map((l) => l.file.slice(set.disks.length + 1))).toEqual(['data_D2.avhdx', 'data_D1.avhdx', 'data.vhdx']);
      expect(c.moreDisks!.map((d) => d.container.chain.map((l) => l.file.slice(set.disks.length + 1)))).toEqual([['sys_C3.avhdx', 'sys_A1.avhdx', 'sys.vhdx']]);
      expect(await digest(c)).toBe(set.states['data_D2.avhdx']!.diskSha256);
      expect(await digest(c.moreDisks![0]!.container)).toBe(set.states['sys_C3.avhdx']!.diskSha256);
      expect(c.details!['disk 2 other chain 1']).toMatch(/^sys\.vhdx ← sys_A1\.avhdx ← sys_B2\.avhdx ← sys_B4\.avhdx \(written 2023-11-14T22:18:20\.000Z/);
      expect(c.details!['also in the export']).toBe('Snapshots, Virtual Machines');
    } finally {
      await c.close();
    }
    if (hasTool('vhdimount')) {
      expect(sha256(vhdimountRaw(join(set.disks, 'data_D2.avhdx')))).toBe(set.states['data_D2.avhdx']!.diskSha256);
      expect(sha256(vhdimountRaw(join(set.disks, 'sys_C3.avhdx')))).toBe(set.states['sys_C3.avhdx']!.diskSha256);
    }
  });

  it('ls/cat/find see both disks (/p0, /disk2/p0) with the files written; the bare Virtual Hard Disks folder opens the same', () => {
    expectState(set.folder, '/p0', 'data_D2.avhdx');
    expectState(set.folder, '/disk2/p0', 'sys_C3.avhdx');
    expectState(set.disks, '/disk2/p0', 'sys_C3.avhdx');
    const j = JSON.parse(diskpick(['info', '--json', set.folder]).stdout.toString()) as { disks: Array<{ name: string; file: string }> };
    expect(j.disks.map((d) => [d.name, d.file])).toEqual([['disk2', `${join(set.disks, 'sys_C3.avhdx')} (Hyper-V disk 2)`]]);
  });

  it('FOLDER@level:N: every disk at level N of its chain; a level past the chains is exit 4', () => {
    expectState(`${set.folder}@level:1`, '/p0', 'data.vhdx');
    expectState(`${set.folder}@level:1`, '/disk2/p0', 'sys.vhdx');
    expectState(`${set.folder}@level:2`, '/disk2/p0', 'sys_A1.avhdx');
    const v = diskpick(['versions', set.folder, '/disk2/p0/a.txt']);
    expect(v.status, v.stderr).toBe(0);
    expect(v.stdout.toString()).toContain(`${set.folder}@level:2`);
    const r = diskpick(['ls', `${set.folder}@level:4`]);
    expect(r.status).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/no level 4: the chain has 3 levels/);
  });

  it('the newest tip by mtime wins over the deeper chain; a link out is passed over; a non-VHDX file, a broken chain and an empty folder are one-line errors (exit 3)', async () => {
    const copy = join(work, 'VM1');
    cpSync(set.folder, copy, { recursive: true, preserveTimestamps: true });
    const disks = join(copy, 'Virtual Hard Disks');
    utimesSync(join(disks, 'sys_B4.avhdx'), 1_700_000_500, 1_700_000_500);
    expectState(copy, '/disk2/p0', 'sys_B4.avhdx');
    symlinkSync(join(set.disks, 'data.vhdx'), join(disks, 'elsewhere.vhdx'));
    const c = await openContainer(copy);
    try {
      expect(c.moreDisks).toHaveLength(1);
      expect(c.details!['not opened']).toBe(`elsewhere.vhdx (a link out of the folder, to ${join(set.disks, 'data.vhdx')})`);
    } finally {
      await c.close();
    }
    writeFileSync(join(disks, 'junk.avhdx'), Buffer.alloc(1 << 20, 0x41));
    const junk = diskpick(['ls', copy]);
    expect(junk.status).toBe(3);
    expect(junk.stderr.trim()).toBe(`diskpick: ${join(disks, 'junk.avhdx')}: Hyper-V export folder: is not a VHDX or VHD file (read as raw)`);
    rmSync(join(disks, 'junk.avhdx'));
    rmSync(join(disks, 'sys_A1.avhdx'));
    const r = diskpick(['ls', copy]);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/sys_B2\.avhdx: Hyper-V export folder: parent image not found: needs sys_A1\.avhdx/);
    const empty = join(work, 'empty');
    mkdirSync(empty);
    const e = diskpick(['ls', empty]);
    expect(e.status).toBe(3);
    expect(e.stderr.trim()).toBe(`diskpick: ${empty}: is a folder, not a disk image (no .vhdx/.avhdx file, so not a Hyper-V export either)`);
  });
});
