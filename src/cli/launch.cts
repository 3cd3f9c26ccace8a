#!/usr/bin/env -S -u NODE_EXTRA_CA_CERTS node
/**
 * The `diskpick` command. The #! line drops NODE_EXTRA_CA_CERTS: diskpick opens no TLS
 * connection, and Node parses that bundle at every start before any of our code runs (the
 * system bundle this workplace sets it to costs ~55 ms per start, half of `node -e 1`). Runs dist/cli/bundle.cjs (all of the CLI in one file, made by
 * scripts/bundle.ts) from the V8 code cache made at build time, so a run does not compile
 * ~500 KB of JavaScript first. Without a usable cache (another Node version, other V8 flags)
 * it compiles as `node bundle.cjs` would: slower, same result.
 *
 * No V8 flags on the #! line: --min-semi-space-size=16 (against the start's two scavenges),
 * --single-threaded, --no-opt and --single-threaded-gc were each tried, the code cache made
 * under the same flag: `cat` of a small file took +17%, +14%, +16% CPU and (the last) the
 * same (measured, issue 27, A/B medians of 30 runs on the loaded machine). A V8 flag also
 * changes the flag hash V8 checks a code cache against, so every tool that runs the launcher
 * would need the same flags.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Script } from 'node:vm';

const file = join(__dirname, 'bundle.cjs');

// The bundle's import()s (the TUI, which needs ink, an ES module) go through here: code in a
// vm.Script has no module loader of its own.
(globalThis as Record<symbol, unknown>)[Symbol.for('diskpick.import')] = (specifier: string) => import(specifier);

if (process.argv.includes('--debug')) {
  // Stack traces mapped to src/: Node applies source maps to files it loads, not to a
  // vm.Script. Costs the compile and the map's parse, so only with --debug.
  process.setSourceMapsEnabled(true);
  require(file);
} else {
  // The bundle is ASCII (scripts/bundle.ts checks): latin1 skips UTF-8 decoding.
  const source = readFileSync(file, 'latin1');
  // The cache made for this very file (scripts/bundle.ts names it after the bundle's hash,
  // written at its end): V8 itself compares only the source's length. Commands named there
  // (cat, info, ls) have a cache of their own, of only the code their runs compiled: V8
  // deserialises all of a cache, and the one of every command is ~20 % larger (measured: `cat`
  // of a small file ~3 M instructions less, issue 27). The command is taken as the first
  // argument that is not an option: a guess, which at worst picks the cache of every command.
  const footer = /\/\/# diskpickBuild=(\w+)(?: ([\w,]+))?/.exec(source.slice(-200));
  const id = footer?.[1];
  const command = process.argv.slice(2).find((a) => !a.startsWith('-'));
  const out = process.env.DISKPICK_WRITE_CODE_CACHE;
  let cachedData: Buffer | undefined;
  try {
    // Build time (scripts/bundle.ts): the cache being made, run after run.
    if (out) cachedData = readFileSync(out);
    else if (id) cachedData = readFileSync(`${file}.${id}${command && footer?.[2]?.split(',').includes(command) ? `.${command}` : ''}.cache`);
  } catch {
    // No cache: compile.
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, { filename: file, cachedData });
  // For tests and for checking an install: did V8 take the cache?
  if (process.env.DISKPICK_CODE_CACHE_REPORT) process.stderr.write(`diskpick: code cache ${!cachedData ? 'missing' : script.cachedDataRejected ? 'rejected' : 'used'}\n`);
  // Build time only (scripts/bundle.ts): the cache, with what this run compiled.
  if (out) process.once('exit', () => writeFileSync(out, script.createCachedData()));
  const mod = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(mod.exports, require, mod, file, __dirname);
}
