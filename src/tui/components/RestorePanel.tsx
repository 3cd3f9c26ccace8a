import { Box, Text } from 'ink';
import type { RestoreProgress } from '../../restore/restore.js';
import { progressView } from '../progress.js';
import { firstThatFits, fit, truncate } from '../width.js';
import { displayName } from '../../present/names.js';

export interface RestorePanelProps {
  outDir: string;
  progress: RestoreProgress | null;
  elapsedMs: number;
  width: number;
  height: number;
  cancelling: boolean;
  color: boolean;
}

/** Progress of a running restore: bar, files, bytes, rate, ETA, the file being copied. */
export function RestorePanel({ outDir, progress, elapsedMs, width, height, cancelling, color }: RestorePanelProps) {
  const p = progress ?? { filesDone: 0, filesTotal: 0, bytesDone: 0, bytesTotal: 0, current: '' };
  const v = progressView(p, elapsedMs, width - 2);
  const lines = [
    <Text key="t" bold wrap="truncate">{truncate(`Restoring to ${outDir}`, width)}</Text>,
    <Text key="b" color={color ? 'green' : undefined} wrap="truncate">{v.bar}</Text>,
    <Text key="c" wrap="truncate">{progress ? truncate(v.counts, width) : ' '}</Text>,
    <Text key="f" wrap="truncate">{fit(p.current ? `copying ${displayName(p.current)}` : 'planning…', width).trimEnd() || ' '}</Text>,
    <Text key="s"> </Text>,
    <Text key="h" wrap="truncate">{cancelling ? 'Cancelling…' : firstThatFits(['Esc cancels (files already written stay; the one being copied is removed)', 'Esc cancels (written files stay)'], width)}</Text>,
  ];
  while (lines.length < height) lines.push(<Text key={`x${lines.length}`}> </Text>);
  return <Box flexDirection="column" height={height}>{lines.slice(0, height)}</Box>;
}
