import { Text } from 'ink';
import { displayName } from '../../present/names.js';
import type { UnlockPromptState } from '../use-unlock.js';
import { truncate } from '../width.js';

/** The status line while the browser asks for an encrypted volume's key (nothing typed is shown). */
export function UnlockPrompt({ state, width, color }: { state: UnlockPromptState; width: number; color: boolean }) {
  if (state.trying) return <Text wrap="truncate">{truncate(`Opening ${displayName(state.path)}…`, width)}</Text>;
  const what = state.type.startsWith('BitLocker') ? 'password or recovery password' : 'passphrase';
  const line = `${displayName(state.path)} (${state.type}) ${what}, not shown; Enter opens, Esc cancels${state.error ? ` — ${state.error}` : ''}`;
  return <Text color={color ? (state.error ? 'red' : 'yellow') : undefined} wrap="truncate">{truncate(line, width)}</Text>;
}
