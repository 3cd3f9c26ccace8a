/**
 * Issue 20, "Windows paths as Windows admins type them": backslash paths (`\p2\Users`,
 * `p2\Users`), drive letters (`C:\…`, `C:/…`) in every command and in the mount (`DIR/C:/…`),
 * and `info` naming the letters. The letters expected come from Windows' own record, read
 * with other tools: the SYSTEM hive cut out of the image with dd + ntfscat and read with
 * hivexget (MountedDevices), matched against sfdisk's disk signature and offsets or sgdisk's
 * partition GUIDs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildWindowsDisk } from '../../scripts/images/regf.js';
import { cachedImage, diskpick, sha256 } from '../helpers/tools.js';
import { fatImages } from '../fat/images.js';
import { ntfsSmall } from './helpers.js';
import { mountDaemon, newMountpoint, release, releaseAll } from '../fuse/mounts.js';

afterAll(() => releaseAll());

function run(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'latin1', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Letter → pN as Windows recorded it, from the tools: ntfscat + hivexget + sfdisk/sgdisk. */
function lettersByTools(img: string): Map<string, string> {
  const work = mkdtempSync(join(tmpdir(), 'dp-win-oracle-'));
  try {
    const table = (JSON.parse(run('sfdisk', ['--json', img])) as { partitiontable: { label: string; id: string; partitions: { start: number; size: number }[] } }).partitiontable;
    const parts = table.partitions.map((p, i) => ({ name: `p${i + 1}`, offset: p.start * 512, size: p.size * 512, guid: table.label === 'gpt' ? /Partition unique GUID: (\S+)/.exec(run('sgdisk', ['-i', String(i + 1), img]))![1]! : '' }));
    const values = new Map<string, Buffer>();
    for (const p of parts) {
      const vol = join(work, `${p.name}.raw`);
      run('dd', [`if=${img}`, `of=${vol}`, 'bs=512', `skip=${p.offset / 512}`, `count=${p.size / 512}`, 'status=none']);
      const cat = spawnSync('ntfscat', [vol, '/Windows/System32/config/SYSTEM'], { maxBuffer: 1 << 26 });
      if (cat.status !== 0) continue;
      const hive = join(work, 'SYSTEM');
      writeFileSync(hive, cat.stdout);
      for (const line of run('hivexget', [hive, 'MountedDevices']).split('\n')) {
        const m = /^"\\\\DosDevices\\\\([A-Z]):"=hex\(3\):([0-9a-f,]*)$/.exec(line);
        if (m) values.set(m[1]!, Buffer.from(m[2]!.replace(/,/g, ''), 'hex'));
      }
    }
    const signature = Number(table.id);
    const out = new Map<string, string>();
    for (const [letter, data] of values) {
      let p;
      if (data.length === 12) p = parts.find((x) => data.readUInt32LE(0) === signature && Number(data.readBigUInt64LE(4)) === x.offset);
      else if (data.length === 24 && data.toString('latin1', 0, 8) === 'DMIO:ID:') {
        const g = data.subarray(8);
        const hex = (b: Buffer) => b.toString('hex');
        const guid = `${hex(Buffer.from(g.subarray(0, 4)).reverse())}-${hex(Buffer.from(g.subarray(4, 6)).reverse())}-${hex(Buffer.from(g.subarray(6, 8)).reverse())}-${hex(g.subarray(8, 10))}-${hex(g.subarray(10))}`.toUpperCase();
        p = parts.find((x) => x.guid === guid);
      }
      if (p) out.set(letter, p.name);
    }
    return out;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const images = {
  mbr: () => cachedImage('win-mbr.img', (p) => void buildWindowsDisk(p, 'mbr')),
  gpt: () => cachedImage('win-gpt.img', (p) => void buildWindowsDisk(p, 'gpt')),
};
const out = (r: { stdout: Buffer }) => r.stdout.toString();

describe('backslash paths', () => {
  const img = images.mbr();

  it('\\p2\\Windows and p2\\Windows list as /p2/Windows does (they failed with exit 4)', () => {
    const want = out(diskpick(['ls', img, '/p2/Windows/System32/config']));
    expect(want).toBe('SYSTEM\n');
    for (const p of ['\\p2\\Windows\\System32\\config', 'p2\\Windows\\System32\\config', '\\P2\\windows\\system32\\CONFIG\\']) {
      const r = diskpick(['ls', img, p]);
      expect([r.status, out(r)], p).toEqual([0, want]);
    }
  });

  it('globs in a backslash path; brackets make a glob character literal', () => {
    const r = diskpick(['ls', img, '\\p*\\on-*.txt']);
    expect(out(r)).toBe('/p1/on-p1.txt\n/p2/on-p2.txt\n');
    const lit = diskpick(['ls', img, '\\p1\\on-p[1].txt']);
    expect(out(lit)).toBe('/p1/on-p1.txt\n');
    // With a "/" in the path, "\" stays the glob escape (docs/cli.md).
    expect(diskpick(['ls', img, '/p1/on-p\\*.txt']).status).toBe(4);
  });
});

describe('drive letters', () => {
  for (const scheme of ['mbr', 'gpt'] as const) {
    it(`${scheme}: info names the letters Windows recorded in MountedDevices (hivexget oracle)`, () => {
      const img = images[scheme]();
      const want = lettersByTools(img);
      expect([...want]).toEqual([['E', 'p1'], ['C', 'p2']]);
      const r = diskpick(['info', img]);
      expect(r.status, r.stderr).toBe(0);
      const line = /^drives: +(.*) \(as \/p2\/Windows\/System32\/config\/SYSTEM records them\)$/m.exec(out(r));
      expect(line?.[1]).toBe([...want].sort().map(([l, p]) => `${l}: ${p}`).join(', '));
      const j = JSON.parse(out(diskpick(['info', '--json', img]))) as { volumes: { name: string; drive: string | null }[]; driveLetters: { from: string; hive: string } };
      expect(j.driveLetters).toEqual({ from: 'registry', hive: '/p2/Windows/System32/config/SYSTEM' });
      expect(Object.fromEntries(j.volumes.map((v) => [v.name, v.drive]))).toEqual({ p1: 'E', p2: 'C', p3: null });
    });
  }

  it('C:\\…, C:/… and c: in ls, cat, find, extract, dd', () => {
    const img = images.gpt();
    for (const p of ['C:\\on-p2.txt', 'C:/on-p2.txt', 'c:\\ON-P2.TXT']) expect(out(diskpick(['cat', img, p])), p).toBe('this is p2\n');
    expect(out(diskpick(['cat', img, 'E:\\on-p1.txt']))).toBe('this is p1\n');
    expect(out(diskpick(['ls', img, 'C:\\']))).toBe(out(diskpick(['ls', img, '/p2'])));
    expect(out(diskpick(['ls', img, 'C:']))).toBe(out(diskpick(['ls', img, '/p2'])));
    expect(out(diskpick(['find', img, 'C:\\Windows', '--type', 'f']))).toBe('/p2/Windows/System32/config/SYSTEM\n');
    const dir = mkdtempSync(join(tmpdir(), 'dp-win-x-'));
    try {
      const r = diskpick(['extract', img, 'E:\\on-p1.txt', 'C:\\Windows\\System32\\config\\*', '-o', dir]);
      expect(r.status, r.stderr).toBe(0);
      expect(readdirSync(dir).sort()).toEqual(['SYSTEM', 'on-p1.txt']);
      expect(readFileSync(join(dir, 'SYSTEM'))).toEqual(readFileSync(`${img}.SYSTEM`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const dd = diskpick(['dd', img, '--volume', 'C:', '-o', '-']);
    expect(dd.status, dd.stderr).toBe(0);
    expect(sha256(dd.stdout)).toBe(sha256(diskpick(['dd', img, '--volume', 'p2', '-o', '-']).stdout));
    const none = diskpick(['ls', img, 'Q:\\']);
    expect(none.status).toBe(4);
    expect(none.stderr).toMatch(/no such volume; paths start with a volume: \/p1, \/p2, \/p3, C: \(\/p2\), E: \(\/p1\)/);
  });

  it('the mount reaches a drive as DIR/C:/', () => {
    const img = images.mbr();
    const mnt = newMountpoint('drives');
    const m = mountDaemon(img, mnt);
    try {
      expect(readFileSync(join(mnt, 'C:', 'on-p2.txt'), 'utf8')).toBe('this is p2\n');
      expect(readdirSync(join(mnt, 'E:'))).toEqual(readdirSync(join(mnt, 'p1')));
      expect(readdirSync(mnt)).not.toContain('C:');
    } finally {
      release(m);
    }
  });

  it('without a Windows registry: the order Windows gives letters (FAT on GPT: C:)', () => {
    const img = fatImages.gpt();
    const r = diskpick(['info', img]);
    // p2 is FAT16 in a "Linux filesystem" partition: Windows gives it no letter.
    expect(out(r)).toMatch(/^drives: +C: p1 \(in the order Windows gives them; no Windows registry found\)$/m);
    // MBR: Windows' order applied to sfdisk's table — active primaries, other primaries, then
    // logical partitions, of the FAT/NTFS types, from C:.
    const mbr = fatImages.mbr();
    const parts = (JSON.parse(run('sfdisk', ['--json', mbr])) as { partitiontable: { partitions: { node: string; type: string; bootable?: boolean }[] } }).partitiontable.partitions
      .map((p) => ({ name: `p${/(\d+)$/.exec(p.node)![1]}`, type: p.type, bootable: !!p.bootable }))
      .filter((p) => ['1', '4', '6', '7', 'b', 'c', 'e'].includes(p.type));
    const rank = (p: { name: string; bootable: boolean }) => (Number(p.name.slice(1)) >= 5 ? 2 : p.bootable ? 0 : 1);
    const order = parts.sort((a, b) => rank(a) - rank(b) || Number(a.name.slice(1)) - Number(b.name.slice(1)));
    const want = order.map((p, i) => `${String.fromCharCode(67 + i)}: ${p.name}`).sort().join(', ');
    expect(out(diskpick(['info', mbr])).match(/^drives: +(.*) \(in the order/m)?.[1]).toBe(want);
    expect(diskpick(['ls', img, 'C:\\']).stdout).toEqual(diskpick(['ls', img, '/p1']).stdout);
    // A volume imaged alone (no partition table, p0) is C:.
    const bare = ntfsSmall().img;
    expect(out(diskpick(['info', bare]))).toMatch(/^drives: +C: p0 \(in the order/m);
    expect(diskpick(['ls', bare, 'C:\\docs']).stdout).toEqual(diskpick(['ls', bare, '/p0/docs']).stdout);
  });
});

describe('the browser', () => {
  it('shows each volume\'s drive letter at the top level', async () => {
    const { Vfs } = await import('../../src/vfs/vfs.js');
    const { loadFolder } = await import('../../src/tui/listing.js');
    const vfs = await Vfs.open(images.mbr());
    try {
      const labels = (await loadFolder(vfs, vfs.root())).map((e) => e.label);
      // The label's middle (volume label, filesystem) is the browser's; the letter ends it.
      expect(labels.map((l) => [l.split(' ')[0], /\(([A-Z]):\)$/.exec(l)?.[1] ?? null])).toEqual([['p1', 'E'], ['p2', 'C'], ['p3', null]]);
    } finally {
      await vfs.close();
    }
  });
});
