/**
 * The browser's key prompt for an encrypted volume (LUKS, BitLocker) that was left locked: when
 * the user opens it, a prompt takes the keys until Enter (try the key) or Esc (leave it locked).
 * What is typed is never shown, kept out of React state (a Buffer in a ref, zeroed after each
 * try), and goes only to Vfs.unlock; a wrong key shows the one-line error and asks again.
 * A 48-digit answer (8 groups) on BitLocker is taken as the recovery password.
 */
import { useRef, useState } from 'react';
import type { Key } from 'ink';
import { DiskpickError } from '../errors.js';
import type { Vfs, VfsNode, VfsVolume } from '../vfs/vfs.js';

export interface UnlockPromptState {
  /** The volume's path ("/p3") and what it is ("LUKS2", "BitLocker"). */
  path: string;
  type: string;
  /** Trying the key (the KDF takes a moment). */
  trying: boolean;
  /** The last try's error (no secret in it). */
  error: string | null;
}

export interface Unlocker {
  asking: UnlockPromptState | null;
  /** True when `node` is a locked volume: the prompt is shown instead of opening it. */
  ask(node: VfsNode): boolean;
  /** Keys while asking; true when the key was the prompt's. */
  onKey(input: string, key: Key): boolean;
}

export function useUnlock(vfs: Vfs, opened: (node: VfsNode) => void): Unlocker {
  const [asking, setAsking] = useState<UnlockPromptState | null>(null);
  const target = useRef<{ node: VfsNode; vol: VfsVolume } | null>(null);
  const typed = useRef({ buf: Buffer.alloc(256), n: 0 });
  const busy = useRef(false);

  const clear = () => {
    typed.current.buf.fill(0);
    typed.current.n = 0;
  };

  const ask = (node: VfsNode): boolean => {
    const vol = vfs.lockedVolume(node);
    if (!vol) return false;
    target.current = { node, vol };
    clear();
    setAsking({ path: node.path, type: vol.encryption?.type ?? 'encrypted', trying: false, error: null });
    return true;
  };

  const tryKey = async () => {
    const t = target.current;
    if (!t || busy.current) return;
    const secret = Buffer.from(typed.current.buf.subarray(0, typed.current.n));
    clear();
    busy.current = true;
    setAsking((a) => (a ? { ...a, trying: true, error: null } : a));
    try {
      const text = secret.toString('utf8');
      const recovery = /^BitLocker/.test(t.vol.encryption?.type ?? '') && /^[0-9]{6}(-[0-9]{6}){7}$/.test(text.trim());
      const ok = await vfs.unlock(t.vol, recovery ? { recoveryPasswords: [text.trim()] } : { passphrases: [secret] });
      if (!ok) throw new DiskpickError('wrongKey', 'this volume could not be opened', t.node.path);
      target.current = null;
      setAsking(null);
      opened(t.node);
    } catch (err) {
      // The message alone: the image's path would push the prompt off a narrow line.
      const line = err instanceof DiskpickError ? err.message : String((err as Error)?.message ?? err);
      setAsking((a) => (a ? { ...a, trying: false, error: line } : a));
    } finally {
      secret.fill(0);
      busy.current = false;
    }
  };

  const onKey = (input: string, key: Key): boolean => {
    if (!target.current) return false;
    if (busy.current) return true;
    if (key.escape || (key.ctrl && input === 'c')) {
      clear();
      target.current = null;
      setAsking(null);
      // Ctrl-C goes on to the browser (it quits); Esc only leaves the volume locked.
      return !key.ctrl;
    }
    if (key.return) {
      void tryKey();
      return true;
    }
    if (key.backspace || key.delete) {
      if (typed.current.n > 0) typed.current.n--;
      return true;
    }
    if (!input || key.ctrl || key.meta) return true;
    const bytes = Buffer.from(input.replace(/[\x00-\x1f\x7f]/g, ''), 'utf8');
    const t = typed.current;
    if (t.n + bytes.length > t.buf.length) {
      const bigger = Buffer.alloc(Math.max(t.buf.length * 2, t.n + bytes.length));
      t.buf.copy(bigger);
      t.buf.fill(0);
      t.buf = bigger;
    }
    bytes.copy(t.buf, t.n);
    t.n += bytes.length;
    bytes.fill(0);
    return true;
  };

  return { asking, ask, onKey };
}
