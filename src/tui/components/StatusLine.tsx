import { Text } from 'ink';
import { displayName } from '../../present/names.js';
import type { Mode, Status } from '../state.js';
import { truncate } from '../width.js';

export interface StatusLineProps {
  mode: Mode;
  status: Status | null;
  width: number;
  color: boolean;
}

const KEYS_LIST = '↑↓ move  Enter open  ← up  / filter  Space select  a all  p preview  i image  e restore  ? help  q quit';
const KEYS_PAGER = '↑↓ scroll  PgUp/PgDn  Home/End  Esc/q close';

/** The last line: a prompt, an error or message, or the keys. */
export function StatusLine({ mode, status, width, color }: StatusLineProps) {
  if (mode.kind === 'target') {
    const what = mode.nodes.length === 1 ? displayName(mode.nodes[0]!.path) : `${mode.nodes.length} entries`;
    return <Text wrap="truncate">{truncate(`Restore ${what} to: ${mode.input}_   (Enter starts, Esc cancels)`, width)}</Text>;
  }
  if (mode.kind === 'checking') return <Text wrap="truncate">{truncate(`Checking ${mode.outDir}…`, width)}</Text>;
  if (mode.kind === 'confirm') {
    const first = mode.existing[0]!;
    const more = mode.existing.length > 1 ? ` and ${mode.existing.length - 1} more` : '';
    return (
      <Text color={color ? 'yellow' : undefined} bold wrap="truncate">
        {truncate(`${first}${more} already exist${mode.existing.length === 1 ? 's' : ''}. Overwrite? y = overwrite, s = skip existing, n = cancel`, width)}
      </Text>
    );
  }
  if (status) {
    return <Text color={color && status.error ? 'red' : undefined} bold={status.error} wrap="truncate">{truncate(`${status.error ? 'error: ' : ''}${status.text}`, width)}</Text>;
  }
  const keys = mode.kind === 'pager' ? KEYS_PAGER : mode.kind === 'restoring' ? 'Esc cancel' : KEYS_LIST;
  return <Text dimColor={color} wrap="truncate">{truncate(keys, width)}</Text>;
}
