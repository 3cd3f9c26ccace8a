/** The text of the full-screen panels: image info, help, restore summary. */
import { basename } from 'node:path';
import { displayName, humanSize } from '../present/names.js';
import { escapeText } from '../escape.js';
import { countWritten, type RestoreSummary } from '../restore/restore.js';
import type { ImageInfo } from '../vfs/vfs.js';

export function infoLines(info: ImageInfo): string[] {
  const c = info.container;
  const out: string[] = [];
  out.push(`Image      ${info.file}`);
  out.push(`Container  ${c.format} (${c.variant}), ${humanSize(c.virtualSize)} virtual, ${c.sectorSize}-byte sectors`);
  if (c.chain.length > 1) {
    out.push('Chain (the image first, then its parents):');
    c.chain.forEach((l, i) => {
      out.push(`  ${i + 1}. ${l.format} ${l.variant}  ${humanSize(l.virtualSize)}  ${l.file}`);
      for (const f of l.extraFiles ?? []) out.push(`       + ${f}`);
    });
  } else if (c.chain[0]?.extraFiles?.length) {
    for (const f of c.chain[0].extraFiles) out.push(`           + ${f}`);
  }
  for (const w of c.warnings) out.push(`  warning: ${w}`);
  out.push('');
  const t = info.partitionTable;
  if (t) {
    out.push(`Partitions ${t.scheme.toUpperCase()}, disk id ${t.diskId}, ${t.sectorSize}-byte sectors`);
    for (const w of t.warnings) out.push(`  warning: ${w}`);
  } else {
    out.push('Partitions none (the whole disk is one volume: p0)');
  }
  for (const w of info.warnings) out.push(`  warning: ${w}`);
  for (const v of info.volumes) {
    out.push('');
    const name = v.partitionName ? ` "${displayName(v.partitionName)}"` : '';
    out.push(`${v.name}${name}  ${v.start === null ? '' : `start ${v.start}  `}size ${humanSize(v.size)}${v.bootable ? '  bootable' : ''}`);
    if (v.what && !v.partitionType) out.push(`    what       ${v.what}`);
    if (v.system) out.push(`    holds      ${v.system.describe}`);
    if (v.partitionType) out.push(`    type       ${v.partitionType}`);
    if (v.partitionUuid) out.push(`    uuid       ${v.partitionUuid}`);
    const fs = v.filesystem;
    if (fs) {
      out.push(`    filesystem ${fs.type}${fs.label ? `  label "${displayName(fs.label)}"` : ''}${fs.uuid ? `  id ${fs.uuid}` : ''}`);
      out.push(`               ${humanSize(fs.size)}, ${fs.blockSize}-byte clusters`);
      for (const w of fs.warnings) out.push(`    warning: ${w}`);
    } else {
      out.push(`    filesystem none readable: ${v.error ?? 'unknown'}`);
    }
  }
  return out;
}

export const HELP: ReadonlyArray<readonly [string, string]> = [
  ['↑/↓  j/k', 'move'],
  ['PgUp/PgDn  Home/End', 'move a page / to the ends'],
  ['Enter  →', 'open a folder, preview a file'],
  ['←  Backspace', 'up one folder'],
  ['/', 'filter this folder as you type (Enter keeps it, Esc clears it)'],
  ['Space', 'select or unselect the entry, then move down'],
  ['a', 'select all entries in view (again: unselect them)'],
  ['p  Tab', 'preview the file (first 64 KiB; text or hex)'],
  ['i', 'image: container chain, partitions, filesystems'],
  ['e', 'restore the selection (or the current entry) to a folder'],
  ['s', 'sort by name, size (largest first) or time (newest first); folders stay first'],
  ['z', 'folder sizes: add up the files under each folder in view'],
  ['v', 'versions of the file at every point in time the image holds; Enter restores one'],
  ['Esc', 'close a panel, cancel a restore'],
  ['?', 'this help'],
  ['q', 'quit (closes a panel first)'],
];

export function helpLines(): string[] {
  const w = Math.max(...HELP.map(([k]) => k.length));
  return [
    'diskpick browse: look around a disk image and restore files from it.',
    'The image is only read, never changed.',
    '',
    ...HELP.map(([k, v]) => `  ${k.padEnd(w)}   ${v}`),
    '',
    'Restored files keep their times; existing files are only overwritten after you confirm.',
  ];
}

export function summaryHeadline(s: RestoreSummary, outDir: string): string {
  // Files the user chose (with those of chosen folders); their named streams apart (issue 20).
  const { files, streams, dirs } = countWritten(s);
  const verb = s.cancelled ? 'Cancelled after restoring' : 'Restored';
  let line = `${verb} ${files} file${files === 1 ? '' : 's'}${streams ? ` and ${streams} stream${streams === 1 ? '' : 's'}` : ''} (${humanSize(s.bytes)})`;
  if (dirs) line += ` and ${dirs} folder${dirs === 1 ? '' : 's'}`;
  line += ` to ${outDir}`;
  if (s.failed.length) line += `; ${s.failed.length} failed`;
  if (s.skipped.length) line += `; ${s.skipped.length} skipped`;
  return line;
}

export function summaryLines(s: RestoreSummary, outDir: string): string[] {
  const out = [summaryHeadline(s, outDir), ''];
  if (s.failed.length) {
    out.push(`Failed (${s.failed.length}):`);
    for (const f of s.failed) out.push(`  ${displayName(f.source)}: ${escapeText(f.error)}`);
    out.push('');
  }
  if (s.skipped.length) {
    out.push(`Skipped (${s.skipped.length}):`);
    for (const k of s.skipped) out.push(`  ${displayName(k.source)}: ${k.reason}`);
    out.push('');
  }
  if (s.renamed.length) {
    out.push(`Renamed (${s.renamed.length}):`);
    for (const r of s.renamed) out.push(`  ${displayName(r.source)} → ${basename(r.target)} (${r.reason})`);
    out.push('');
  }
  const written = s.written.filter((w) => w.type !== 'dir');
  if (written.length) {
    out.push(`Written (${written.length}):`);
    for (const w of written) out.push(`  ${w.target}  ${humanSize(w.size)}`);
  }
  return out;
}
