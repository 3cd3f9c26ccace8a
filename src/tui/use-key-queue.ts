import { useCallback, useRef } from 'react';
import { useInput, type Key } from 'ink';
import { splitKeys } from './keys.js';

/**
 * Every key, in order. Ink's input events are split into single keys (splitKeys), and keys
 * wait in a queue while the browser is busy with something the next key depends on: a folder
 * being read ("Enter j Enter" opens the folder, then moves in it and opens what the cursor is
 * on, not what was under it in the folder before), or a restore target being checked. `resume`
 * hands the waiting keys on once that is over; App calls it after every state change.
 *
 * `busy` says whether keys must wait now; `now` whether a key acts at once even so (Ctrl-C,
 * and `q` when no key waits before it): a stuck read must not hold the way out.
 */
export function useKeyQueue(handle: (input: string, key: Key) => void, busy: () => boolean, now: (input: string, key: Key) => boolean): () => void {
  const queue = useRef<Array<[string, Key]>>([]);
  const draining = useRef(false);
  const latest = useRef({ handle, busy, now });
  latest.current = { handle, busy, now };

  const resume = useCallback(() => {
    if (draining.current) return;
    draining.current = true;
    try {
      while (queue.current.length && !latest.current.busy()) {
        const [input, key] = queue.current.shift()!;
        latest.current.handle(input, key);
      }
    } finally {
      draining.current = false;
    }
  }, []);

  useInput(useCallback((input: string, key: Key) => {
    for (const [i, k] of splitKeys(input, key)) {
      if (k.ctrl && i === 'c') queue.current.length = 0;
      if ((k.ctrl && i === 'c') || (queue.current.length === 0 && latest.current.now(i, k))) {
        latest.current.handle(i, k);
        continue;
      }
      queue.current.push([i, k]);
    }
    resume();
  }, [resume]));

  return resume;
}
