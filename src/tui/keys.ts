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
  /** `s`: the next order (name, size, time). */
  | { type: 'sort' }
  /** `z`: work out the total size of each folder in view. */
  | { type: 'folderSizes' }
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
      // Esc ends a check that takes long (a slow image, a target that cannot be made).
      return key.escape ? { type: 'restoreStop' } : null;
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
  if (input === 's') return { type: 'sort' };
  if (input === 'z') return { type: 'folderSizes' };
  if (input === 'v') return { type: 'versions' };
  return null;
}

/**
 * The keys in one Ink input event. Ink splits what it reads from the terminal only at escape
 * sequences, so keys that arrive together ("j" and Enter from one `tmux send-keys`, a fast
 * typist over SSH, a paste) come as one string whose `key` flags describe none of them:
 * "j\r" is neither `j` nor Enter. Each code point becomes its own key here, with the flags
 * Ink would have given it alone, so every key is handled, in order.
 */
export function splitKeys(input: string, key: Key): Array<[string, Key]> {
  if ([...input].length <= 1 || input.startsWith('\x1b')) return [[input, key]];
  const plain: Key = {
    ...key, upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false,
    home: false, end: false, return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false,
    delete: false, meta: false,
  };
  return [...input].map((ch): [string, Key] => {
    if (ch === '\r' || ch === '\n') return ['', { ...plain, return: true }];
    if (ch === '\t') return ['', { ...plain, tab: true }];
    if (ch === '\x7f' || ch === '\b') return ['', { ...plain, backspace: true }];
    const c = ch.charCodeAt(0);
    // Ctrl-A … Ctrl-Z, as Ink reports them: the letter, with ctrl.
    if (c >= 1 && c <= 26) return [String.fromCharCode(c + 96), { ...plain, ctrl: true }];
    return [ch, { ...plain, shift: /[A-Z]/.test(ch) }];
  });
}
