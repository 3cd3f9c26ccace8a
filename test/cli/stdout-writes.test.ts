/**
 * Command output goes through writeStdout (src/cli/run.ts): it writes fd 1 directly and, once a
 * write fails, hands over to process.stdout, which runCommand then drains before exiting. A
 * `process.stdout.write` elsewhere makes the stream behind runCommand's back, so its queued
 * bytes were cut off at exit (extract --json of 1 000 folders lost its end in a pipe). The TUI
 * (ink owns the terminal) is the exception.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? (e.name === 'tui' ? [] : sources(join(dir, e.name))) : /\.tsx?$/.test(e.name) ? [join(dir, e.name)] : [],
  );
}

describe('stdout', () => {
  it('no module outside the TUI writes process.stdout or console.log itself', () => {
    const files = sources(SRC);
    expect(files.length).toBeGreaterThan(100);
    const offenders = files.flatMap((f) =>
      readFileSync(f, 'utf8')
        .split('\n')
        .map((line, i) => ({ line, at: `${relative(SRC, f)}:${i + 1}` }))
        .filter(({ line }) => /process\.stdout\.write\(|console\.log\(/.test(line) && !/^\s*(\/\/|\*)/.test(line))
        .map(({ at }) => at),
    );
    expect(offenders).toEqual([]);
  });
});
