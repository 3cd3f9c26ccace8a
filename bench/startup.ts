/**
 * Time to first file (issue 27, item 1): whole-process CPU time (user + sys) of `diskpick cat`
 * of a small file on NTFS, ext4 and FAT inside a VMDK and a QCOW2, and of `diskpick info`,
 * each against bare `node -e 1` (without NODE_EXTRA_CA_CERTS, as diskpick's #! line runs Node)
 * in the same run. Target: at most 2x bare Node (ratio >= 0.5x).
 *
 * CPU, not wall: the machine is shared and wall time mostly measures the others. Each round
 * runs a batch of the diskpick command and a batch of `node -e 1`, one after the other, and
 * takes the CPU the batch's processes used from bash's `times`; the row gives the median over
 * rounds of each side's CPU per run and the median of the per-round ratios.
 */
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, run as sh, type BenchRow } from './harness.js';
import { FIRST_FILE, FIRST_FILE_TEXT, firstFileDisk, type FirstFileContainer, type FirstFileFs } from '../scripts/images/first-file.js';

const ROUNDS = 7;
const BATCH = 8;
const NODE = `env -u NODE_EXTRA_CA_CERTS ${JSON.stringify(process.execPath)} -e 1`;

/** CPU seconds (user + sys) that `runs` runs of `cmd` used, from bash's `times` (ms resolution). */
function batchCpu(cmd: string, runs: number): number {
  const out = sh(`for i in $(seq ${runs}); do ${cmd} > /dev/null; done; times`);
  // `times`: the shell's own user/sys on the first line, its children's on the second.
  const children = out.trim().split('\n').at(-1)!;
  const secs = [...children.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (secs.length !== 2) throw new Error(`bench startup: cannot read \`times\`: ${children}`);
  return secs[0]! + secs[1]!;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The median CPU per run of `cmd` and of bare Node, and the median per-round ratio. */
export function cpuAgainstNode(cmd: string): { ours: number; node: number; ratio: number } {
  batchCpu(cmd, 1);
  const ours: number[] = [];
  const node: number[] = [];
  const ratios: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const a = batchCpu(cmd, BATCH) / BATCH;
    const b = batchCpu(NODE, BATCH) / BATCH;
    ours.push(a);
    node.push(b);
    ratios.push(b / a);
  }
  return { ours: median(ours), node: median(node), ratio: median(ratios) };
}

function row(what: string, cmd: string): BenchRow {
  const m = cpuAgainstNode(cmd);
  return {
    area: 'startup', what: `${what} (CPU)`, ours: m.ours, reference: '`node -e 1` (CPU)', theirs: m.node, unit: 's',
    ratio: m.ratio, target: '>= 0.5x (<= 2x node)', met: m.ratio >= 0.5,
  };
}

export async function run(): Promise<BenchRow[]> {
  const dir = join(BENCH_CACHE, 'first-file');
  const rows: BenchRow[] = [];
  const fss: FirstFileFs[] = ['ntfs', 'ext4', 'fat'];
  const containers: FirstFileContainer[] = ['vmdk', 'qcow2'];
  for (const container of containers) {
    for (const fs of fss) {
      const disk = firstFileDisk(dir, fs, container);
      const cat = diskpickCmd(`cat ${disk} ${FIRST_FILE}`);
      if (sh(cat) !== FIRST_FILE_TEXT.toString()) throw new Error(`bench startup: ${cat} printed something else than the file`);
      rows.push(row(`cat small file, ${fs.toUpperCase()} in ${container.toUpperCase()}`, cat));
    }
  }
  rows.push(row('info, NTFS in VMDK', diskpickCmd(`info ${firstFileDisk(dir, 'ntfs', 'vmdk')}`)));
  rows.push(row('info, ext4 in QCOW2', diskpickCmd(`info ${firstFileDisk(dir, 'ext4', 'qcow2')}`)));
  return rows;
}
