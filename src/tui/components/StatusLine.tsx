import { Text } from 'ink';
import { displayName } from '../../present/names.js';
import type { Mode, Status } from '../state.js';
import { firstThatFits, fitItems, stringWidth, truncate, truncateStart } from '../width.js';

export interface StatusLineProps {
  mode: Mode;
  status: Status | null;
  width: number;
  color: boolean;
}

/** The list's keys, most wanted first: as many as the width allows, then always help and quit. */
const KEYS_LIST = [
  '↑↓ move',
  'Enter open',
  '← up',
  '/ filter',
  'Space select',
  'e restore',
  'p preview',
  'a all',
  'i image',
  's sort',
  'z sizes',
];
const KEYS_LIST_ALWAYS = ['? help', 'q quit'];
const KEYS_PAGER = ['↑↓ scroll', 'PgUp/PgDn', 'Home/End'];
const KEYS_PAGER_ALWAYS = ['Esc/q close'];

/** The last line: a prompt, an error or message, or the keys. */
const stringFits = (s: string, width: number) => stringWidth(s) <= width;

export function StatusLine({ mode, status, width, color }: StatusLineProps) {
  if (mode.kind === 'target') {
    const what = mode.nodes.length === 1 ? displayName(mode.nodes[0]!.path) : `${mode.nodes.length} entries`;
    // Narrower: the hint goes, then what is restored is cut, and the end of what is typed stays.
    const prompt = (w: string) => `Restore ${w} to: `;
    const short = prompt(truncateStart(what, Math.max(12, Math.floor(width / 3))));
    const forms = [`${prompt(what)}${mode.input}_   (Enter starts, Esc cancels)`, `${prompt(what)}${mode.input}_`];
    const line = forms.find((f) => stringFits(f, width)) ?? short + truncateStart(`${mode.input}_`, width - stringWidth(short));
    return <Text wrap="truncate">{line}</Text>;
  }
  if (mode.kind === 'checking') return <Text wrap="truncate">{truncate(`Checking ${mode.outDir}…`, width)}</Text>;
  if (mode.kind === 'confirm') {
    const n = mode.existing.length;
    const first = mode.existing[0]!;
    const more = n > 1 ? ` and ${n - 1} more` : '';
    const verb = n === 1 ? 'exists' : 'exist';
    // The question and its answers always show whole; the path is cut from its start first.
    const question = 'Overwrite? y = overwrite, s = skip existing, n = cancel';
    const room = width - question.length - ` ${more} already ${verb}. `.length;
    const line = firstThatFits([
      `${first}${more} already ${verb}. ${question}`,
      ...(room >= 16 ? [`${truncateStart(first, room)}${more} already ${verb}. ${question}`] : []),
      `${n} file${n === 1 ? '' : 's'} already ${verb}. ${question}`,
      `${n} ${verb}. Overwrite? y = yes, s = skip existing, n = no`,
    ], width);
    return <Text color={color ? 'yellow' : undefined} bold wrap="truncate">{line}</Text>;
  }
  if (status) {
    return <Text color={color && status.error ? 'red' : undefined} bold={status.error} wrap="truncate">{truncate(`${status.error ? 'error: ' : ''}${status.text}`, width)}</Text>;
  }
  const keys = mode.kind === 'pager' ? fitItems(KEYS_PAGER, KEYS_PAGER_ALWAYS, width)
    : mode.kind === 'restoring' ? 'Esc cancel' : fitItems(KEYS_LIST, KEYS_LIST_ALWAYS, width);
  return <Text dimColor={color} wrap="truncate">{keys}</Text>;
}
