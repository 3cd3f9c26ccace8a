/**
 * Points in time (issue 18): `versions` of one file across 30 nightly images of one VM — QCOW2
 * overlays of one 1 GiB sparse ext4 base, each a few MB (the night's edits, written by
 * `qemu-img convert -B base`). Absolute targets from the issue: under 2 s and under 200 MB peak
 * RSS for the whole command (Node's own startup included).
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_CACHE, diskpickCmd, peakRssMb, run as sh, timeShell, type BenchRow } from './harness.js';
import { seededBytes } from '../scripts/images/tree.js';

const NIGHTS = 30;

function build(dir: string): void {
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const raw = join(tmp, 'disk.raw');
  sh(`truncate -s 1G ${raw} && mkfs.ext4 -q -F ${raw}`);
  // A tree of a few hundred files, then the base.
  const cmds: string[] = ['mkdir /docs', 'mkdir /data'];
  for (let i = 0; i < 200; i++) {
    const f = join(tmp, `f${i}`);
    writeFileSync(f, seededBytes(i, 4096 + i * 97));
    cmds.push(`write ${f} /data/file${i}.bin`);
  }
  writeFileSync(join(tmp, 'report'), seededBytes(9999, 150 * 1024));
  cmds.push(`write ${join(tmp, 'report')} /docs/report.docx`);
  writeFileSync(join(tmp, 'base.cmd'), `${cmds.join('\n')}\n`);
  sh(`debugfs -w -f ${join(tmp, 'base.cmd')} ${raw} >/dev/null 2>&1`);
  sh(`cd ${tmp} && qemu-img convert -f raw -O qcow2 ${raw} base.qcow2`);
  for (let n = 1; n <= NIGHTS; n++) {
    // Each night: the report edited on every third night, a 2 MiB log written.
    const night: string[] = [];
    if (n % 3 === 0) {
      writeFileSync(join(tmp, 'report'), seededBytes(10000 + n, 150 * 1024 + n));
      night.push('rm /docs/report.docx', `write ${join(tmp, 'report')} /docs/report.docx`);
    }
    writeFileSync(join(tmp, 'log'), seededBytes(20000 + n, 2 * 1024 * 1024));
    // One log rewritten each night (not a new one), so an overlay stays a few MB.
    if (n > 1) night.push('rm /data/night.log');
    night.push(`write ${join(tmp, 'log')} /data/night.log`);
    writeFileSync(join(tmp, 'night.cmd'), `${night.join('\n')}\n`);
    sh(`debugfs -w -f ${join(tmp, 'night.cmd')} ${raw} >/dev/null 2>&1`);
    sh(`cd ${tmp} && qemu-img convert -f raw -O qcow2 -B base.qcow2 -o backing_fmt=qcow2 ${raw} night-${String(n).padStart(2, '0')}.qcow2`);
  }
  rmSync(raw);
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

export async function run(): Promise<BenchRow[]> {
  const dir = join(BENCH_CACHE, 'points-nightly');
  if (!existsSync(dir)) build(dir);
  const cmd = `${diskpickCmd(`versions ${dir}/night-*.qcow2 /p0/docs/report.docx`)} > /dev/null`;
  const secs = timeShell(cmd, 3);
  const rss = peakRssMb(cmd);
  return [
    { area: 'points', what: `versions of one file, ${NIGHTS} nightly 1 GiB qcow2 overlays`, ours: secs, reference: 'issue target 2 s', theirs: 2, unit: 's', ratio: 2 / secs, target: '< 2 s', met: secs < 2 },
    { area: 'points', what: 'the same, peak RSS', ours: rss, reference: 'issue target 200 MB', theirs: 200, unit: 'MB', ratio: 200 / rss, target: '< 200 MB', met: rss < 200 },
  ];
}
