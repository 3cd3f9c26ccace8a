/**
 * An MBR disk with 4096-byte logical sectors (a raw image of a 4Kn drive), made by the real
 * tools: `losetup -b 4096` gives the file 4 KiB sectors, `sfdisk` writes the table on that loop
 * device (its LBAs count 4 KiB units, the extended chain too), `sfdisk --json` lists it (the
 * oracle kept as `<image>.sfdisk.json`), and each filesystem (mkfs.ext4 -d, mkfs.fat -S 4096 +
 * mcopy) is written where that listing puts its partition. Trees beside the image as manifests.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTree } from './tree.js';
import { treeFiles, writeAt } from './lvm.js';

const MiB = 1024 * 1024;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
}

export interface SfdiskPart { node: string; start: number; size: number; type: string }
export interface SfdiskTable { label: string; sectorsize: number; partitions: SfdiskPart[] }

/**
 * p1 ext4, p2 FAT, an extended partition with p5 ext4 and p6 FAT, at `sectorSize` (the same
 * layout in bytes at 512, as a control). Returns the folder of the trees.
 */
export function build4knMbrImage(path: string, sectorSize: 512 | 4096 = 4096): string {
  const k = 4096 / sectorSize;
  const trees = `${path}.trees`;
  if (existsSync(path) && existsSync(trees)) return trees;
  const tmp = `${path}.tmp`;
  const work = `${path}.work`;
  rmSync(tmp, { force: true });
  rmSync(work, { recursive: true, force: true });
  rmSync(trees, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  sh('truncate', ['-s', String(40 * MiB), tmp]);
  const loop = sh('losetup', ['-f', '--show', '-b', String(sectorSize), tmp]).trim();
  let table: SfdiskTable;
  try {
    sh('sfdisk', ['--no-reread', '--no-tell-kernel', '-q', loop], `label: dos\nlabel-id: 0x4b4b4b4b\nstart=${256 * k}, size=${2048 * k}, type=83\nstart=${2560 * k}, size=${2048 * k}, type=c\nstart=${5120 * k}, type=5\nstart=${5376 * k}, size=${1024 * k}, type=83\nstart=${6656 * k}, size=${1024 * k}, type=c\n`);
    table = (JSON.parse(sh('sfdisk', ['--json', loop])) as { partitiontable: SfdiskTable }).partitiontable;
  } finally {
    sh('losetup', ['-d', loop]);
  }
  if (table.sectorsize !== sectorSize) throw new Error(`sfdisk wrote ${table.sectorsize}-byte sectors`);
  writeFileSync(`${path}.sfdisk.json`, JSON.stringify(table, null, 1));
  const byNum = (n: number) => table.partitions.find((p) => p.node.endsWith(`p${n}`) || p.node.endsWith(String(n)))!;
  for (const [n, kind] of [[1, 'ext4'], [2, 'fat'], [5, 'ext4'], [6, 'fat']] as const) {
    const p = byNum(n);
    const tree = join(trees, `p${n}`);
    writeTree(tree, treeFiles(`p${n}`).filter((f) => !f.size || f.size < MiB));
    const bytes = p.size * sectorSize;
    const f = join(work, `p${n}`);
    if (kind === 'ext4') {
      sh('mkfs.ext4', ['-F', '-q', '-b', '4096', '-L', `part${n}`, '-E', 'root_owner=0:0', '-d', tree, f, `${bytes / 1024}k`]);
    } else {
      sh('mkfs.fat', ['-C', '-S', String(sectorSize), '-n', `PART${n}`, f, String(bytes / 1024)]);
      sh('mcopy', ['-s', '-i', f, ...sh('ls', ['-A', tree]).split('\n').filter(Boolean).map((x) => join(tree, x)), '::/']);
    }
    writeAt(tmp, p.start * sectorSize, readFileSync(f));
  }
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
  return trees;
}
