/**
 * Hyper-V export folder test image (docs/formats/hyperv-export.md): `VM1/Virtual Hard
 * Disks/` with two base disks and their checkpoint chains, `Virtual Machines/` and
 * `Snapshots/` beside it (their .vmcx files are placeholders: diskpick does not read them).
 *
 * Each disk state is a FAT16 filesystem written by mkfs.vfat and mtools (the manifest: what
 * was copied in). Base disks: qemu-img convert to VHDX. Checkpoints (.avhdx): the VHDX test
 * writer (vhdx.ts) over their parent, holding the 1 MiB blocks where the state differs from
 * the parent's; the writer's expected disk is checked against the state here.
 *
 *   sys.vhdx (S0) ← sys_A1.avhdx (S1) ← sys_B2.avhdx (S2) ← sys_B4.avhdx (S4)   older tip, 4 levels
 *                                      ← sys_C3.avhdx (S3)                       newest tip, 3 levels
 *   data.vhdx (D0) ← data_D1.avhdx (D1) ← data_D2.avhdx (D2)
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { seededBytes } from './tree.js';
import { vhdxDataWriteGuid, writeVhdx, type VhdxBlock } from './vhdx.js';

const MiB = 1024 * 1024;
const SIZE_KIB = 16 * 1024;

/** A disk state: files (path → content), null: deleted since the parent state. */
type Changes = Record<string, Buffer | null>;

export interface HyperVDisk {
  file: string;
  /** The file this one is made over (null: a base disk). */
  parent: string | null;
  changes: Changes;
  /** Seconds since the epoch: the file's mtime (which tip is newest). */
  mtime: number;
}

const text = (s: string) => Buffer.from(`${s}\n`);

export const HYPERV = {
  vm: 'VM1',
  disks: [
    { file: 'sys.vhdx', parent: null, changes: { '/a.txt': text('base a'), '/keep.bin': seededBytes(41, 300_000), '/docs/readme.txt': text('read me') }, mtime: 1_700_000_000 },
    { file: 'sys_A1.avhdx', parent: 'sys.vhdx', changes: { '/a.txt': text('checkpoint 1 a'), '/b.txt': text('new in 1') }, mtime: 1_700_000_100 },
    { file: 'sys_B2.avhdx', parent: 'sys_A1.avhdx', changes: { '/b.txt': null, '/c.bin': seededBytes(42, 200_000) }, mtime: 1_700_000_200 },
    { file: 'sys_B4.avhdx', parent: 'sys_B2.avhdx', changes: { '/e.txt': text('on the abandoned branch') }, mtime: 1_700_000_300 },
    { file: 'sys_C3.avhdx', parent: 'sys_A1.avhdx', changes: { '/docs/readme.txt': text('read me, newest'), '/d.bin': seededBytes(43, 150_000) }, mtime: 1_700_000_400 },
    { file: 'data.vhdx', parent: null, changes: { '/db/table.dat': seededBytes(51, 400_000) }, mtime: 1_700_000_000 },
    { file: 'data_D1.avhdx', parent: 'data.vhdx', changes: { '/db/log.txt': text('log 1') }, mtime: 1_700_000_100 },
    { file: 'data_D2.avhdx', parent: 'data_D1.avhdx', changes: { '/db/log.txt': text('log 1\nlog 2'), '/db/table.dat': seededBytes(52, 400_000) }, mtime: 1_700_000_400 },
  ] as HyperVDisk[],
};

export interface HyperVSet {
  /** The export's VM folder (holding `Virtual Hard Disks`). */
  folder: string;
  disks: string;
  /** Per disk file: the files of its state (path → sha256), and the sha256 of the whole disk. */
  states: Record<string, { files: Record<string, string>; diskSha256: string }>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** The files of a disk's state: its chain's changes, base first. */
export function stateFiles(file: string): Record<string, Buffer> {
  const chain: HyperVDisk[] = [];
  for (let d = HYPERV.disks.find((x) => x.file === file); d; d = d.parent ? HYPERV.disks.find((x) => x.file === d!.parent) : undefined) chain.unshift(d);
  const out: Record<string, Buffer> = {};
  for (const d of chain) for (const [p, c] of Object.entries(d.changes)) if (c) out[p] = c; else delete out[p];
  return out;
}

function applyChanges(img: string, changes: Changes, work: string): void {
  for (const [p, c] of Object.entries(changes)) {
    const dir = p.slice(0, p.lastIndexOf('/'));
    if (c === null) {
      execFileSync('mdel', ['-i', img, `::${p}`]);
      continue;
    }
    if (dir) {
      try {
        execFileSync('mmd', ['-i', img, `::${dir}`], { stdio: 'ignore' });
      } catch {
        // there already
      }
    }
    const host = join(work, 'content');
    writeFileSync(host, c);
    execFileSync('mcopy', ['-o', '-i', img, host, `::${p}`]);
  }
}

export function buildHyperV(root: string): HyperVSet {
  const tmp = `${root}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  const folder = join(tmp, HYPERV.vm);
  const disks = join(folder, 'Virtual Hard Disks');
  const work = join(tmp, 'work');
  for (const d of [disks, join(folder, 'Virtual Machines'), join(folder, 'Snapshots'), work]) mkdirSync(d, { recursive: true });
  writeFileSync(join(folder, 'Virtual Machines', '5A1B0C2D-0000-4000-8000-000000000001.vmcx'), seededBytes(61, 4096));
  writeFileSync(join(folder, 'Snapshots', '5A1B0C2D-0000-4000-8000-000000000002.vmcx'), seededBytes(62, 4096));
  const states: HyperVSet['states'] = {};
  const raws = new Map<string, string>();
  HYPERV.disks.forEach((d, i) => {
    const raw = join(work, `${d.file}.raw`);
    if (d.parent) copyFileSync(raws.get(d.parent)!, raw);
    else execFileSync('mkfs.vfat', ['-F', '16', '-n', d.file.split('.')[0]!.toUpperCase(), '-i', (0x1234abcd + i).toString(16), '-C', raw, String(SIZE_KIB)], { stdio: 'ignore' });
    applyChanges(raw, d.changes, work);
    raws.set(d.file, raw);
    const out = join(disks, d.file);
    const now = readFileSync(raw);
    if (!d.parent) {
      execFileSync('qemu-img', ['convert', '-q', '-f', 'raw', '-O', 'vhdx', raw, out]);
    } else {
      const before = readFileSync(raws.get(d.parent)!);
      const blocks: VhdxBlock[] = [];
      for (let b = 0; b * MiB < now.length; b++) {
        const at = b * MiB;
        if (!now.subarray(at, at + MiB).equals(before.subarray(at, at + MiB))) blocks.push({ block: b, state: 'full', seed: 0, data: Buffer.from(now.subarray(at, at + MiB)) });
      }
      const expected = writeVhdx(out, {
        virtualSize: now.length,
        blocks,
        parent: { dataWriteGuid: vhdxDataWriteGuid(join(disks, d.parent)), relativePath: `.\\${d.parent}`, absolutePath: `C:\\ProgramData\\Microsoft\\Windows\\Virtual Hard Disks\\${d.parent}`, raw: before },
        seed: 900 + i * 10,
      });
      if (!expected.equals(now)) throw new Error(`hyperv builder: the writer's ${d.file} is not the state written`);
    }
    states[d.file] = { files: Object.fromEntries(Object.entries(stateFiles(d.file)).map(([p, c]) => [p, sha(c)])), diskSha256: sha(now) };
  });
  for (const d of HYPERV.disks) utimesSync(join(disks, d.file), d.mtime, d.mtime);
  rmSync(work, { recursive: true, force: true });
  writeFileSync(join(tmp, 'states.json'), JSON.stringify(states, null, 1));
  rmSync(root, { recursive: true, force: true });
  renameSync(tmp, root);
  return hyperVSet(root);
}

/** The set built at `root` (by buildHyperV). */
export function hyperVSet(root: string): HyperVSet {
  const folder = join(root, HYPERV.vm);
  return { folder, disks: join(folder, 'Virtual Hard Disks'), states: JSON.parse(readFileSync(join(root, 'states.json'), 'utf8')) as HyperVSet['states'] };
}
