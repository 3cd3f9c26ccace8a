/**
 * Checks every issue-26 test makes of a command's output: no stack trace, no raw control byte
 * (other than the newlines and tabs of the output's own lines) on stdout or stderr, and every
 * stderr line a `diskpick:` line.
 */
import { expect } from 'vitest';
import type { CliResult } from '../helpers/tools.js';

/** C0 controls other than \t and \n, DEL, and C1 controls (U+0080–U+009F) once decoded. */
export const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f\u0080-\u009f]/;

export function expectCleanOutput(r: CliResult, what = ''): void {
  const out = r.stdout.toString('utf8');
  expect(RAW_CONTROL.test(out), `${what} stdout has a raw control byte: ${JSON.stringify(out.slice(0, 400))}`).toBe(false);
  expect(RAW_CONTROL.test(r.stderr), `${what} stderr has a raw control byte: ${JSON.stringify(r.stderr)}`).toBe(false);
  expect(r.stderr, `${what} stack trace`).not.toMatch(/\n\s+at |internal error|RangeError|TypeError/);
  for (const line of r.stderr.split('\n').filter(Boolean)) {
    if (line.startsWith('\r') || /^[\s█░▏▎▍▌▋▊▉]*\d/.test(line)) continue;
    expect(line, `${what} stderr line`).toMatch(/^(diskpick: |extracted |would extract |cancelled |stopped |wrote )/);
  }
}
