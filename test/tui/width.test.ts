/**
 * Display widths: the TUI's own table against string-width (what Ink lays text out with) and
 * Python's unicodedata.east_asian_width, on every name of the test trees and on CJK, Hangul,
 * fullwidth, emoji and combining-mark names.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import stringWidthInk from 'string-width';
import { buildGptFatDisk } from '../../scripts/images/fat.js';
import { cachedImage, tool } from '../helpers/tools.js';
import { fit, stringWidth, truncate, wrap } from '../../src/tui/width.js';

const SAMPLES = [
  '日本語のファイル.txt', 'Grüße aus München.txt', '한국어 파일.hwp', '中文文件夹', 'ｆｕｌｌｗｉｄｔｈ', 'ﾊﾝｶｸ',
  'emoji 😀 file.txt', '📁 folder', '🎉🎉', 'e\u0301cole (combining)', 'Ångström', 'Ελληνικά', 'кириллица',
  'tab-free plain.txt', 'mixed 日本 and ascii', '✅ done', '⭐ star', 'zero\u200bwidth',
];

function names(): string[] {
  const img = cachedImage('fat-gpt.img', buildGptFatDisk);
  const m = JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as Record<string, { path: string }[]>;
  return [...new Set(Object.values(m).flatMap((v) => v.map((e) => e.path.split('/').pop()!)))];
}

describe('display width', () => {
  it('agrees with string-width (Ink) on every name', () => {
    for (const s of [...SAMPLES, ...names()]) expect(stringWidth(s), s).toBe(stringWidthInk(s));
  });

  it('agrees with Python unicodedata (W/F = 2 cells, combining = 0) on the CJK and plain samples', () => {
    const py = 'import sys, json, unicodedata as u\n'
      + 'w=lambda s: sum(0 if u.combining(c) or c=="\\u200b" else 2 if u.east_asian_width(c) in "WF" else 1 for c in s)\n'
      + 'print(json.dumps([w(s) for s in json.load(sys.stdin)]))';
    const plain = SAMPLES.filter((s) => !/\p{Extended_Pictographic}/u.test(s));
    const want = JSON.parse(tool('python3', ['-c', py], { input: JSON.stringify(plain) })) as number[];
    plain.forEach((s, i) => expect(stringWidth(s), s).toBe(want[i]));
  });

  it('fit, truncate and wrap give exact cell counts and never split a wide character', () => {
    for (const s of SAMPLES) {
      for (const w of [1, 2, 3, 5, 8, 13]) {
        expect(stringWidth(fit(s, w)), `${s} @${w}`).toBe(w);
        expect(stringWidth(truncate(s, w))).toBeLessThanOrEqual(w);
        const pieces = wrap(s, w);
        expect(pieces.join('')).toBe(s);
        for (const p of pieces) expect(stringWidth(p)).toBeLessThanOrEqual(Math.max(w, 2));
      }
    }
  });
});
