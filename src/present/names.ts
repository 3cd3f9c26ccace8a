/**
 * How names and sizes are shown to a person, the same in the command line and in the TUI
 * (both import this; neither imports the other for it).
 */

import { escapeText, needsEscapeText } from '../escape.js';

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

/**
 * Names are shown through escapeText (src/escape.ts) so a listing is one line per entry and
 * drives no terminal; backslashes doubled, so each shown name maps back to one stored name.
 */
export function needsEscape(name: string): boolean {
  return needsEscapeText(name, { backslash: true });
}

export function displayName(name: string): string {
  return escapeText(name, { backslash: true });
}
