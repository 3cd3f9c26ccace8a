import type { Command } from 'commander';
import { humanSize } from '../entry-format.js';
import { runCommand, withImage, type GlobalOptions } from '../run.js';
import type { ImageInfo } from '../../vfs/vfs.js';

export function register(program: Command): void {
  program
    .command('info')
    .description('show the container chain, partition table and each volume’s filesystem')
    .argument('<image>', 'disk image (raw, split raw, VMDK, VHD, VHDX, QCOW2, VDI)')
    .option('--json', 'one JSON object')
    .addHelpText('after', '\nExamples:\n  diskpick info fileserver.vmdk\n  diskpick info --json disk.qcow2 | jq .volumes')
    .action((image: string, opts: { json?: boolean }, cmd: Command) =>
      runCommand(() =>
        withImage(image, cmd.optsWithGlobals<GlobalOptions>(), async (vfs) => {
          const info = vfs.info();
          process.stdout.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : renderInfo(info));
        }, { prompt: false }),
      ),
    );
}

export function renderInfo(info: ImageInfo): string {
  const lines: string[] = [];
  const c = info.container;
  lines.push(`image:      ${info.file}`);
  lines.push(`container:  ${c.format} (${c.variant}), virtual size ${humanSize(c.virtualSize)} (${c.virtualSize} bytes)`);
  if (c.chain.length > 1 || c.chain[0]?.extraFiles?.length) {
    lines.push('chain:');
    c.chain.forEach((l, i) => {
      lines.push(`  ${i === 0 ? 'top ' : `  ${'↳'.padEnd(2)}`}${l.format} (${l.variant}) ${humanSize(l.virtualSize)}  ${l.file}`);
      for (const f of l.extraFiles ?? []) lines.push(`        + ${f}`);
    });
  }
  for (const w of c.warnings) lines.push(`warning:    ${w}`);
  const t = info.partitionTable;
  if (t) {
    const extra = Object.entries(t.details).map(([k, v]) => `${k} ${v}`).join(', ');
    lines.push(`partitions: ${t.scheme.toUpperCase()}, ${t.sectorSize}-byte sectors, disk id ${t.diskId}${extra ? ` (${extra})` : ''}`);
    for (const w of t.warnings) lines.push(`warning:    ${w}`);
  } else {
    lines.push('partitions: none (the whole disk is one filesystem: p0)');
  }
  lines.push('');
  const rows = [['VOLUME', 'START', 'SIZE', 'FILESYSTEM', 'LABEL', 'PARTITION TYPE']];
  for (const v of info.volumes) {
    const fs = v.filesystem;
    rows.push([
      v.name,
      String(v.start),
      humanSize(v.size),
      fsColumn(v),
      fs?.label ?? v.partitionName ?? '',
      v.partitionType ?? '',
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) lines.push(r.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd());
  for (const v of info.volumes) {
    const e = v.encryption;
    if (e) lines.push(`encrypted:  ${v.name}: ${e.summary}; ${e.locked ? 'locked' : `opened with a ${e.openedWith}`}`);
    for (const w of e?.warnings ?? []) lines.push(`warning:    ${v.name}: ${w}`);
    for (const w of v.filesystem?.warnings ?? []) lines.push(`warning:    ${v.name}: ${w}`);
  }
  return `${lines.join('\n')}\n`;
}

/** "ext4", "ext4 in LUKS2", "LUKS2 (locked)", "? (why)". */
function fsColumn(v: ImageInfo['volumes'][number]): string {
  const fs = v.filesystem;
  const e = v.encryption;
  if (e && e.locked) return `${e.type} (locked)`;
  const inner = fs ? fs.type : v.error ? `? (${v.error})` : '?';
  return e ? `${inner} in ${e.type}` : inner;
}
