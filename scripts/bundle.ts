/**
 * Builds the shipped CLI (run by `npm run build` after tsc): src/cli/main.ts and everything it
 * imports as one CommonJS file, dist/cli/bundle.cjs, and V8's code cache for it, from which
 * dist/cli/launch.cjs (the `diskpick` bin, src/cli/launch.cts) runs it.
 *
 * Why: loading ~80 ES modules cost ~120 ms of the ~235 ms of `diskpick --version` (bare Node
 * ~110 ms). One file is read once; CommonJS can be compiled by vm.Script from a code cache
 * (Node 20 has none for ES modules); esbuild runs each module's top level only when it is
 * first imported, and src/cli/main.ts imports only the command being run.
 *
 * What the bundle does differently from the tsc output, all for start-up:
 * - Node built-ins that Node has not loaded itself at start-up (zlib, crypto, child_process,
 *   fs/promises, ...) are required on first use of one of their exports, not at import.
 * - ink cannot be require()d (yoga-layout, under it, has top-level await): the TUI reads it
 *   from dist/cli/tui.mjs, an ES module that `browse` imports first. tui.mjs is itself one
 *   file, ink, React and what they use bundled (production build, React devtools left out),
 *   and it hands React to bundle.cjs too, so there is one React. Measured (Node 20, 2 cores):
 *   loading ink from node_modules cost ~700 ms of CPU (some 250 ES and CommonJS modules
 *   resolved, compiled and lexed one by one); the one-file tui.mjs ~100 ms. ink, react and
 *   es-toolkit (19 MB, pulled by ink) are then not needed at run time: devDependencies.
 *
 * The tsc output in dist/ stays for the tests and tools that import modules from it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { builtinModules, createRequire } from 'node:module';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type BuildOptions, type Plugin } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT_DIR = join(ROOT, 'dist', 'cli');
const BUNDLE = join(OUT_DIR, 'bundle.cjs');
const TUI_GATE = join(OUT_DIR, 'tui.mjs');
const LAUNCHER = join(OUT_DIR, 'launch.cjs');
const TUI_ENTRY = join(ROOT, 'src', 'tui', 'browse.tsx');
/** Run on it at build time, when present, so the code cache holds the code an image needs. */
const DEMO_IMAGE = join(ROOT, 'images', 'fileserver.vmdk');

/**
 * `browse`'s import() of the TUI, as esbuild leaves it, and what replaces it: a call of the
 * launcher's import() (import() in a vm.Script run from a code cache fails). Same length,
 * so the source map stays right.
 */
const GATE_MARKER = 'diskpick:tui-gate';
const GATE_IMPORT = `import(${JSON.stringify(GATE_MARKER)})`;
const GATE_CALL = '__diskpickTui()'.padEnd(GATE_IMPORT.length);

/**
 * The code cache's name carries this hash of the bundle: V8 checks only a cache's source
 * length, so a cache left from another build of the same length would run stale code.
 */
const BUILD_ID_PLACEHOLDER = `//# diskpickBuild=${'0'.repeat(16)}`;

/**
 * Commands with a code cache of their own (bundle.cjs.<id>.<command>.cache), made from their
 * training runs alone; the launcher finds the list after the build id. Every other command uses
 * the cache of all of them.
 */
const OWN_CACHE_COMMANDS = ['cat', 'info', 'ls', 'mount'];

/** Where the bundle finds ink, React and the TUI's exports (shared with dist/cli/tui.mjs). */
const INK_SLOT = 'diskpick.ink';
const TUI_SLOT = 'diskpick.tui';
/** Modules bundle.cjs takes from tui.mjs, by the slot tui.mjs puts them in. */
const FROM_TUI_MJS: Record<string, string> = {
  ink: INK_SLOT,
  react: 'diskpick.react',
  'react/jsx-runtime': 'diskpick.react-jsx-runtime',
};

const require = createRequire(import.meta.url);

/**
 * Built-ins Node has already loaded when our code starts: requiring them costs nothing. (Not
 * `module` nor `process`: Node 20 loads their public modules only when asked, and node:module
 * brings the ES module loader with it: ~2 M instructions when required at start.)
 */
const LOADED_AT_START = new Set(['buffer', 'events', 'fs', 'path', 'url', 'util']);

/**
 * `import { inflate } from 'node:zlib'` gets an object whose getters require node:zlib on
 * first use. esbuild reads imported names off that object where they are used, so the
 * getter runs when the function is called, not when the importing module initialises.
 * (Measured: `cat` 9 M instructions less, no longer loading crypto; `--version` 3 M.)
 *
 * `used`: the getters made, of the built-in's exports, are only those whose name occurs in the
 * bundle (a first build with no getters tells): each importing module copies every getter of
 * the object (esbuild's __toESM), and node:crypto alone has ~80 exports, imported by 20 modules
 * (measured: `cat` of a small file copied 1 382 getters at start; without them 182 -> 172 M
 * instructions, `info` 166 -> 154 M).
 */
function lazyBuiltins(used?: ReadonlySet<string>): Plugin {
  const builtins = new Set(builtinModules);
  return {
    name: 'lazy-builtins',
    setup(b) {
      b.onResolve({ filter: /^[a-z_/]+$|^node:/ }, (args) => {
        const name = args.path.replace(/^node:/, '');
        if (!builtins.has(name)) return undefined;
        if (args.namespace === 'lazy-builtin' || LOADED_AT_START.has(name)) return { path: `node:${name}`, external: true };
        return { path: name, namespace: 'lazy-builtin' };
      });
      b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => {
        const names = Object.keys(require(`node:${args.path}`) as object).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && (!used || used.has(k)));
        return {
          loader: 'js',
          contents: [
            'let m;',
            `const load = () => m ??= require(${JSON.stringify(`node:${args.path}`)});`,
            'module.exports = {',
            ...names.map((k) => `  get ${k}() { return load().${k}; },`),
            '};',
          ].join('\n'),
        };
      });
    },
  };
}

/**
 * The TUI's `ink` imports become getters on what dist/cli/tui.mjs loaded (they are read only
 * while rendering, after tui.mjs ran); `browse`'s import() of the TUI goes to tui.mjs, which
 * gets the bundled TUI module back through a function the entry registers.
 */
async function inkThroughGate(): Promise<Plugin> {
  const names: Record<string, string[]> = {};
  for (const m of Object.keys(FROM_TUI_MJS)) names[m] = Object.keys(await import(m)).filter((k) => /^[A-Za-z_$][\w$]*$/.test(k) && k !== 'default');
  return {
    name: 'ink-through-gate',
    setup(b) {
      b.onResolve({ filter: /^(ink|react|react\/jsx-runtime|react\/jsx-dev-runtime)$/ }, (args) => ({ path: args.path === 'react/jsx-dev-runtime' ? 'react/jsx-runtime' : args.path, namespace: 'tui-slot' }));
      b.onLoad({ filter: /.*/, namespace: 'tui-slot' }, (args) => ({
        loader: 'js',
        contents: [
          `const slot = () => globalThis[Symbol.for(${JSON.stringify(FROM_TUI_MJS[args.path])})] ?? (() => { throw new Error(${JSON.stringify(`${args.path} used before dist/cli/tui.mjs loaded it`)}); })();`,
          'module.exports = {',
          ...names[args.path]!.map((k) => `  get ${k}() { return slot().${k}; },`),
          '};',
        ].join('\n'),
      }));
      b.onResolve({ filter: /\/tui\/browse\.js$/ }, (args) =>
        args.kind === 'dynamic-import' ? { path: GATE_MARKER, external: true } : undefined);
      b.onResolve({ filter: /^diskpick:entry$/ }, () => ({ path: 'entry', namespace: 'diskpick' }));
      b.onLoad({ filter: /^entry$/, namespace: 'diskpick' }, () => ({
        loader: 'js',
        resolveDir: ROOT,
        contents: [
          `globalThis[Symbol.for(${JSON.stringify(TUI_SLOT)})] = () => import(${JSON.stringify(TUI_ENTRY)});`,
          `require(${JSON.stringify(join(ROOT, 'src', 'cli', 'main.ts'))});`,
        ].join('\n'),
      }));
    },
  };
}

/** The names src/tui/browse.tsx exports, for tui.mjs to hand on. */
async function tuiExports(): Promise<string[]> {
  const r = await build({ entryPoints: [TUI_ENTRY], bundle: false, write: false, format: 'esm', metafile: true, outdir: OUT_DIR, logLevel: 'silent' });
  return Object.values(r.metafile.outputs).flatMap((o) => o.exports);
}

/**
 * dist/cli/tui.mjs: ink, React and React's JSX runtime in one ES module (minified, React's
 * production build), which puts them where bundle.cjs looks for them, then hands on the TUI
 * module bundled in bundle.cjs. React's devtools (ink loads them only with DEV=true) are left out.
 */
async function buildTuiGate(names: string[]): Promise<void> {
  const slots = Object.entries(FROM_TUI_MJS).map(([m, slot], i) => [`import * as m${i} from ${JSON.stringify(m)};`, `globalThis[Symbol.for(${JSON.stringify(slot)})] = m${i};`]);
  const r = await build({
    stdin: {
      contents: [
        '// Made by scripts/bundle.ts: ink and React for the TUI in bundle.cjs (which cannot',
        '// require() ink: yoga-layout under it has top-level await), then the TUI module itself.',
        ...slots.map(([imp]) => imp),
        ...slots.map(([, set]) => set),
        `export const { ${names.join(', ')} } = await globalThis[Symbol.for(${JSON.stringify(TUI_SLOT)})]();`,
      ].join('\n'),
      resolveDir: ROOT,
      loader: 'js',
    },
    write: false,
    outfile: TUI_GATE,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minify: true,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': '"production"' },
    // Some of ink's dependencies are CommonJS that require() Node's built-ins.
    banner: { js: "import { createRequire as __diskpickRequire } from 'node:module'; const require = __diskpickRequire(import.meta.url);" },
    plugins: [{
      name: 'no-devtools',
      setup(b) {
        b.onResolve({ filter: /\/devtools\.js$/ }, () => ({ path: 'devtools', namespace: 'no-devtools' }));
        b.onLoad({ filter: /.*/, namespace: 'no-devtools' }, () => ({ loader: 'js', contents: "throw new Error('React devtools are not part of diskpick');" }));
      },
    }, {
      // yoga's Emscripten loader fetch()es its own base64 data: URL when fetch exists, which
      // loads Node's undici (measured: ~110 ms of CPU at the browser's start); without fetch
      // it decodes the same bytes itself.
      name: 'yoga-without-fetch',
      setup(b) {
        b.onLoad({ filter: /yoga-wasm-base64-esm\.js$/ }, async (args) => {
          const src = await readFile(args.path, 'utf8');
          const patched = src.replaceAll('typeof fetch', '"undefined"');
          if (patched === src) throw new Error(`${args.path}: no 'typeof fetch' to patch (yoga-layout changed?)`);
          return { loader: 'js', contents: patched };
        });
      },
    }],
    logLevel: 'warning',
  });
  writeAtomic(TUI_GATE, r.outputFiles[0]!.contents);
}

/**
 * The library API (src/api.ts, docs/api.md): dist/api/index.mjs, one ES module bundled like the
 * CLI (same externals), and dist/api/index.d.ts, its declarations alone (src/api.ts declares
 * its own types, so the .d.ts imports nothing of the engine).
 */
async function buildApi(): Promise<void> {
  const outDir = join(ROOT, 'dist', 'api');
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(ROOT, 'src', 'api.ts')],
    outfile: join(outDir, 'index.mjs'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    minifyWhitespace: true,
    legalComments: 'none',
    external: ['fuse-native', 'argon2', '@aws-sdk/client-s3'],
    // Some bundled dependencies are CommonJS that require() Node's built-ins.
    banner: { js: "import { createRequire as __diskpickRequire } from 'node:module'; const require = __diskpickRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  const tmp = mkdtempSync(join(tmpdir(), 'diskpick-dts-'));
  try {
    const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), join(ROOT, 'src', 'api.ts'), '--declaration', '--emitDeclarationOnly', '--stripInternal',
      '--outDir', tmp, '--rootDir', join(ROOT, 'src'), '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--strict', '--skipLibCheck', '--types', 'node'], { encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`tsc --declaration src/api.ts failed:\n${tsc.stdout}${tsc.stderr}`);
    const dts = readFileSync(join(tmp, 'api.d.ts'), 'utf8');
    const imports = [...dts.matchAll(/^(?:import|export) .* from ['"]([^'"]+)['"]/gm)].map((m) => m[1]!).filter((m) => !m.startsWith('node:'));
    if (imports.length) throw new Error(`dist/api/index.d.ts would import ${imports.join(', ')}: declare the public types in src/api.ts`);
    writeAtomic(join(outDir, 'index.d.ts'), dts);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Replaces `file` in one step: a CLI started meanwhile reads the old file or the new one. */
function writeAtomic(file: string, data: string | Uint8Array): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, file);
}

async function main(): Promise<void> {
  const options: BuildOptions = {
    entryPoints: ['diskpick:entry'],
    outfile: BUNDLE,
    write: false,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Without comments the file is ASCII, which the launcher reads as latin1 (no UTF-8
    // decoding). Names are kept: --debug maps stack traces through the source map.
    minifyWhitespace: true,
    charset: 'ascii',
    sourcemap: 'linked',
    // The AWS SDK (~20 MB) stays in node_modules, loaded by src/source/s3.ts only for s3:// images;
    // argon2 is a native addon with prebuilds.
    external: ['fuse-native', 'argon2', '@aws-sdk/client-s3'],
    define: { 'import.meta.url': '__bundleUrl', __DISKPICK_VERSION__: JSON.stringify((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version) },
    banner: {
      js: [
        'const __bundleUrl = require("node:url").pathToFileURL(__filename).href;',
        // The launcher's import() when it runs us; our own when run as `node bundle.cjs`.
        'const __diskpickTui = () => (globalThis[Symbol.for("diskpick.import")] ?? ((s) => import(s)))(new URL("./tui.mjs", __bundleUrl).href);',
      ].join('\n'),
    },
    footer: { js: `${BUILD_ID_PLACEHOLDER} ${OWN_CACHE_COMMANDS.join(',')}` },
    logLevel: 'warning',
  };
  const gate = await inkThroughGate();
  // Which names of the built-ins the bundle reads: every identifier of a build without any.
  const probe = await build({ ...options, sourcemap: false, logLevel: 'silent', plugins: [lazyBuiltins(new Set()), gate] });
  const used = new Set(probe.outputFiles[0]!.text.match(/[A-Za-z_$][\w$]*/g));
  const result = await build({ ...options, plugins: [lazyBuiltins(used), gate] });

  const js = result.outputFiles.find((f) => f.path === BUNDLE)!;
  const map = result.outputFiles.find((f) => f.path === `${BUNDLE}.map`)!;
  let text = js.text;
  if (/[^\x00-\x7f]/.test(text)) throw new Error(`${BUNDLE} is not ASCII: the launcher reads it as latin1`);
  if (text.split(GATE_IMPORT).length !== 2) throw new Error(`${BUNDLE}: expected one ${GATE_IMPORT}`);
  if (text.split(BUILD_ID_PLACEHOLDER).length !== 2) throw new Error(`${BUNDLE}: expected one ${BUILD_ID_PLACEHOLDER}`);
  text = text.replace(GATE_IMPORT, GATE_CALL);
  const id = createHash('sha256').update(text).digest('hex').slice(0, 16);
  text = text.replace(BUILD_ID_PLACEHOLDER, BUILD_ID_PLACEHOLDER.replace(/0+$/, id));
  const commandCache = (command: string) => `${BUNDLE}.${id}.${command}.cache`;
  const cache = `${BUNDLE}.${id}.cache`;

  // Caches of other builds go first: none may sit next to a bundle it was not made for.
  const ours = new Set([cache, ...OWN_CACHE_COMMANDS.map(commandCache)].map((f) => basename(f)));
  for (const f of readdirSync(OUT_DIR)) if (/^bundle\.cjs\.\w+(\.\w+)?\.cache$/.test(f) && !ours.has(f)) rmSync(join(OUT_DIR, f), { force: true });
  writeAtomic(`${BUNDLE}.map`, map.contents);
  writeAtomic(BUNDLE, text);

  await buildTuiGate(await tuiExports());
  await buildApi();

  // The code cache: made by running the launcher (so V8 sees the same source, flags and Node
  // version as a real run), each run starting from the last one's cache and adding what it
  // compiled. `--help` initialises every module and registers every command; the demo image
  // adds the container, partition and filesystem code that commands run. Code not run here
  // is compiled when first used, as without a cache. The commands of OWN_CACHE_COMMANDS get
  // a cache of their own runs as well.
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.NODE_OPTIONS;
  const runs = [['--help']];
  if (existsSync(DEMO_IMAGE)) runs.push(['info', DEMO_IMAGE], ['ls', '-l', DEMO_IMAGE, '/p1/Shared'], ['cat', DEMO_IMAGE, '/p1/Shared/README.txt']);
  const work = mkdtempSync(join(tmpdir(), 'diskpick-train-'));
  try {
    // The demo image is FAT32: where e2fsprogs is installed, a small ext4 volume adds the ext
    // reader (measured: `ls -R` of 100 000 files ~7 ms faster than with its code compiled at run time).
    const ext = trainingExtImage(work);
    if (ext) runs.push(['ls', '-R', ext], ['ls', '-l', ext, '/p0/docs'], ['cat', ext, '/p0/docs/a.txt'], ['info', ext]);
    // Where ntfsprogs and qemu-img are installed, a small NTFS volume in a QCOW2 adds the NTFS
    // and QCOW2 readers (measured: `cat` of a small file from NTFS ~5% fewer instructions, the
    // NTFS mount and path walk no longer compiled at run time; ext and FAT runs unchanged).
    const ntfs = trainingNtfsImage(work);
    // (An `ls -R` of it added to the `ls` cache's runs changed nothing: ls -R of 100 000 NTFS
    // files 936-949 M main-thread instructions without, 947-950 M with; the listing's hot code
    // is optimized at run time either way.)
    if (ntfs) runs.push(['ls', '-l', ntfs, '/p0'], ['cat', ntfs, '/p0/notes.txt'], ['info', ntfs]);
    train(cache, runs, env);
    for (const command of OWN_CACHE_COMMANDS) if (command !== 'mount') train(commandCache(command), runs.filter((r) => r[0] === command), env);
    await trainMount(cache, commandCache('mount'), [ext, ntfs].filter((i) => i !== null), env);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Runs the launcher for each of `runs`, all adding to one code cache, which then becomes `cache`. */
function train(cache: string, runs: string[][], env: NodeJS.ProcessEnv): void {
  rmSync(cache, { force: true });
  const tmp = `${cache}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  for (const args of runs) {
    const run = spawnSync(process.execPath, [LAUNCHER, ...args], { env: { ...env, DISKPICK_WRITE_CODE_CACHE: tmp }, stdio: ['ignore', 'ignore', 'inherit'] });
    if (run.status !== 0) throw new Error(`${LAUNCHER} ${args.join(' ')} failed (${run.status ?? run.signal})`);
  }
  renameSync(tmp, cache);
}

/**
 * `mount`'s own cache: the cache of every command, then a foreground mount of each training
 * image walked by find and unmounted (the mount process writes the cache as it exits), so
 * that a mount's first walk does not compile its listing code (FUSE operations, list-ahead,
 * folder indexes) on the main thread while the walker waits. Measured (first cold walk of
 * the NTFS bench image, 7 alternating runs, load ~2): mount-process main thread median 71 ->
 * 62 ms. Where no mount can be made (no /dev/fuse, not root), it is the cache of every command.
 */
async function trainMount(general: string, cache: string, images: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const tmp = `${cache}.${process.pid}.tmp`;
  copyFileSync(general, tmp);
  const sleep = (ms: number) => new Promise<void>((res) => setTimeout(res, ms));
  for (const image of images) {
    const mnt = mkdtempSync(join(tmpdir(), 'diskpick-train-mnt-'));
    const child = spawn(process.execPath, [LAUNCHER, 'mount', image, mnt], { env: { ...env, DISKPICK_WRITE_CODE_CACHE: tmp }, stdio: 'ignore' });
    const exited = new Promise<void>((res) => child.once('exit', () => res()).once('error', () => res()));
    try {
      let mounted = false;
      for (let i = 0; i < 200 && !mounted && child.exitCode === null; i++) {
        await sleep(50);
        mounted = readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mnt} `);
      }
      if (mounted) spawnSync('find', [mnt], { stdio: 'ignore', timeout: 30_000 });
    } finally {
      // SIGTERM: it unmounts as on Ctrl-C and exits, writing the cache.
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(10_000)]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(mnt, { recursive: true, force: true });
    }
  }
  renameSync(tmp, cache);
}

/** An 8 MiB NTFS volume (mkntfs) holding a few files (ntfscp) as a QCOW2 (qemu-img), or null without the tools. */
function trainingNtfsImage(work: string): string | null {
  const raw = join(work, 'train-ntfs.img');
  const file = join(work, 'notes.txt');
  writeFileSync(file, 'notes\n'.repeat(500));
  writeFileSync(raw, '');
  const steps: [string, string[]][] = [
    ['truncate', ['-s', '8M', raw]],
    ['mkntfs', ['-F', '-Q', '-q', '-c', '4096', raw]],
    ['ntfscp', [raw, file, 'notes.txt']],
    // Names long enough that the root's index spills into INDX blocks (the mount's training walks them).
    ...[1, 2, 3, 4, 5, 6].map((i): [string, string[]] => ['ntfscp', [raw, file, `${'a-rather-long-name-for-a-file-of-notes-'.repeat(4)}${i}.txt`]]),
    ['qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, `${raw}.qcow2`]],
  ];
  for (const [cmd, args] of steps) if (spawnSync(cmd, args, { stdio: 'ignore' }).status !== 0) return null;
  return `${raw}.qcow2`;
}

/** A 4 MiB ext4 image of a few files and folders made by mkfs.ext4 -d, or null without e2fsprogs. */
function trainingExtImage(work: string): string | null {
  const tree = join(work, 'tree');
  mkdirSync(join(tree, 'docs', 'sub'), { recursive: true });
  for (let i = 0; i < 40; i++) writeFileSync(join(tree, 'docs', `file-${i}.txt`), `file ${i}\n`);
  writeFileSync(join(tree, 'docs', 'a.txt'), 'a\n'.repeat(5000));
  writeFileSync(join(tree, 'docs', 'sub', 'b.txt'), 'b\n');
  const img = join(work, 'train-ext4.img');
  const mkfs = spawnSync('mkfs.ext4', ['-q', '-F', '-E', 'root_owner=0:0', '-d', tree, img, '4M'], { stdio: 'ignore' });
  return mkfs.status === 0 ? img : null;
}

await main();
