/**
 * El Torito boot images as volumes, and hybrid ISOs (MBR or GPT + ISO on one image) seen both
 * ways. Oracles: `xorriso -report_el_torito plain` (each image's LBA, emulation, load size,
 * path in the ISO or block count, hard-disk size), the boot image files the images were made
 * from (their bytes), mtools (`mdir`/`mtype` on those files: the FAT filesystems inside), and
 * `osirrox -extract` of the whole image (the ISO filesystem seen through /p0 and /p1).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CACHE, diskpick, sha256File, tool } from '../helpers/tools.js';
import { ELTORITO, ELTORITO_IMAGES, eltoritoImage, eltoritoTree } from '../../scripts/images/eltorito.js';

const images = new Map<string, string>();
const hashes = new Map<string, string>();
const work = mkdtempSync(join(tmpdir(), 'dp-eltorito-'));

beforeAll(async () => {
  for (const v of ELTORITO_IMAGES) {
    const p = eltoritoImage(CACHE, v);
    images.set(v.name, p);
    hashes.set(p, await sha256File(p));
  }
}, 120_000);

afterAll(async () => {
  for (const [p, h] of hashes) expect(await sha256File(p), p).toBe(h);
  rmSync(work, { recursive: true, force: true });
});

interface Reported {
  n: number;
  emul: string;
  ldsiz: number;
  lba: number;
  path?: string;
  blks?: number;
  hdsiz?: number;
}

/** xorriso's own reading of the boot catalog. */
function reportElTorito(iso: string): Reported[] {
  const out = tool('xorriso', ['-indev', iso, '-report_el_torito', 'plain']);
  const rows = new Map<number, Reported>();
  for (const l of out.split('\n')) {
    let m = /^El Torito boot img :\s+(\d+)\s+\S+\s+[yn]\s+(\S+)\s+\S+\s+\S+\s+(\d+)\s+(\d+)/.exec(l);
    if (m) rows.set(Number(m[1]), { n: Number(m[1]), emul: m[2]!, ldsiz: Number(m[3]), lba: Number(m[4]) });
    m = /^El Torito img path :\s+(\d+)\s+(\S+)/.exec(l);
    if (m) rows.get(Number(m[1]))!.path = m[2]!;
    m = /^El Torito img blks :\s+(\d+)\s+(\d+)/.exec(l);
    if (m) rows.get(Number(m[1]))!.blks = Number(m[2]);
    m = /^El Torito hdsiz\/512:\s+(\d+)\s+(\d+)/.exec(l);
    if (m) rows.get(Number(m[1]))!.hdsiz = Number(m[2]);
  }
  return [...rows.values()];
}

function infoJson(iso: string): { volumes: Array<{ name: string; start: number; size: number; filesystem: { type: string } | null; what: string }> } {
  const r = diskpick(['info', '--json', iso]);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.toString());
}

function volumeBytes(iso: string, volume: string): Buffer {
  const r = diskpick(['dd', '-q', iso, '--volume', volume, '-o', '-']);
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('El Torito boot images are volumes /bootN', () => {
  for (const v of ELTORITO_IMAGES) {
    it(`${v.name}: each catalog entry holding a filesystem or an MBR is a volume at xorriso's LBA, with the boot image's bytes`, () => {
      const iso = images.get(v.name)!;
      const tree = eltoritoTree(CACHE);
      const rows = reportElTorito(iso);
      expect(rows.length).toBeGreaterThanOrEqual(2);
      const vols = infoJson(iso).volumes;
      let shown = 0;
      for (const row of rows) {
        const vol = vols.find((x) => x.name === `boot${row.n}`);
        // The BIOS loader is code (no filesystem): not a volume; it is /p0/boot/loader.bin.
        if (row.path === `/${ELTORITO.bios}`) {
          expect(vol, `boot${row.n}`).toBeUndefined();
          continue;
        }
        shown++;
        expect(vol, `boot${row.n}`).toBeDefined();
        expect(vol!.start).toBe(row.lba * 2048);
        // The file the entry was made from: by its path in the ISO, or (an appended partition) the EFI image.
        const file = join(tree, row.path ?? `/${ELTORITO.efi}`);
        const fileSize = statSync(file).size;
        if (row.emul === 'fd1.4') expect(vol!.size).toBe(1_474_560);
        else if (row.emul === 'hd') expect(vol!.size).toBe(row.hdsiz! * 512);
        else if (row.blks) expect(vol!.size).toBe(row.blks * 2048);
        else expect(vol!.size).toBe(fileSize);
        // No-emulation entries whose Sector Count is short of the EFI image (genisoimage -boot-load-size 4): the FAT size wins.
        if (row.emul === 'none' && row.ldsiz * 512 < fileSize) expect(vol!.size).toBe(fileSize);
        expect(sha(volumeBytes(iso, `boot${row.n}`).subarray(0, fileSize)), `boot${row.n}`).toBe(sha(readFileSync(file)));
      }
      expect(shown).toBeGreaterThanOrEqual(1);
    });
  }

  it('7-Zip reads the same boot images ([BOOT]/N-…img: its bytes are the start of /bootN; it sizes no-emulation entries by their Sector Count)', () => {
    for (const name of ['eltorito-xorriso.iso', 'eltorito-geniso.iso']) {
      const iso = images.get(name)!;
      const out = join(work, `7z-${name}`);
      tool('7zz', ['x', '-y', `-o${out}`, iso, '[BOOT]']);
      const boots = readdirSync(join(out, '[BOOT]')).sort();
      expect(boots.length, name).toBeGreaterThanOrEqual(2);
      for (const f of boots) {
        const n = Number(/^(\d+)-/.exec(f)![1]);
        const theirs = readFileSync(join(out, '[BOOT]', f));
        if (!infoJson(iso).volumes.some((x) => x.name === `boot${n}`)) {
          // Not a volume: the BIOS loader, whose bytes 7-Zip shows are the tree's file.
          expect(sha(theirs), f).toBe(sha(readFileSync(join(eltoritoTree(CACHE), ELTORITO.bios)).subarray(0, theirs.length)));
          continue;
        }
        const ours = volumeBytes(iso, `boot${n}`);
        expect(ours.length, f).toBeGreaterThanOrEqual(theirs.length);
        expect(sha(ours.subarray(0, theirs.length)), `${name} ${f}`).toBe(sha(theirs));
      }
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('the floppy image (1.44M emulation) and the EFI image hold FAT filesystems: listings and files as mtools sees them', () => {
    const iso = images.get('eltorito-xorriso.iso')!;
    const tree = eltoritoTree(CACHE);
    const cases: Array<[string, string, Record<string, string | Buffer>]> = [
      ['boot1', ELTORITO.floppy, ELTORITO.floppyFiles],
      ['boot2', ELTORITO.efi, ELTORITO.efiFiles],
    ];
    for (const [vol, file, files] of cases) {
      const img = join(tree, file);
      const mt = tool('mdir', ['-i', img, '-/', '-b', '::/'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } })
        .split('\n').filter(Boolean).map((l) => l.replace(/^::\//, '/').replace(/\/$/, '')).sort();
      const r = diskpick(['find', iso, `/${vol}`]);
      expect(r.status, r.stderr).toBe(0);
      const ours = r.stdout.toString().split('\n').filter(Boolean).map((l) => l.slice(`/${vol}`.length)).filter(Boolean).sort();
      expect(ours, vol).toEqual(mt);
      for (const name of Object.keys(files)) {
        const want = execFileSync('mtype', ['-i', img, `::/${name}`], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' }, maxBuffer: 1 << 26 });
        const c = diskpick(['cat', iso, `/${vol}/${name}`]);
        expect(c.status, c.stderr).toBe(0);
        expect(sha(c.stdout), name).toBe(sha(want));
      }
    }
  });

  it('the hard-disk emulation image holds an MBR: its partition is /boot3/p1 with the FAT files', () => {
    const iso = images.get('eltorito-xorriso.iso')!;
    const vols = infoJson(iso).volumes;
    const p1 = vols.find((x) => x.name === 'boot3/p1')!;
    expect(p1.filesystem?.type).toBe('FAT12');
    // Windows gives a CD's boot image no drive letter: nothing inside the ISO gets C:.
    expect(vols.filter((x) => (x as { drive?: string }).drive).map((x) => x.name)).toEqual([]);
    const c = diskpick(['cat', iso, '/boot3/p1/HARDDISK.TXT']);
    expect(c.stdout.toString()).toBe(ELTORITO.hdFiles['HARDDISK.TXT']);
  });
});

/** Every regular file under `dir`, as path → sha256. */
function hostFiles(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.set(`/${relative(dir, p)}`, sha(readFileSync(p)));
    }
  };
  walk(dir);
  return out;
}

describe('hybrid ISOs: the partitions and the ISO filesystem of the whole image', () => {
  for (const name of ['hybrid-mbr.iso', 'hybrid-gpt.iso', 'hybrid-isohybrid.iso']) {
    // Debian's layout: partition 1 is of type 0 (fdisk: "Empty"), which diskpick's MBR reader does not list: /p0 is the ISO view.
    const isoViews = name === 'hybrid-isohybrid.iso' ? ['p0'] : ['p0', 'p1'];
    it(`${name}: ${isoViews.map((v) => `/${v}`).join(' and ')} the ISO filesystem osirrox extracts; /p2 is the EFI FAT`, () => {
      const iso = images.get(name)!;
      const out = join(work, name);
      tool('osirrox', ['-indev', iso, '-extract', '/', out]);
      const want = hostFiles(out);
      expect(want.size).toBeGreaterThan(3);
      const vols = infoJson(iso).volumes;
      expect(vols.find((v) => v.name === 'p0')).toMatchObject({ start: 0, filesystem: { type: 'ISO9660' } });
      if (isoViews.includes('p1')) expect(vols.find((v) => v.name === 'p1')?.filesystem?.type).toBe('ISO9660');
      expect(vols.find((v) => v.name === 'p2')?.filesystem?.type).toMatch(/^FAT/);
      for (const vol of isoViews) {
        const r = diskpick(['find', iso, `/${vol}`, '--type', 'f']);
        expect(r.status, r.stderr).toBe(0);
        const ours = r.stdout.toString().split('\n').filter(Boolean).map((l) => l.slice(vol.length + 1)).sort();
        expect(ours, vol).toEqual([...want.keys()].sort());
        for (const [p, h] of want) {
          const c = diskpick(['cat', iso, `/${vol}${p}`]);
          expect(sha(c.stdout), `${vol}${p}`).toBe(h);
        }
      }
      const efi = diskpick(['cat', iso, '/p2/EFI/README.TXT']);
      expect(efi.stdout.toString()).toBe(ELTORITO.efiFiles['EFI/README.TXT']);
      rmSync(out, { recursive: true, force: true });
    });
  }

  it('ls of a hybrid image lists p0, the partitions and the boot images that hold a filesystem (boot1, the BIOS loader, is not one)', () => {
    const r = diskpick(['ls', images.get('hybrid-gpt.iso')!]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.toString().split('\n').filter(Boolean)).toEqual(['p0', 'p1', 'p2', 'p3', 'boot2']);
    // A bootable ISO lists whole: no "unknown filesystem" volume for its BIOS loader.
    const all = diskpick(['ls', '-R', images.get('eltorito-geniso.iso')!]);
    expect(all.status, all.stderr).toBe(0);
    expect(all.stdout.toString()).toMatch(/^\/boot2\/EFI\/BOOT\/BOOTX64\.EFI$/m);
  });
});
