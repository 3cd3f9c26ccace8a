import type { Command } from 'commander';
import { humanSize, isoTime, shortTime } from '../entry-format.js';
import { listPoints, type PointEntry } from '../../restore/points.js';
import { escapeText, jsonText } from '../../escape.js';
import { runCommand, withImage, writeStdout, type GlobalOptions } from '../run.js';
import type { ImageInfo } from '../../vfs/vfs.js';
import { createHash } from 'node:crypto';
import { corrupt, DiskpickError } from '../../errors.js';
import type { Container } from '../../container/container.js';
import { pump } from '../../source/chunks.js';
import { ProgressBar } from '../progress.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('show the container chain, partition table and each volume’s filesystem')
    .argument('<image>', 'disk image (raw, split raw, VMDK, VHD, VHDX, QCOW2, VDI, E01, OVA, ISO)')
    .option('--json', 'one JSON object')
    .option('--verify', 'hash the whole virtual disk and compare with the hashes the image stores (EWF: MD5, SHA1)')
    .addHelpText('after', '\nExamples:\n  diskpick info fileserver.vmdk\n  diskpick info --json disk.qcow2 | jq .volumes\n  diskpick info --verify evidence.E01')
    .action((image: string, opts: { json?: boolean; verify?: boolean }, cmd: Command) =>
      runCommand(() =>
        withImage(image, cmd.optsWithGlobals<GlobalOptions>(), async (vfs) => {
          await vfs.driveLetters();
          const info = vfs.info();
          const points = await listPoints(vfs);
          const verified = opts.verify ? await verifyDigests(vfs.container, image) : null;
          if (opts.json) await writeStdout(`${jsonText({ ...info, points: points.map(pointJson), ...(verified ? { verified } : {}) }, 2)}\n`);
          else {
            await writeStdout(renderInfo(info));
            await writeStdout(renderPoints(points));
            for (const [alg, hex] of Object.entries(verified ?? {})) await writeStdout(`verified:   ${alg} ${hex} matches the hash stored in the image\n`);
          }
        }, { allowEmpty: true }),
      ),
    );
}

/**
 * Hashes the whole virtual disk and compares with the digests the image stores; a mismatch is
 * a one-line error (exit 3), an image without stored digests exit 6.
 */
async function verifyDigests(c: Container, image: string): Promise<Record<string, string>> {
  const stored = c.storedDigests;
  const algs = Object.entries(stored ?? {}).filter(([, v]) => v) as Array<[string, string]>;
  if (algs.length === 0) throw new DiskpickError('unsupported', `--verify: this ${c.format} image stores no hash of its content (EWF images do)`, image);
  const hashes = algs.map(([a]) => createHash(a));
  const bar = new ProgressBar();
  await pump(c, (chunk, off) => {
    for (const h of hashes) h.update(chunk);
    bar.update({ filesDone: 0, filesTotal: 1, bytesDone: off + chunk.length, bytesTotal: c.size });
  }, { chunkSize: 4 << 20 });
  bar.done();
  const out: Record<string, string> = {};
  algs.forEach(([alg, want], i) => {
    const got = hashes[i]!.digest('hex');
    if (got !== want.toLowerCase()) throw corrupt(image, `--verify: ${alg.toUpperCase()} mismatch: the image stores ${want}, its content hashes to ${got}`);
    out[alg.toUpperCase()] = got;
  });
  return out;
}

export function renderInfo(info: ImageInfo): string {
  const lines: string[] = [];
  const c = info.container;
  lines.push(`image:      ${info.file}`);
  lines.push(`container:  ${c.format} (${c.variant}), virtual size ${humanSize(c.virtualSize)} (${c.virtualSize} bytes)${info.damaged.length ? '; DAMAGED (see the warnings: the rest is read)' : ''}`);
  if (c.chain.length > 1 || c.chain[0]?.extraFiles?.length) {
    lines.push('chain:');
    c.chain.forEach((l, i) => {
      lines.push(`  ${i === 0 ? 'top ' : `  ${'↳'.padEnd(2)}`}${l.format} (${l.variant}) ${humanSize(l.virtualSize)}  ${l.file}`);
      for (const f of l.extraFiles ?? []) lines.push(`        + ${f}`);
    });
  }
  for (const [k, v] of Object.entries(c.details ?? {})) lines.push(`${`${k}:`.padEnd(11)} ${v}`);
  for (const w of c.warnings) lines.push(`warning:    ${w}`);
  for (const d of info.disks) lines.push(`${`${d.name}:`.padEnd(12)}${d.format} (${d.variant}), virtual size ${humanSize(d.virtualSize)}  ${d.file}`);
  const t = info.partitionTable;
  if (t) {
    const extra = Object.entries(t.details).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(`partitions: ${t.scheme.toUpperCase()}, ${t.sectorSize}-byte sectors, disk id ${t.diskId}${extra ? ` (${extra})` : ''}`);
    for (const w of t.warnings) lines.push(`warning:    ${w}`);
  } else {
    lines.push(info.diskSystem ? `partitions: none (${info.diskSystem}: p0 is the whole disk)` : 'partitions: none (the whole disk is one volume: p0)');
  }
  for (const f of info.findings) lines.push(`finding:    ${f}`);
  for (const w of info.warnings) lines.push(`warning:    ${w}`);
  lines.push('');
  const rows = [['VOLUME', 'START', 'SIZE', 'FILESYSTEM', 'LABEL', 'WHAT']];
  for (const v of info.volumes) {
    const fs = v.filesystem;
    const named = v.content;
    const enc = v.encryption;
    let what = enc ? `${enc.type}${enc.uuid ? ` (UUID ${enc.uuid})` : ''}, ${enc.locked ? 'locked' : 'opened'}${!enc.locked && !fs && v.system ? `: ${v.system.describe}` : ''}` : v.system ? v.system.describe : named ? `${named.type}${named.uuid ? ` (UUID ${named.uuid})` : ''}, not read` : v.what;
    // Where no filesystem could be read and the row says nothing else, say why.
    // (An encrypted volume whose header cannot be read: say why, too.)
    if (!fs && !v.system && (!named || /^(LUKS|BitLocker)/.test(named.type)) && v.error && !v.encryption?.locked) what = `${what}: ${v.error}`;
    rows.push([
      v.name,
      v.start === null ? '-' : humanSize(v.start),
      humanSize(v.size),
      v.encryption ? (v.encryption.locked ? `${v.encryption.type} (locked)` : `${fs ? fs.type : v.system ? v.system.name.toUpperCase() : '?'} in ${v.encryption.type}`) : fs ? (fs.details.encryption ? `${fs.type} (${fs.details.encryption})` : fs.type) : named ? named.type : v.system ? '-' : '?',
      fs?.label ?? named?.label ?? v.partitionName ?? '-',
      what,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) lines.push(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  const drives = info.volumes.filter((v) => v.drive).sort((a, b) => (a.drive! < b.drive! ? -1 : 1));
  if (drives.length) {
    const from = info.driveLetters?.from === 'registry' ? `as ${info.driveLetters.hive} records them` : 'in the order Windows gives them; no Windows registry found';
    lines.push(`drives:     ${drives.map((v) => `${v.drive}: ${v.name}`).join(', ')} (${from})`);
  }
  for (const v of info.volumes) {
    // Boot images an ISO's El Torito catalog lists (details "boot image N").
    for (const [k, d] of Object.entries(v.filesystem?.details ?? {})) if (k.startsWith('boot image ')) lines.push(`boot:       ${v.name}: ${d}`);
    const e = v.encryption;
    if (e) lines.push(`encrypted:  ${v.name}: ${e.summary}; ${e.locked ? 'locked' : `opened with a ${e.openedWith}`}`);
    for (const w of e?.warnings ?? []) lines.push(`warning:    ${v.name}: ${w}`);
    for (const w of v.filesystem?.warnings ?? []) lines.push(`warning:    ${v.name}: ${w}`);
  }
  for (const v of info.volumes) {
    const subs = v.filesystem?.subvolumes;
    if (!subs?.length) continue;
    lines.push('', `subvolumes of ${v.name}:`);
    const sr = [['ID', 'GEN', 'FLAGS', 'PATH']];
    for (const s of subs) sr.push([String(s.id), String(s.generation), [s.readOnly ? 'ro' : 'rw', s.snapshot ? 'snapshot' : ''].filter(Boolean).join(','), s.orphan ? '(deleted)' : s.path]);
    const sw = sr[0]!.map((_, i) => Math.max(...sr.map((r) => r[i]!.length)));
    for (const r of sr) lines.push('  ' + r.map((cell, i) => cell.padEnd(sw[i]!)).join('  ').trimEnd());
  }
  // Labels, names, warnings and paths come from the image: each line is escaped whole.
  return `${lines.map((l) => escapeText(l)).join('\n')}\n`;
}

/** A point as `info --json` gives it (times as ISO 8601 with nanoseconds). */
export function pointJson(p: PointEntry) {
  return { ...p, time: isoTime(p.time ?? undefined) };
}

const KIND: Record<PointEntry['kind'], string> = { image: 'this image', level: 'chain level', snap: 'internal snapshot', vss: 'shadow copy', lvm: 'LVM snapshot', btrfs: 'Btrfs snapshot' };

/**
 * The points the image holds (docs/points-in-time.md), oldest kinds first, each with how to
 * address it and when it was taken; nothing when the image holds no point but itself.
 */
export function renderPoints(points: PointEntry[]): string {
  if (points.length <= 1) return '';
  const rows = [['POINT', 'KIND', 'TAKEN (UTC)', 'DETAILS']];
  for (const p of points) {
    let details = '';
    if (p.kind === 'level' || (p.kind === 'image' && p.level)) details = `level ${p.level}${p.level === 1 ? ' (base)' : ''}: ${p.file}`;
    else if (p.kind === 'snap') details = `id ${p.id}, name ${p.name}, vm clock ${vmClock(p.vmClockNs ?? 0)}, disk ${humanSize(p.size ?? 0)}${p.vmStateSize ? `, VM state ${humanSize(p.vmStateSize)}` : ''}`;
    else if (p.kind === 'vss') details = `${p.path} (of ${p.of})${p.id ? `, store ${p.id}` : ''}`;
    else if (p.kind === 'lvm') details = `${p.path} (of ${p.of}), ${humanSize(p.size ?? 0)}`;
    else if (p.kind === 'btrfs') details = `subvolume ${p.id}${p.of ? ` (of ${p.of})` : ''}`;
    rows.push([p.point, KIND[p.kind], p.time ? shortTime(p.time) : '-', details]);
  }
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const lines = ['', 'points:', ...rows.map((r) => `  ${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('  ')}`.trimEnd())];
  return `${lines.map((l) => escapeText(l)).join('\n')}\n`;
}

/** qemu-img snapshot -l's VM CLOCK form: HH:MM:SS.mmm (hours unbounded). */
function vmClock(ns: number): string {
  const ms = Math.floor(ns / 1e6);
  const h = Math.floor(ms / 3600000);
  const m = Math.floor((ms % 3600000) / 60000);
  const s = Math.floor((ms % 60000) / 1000);
  return `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(ms % 1000).padStart(3, '0')}`;
}
