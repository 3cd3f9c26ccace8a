/**
 * Display width of names in terminal cells, so columns line up for CJK names and emoji.
 * A small table of its own (East Asian Wide/Fullwidth blocks, emoji, zero-width marks)
 * instead of a transitive dependency of Ink; test/tui/width.test.ts checks it against the
 * string-width Ink itself lays out with.
 */

/** [first, last] code point ranges that take two cells (East Asian Wide and Fullwidth, emoji). */
const WIDE: ReadonlyArray<readonly [number, number]> = [
  [0x1100, 0x115f], [0x231a, 0x231b], [0x2329, 0x232a], [0x23e9, 0x23ec], [0x23f0, 0x23f0], [0x23f3, 0x23f3],
  [0x25fd, 0x25fe], [0x2614, 0x2615], [0x2648, 0x2653], [0x267f, 0x267f], [0x2693, 0x2693], [0x26a1, 0x26a1],
  [0x26aa, 0x26ab], [0x26bd, 0x26be], [0x26c4, 0x26c5], [0x26ce, 0x26ce], [0x26d4, 0x26d4], [0x26ea, 0x26ea],
  [0x26f2, 0x26f3], [0x26f5, 0x26f5], [0x26fa, 0x26fa], [0x26fd, 0x26fd], [0x2705, 0x2705], [0x270a, 0x270b],
  [0x2728, 0x2728], [0x274c, 0x274c], [0x274e, 0x274e], [0x2753, 0x2755], [0x2757, 0x2757], [0x2795, 0x2797],
  [0x27b0, 0x27b0], [0x27bf, 0x27bf], [0x2b1b, 0x2b1c], [0x2b50, 0x2b50], [0x2b55, 0x2b55],
  [0x2e80, 0x303e], [0x3041, 0x33ff], [0x3400, 0x4dbf], [0x4e00, 0x9fff], [0xa000, 0xa4cf], [0xa960, 0xa97f],
  [0xac00, 0xd7a3], [0xf900, 0xfaff], [0xfe10, 0xfe19], [0xfe30, 0xfe6f], [0xff01, 0xff60], [0xffe0, 0xffe6],
  [0x16fe0, 0x16fe4], [0x17000, 0x18cff], [0x1b000, 0x1b2ff], [0x1f004, 0x1f004], [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e], [0x1f191, 0x1f19a], [0x1f200, 0x1f251], [0x1f300, 0x1f320], [0x1f32d, 0x1f335],
  [0x1f337, 0x1f37c], [0x1f37e, 0x1f393], [0x1f3a0, 0x1f3ca], [0x1f3cf, 0x1f3d3], [0x1f3e0, 0x1f3f0],
  [0x1f3f4, 0x1f3f4], [0x1f3f8, 0x1f43e], [0x1f440, 0x1f440], [0x1f442, 0x1f4fc], [0x1f4ff, 0x1f53d],
  [0x1f54b, 0x1f54e], [0x1f550, 0x1f567], [0x1f57a, 0x1f57a], [0x1f595, 0x1f596], [0x1f5a4, 0x1f5a4],
  [0x1f5fb, 0x1f64f], [0x1f680, 0x1f6c5], [0x1f6cc, 0x1f6cc], [0x1f6d0, 0x1f6d2], [0x1f6d5, 0x1f6d7],
  [0x1f6dc, 0x1f6df], [0x1f6eb, 0x1f6ec], [0x1f6f4, 0x1f6fc], [0x1f7e0, 0x1f7eb], [0x1f7f0, 0x1f7f0],
  [0x1f90c, 0x1f93a], [0x1f93c, 0x1f945], [0x1f947, 0x1f9ff], [0x1fa70, 0x1faff], [0x20000, 0x2fffd], [0x30000, 0x3fffd],
];

/** Code points that take no cell of their own: combining marks, joiners, variation selectors. */
const ZERO: ReadonlyArray<readonly [number, number]> = [
  [0x0300, 0x036f], [0x0483, 0x0489], [0x0591, 0x05bd], [0x0610, 0x061a], [0x064b, 0x065f], [0x0e31, 0x0e31],
  [0x0e34, 0x0e3a], [0x0e47, 0x0e4e], [0x1ab0, 0x1aff], [0x1dc0, 0x1dff], [0x200b, 0x200f], [0x2028, 0x202e],
  [0x2060, 0x2064], [0x20d0, 0x20ff], [0x302a, 0x302d], [0x3099, 0x309a], [0xfe00, 0xfe0f], [0xfe20, 0xfe2f],
  [0xfeff, 0xfeff], [0x1f3fb, 0x1f3ff], [0xe0000, 0xe0fff],
];

function inRanges(cp: number, table: ReadonlyArray<readonly [number, number]>): boolean {
  let lo = 0;
  let hi = table.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [a, b] = table[mid]!;
    if (cp < a) hi = mid - 1;
    else if (cp > b) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Cells one code point takes: 0, 1 or 2. Control characters count 0 (names are escaped before). */
export function charWidth(cp: number): number {
  if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) return 0;
  if (cp < 0x300) return 1;
  if (inRanges(cp, ZERO)) return 0;
  return inRanges(cp, WIDE) ? 2 : 1;
}

export function stringWidth(s: string): number {
  let w = 0;
  for (const ch of s) w += charWidth(ch.codePointAt(0)!);
  return w;
}

/** Cuts `s` to at most `width` cells, ending with "…" when something was cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  if (stringWidth(s) <= width) return s;
  let out = '';
  let w = 0;
  for (const ch of s) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > width - 1) break;
    out += ch;
    w += cw;
  }
  return `${out}…`;
}

/** Exactly `width` cells: truncated, then padded with spaces on the right (or left with `alignRight`). */
export function fit(s: string, width: number, alignRight = false): string {
  const t = truncate(s, width);
  const pad = ' '.repeat(Math.max(0, width - stringWidth(t)));
  return alignRight ? pad + t : t + pad;
}

/** Splits a line into pieces of at most `width` cells (wide characters never split). */
export function wrap(line: string, width: number): string[] {
  if (width <= 0) return [line];
  const out: string[] = [];
  let cur = '';
  let w = 0;
  for (const ch of line) {
    const cw = charWidth(ch.codePointAt(0)!);
    if (w + cw > width) {
      out.push(cur);
      cur = '';
      w = 0;
    }
    cur += ch;
    w += cw;
  }
  out.push(cur);
  return out;
}

/** Cuts `s` to at most `width` cells keeping its end, starting with "…" when something was cut. */
export function truncateStart(s: string, width: number): string {
  if (width <= 0) return '';
  if (stringWidth(s) <= width) return s;
  const chars = [...s];
  let out = '';
  let w = 0;
  for (let i = chars.length - 1; i >= 0; i--) {
    const cw = charWidth(chars[i]!.codePointAt(0)!);
    if (w + cw > width - 1) break;
    out = chars[i] + out;
    w += cw;
  }
  return `…${out}`;
}

/** The first of `forms` that fits in `width` cells, else the last one cut to fit. */
export function firstThatFits(forms: string[], width: number): string {
  return forms.find((f) => stringWidth(f) <= width) ?? truncate(forms[forms.length - 1] ?? '', width);
}

/** Items joined by `sep`, as many as fit in `width` cells; the `keep` items always, at the end. */
export function fitItems(items: string[], keep: string[], width: number, sep = '  '): string {
  const tail = keep.join(sep);
  const out: string[] = [];
  let w = stringWidth(tail);
  for (const it of items) {
    const add = stringWidth(it) + stringWidth(sep);
    if (w + add > width) break;
    out.push(it);
    w += add;
  }
  return truncate([...out, tail].filter(Boolean).join(sep), width);
}

/**
 * Word-wraps a line to `width` cells. Continuation lines are indented to where the line's
 * text column starts (after its first gap of two or more spaces, as in "  key   what it does"),
 * or to its own indent, so panels stay readable in a narrow terminal.
 */
export function wrapWords(line: string, width: number): string[] {
  if (width <= 0 || stringWidth(line) <= width) return [line];
  const lead = /^ */.exec(line)![0].length;
  const gap = /^( *\S.*?\S? {2,})\S/.exec(line);
  let indent = gap && stringWidth(gap[1]!) <= width / 2 ? stringWidth(gap[1]!) : lead;
  if (indent > width / 2) indent = 0;
  const out: string[] = [];
  let cur = line.slice(0, lead);
  let curW = lead;
  const newLine = () => {
    out.push(cur.trimEnd());
    cur = ' '.repeat(indent);
    curW = indent;
  };
  for (const word of line.slice(lead).split(/(?<= )(?=\S)/)) {
    const bareW = stringWidth(word.trimEnd());
    if (bareW <= width - indent) {
      if (curW + bareW > width) newLine();
      cur += word;
      curW += stringWidth(word);
      continue;
    }
    // A word longer than any line: cut by cells, starting on the current line.
    for (const ch of word) {
      const cw = charWidth(ch.codePointAt(0)!);
      if (curW + cw > width) newLine();
      cur += ch;
      curW += cw;
    }
  }
  out.push(cur.trimEnd());
  return out;
}
