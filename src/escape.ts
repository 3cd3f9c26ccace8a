/**
 * The one way a string from an image (a name, a label, a symlink target, a message quoting
 * them) is made safe to show: on a terminal, in a log line, in the browser. Control
 * characters would drive the terminal (ESC sequences retitle the window or clear the screen,
 * BEL rings) or forge lines (issue 26). Every text output goes through `escapeText`; JSON
 * output through `jsonText`, which escapes the same characters the JSON way.
 */

/**
 * C0 controls and DEL, C1 controls (U+0080–U+009F: one-byte CSI and OSC on some terminals),
 * and lone UTF-16 surrogates (a broken name from NTFS/exFAT/FAT long names, which would
 * otherwise be written as U+FFFD and hide that the name is not what it seems). Invalid UTF-8
 * is already U+FFFD where it was decoded, which shows as such.
 */
const UNSAFE = /[\x00-\x1f\x7f-\x9f]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSAFE_G = new RegExp(UNSAFE.source, 'g');
const UNSAFE_OR_BACKSLASH = new RegExp(`${UNSAFE.source}|\\\\`);
const UNSAFE_OR_BACKSLASH_G = new RegExp(UNSAFE_OR_BACKSLASH.source, 'g');

function visible(c: string): string {
  if (c === '\\') return '\\\\';
  const code = c.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16)}`;
}

export interface EscapeOptions {
  /**
   * Also double backslashes, so that every shown name maps back to one stored name (listings:
   * a stored "\x1b" and an escaped ESC would look alike). Messages keep them single.
   */
  backslash?: boolean;
}

/** True when escapeText would change `s`. */
export function needsEscapeText(s: string, opts: EscapeOptions = {}): boolean {
  return (opts.backslash ? UNSAFE_OR_BACKSLASH : UNSAFE).test(s);
}

/** `s` with every unsafe character shown as \xHH (or \uHHHH for a lone surrogate). */
export function escapeText(s: string, opts: EscapeOptions = {}): string {
  // Nearly every string needs nothing: test first, build a new string only then.
  if (!needsEscapeText(s, opts)) return s;
  return s.replace(opts.backslash ? UNSAFE_OR_BACKSLASH_G : UNSAFE_G, visible);
}

/** Characters JSON.stringify leaves raw that a terminal would act on: DEL and C1 controls. */
const JSON_RAW = /[\x7f-\x9f]/g;

/**
 * JSON.stringify, with DEL and C1 controls written as \u escapes too (JSON allows them raw;
 * a terminal showing the output would act on them). C0 controls and lone surrogates are
 * already escaped by JSON.stringify; the value parses back unchanged.
 */
export function jsonText(v: unknown, space?: number): string {
  const s = JSON.stringify(v, null, space);
  return s.replace(JSON_RAW, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
