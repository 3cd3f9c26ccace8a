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

export function safeName(stored: string): SafeName {
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
