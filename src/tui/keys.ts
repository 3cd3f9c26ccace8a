/**
 * What a key means, by mode: a pure map from Ink's (input, key) to an action, so the whole
 * key layout can be read (and tested) in one place; App.tsx carries the actions out.
 */
import type { Key } from 'ink';

/** The modes keys are read in (App.tsx's Mode kinds, plus the folder list's filter prompt). */
export type KeyMode = 'browse' | 'filtering' | 'pager' | 'target' | 'checking' | 'confirm' | 'restoring';

export type KeyAction =
  /** Ctrl-C anywhere: stop what runs and leave. */
  | { type: 'interrupt' }
  | { type: 'quit' }
  // The folder list.
  | { type: 'move'; by: number; unit: 'line' | 'page' }
  | { type: 'moveTo'; to: 'first' | 'last' }
  | { type: 'open' }
  | { type: 'up' }
  /** Esc: clears the filter and the status line. */
  | { type: 'clear' }
  | { type: 'filterStart'; text: string }
  | { type: 'filterType'; text: string }
  | { type: 'filterBackspace' }
  | { type: 'filterDone' }
  | { type: 'filterCancel' }
  /** Space (n presses): select or unselect n entries from the cursor, then move past them. */
  | { type: 'toggle'; count: number }
  | { type: 'toggleAll' }
  | { type: 'preview' }
  | { type: 'info' }
  | { type: 'help' }
  | { type: 'restore' }
  /** `v`: the versions panel of the entry under the cursor (use-versions.ts). */
  | { type: 'versions' }
  // The pager.
  | { type: 'pagerClose' }
  | { type: 'scroll'; by: number; unit: 'line' | 'page' | 'all' }
  // The restore prompts.
  | { type: 'targetType'; text: string }
  | { type: 'targetBackspace' }
  | { type: 'targetClear' }
  | { type: 'targetSubmit' }
  | { type: 'restoreCancel' }
  | { type: 'overwrite' }
  | { type: 'skipExisting' }
  /** Esc while a restore runs. */
  | { type: 'restoreStop' };

const isBack = (key: Key) => key.backspace || key.delete;
/** Text a prompt takes: no control keys, no control characters. */
const printable = (input: string, key: Key) => !!input && !key.ctrl && !key.meta && !/[\x00-\x1f\x7f]/.test(input);

export function keyAction(mode: KeyMode, input: string, key: Key): KeyAction | null {
  if (key.ctrl && input === 'c') return { type: 'interrupt' };
  switch (mode) {
    case 'pager':
      if (key.escape || input === 'q' || key.leftArrow || key.tab || input === 'p' || input === 'i' || input === '?' || isBack(key) || key.return) return { type: 'pagerClose' };
      if (key.upArrow || input === 'k') return { type: 'scroll', by: -1, unit: 'line' };
      if (key.downArrow || input === 'j') return { type: 'scroll', by: 1, unit: 'line' };
      if (key.pageUp || input === 'b') return { type: 'scroll', by: -1, unit: 'page' };
      if (key.pageDown || input === ' ') return { type: 'scroll', by: 1, unit: 'page' };
      if (key.home || input === 'g') return { type: 'scroll', by: -1, unit: 'all' };
      if (key.end || input === 'G') return { type: 'scroll', by: 1, unit: 'all' };
      return null;
    case 'target':
      if (key.escape) return { type: 'restoreCancel' };
      if (key.return) return { type: 'targetSubmit' };
      if (isBack(key)) return { type: 'targetBackspace' };
      if (key.ctrl && input === 'u') return { type: 'targetClear' };
      if (printable(input, key)) return { type: 'targetType', text: input };
      return null;
    case 'confirm':
      if (input === 'y' || input === 'Y') return { type: 'overwrite' };
      if (input === 's' || input === 'S') return { type: 'skipExisting' };
      if (input === 'n' || input === 'N' || key.escape || input === 'q') return { type: 'restoreCancel' };
      return null;
    case 'restoring':
      return key.escape ? { type: 'restoreStop' } : null;
    case 'checking':
      return null;
    case 'browse':
    case 'filtering':
      return listAction(mode === 'filtering', input, key);
  }
}

function listAction(filtering: boolean, input: string, key: Key): KeyAction | null {
  if (key.upArrow) return { type: 'move', by: -1, unit: 'line' };
  if (key.downArrow) return { type: 'move', by: 1, unit: 'line' };
  if (key.pageUp) return { type: 'move', by: -1, unit: 'page' };
  if (key.pageDown) return { type: 'move', by: 1, unit: 'page' };
  if (key.home) return { type: 'moveTo', to: 'first' };
  if (key.end) return { type: 'moveTo', to: 'last' };
  if (filtering) {
    if (key.escape) return { type: 'filterCancel' };
    if (key.return) return { type: 'filterDone' };
    if (isBack(key)) return { type: 'filterBackspace' };
    if (printable(input, key)) return { type: 'filterType', text: input };
    return null;
  }
  // Keys typed faster than the terminal is read arrive as one string: "/abc" starts a
  // filter with "abc"; a run of one key ("jjj", three spaces) counts as that many presses.
  if (input.length > 1 && !/[\x00-\x1f\x7f]/.test(input)) {
    if (input.startsWith('/')) return { type: 'filterStart', text: input.slice(1) };
    const chars = [...input];
    if (chars.every((c) => c === input[0])) {
      if (input[0] === 'j') return { type: 'move', by: chars.length, unit: 'line' };
      if (input[0] === 'k') return { type: 'move', by: -chars.length, unit: 'line' };
      if (input[0] === ' ') return { type: 'toggle', count: chars.length };
    }
    return null;
  }
  if (input === 'k') return { type: 'move', by: -1, unit: 'line' };
  if (input === 'j') return { type: 'move', by: 1, unit: 'line' };
  if (input === 'g') return { type: 'moveTo', to: 'first' };
  if (input === 'G') return { type: 'moveTo', to: 'last' };
  if (input === 'q') return { type: 'quit' };
  if (key.return || key.rightArrow || input === 'l') return { type: 'open' };
  if (key.leftArrow || isBack(key) || input === 'h') return { type: 'up' };
  if (key.escape) return { type: 'clear' };
  if (input === '/') return { type: 'filterStart', text: '' };
  if (input === ' ') return { type: 'toggle', count: 1 };
  if (input === 'a') return { type: 'toggleAll' };
  if (input === 'p' || key.tab) return { type: 'preview' };
  if (input === 'i') return { type: 'info' };
  if (input === '?') return { type: 'help' };
  if (input === 'e') return { type: 'restore' };
  if (input === 'v') return { type: 'versions' };
  return null;
}
