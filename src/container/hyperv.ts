/**
 * Hyper-V export folders (docs/formats/hyperv-export.md): a folder given as the image. Its
 * disks are the .vhdx/.avhdx (and older .vhd/.avhd) files of its `Virtual Hard Disks`
 * subfolder, or of the folder itself. Each file is opened as a chain (its parents found by
 * their VHDX parent locators, as for any differencing disk); the files no other file names as
 * a parent are the tips of checkpoint chains. For each base disk the newest tip is opened:
 * latest modification time (Hyper-V writes only to the running disk), then the longer chain,
 * then the file name. Several base disks become /disk2, /disk3 … (Container.moreDisks). The
 * other tips are listed in `info`; `FOLDER@level:N` opens every disk at level N of its chain.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { cannotOpen, corrupt, DiskpickError } from '../errors.js';
import type { ChainLevel, Container, FurtherDisk } from './container.js';
import { noSuchLevel, type PointSpec } from './point.js';
import { WrappingContainer } from './wrapping.js';

const DISK_FILE = /\.(a?vhdx|a?vhd)$/i;
/** A VM has a handful of disks and checkpoints; a hostile folder ends here. */
const MAX_FILES = 1000;
/** Base disks opened at once (a Hyper-V VM has at most 256 SCSI and 4 IDE disks). */
const MAX_DISKS = 260;

interface Tip {
  file: string;
  /** Host files of its chain, tip first, base last. */
  chain: string[];
  mtimeMs: number;
}

class HyperVExport extends WrappingContainer {
  readonly format = 'hyperv';
  readonly variant: string;

  constructor(
    folder: string,
    disk: Container,
    moreDisks: FurtherDisk[],
    readonly details: Record<string, string>,
    level: number | null,
  ) {
    super(disk, folder, moreDisks, moreDisks.map((d) => d.container));
    const n = 1 + moreDisks.length;
    this.variant = `export folder, ${n} disk${n === 1 ? '' : 's'}, ${level === null ? 'newest checkpoint chain' : `checkpoint level ${level}`}`;
  }

  /** The first disk's chain: `@level:N` counts its levels (the folder adds none). */
  get chain(): ChainLevel[] {
    return this.disk.chain;
  }
}

/** The folder holding the disks: `Virtual Hard Disks` (any case) when there is one. */
async function diskFolder(folder: string): Promise<{ dir: string; siblings: string[] }> {
  const names = await readdir(folder);
  const vhd = names.find((n) => n.toLowerCase() === 'virtual hard disks');
  return { dir: vhd ? join(folder, vhd) : folder, siblings: names };
}

/**
 * The disk files of `dir` (real paths), and those passed over: a link that leads out of the
 * folder is not followed (as for parents found by name: src/container/open.ts).
 */
async function diskFiles(dir: string, folder: string): Promise<{ files: string[]; skipped: string[] }> {
  const files: string[] = [];
  const skipped: string[] = [];
  const home = await realpath(dir);
  for (const n of (await readdir(dir)).sort()) {
    if (!DISK_FILE.test(n)) continue;
    const st = await stat(join(dir, n)).catch(() => null);
    if (!st?.isFile()) continue;
    if (files.length >= MAX_FILES) throw corrupt(folder, `Hyper-V export folder: more than ${MAX_FILES} disk files`);
    const real = await realpath(join(dir, n));
    if (dirname(real) !== home) skipped.push(`${n} (a link out of the folder, to ${real})`);
    else files.push(real);
  }
  return { files, skipped };
}

const chainText = (files: string[]): string => [...files].reverse().map((f) => basename(f)).join(' ← ');

/**
 * Opens a Hyper-V export folder (or a bare folder of VHDX/AVHDX files). `open(file)` opens one
 * file as a chain with the folder's other files reachable as parents (src/container/open.ts).
 */
export async function openHyperVFolder(arg: string, folder: string, point: PointSpec | null, open: (file: string) => Promise<Container>): Promise<Container> {
  if (point?.kind === 'snap') throw new DiskpickError('unsupported', '@snap: a Hyper-V export holds no internal snapshots; its checkpoints are chain levels (@level:N)', arg);
  const { dir, siblings } = await diskFolder(folder);
  const { files, skipped } = await diskFiles(dir, folder);
  if (files.length === 0) {
    throw cannotOpen(arg, `is a folder, not a disk image (no .vhdx/.avhdx file${dir === folder ? '' : ` in ${basename(dir)}`}, so not a Hyper-V export either)`);
  }
  // Every file as a chain. A file that does not open (a checkpoint whose parent is gone)
  // stops the open: it may be the newest state, and reading an older one silently would
  // restore the wrong data.
  const chains = new Map<string, string[]>();
  for (const f of files) {
    const c = await open(f).catch((err: unknown) => {
      if (err instanceof DiskpickError) throw new DiskpickError(err.kind, `Hyper-V export folder: ${err.message}`, err.file ?? f);
      throw err;
    });
    const levels = c.chain;
    await c.close();
    // A file named like a disk that is no VHD/VHDX would open as a raw disk of its own.
    const bad = levels.find((l) => l.format !== 'vhdx' && l.format !== 'vhd');
    if (bad) throw cannotOpen(bad.file, `Hyper-V export folder: is not a VHDX or VHD file (read as ${bad.format})`);
    chains.set(f, levels.map((l) => l.file));
  }
  const parents = new Set<string>();
  for (const chain of chains.values()) for (const p of chain.slice(1)) parents.add(p);
  const tips: Tip[] = [];
  for (const [f, chain] of chains) if (!parents.has(f)) tips.push({ file: f, chain, mtimeMs: (await stat(f)).mtimeMs });
  const byBase = new Map<string, Tip[]>();
  for (const t of tips) {
    const base = t.chain[t.chain.length - 1]!;
    byBase.set(base, [...(byBase.get(base) ?? []), t]);
  }
  const bases = [...byBase.keys()].sort();
  if (bases.length > MAX_DISKS) throw corrupt(folder, `Hyper-V export folder: ${bases.length} base disks (at most ${MAX_DISKS} are read)`);
  const newest = bases.map((b) => [...byBase.get(b)!].sort((x, y) => y.mtimeMs - x.mtimeMs || y.chain.length - x.chain.length || (x.file < y.file ? -1 : 1))[0]!);
  const details: Record<string, string> = { 'disk folder': dir };
  const configs = siblings.filter((n) => /^(virtual machines|snapshots)$/i.test(n));
  if (configs.length) details['also in the export'] = configs.join(', ');
  if (skipped.length) details['not opened'] = skipped.join('; ');
  bases.forEach((b, i) => {
    const open = newest[i]!;
    const name = i === 0 ? '/' : `/disk${i + 1}/`;
    details[`disk ${i + 1}`] = `${chainText(open.chain)} (${open.chain.length} level${open.chain.length === 1 ? '' : 's'}; newest, shown as ${name}…; written ${new Date(open.mtimeMs).toISOString()})`;
    byBase.get(b)!.filter((t) => t !== open).forEach((t, k) => {
      details[`disk ${i + 1} other chain ${k + 1}`] = `${chainText(t.chain)} (written ${new Date(t.mtimeMs).toISOString()}; open ${basename(t.file)} itself to read it)`;
    });
  });
  const level = point?.kind === 'level' ? point.level : null;
  const opened: Container[] = [];
  try {
    for (const [i, t] of newest.entries()) {
      let file = t.file;
      if (level !== null) {
        if (level > t.chain.length) throw noSuchLevel(level, t.chain.length, i === 0 ? arg : `${arg} (disk ${i + 1}, ${basename(t.file)})`);
        file = t.chain[t.chain.length - level]!;
      }
      opened.push(await open(file));
    }
  } catch (err) {
    for (const c of opened) await c.close().catch(() => undefined);
    throw err;
  }
  const more = opened.slice(1).map((c, i) => ({ label: `${c.chain[0]!.file} (Hyper-V disk ${i + 2})`, container: c }));
  return new HyperVExport(folder, opened[0]!, more, details, level);
}
