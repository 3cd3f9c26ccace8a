/**
 * How names and sizes are shown to a person, the same in the command line and in the TUI
 * (both import this; neither imports the other for it).
 */

/** 1536 → "1.50 KiB": three significant digits, binary units. */
export function humanSize(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)} ${units[u]}`;
}

/** Names with control characters are shown escaped so a listing is one line per entry. */
const NEEDS_ESCAPE = /[\x00-\x1f\x7f\\]/;

export function needsEscape(name: string): boolean {
  return NEEDS_ESCAPE.test(name);
}

export function displayName(name: string): string {
  // Nearly every name needs nothing: test first, replace (a new string) only then.
  if (!NEEDS_ESCAPE.test(name)) return name;
  return name.replace(/[\x00-\x1f\x7f\\]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}

