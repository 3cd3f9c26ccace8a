import { Box, Text } from 'ink';
import { rowText, type Columns, type Entry } from '../listing.js';

export interface FileListProps {
  entries: Entry[];
  cursor: number;
  top: number;
  height: number;
  cols: Columns;
  selected: ReadonlyMap<string, unknown>;
  color: boolean;
  empty?: string;
}

/** The visible window of a folder: only `height` rows are ever built, however big the folder. */
export function FileList({ entries, cursor, top, height, cols, selected, color, empty }: FileListProps) {
  const rows = [];
  const end = Math.min(entries.length, top + height);
  for (let i = top; i < end; i++) {
    const e = entries[i]!;
    const sel = selected.has(e.node.path);
    rows.push(
      <Text
        key={e.node.path}
        inverse={i === cursor}
        bold={sel || (!color && e.isDir)}
        color={color ? (sel ? 'yellow' : e.isDir ? 'blue' : e.node.stat.type === 'symlink' ? 'cyan' : undefined) : undefined}
        wrap="truncate"
      >
        {rowText(e, cols, sel)}
      </Text>,
    );
  }
  if (entries.length === 0) rows.push(<Text key="empty" dimColor={color} wrap="truncate">{`  ${empty ?? '(empty)'}`}</Text>);
  while (rows.length < height) rows.push(<Text key={`blank${rows.length}`}> </Text>);
  return <Box flexDirection="column" height={height}>{rows}</Box>;
}
