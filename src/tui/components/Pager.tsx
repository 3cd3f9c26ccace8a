import { Box, Text } from 'ink';
import { fit } from '../width.js';

export interface PagerProps {
  lines: string[];
  top: number;
  height: number;
  width: number;
}

/** A window of `height` lines of text, each cut to the terminal width. */
export function Pager({ lines, top, height, width }: PagerProps) {
  const rows = [];
  for (let i = 0; i < height; i++) {
    const line = lines[top + i];
    rows.push(<Text key={i} wrap="truncate">{line === undefined ? ' ' : fit(line, width).trimEnd() || ' '}</Text>);
  }
  return <Box flexDirection="column" height={height}>{rows}</Box>;
}

/** The first line to show after moving `delta` lines (or to an end), clamped to the text. */
export function pagerTop(top: number, delta: number, count: number, height: number): number {
  const max = Math.max(0, count - height);
  return Math.max(0, Math.min(max, top + delta));
}
