/**
 * The browser's reducer (src/tui/state.ts) as a plain function: each action's effect on the
 * state, and that a burst of actions applied in order gives what the keys of docs/tui.md say.
 */
import { describe, expect, it } from 'vitest';
import type { VfsNode } from '../../src/vfs/vfs.js';
import type { Entry } from '../../src/tui/listing.js';
import { initialState, reduce, type Action, type BrowseState } from '../../src/tui/state.js';

const node = (path: string, type: 'dir' | 'file' = 'file') => ({ path, name: path.split('/').pop(), stat: { type, size: 1 } }) as unknown as VfsNode;
const entry = (path: string) => ({ node: node(path) }) as unknown as Entry;
const root = node('/', 'dir');
const run = (s: BrowseState, ...as: Action[]) => as.reduce(reduce, s);

describe('browser state', () => {
  const opened = run(initialState(root), { type: 'opened', dir: node('/p1', 'dir'), entries: ['/p1/a', '/p1/b', '/p1/c'].map(entry), cursor: 1, top: 0 }, { type: 'loading', on: false });

  it('starts loading at the top level; opening a folder shows it unfiltered, the cursor where asked, no message', () => {
    const s0 = initialState(root);
    expect(s0).toMatchObject({ dir: root, loading: true, cursor: 0, filter: '', filtering: false, status: null, mode: { kind: 'browse' } });
    const s = run(s0, { type: 'filterStart', text: 'x' }, { type: 'status', status: { text: 'boom', error: true } }, { type: 'opened', dir: node('/p1', 'dir'), entries: [], cursor: 2, top: 1 });
    expect(s).toMatchObject({ filter: '', filtering: false, cursor: 2, top: 1, status: null });
    expect(opened.loading).toBe(false);
  });

  it('moves the cursor within the list, whatever the burst', () => {
    expect(run(opened, { type: 'moveBy', by: 1, last: 2 }, { type: 'moveBy', by: 1, last: 2 }, { type: 'moveBy', by: 1, last: 2 }).cursor).toBe(2);
    expect(run(opened, { type: 'moveBy', by: -5, last: 2 }).cursor).toBe(0);
    expect(run(opened, { type: 'moveTo', index: 2, last: 2 }).cursor).toBe(2);
    expect(run(opened, { type: 'moveTo', index: -1, last: -1 }).cursor).toBe(0);
    expect(run(opened, { type: 'shown', cursor: 1, top: 0 })).toBe(opened);
    // Only what rendering corrected: a cursor moved meanwhile stays.
    expect(run(opened, { type: 'moveBy', by: 1, last: 2 }, { type: 'shown', top: 4 })).toMatchObject({ cursor: 2, top: 4 });
  });

  it('filters: "/" opens the prompt over the filter, a burst "/abc" replaces it, typing resets the cursor, Backspace past empty leaves, Esc clears', () => {
    let s = run(opened, { type: 'filterStart', text: '' });
    expect(s).toMatchObject({ filtering: true, filter: '', cursor: 1 });
    s = run(s, { type: 'filterType', text: 'a' }, { type: 'filterType', text: 'b' });
    expect(s).toMatchObject({ filter: 'ab', cursor: 0 });
    s = run(s, { type: 'filterBackspace' }, { type: 'filterBackspace' });
    expect(s).toMatchObject({ filter: '', filtering: true });
    expect(run(s, { type: 'filterBackspace' }).filtering).toBe(false);
    expect(run(opened, { type: 'filterStart', text: 'abc' })).toMatchObject({ filtering: true, filter: 'abc', cursor: 0 });
    expect(run(opened, { type: 'filterStart', text: 'abc' }, { type: 'filterDone' })).toMatchObject({ filtering: false, filter: 'abc' });
    expect(run(opened, { type: 'filterStart', text: 'abc' }, { type: 'filterCancel' })).toMatchObject({ filtering: false, filter: '' });
    expect(run(opened, { type: 'filterStart', text: 'abc' }, { type: 'filterDone' }, { type: 'status', status: { text: 'x', error: false } }, { type: 'clear' })).toMatchObject({ filter: '', status: null });
  });

  it('selects: Space toggles, "a" on a mixed selection selects all, again unselects all', () => {
    const [a, b] = opened.entries.map((e) => e.node);
    let s = run(opened, { type: 'toggle', nodes: [a!] });
    expect([...s.selected.keys()]).toEqual(['/p1/a']);
    s = run(s, { type: 'toggle', nodes: [a!, b!] });
    expect([...s.selected.keys()].sort()).toEqual(['/p1/a', '/p1/b']);
    s = run(s, { type: 'toggle', nodes: [a!, b!] });
    expect(s.selected.size).toBe(0);
    expect(opened.selected.size).toBe(0);
    expect(run(opened, { type: 'toggle', nodes: [a!] }, { type: 'selectNone' }).selected.size).toBe(0);
  });

  it('modes: a preview reaches only the pager it was started for; the target prompt edits; a restore finishes or is cancelled once', () => {
    const pager = run(opened, { type: 'mode', mode: { kind: 'pager', title: 't', content: { type: 'lines', lines: [] }, top: 0, id: 7 } });
    const data = { type: 'preview' as const, data: Buffer.from('hi'), done: true, size: 2 };
    expect(run(pager, { type: 'previewData', id: 7, content: data }).mode).toMatchObject({ kind: 'pager', content: data });
    expect(run(pager, { type: 'previewData', id: 8, content: data })).toBe(pager);
    expect(run(pager, { type: 'pagerScroll', top: 5 }).mode).toMatchObject({ top: 5 });
    expect(run(pager, { type: 'pagerFailed', id: 7 }).mode).toEqual({ kind: 'browse' });
    expect(run(opened, { type: 'pagerFailed', id: 7 })).toBe(opened);

    const target = run(opened, { type: 'mode', mode: { kind: 'target', input: '/tmp', nodes: [] } }, { type: 'targetEdit', edit: (t) => t + '/out' });
    expect(target.mode).toMatchObject({ kind: 'target', input: '/tmp/out' });
    expect(run(opened, { type: 'targetEdit', edit: () => 'x' })).toBe(opened);

    const restoring = run(opened, { type: 'mode', mode: { kind: 'restoring', outDir: '/o', started: 1, cancelling: false } });
    expect(run(restoring, { type: 'restoreCancelling' }).mode).toMatchObject({ cancelling: true });
    expect(run(restoring, { type: 'restoreFinished', at: 9 }).mode).toMatchObject({ finished: 9 });
    expect(run(pager, { type: 'restoreFinished', at: 9 })).toBe(pager);
  });
});
