import { useRef } from 'react';
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { streamPreview } from './preview.js';
import type { Action, PagerContent } from './state.js';

/**
 * The pager and the file preview: opening a pager, streaming a file's first 64 KiB into it
 * (into that pager only: a preview of a closed pager is dropped), closing it.
 */
export function usePreview(vfs: Vfs, dispatch: (a: Action) => void, onError: (err: unknown) => void) {
  const pagerSeq = useRef(0);
  const abort = useRef<AbortController | null>(null);

  const openPager = (title: string, content: PagerContent): number => {
    const id = ++pagerSeq.current;
    dispatch({ type: 'mode', mode: { kind: 'pager', title, content, top: 0, id } });
    return id;
  };

  const previewFile = (node: VfsNode) => {
    const size = node.stat.size;
    abort.current?.abort();
    const mine = new AbortController();
    abort.current = mine;
    const id = openPager(node.path, { type: 'preview', data: Buffer.alloc(0), done: false, size });
    streamPreview(vfs, node, (data, done) => dispatch({ type: 'previewData', id, content: { type: 'preview', data, done, size } }), mine.signal).catch((err) => {
      if (mine.signal.aborted) return;
      dispatch({ type: 'pagerFailed', id });
      onError(err);
    });
  };

  /** Stops a preview still reading. */
  const stop = () => abort.current?.abort();

  const closePager = () => {
    stop();
    dispatch({ type: 'mode', mode: { kind: 'browse' } });
  };

  return { openPager, previewFile, closePager, stop };
}
