import { useRef, useState, type MutableRefObject } from 'react';

/**
 * useState plus a mirror that changes at once. Keys can arrive faster than frames are drawn;
 * the key handler reads the mirror, so each key sees what the keys before it did, while
 * rendering uses the state as usual. Updaters are applied to the mirror, in order.
 */
export function useLiveState<T>(initial: T | (() => T)): [T, MutableRefObject<T>, (next: T | ((prev: T) => T)) => void] {
  const [state, setState] = useState<T>(initial);
  const live = useRef<T>(state);
  const set = (next: T | ((prev: T) => T)) => {
    const v = typeof next === 'function' ? (next as (prev: T) => T)(live.current) : next;
    live.current = v;
    setState(v);
  };
  return [state, live, set];
}
