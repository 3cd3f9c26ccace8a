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

/**
 * useLiveState for a reducer: `dispatch` applies an action to the mirror at once (so the next
 * key of a burst sees it) and hands the result to React for the next frame.
 */
export function useLiveReducer<S, A>(reducer: (s: S, a: A) => S, init: () => S): [S, MutableRefObject<S>, (a: A) => void] {
  const [state, setState] = useState<S>(init);
  const live = useRef<S>(state);
  const dispatch = (a: A) => {
    const next = reducer(live.current, a);
    if (next === live.current) return;
    live.current = next;
    setState(next);
  };
  return [state, live, dispatch];
}
