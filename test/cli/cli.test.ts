/**
 * The command line as a whole: --help with examples on every command (whoever added it),
 * --version against package.json, the documented exit codes, Ctrl-C, and the progress bar
 * (only on a terminal, only after a second).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ProgressBar } from '../../src/cli/progress.js';
import { ExitCode } from '../../src/errors.js';
import { buildQcow2Encrypted } from '../../scripts/images/qcow2.js';
import { buildFatWithLargeFile } from '../../scripts/images/fat.js';
import { CLI, ROOT, cachedImage, diskpick } from '../helpers/tools.js';
import { fatImages } from '../fat/images.js';
import { cliExt } from './helpers.js';

describe('help and version', () => {
  it('every command listed by --help has its own --help with examples', () => {
    const top = diskpick(['--help']);
    expect(top.status).toBe(0);
    const section = top.stdout.toString().split('Commands:')[1]!;
    const names = [...section.matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
    expect(names).toEqual(expect.arrayContaining(['info', 'ls', 'find', 'cat', 'extract']));
    for (const n of names) {
      const r = diskpick([n, '--help']);
      expect(r.status, n).toBe(0);
      expect(r.stdout.toString(), n).toMatch(/Examples?:\n {2}diskpick /);
    }
  });

  it('--version prints the package version', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const r = diskpick([flag]);
      expect(r.status).toBe(0);
      expect(r.stdout.toString().trim()).toBe(pkg.version);
    }
  });
});

describe('exit codes', () => {
  it('are the documented ones, each with a one-line message', () => {
    const gpt = fatImages.gpt();
    const dir = mkdtempSync(join(tmpdir(), 'dp-codes-'));
    const junk = join(dir, 'junk.img');
    writeFileSync(junk, Buffer.alloc(100_000, 0x5a));
    const aFile = join(dir, 'a-file');
    writeFileSync(aFile, '');
    const enc = join(cachedImage('container-qcow2-enc', (d) => buildQcow2Encrypted(d)), 'aes.qcow2');
    const cases: [string[], number][] = [
      [['ls', gpt, '/p1/docs'], ExitCode.ok],
      [['extract', gpt, '/p1/nope', '/p1/docs', '-o', join(dir, 'o1')], ExitCode.partial],
      [['ls', gpt, '--no-such-option'], ExitCode.usage],
      [['extract', gpt, '/p1/docs', '--force', '--skip-existing', '-o', join(dir, 'o0')], ExitCode.usage],
      [['nosuchcommand'], ExitCode.usage],
      [['ls', junk], ExitCode.image],
      [['ls', join(dir, 'missing.img')], ExitCode.image],
      [['cat', gpt, '/p1/nope.txt'], ExitCode.notFound],
      [['cat', gpt, '/p1/docs'], ExitCode.wrongType],
      [['ls', enc], ExitCode.unsupported],
      [['extract', gpt, '/p1/lower.txt', '-o', aFile], ExitCode.output],
    ];
    for (const [args, code] of cases) {
      const r = diskpick(args);
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      if (code !== 0 && code !== ExitCode.partial) {
        expect(r.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
        expect(r.stderr).toMatch(/^diskpick: /);
      }
    }
  });

  it('Ctrl-C during extract: 130, and the half-written file is removed', async () => {
    // A 1 GiB file of data (holes are no longer read, so a sparse file is done at once).
    const img = cachedImage('fat-1g.img', (p) => buildFatWithLargeFile(p, 1 << 30));
    const out = mkdtempSync(join(tmpdir(), 'dp-int-'));
    const child = spawn(process.execPath, [CLI, 'extract', '-q', img, '/p0/big.bin', '-o', out], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    // Interrupt once the copy has begun (the output file exists, under its temporary name).
    for (let i = 0; i < 400 && readdirSync(out).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
    expect(readdirSync(out)).toEqual(['.big.bin.diskpick-part']);
    const sent = Date.now();
    child.kill('SIGINT');
    const code = await exited;
    expect(code, stderr).toBe(ExitCode.interrupted);
    expect(Date.now() - sent).toBeLessThan(3000);
    expect(readdirSync(out)).toEqual([]);
  });
});

describe('progress bar', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  function fakeStream(tty: boolean) {
    const writes: string[] = [];
    return { writes, stream: { isTTY: tty, write: (s: string) => writes.push(s) } as unknown as NodeJS.WriteStream };
  }

  it('draws on a terminal after the first second: files, bytes, rate, ETA; clears at the end', () => {
    let now = 1_000_000;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    const { writes, stream } = fakeStream(true);
    const bar = new ProgressBar(false, stream);
    bar.update({ filesDone: 1, filesTotal: 10, bytesDone: 1 << 20, bytesTotal: 10 << 20 });
    now += 500;
    bar.update({ filesDone: 2, filesTotal: 10, bytesDone: 2 << 20, bytesTotal: 10 << 20 });
    expect(writes).toEqual([]);
    now += 1500;
    bar.update({ filesDone: 4, filesTotal: 10, bytesDone: 4 << 20, bytesTotal: 10 << 20 });
    expect(writes).toHaveLength(1);
    const line = writes[0]!;
    expect(line.startsWith('\r')).toBe(true);
    expect(line).toContain('4/10 files');
    expect(line).toContain('4.00 MiB/10.0 MiB');
    expect(line).toContain('2.00 MiB/s'); // 4 MiB in 2 s
    expect(line).toContain('ETA 0:03'); // 6 MiB left at 2 MiB/s
    bar.done();
    expect(writes[writes.length - 1]).toBe('\r\x1b[K');
  });

  it('nothing when stderr is not a terminal, or with --quiet', () => {
    let now = 0;
    vi.spyOn(Date, 'now').mockImplementation(() => now);
    for (const [tty, quiet] of [[false, false], [true, true]] as const) {
      const { writes, stream } = fakeStream(tty);
      const bar = new ProgressBar(quiet, stream);
      now += 5000;
      bar.update({ filesDone: 1, filesTotal: 2, bytesDone: 1, bytesTotal: 2 });
      bar.done();
      expect(writes).toEqual([]);
    }
  });

  it('a piped stderr gets the summary only, no carriage returns', () => {
    const gpt = fatImages.gpt();
    const out = mkdtempSync(join(tmpdir(), 'dp-prog-'));
    const r = diskpick(['extract', gpt, '/p1', '-o', out]);
    expect(r.status).toBe(0);
    expect(r.stderr).not.toMatch(/[\r\x1b]/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(existsSync(join(out, 'p1', 'big.bin'))).toBe(true);
  });
});
