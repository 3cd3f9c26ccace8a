/**
 * Issue 26 item 7: terminal injection. Names and a volume label holding ESC sequences (title
 * change, screen clear), BEL, DEL, a C1 CSI, a CR and invalid UTF-8 reach no output raw: every
 * command's stdout and stderr is grepped for raw control bytes; --json output parses back to
 * the names as stored (debugfs ls is the oracle for those).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildControlNames, type ControlNamesPlan } from '../../scripts/images/hostile2.js';
import { escapeText, jsonText } from '../../src/escape.js';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { debugfsBatch, parseDebugfsLs } from '../ext/helpers.js';
import { RAW_CONTROL, expectCleanOutput } from './common.js';

const img = cachedImage('h2-control-names.img', (p) => void buildControlNames(p));
const plan = JSON.parse(readFileSync(`${img}.plan.json`, 'utf8')) as ControlNamesPlan;
/** Names as a reader decodes them (UTF-8, invalid bytes as U+FFFD), from debugfs's listing. */
const stored = parseDebugfsLs(debugfsBatch(img, ['ls -l /ctl'])[0]!).map((e) => e.name).sort();

describe('escapeText and jsonText', () => {
  it('show every C0/C1 control, DEL and lone surrogate visibly, keep the rest', () => {
    for (let c = 0; c < 0xa0; c++) {
      const s = String.fromCharCode(c);
      const shown = escapeText(`a${s}b`);
      expect(RAW_CONTROL.test(shown), `U+${c.toString(16)}`).toBe(false);
      if (c >= 0x20 && c < 0x7f) expect(shown).toBe(`a${s}b`);
    }
    expect(escapeText('x\ud800y')).toBe('x\\ud800y');
    expect(escapeText('\udc00')).toBe('\\udc00');
    expect(escapeText('😀 Läöü 漢')).toBe('😀 Läöü 漢');
    expect(escapeText('a\\b', { backslash: true })).toBe('a\\\\b');
    const v = { n: 'a\x1b\x7f\u009b\ud800' };
    expect(RAW_CONTROL.test(jsonText(v))).toBe(false);
    expect(JSON.parse(jsonText(v))).toEqual(v);
  });
});

describe('no raw control byte in any command output (issue 26 item 7)', () => {
  it('debugfs lists the planted names (the oracle)', () => {
    expect(stored).toHaveLength(plan.files.length);
    expect(stored.some((n) => n.includes('\x1b]0;'))).toBe(true);
  });

  it('ls, find, info, cat and their --json forms', async () => {
    const before = await sha256File(img);
    const text: string[][] = [
      ['ls', img, '/p0/ctl'], ['ls', '-l', img, '/p0/ctl'], ['ls', '-R', img, '/p0'], ['ls', '-l', '-R', img, '/p0'],
      ['ls', '--hash', 'sha256', img, '/p0/ctl'], ['ls', img, '/p0/ctl/*.txt'],
      ['find', img, '/p0'], ['find', '-l', img, '/p0'], ['info', img],
    ];
    for (const args of text) {
      const r = diskpick(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expectCleanOutput(r, args[0]);
    }
    // The label is shown, escaped.
    expect(diskpick(['info', img]).stdout.toString()).toContain(escapeText(Buffer.from(plan.labelHex, 'hex').toString()));
    for (const args of [['ls', '--json', img, '/p0/ctl'], ['find', '--json', img, '/p0/ctl']]) {
      const r = diskpick(args);
      expect(r.status, r.stderr).toBe(0);
      expectCleanOutput(r, args.join(' '));
      const names = r.stdout.toString().trim().split('\n').map((l) => (JSON.parse(l) as { name: string }).name).filter((n) => n !== 'ctl');
      expect(names.sort()).toEqual(stored);
    }
    const info = diskpick(['info', '--json', img]);
    expectCleanOutput(info, 'info --json');
    const label = (JSON.parse(info.stdout.toString()) as { volumes: { filesystem: { label: string } }[] }).volumes[0]!.filesystem.label;
    expect(Buffer.from(label).toString('hex')).toBe(plan.labelHex);
    // cat of each file by its stored name: the bytes, and nothing raw on stderr.
    for (const name of stored) {
      const r = diskpick(['cat', img, `/p0/ctl/${name}`]);
      expect(r.status, r.stderr).toBe(0);
      expect(plan.files.map((f) => f.content)).toContain(r.stdout.toString());
      expectCleanOutput({ ...r, stdout: Buffer.alloc(0) }, `cat ${JSON.stringify(name)}`);
    }
    const missing = diskpick(['cat', img, '/p0/ctl/\x1b]0;gone\x07']);
    expect(missing.status).toBe(4);
    expectCleanOutput(missing, 'cat missing');
    expect(await sha256File(img)).toBe(before);
  });

  it('extract: written, renamed, dry-run and failure lines, text and --json', async () => {
    const before = await sha256File(img);
    const out = mkdtempSync(join(tmpdir(), 'dp-h2-ctl-'));
    try {
      const dry = diskpick(['extract', '--dry-run', img, '/p0/ctl', '-o', join(out, 'x')]);
      expect(dry.status, dry.stderr).toBe(0);
      expectCleanOutput(dry, 'extract --dry-run');
      const first = diskpick(['extract', img, '/p0/ctl', '-o', join(out, 'x')]);
      expect(first.status, first.stderr).toBe(0);
      expectCleanOutput(first, 'extract');
      expect(first.stderr).toMatch(/renamed/);
      // Again: every file exists, so each one fails with a line naming it.
      const again = diskpick(['extract', img, '/p0/ctl', '-o', join(out, 'x')]);
      expect(again.status).toBe(1);
      expectCleanOutput(again, 'extract again');
      expect(again.stderr.split('\n').filter((l) => /already exists/.test(l)).length).toBe(plan.files.length);
      const json = diskpick(['extract', '--json', img, '/p0/ctl', '-o', join(out, 'y')]);
      expect(json.status, json.stderr).toBe(0);
      expectCleanOutput(json, 'extract --json');
      const s = JSON.parse(json.stdout.toString()) as { written: { source: string }[] };
      expect(s.written.filter((w) => w.source !== '/p0/ctl').map((w) => w.source.slice('/p0/ctl/'.length)).sort()).toEqual(stored);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });
});
