/**
 * Names from an image are untrusted: a restored name must be one plain path component on the
 * host. Anything else is made safe and reported.
 */
import { createHash } from 'node:crypto';

/** Largest name in bytes most Linux filesystems accept. */
const NAME_MAX = 255;

export interface SafeName {
  name: string;
  /** Why it differs from the stored name, or null when unchanged. */
  reason: string | null;
}

export interface SafeNameOptions {
  /**
   * Also make the name valid on Windows: reserved device names (CON, PRN, AUX, NUL, COM1-9,
   * LPT1-9, with or without an extension), the characters < > : " | ? *, and trailing dots or
   * spaces. On by default when diskpick runs on Windows; `--windows-names` elsewhere (for a
   * restore onto an SMB share or a USB stick that a Windows machine will read).
   */
  windows?: boolean;
}

/** Device names Windows reserves in every folder, whatever the extension (`nul.txt` too). */
const WINDOWS_RESERVED = /^(con|prn|aux|nul|com[1-9\u00b9\u00b2\u00b3]|lpt[1-9\u00b9\u00b2\u00b3])(\.|$)/i;

export function safeName(stored: string, opts: SafeNameOptions = {}): SafeName {
  const reasons: string[] = [];
  let name = stored;
  if (/[\x00-\x1f\x7f]/.test(name)) {
    name = name.replace(/[\x00-\x1f\x7f]/g, '_');
    reasons.push('control characters or NUL');
  }
  if (name.includes('/') || name.includes('\\')) {
    name = name.replace(/[/\\]/g, '_');
    reasons.push('path separators');
  }
  if (opts.windows) {
    if (/[<>:"|?*]/.test(name)) {
      name = name.replace(/[<>:"|?*]/g, '_');
      reasons.push('characters Windows does not allow');
    }
    if (/[. ]$/.test(name) && name !== '.' && name !== '..') {
      name = name.replace(/[. ]+$/, (m) => '_'.repeat(m.length));
      reasons.push('trailing dot or space');
    }
    if (WINDOWS_RESERVED.test(name)) {
      name = `_${name}`;
      reasons.push('a Windows-reserved device name');
    }
  }
  if (name === '' || name === '.' || name === '..') {
    name = `_${name}`;
    reasons.push(stored === '' ? 'empty name' : 'a "." or ".." name');
  }
  if (Buffer.byteLength(name) > NAME_MAX) {
    const tag = createHash('sha256').update(stored).digest('hex').slice(0, 8);
    let cut = name;
    while (Buffer.byteLength(cut) > NAME_MAX - 9) cut = cut.slice(0, -1);
    name = `${cut}~${tag}`;
    reasons.push(`longer than ${NAME_MAX} bytes`);
  }
  return { name, reason: reasons.length ? reasons.join(', ') : null };
}
