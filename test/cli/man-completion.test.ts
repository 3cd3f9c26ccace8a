/**
 * Issue 20: a man page installed with the package and shell completion for bash, zsh and fish
 * (commands, options, option values, paths inside the image). The lists expected come from
 * `diskpick --help` and each command's --help (what a user sees), the paths from GNU ls of the
 * host tree the image was made from; each shell runs its own completion code.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, diskpick } from '../helpers/tools.js';
import { cliExt } from './helpers.js';

const bin = mkdtempSync(join(tmpdir(), 'dp-compl-'));
writeFileSync(join(bin, 'diskpick'), `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} "$@"\n`);
chmodSync(join(bin, 'diskpick'), 0o755);
afterAll(() => rmSync(bin, { recursive: true, force: true }));
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, LC_ALL: 'C.UTF-8', TZ: 'UTC' };

function shell(cmd: string, args: string[], script: string): string[] {
  const r = spawnSync(cmd, [...args, script], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean);
}

/** Commands as `diskpick --help` lists them. */
function commands(): string[] {
  const top = diskpick(['--help']).stdout.toString().split('Commands:')[1]!;
  return [...top.matchAll(/^ {2}([a-z]+)/gm)].map((m) => m[1]!).filter((n) => n !== 'help');
}

/** Option flags as `diskpick CMD --help` shows them. */
function flags(cmd: string[]): string[] {
  const text = diskpick([...cmd, '--help']).stdout.toString().split('Options:')[1]!.split(/\n\n/)[0]!;
  return [...text.matchAll(/^ {2}(-[^ ,]+)(?:, (-[^ ]+))?/gm)].flatMap((m) => [m[1]!, m[2]].filter((f): f is string => !!f)).filter((f) => f !== '--help' && (f !== '-h' || cmd[0] === 'ls'));
}

describe('man page', () => {
  const page = readFileSync(join(ROOT, 'man', 'diskpick.1'), 'utf8');

  it('is what the commander definitions give (written by npm run build) and is installed by package.json', () => {
    expect(diskpick(['__man']).stdout.toString()).toBe(page);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { man: string; files: string[] };
    expect(pkg.man).toBe('./man/diskpick.1');
    expect(pkg.files).toContain('man/diskpick.1');
  });

  it('lists every command and every option, and man renders it without warnings', () => {
    const r = spawnSync('man', ['--warnings', '-l', join(ROOT, 'man', 'diskpick.1')], { encoding: 'utf8', env: { ...env, MANWIDTH: '100', MANPAGER: 'cat', PAGER: 'cat' } });
    expect(r.stderr).toBe('');
    const text = r.stdout;
    const cmds = commands();
    expect(cmds.length).toBeGreaterThan(10);
    for (const c of cmds) {
      expect(text, c).toMatch(new RegExp(`^ {3}${c} \\[options\\]`, 'm'));
      for (const f of flags([c])) expect(text, `${c} ${f}`).toContain(f);
    }
    for (const f of flags([])) expect(text, f).toContain(f);
    expect(text).toMatch(/EXIT STATUS/);
  });
});

describe('shell completion', () => {
  const { img, tree } = cliExt();
  const docs = spawnSync('ls', ['-1p', join(tree, 'docs')], { encoding: 'utf8', env }).stdout.split('\n').filter(Boolean).map((n) => `/p0/docs/${n}`);
  const lsFlags = flags(['ls']).filter((f) => f !== '--help');
  const cmds = commands().concat('completion').filter((c, i, a) => a.indexOf(c) === i).sort();

  it('bash: commands, options, option values, host files, paths inside the image', () => {
    const t = (words: string[]) => `t ${words.map((w) => `'${w}'`).join(' ')}`;
    const out = shell('bash', ['-c'], [
      'source <(diskpick completion bash)',
      't() { COMP_WORDS=("$@"); COMP_CWORD=$(($#-1)); COMPREPLY=(); _diskpick; echo "${COMPREPLY[*]}"; }',
      t(['diskpick', '']), t(['diskpick', 'ls', '-']), t(['diskpick', 'ls', '--hash', 's']),
      t(['diskpick', 'ls', img.slice(0, -2)]), t(['diskpick', 'ls', img, '/p0/do']), t(['diskpick', 'ls', '-l', img, '/p0/docs/']),
      t(['diskpick', 'extract', img, '/p0/docs/', '-o', '/t']),
    ].join('\n'));
    expect(out[0]!.split(' ').sort()).toEqual(cmds);
    expect(out[1]!.split(' '), out[1]).toEqual(expect.arrayContaining(lsFlags));
    expect(out[2]).toBe('sha256 sha1');
    expect(out[3]).toBe(img);
    expect(out[4]).toBe('/p0/docs/');
    expect(out[5]!.split(' ')).toEqual(docs);
    expect(out[6]).toBe('/tmp');
  });

  it('zsh: the same through compadd and _files', () => {
    const out = shell('zsh', ['-c'], [
      'compdef() { :; }',
      'compadd() { while [[ $1 == -* ]]; do [[ $1 == -- ]] && { shift; break; }; [[ $1 == -S ]] && shift; shift; done; print -l -- "$@"; }',
      '_files() { print -- ":files $*"; }',
      'source <(diskpick completion zsh)',
      'words=(diskpick ""); CURRENT=2; _diskpick; print -- --',
      `words=(diskpick ls ${img} /p0/docs/); CURRENT=4; _diskpick; print -- --`,
      'words=(diskpick ls ""); CURRENT=3; _diskpick; print -- --',
      'words=(diskpick mount x ""); CURRENT=4; _diskpick',
    ].join('\n'));
    const parts = out.join('\n').split('\n--\n').map((p) => p.split('\n'));
    expect([...parts[0]!].sort()).toEqual(cmds);
    expect([...parts[1]!].sort()).toEqual([...docs].sort());
    expect(parts[2]).toEqual([':files ']);
    expect(parts[3]).toEqual([':files -/']);
  });

  it('fish: complete -C gives the same', () => {
    const c = (line: string) => `complete -C'${line}'; echo ==`;
    const out = shell('fish', ['-c'], ['diskpick completion fish | source', c('diskpick '), c(`diskpick ls ${img} /p0/docs/`), c('diskpick ls --hash '), c(`diskpick cat ${img.slice(0, -2)}`)].join('; '));
    const parts = out.join('\n').split(/\n?==\n?/).map((p) => p.split('\n').filter(Boolean).map((l) => l.split('\t')[0]!));
    expect([...parts[0]!].sort()).toEqual(cmds);
    expect(parts[1]).toEqual(docs);
    expect([...parts[2]!].sort()).toEqual(['md5', 'sha1', 'sha256']);
    expect(parts[3]).toEqual([img]);
  });

  it('the completion command names the shells it has', () => {
    const r = diskpick(['completion', 'tcsh']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no completion for shell "tcsh" \(bash, zsh, fish\)/);
  });
});
