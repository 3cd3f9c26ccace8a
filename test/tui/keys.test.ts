/**
 * The key layout of docs/tui.md ("Keys"), checked on the pure key map (src/tui/keys.ts) row by
 * row; App.tsx only carries the actions out (its behaviour is tested in app.test.tsx).
 */
import type { Key } from 'ink';
import { describe, expect, it } from 'vitest';
import { keyAction, splitKeys, type KeyMode } from '../../src/tui/keys.js';

const NONE: Key = {
  upArrow: false, downArrow: false, leftArrow: false, rightArrow: false, pageDown: false, pageUp: false, home: false, end: false,
  return: false, escape: false, ctrl: false, shift: false, tab: false, backspace: false, delete: false, meta: false,
  super: false, hyper: false, capsLock: false, numLock: false,
} as Key;
const key = (k: Partial<Key> = {}): Key => ({ ...NONE, ...k });
const act = (mode: KeyMode, input: string, k: Partial<Key> = {}) => keyAction(mode, input, key(k));

describe('the folder list', () => {
  it('↑/↓, j/k move; PgUp/PgDn a page; Home/End and g/G the ends', () => {
    expect(act('browse', '', { upArrow: true })).toEqual({ type: 'move', by: -1, unit: 'line' });
    expect(act('browse', 'j')).toEqual({ type: 'move', by: 1, unit: 'line' });
    expect(act('browse', 'k')).toEqual({ type: 'move', by: -1, unit: 'line' });
    expect(act('browse', '', { pageDown: true })).toEqual({ type: 'move', by: 1, unit: 'page' });
    expect(act('browse', '', { home: true })).toEqual({ type: 'moveTo', to: 'first' });
    expect(act('browse', 'G')).toEqual({ type: 'moveTo', to: 'last' });
  });

  it('Enter, → and l open; ←, Backspace and h go up; Esc clears', () => {
    for (const k of [{ return: true }, { rightArrow: true }]) expect(act('browse', '', k)).toEqual({ type: 'open' });
    expect(act('browse', 'l')).toEqual({ type: 'open' });
    for (const k of [{ leftArrow: true }, { backspace: true }, { delete: true }]) expect(act('browse', '', k)).toEqual({ type: 'up' });
    expect(act('browse', 'h')).toEqual({ type: 'up' });
    expect(act('browse', '', { escape: true })).toEqual({ type: 'clear' });
  });

  it('Space selects, a selects all, p/Tab preview, i image, e restore, ? help, q quit; Ctrl-C anywhere interrupts', () => {
    expect(act('browse', ' ')).toEqual({ type: 'toggle', count: 1 });
    expect(act('browse', 'a')).toEqual({ type: 'toggleAll' });
    expect(act('browse', 'p')).toEqual({ type: 'preview' });
    expect(act('browse', '', { tab: true })).toEqual({ type: 'preview' });
    expect(act('browse', 'i')).toEqual({ type: 'info' });
    expect(act('browse', 'e')).toEqual({ type: 'restore' });
    expect(act('browse', '?')).toEqual({ type: 'help' });
    expect(act('browse', 'q')).toEqual({ type: 'quit' });
    for (const m of ['browse', 'filtering', 'pager', 'target', 'checking', 'confirm', 'restoring'] as const) {
      expect(act(m, 'c', { ctrl: true })).toEqual({ type: 'interrupt' });
    }
    expect(act('browse', 'x')).toBeNull();
  });

  it('keys read as one string are split into single keys with their own flags (j Enter, /Doc Enter, j Space, Ctrl-U, Tab, Backspace)', () => {
    const split = (input: string) => splitKeys(input, key()).map(([i, k]) => keyAction('browse', i, k));
    expect(split('j\r')).toEqual([{ type: 'move', by: 1, unit: 'line' }, { type: 'open' }]);
    expect(split('j ')).toEqual([{ type: 'move', by: 1, unit: 'line' }, { type: 'toggle', count: 1 }]);
    expect(split('jjj')).toEqual(Array(3).fill({ type: 'move', by: 1, unit: 'line' }));
    expect(split('/D').map((a) => a?.type)).toEqual(['filterStart', undefined]);
    const doc = splitKeys('Doc\r', key()).map(([i, k]) => keyAction('filtering', i, k));
    expect(doc).toEqual([{ type: 'filterType', text: 'D' }, { type: 'filterType', text: 'o' }, { type: 'filterType', text: 'c' }, { type: 'filterDone' }]);
    expect(splitKeys('D\x15\t\x7f', key()).map(([i, k]) => [i, k.shift, k.ctrl, k.tab, k.backspace])).toEqual([
      ['D', true, false, false, false], ['u', false, true, false, false], ['', false, false, true, false], ['', false, false, false, true],
    ]);
    // One key, or an escape sequence Ink has already parsed, is passed on as it is.
    expect(splitKeys('', key({ upArrow: true }))).toEqual([['', key({ upArrow: true })]]);
    expect(splitKeys('日', key())).toEqual([['日', key()]]);
  });

  it('while filtering: typing filters, Enter keeps it, Esc clears it, Backspace edits; arrows still move', () => {
    expect(act('filtering', 'q')).toEqual({ type: 'filterType', text: 'q' });
    expect(act('filtering', '', { return: true })).toEqual({ type: 'filterDone' });
    expect(act('filtering', '', { escape: true })).toEqual({ type: 'filterCancel' });
    expect(act('filtering', '', { backspace: true })).toEqual({ type: 'filterBackspace' });
    expect(act('filtering', '', { downArrow: true })).toEqual({ type: 'move', by: 1, unit: 'line' });
    expect(act('filtering', '\x1b[Z')).toBeNull();
  });
});

describe('panels and prompts', () => {
  it('the pager scrolls and closes on Esc, q, ←, Tab, p, i, ?, Backspace and Enter', () => {
    expect(act('pager', ' ')).toEqual({ type: 'scroll', by: 1, unit: 'page' });
    expect(act('pager', 'b')).toEqual({ type: 'scroll', by: -1, unit: 'page' });
    expect(act('pager', 'g')).toEqual({ type: 'scroll', by: -1, unit: 'all' });
    expect(act('pager', '', { end: true })).toEqual({ type: 'scroll', by: 1, unit: 'all' });
    expect(act('pager', 'k')).toEqual({ type: 'scroll', by: -1, unit: 'line' });
    for (const i of ['q', 'p', 'i', '?']) expect(act('pager', i)).toEqual({ type: 'pagerClose' });
    for (const k of [{ escape: true }, { leftArrow: true }, { tab: true }, { backspace: true }, { return: true }]) expect(act('pager', '', k)).toEqual({ type: 'pagerClose' });
  });

  it('the restore target prompt edits text; Enter starts, Esc cancels', () => {
    expect(act('target', '/tmp/x')).toEqual({ type: 'targetType', text: '/tmp/x' });
    expect(act('target', 'q')).toEqual({ type: 'targetType', text: 'q' });
    expect(act('target', 'u', { ctrl: true })).toEqual({ type: 'targetClear' });
    expect(act('target', '', { backspace: true })).toEqual({ type: 'targetBackspace' });
    expect(act('target', '', { return: true })).toEqual({ type: 'targetSubmit' });
    expect(act('target', '', { escape: true })).toEqual({ type: 'restoreCancel' });
    expect(act('target', '\x07')).toBeNull();
  });

  it('the overwrite question: y overwrites, s skips existing, n/q/Esc cancel; Esc stops a running restore', () => {
    expect(act('confirm', 'Y')).toEqual({ type: 'overwrite' });
    expect(act('confirm', 's')).toEqual({ type: 'skipExisting' });
    for (const i of ['n', 'N', 'q']) expect(act('confirm', i)).toEqual({ type: 'restoreCancel' });
    expect(act('confirm', 'x')).toBeNull();
    expect(act('restoring', '', { escape: true })).toEqual({ type: 'restoreStop' });
    expect(act('restoring', 'q')).toBeNull();
    expect(act('checking', 'q')).toBeNull();
  });
});
