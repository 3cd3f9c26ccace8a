import { Box, Text } from 'ink';
import { displayName, humanSize } from '../../present/names.js';
import type { VersionsView } from '../use-versions.js';
import { fit } from '../width.js';

function when(t: { sec: number } | null | undefined): string {
  if (!t) return '-';
  const d = new Date(t.sec * 1000);
  return Number.isNaN(d.getTime()) ? '?' : d.toISOString().slice(0, 19).replace('T', ' ');
}

/** The versions of one file, one row per point in time; the cursor row inverse. */
export function VersionsPanel({ view, width, height, imagePath }: { view: VersionsView; width: number; height: number; imagePath: string }) {
  const rows = view.rows ?? [];
  // Points of the open image are named from its file name on: the folder is the title's.
  const base = imagePath.split(/[\\/]/).pop() ?? imagePath;
  const label = (l: string) => displayName(l.startsWith(imagePath) ? base + l.slice(imagePath.length) : l);
  const cells = rows.map((r) => [
    r.stat ? when(r.stat.mtime) : '-',
    r.stat ? humanSize(r.stat.size) : '-',
    r.sha256 ? r.sha256.slice(0, 12) : '-',
    r.error ? '(error)' : !r.stat ? '(deleted)' : r.sameAs ? `= ${label(r.sameAs)}` : '',
    label(r.point),
  ]);
  const w = [19, 9, 12];
  const line = (c: string[]) => `${c[0]!.padEnd(w[0]!)}  ${c[1]!.padStart(w[1]!)}  ${c[2]!.padEnd(w[2]!)}  ${c[4]}${c[3] ? `  ${c[3]}` : ''}`;
  const shown = Math.max(1, height - 3);
  const top = Math.max(0, Math.min(view.cursor - Math.floor(shown / 2), rows.length - shown));
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate">{fit(`Versions of ${displayName(view.path)}`, width)}</Text>
      <Text bold wrap="truncate">{fit(line(['MODIFIED', 'SIZE', 'SHA-256', '', 'POINT']), width)}</Text>
      {view.rows === null ? <Text>{view.busy ?? ''}</Text> : cells.slice(top, top + shown).map((c, i) => (
        <Text key={top + i} inverse={top + i === view.cursor} wrap="truncate">{fit(line(c), width)}</Text>
      ))}
      {view.rows !== null ? <Text wrap="truncate">{fit(view.busy ?? '↑↓ choose  Enter restore this version  Esc close', width)}</Text> : null}
    </Box>
  );
}
