/**
 * Builds diskpick's native addons into dist/native/ (run by `npm run build`): the libfuse3
 * binding, sector decryption, codecs, kernel hints for image files and Argon2. Each needs a C
 * compiler and Node's N-API headers (shipped with Node in include/node), some more (below).
 * Where one is missing the build says so in one line and goes on: each addon has a fallback
 * that works the same, more slowly (the mount through fuse-native: docs/fuse.md).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const NATIVE = join(ROOT, 'dist', 'native');

function say(line: string): void {
  process.stderr.write(`diskpick build: ${line}\n`);
}

function nodeIncludeDir(): string | null {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return candidates.find((d) => existsSync(join(d, 'node_api.h'))) ?? null;
}

/**
 * Compiles addon `name` into dist/native/NAME.node (removed first, so that a failed build leaves
 * none behind): `args` are the compiler's arguments but the output and the common flags
 * (sources, then libraries last). On failure says so in one line, with `without`: what runs
 * instead. True when built.
 */
function compileAddon(name: string, args: string[], without: string): boolean {
  const out = join(NATIVE, `${name}.node`);
  mkdirSync(NATIVE, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wno-unused-parameter', `-DNODE_GYP_MODULE_NAME=${name}`, '-o', tmp, ...args], { encoding: 'utf8' });
  if (r.error) {
    say(`no C compiler (${cc}: ${r.error.message}; Debian: apt-get install gcc): ${without}`);
    return false;
  }
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    if (r.stderr) process.stderr.write(r.stderr);
    say(`${cc} failed on the ${name} binding: ${without}`);
    return false;
  }
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  renameSync(tmp, out);
  return true;
}

/** The addon's old build, removed before it is built again (a failed build leaves none). */
function clean(name: string): void {
  rmSync(join(NATIVE, `${name}.node`), { force: true });
}

/** The libfuse3 binding (src/fuse/native/fuse3.c): libfuse3's headers (pkg-config) and Node's. */
function buildFuse3(): void {
  clean('fuse3');
  const without = '`diskpick mount` will use fuse-native (libfuse2, slower reads)';
  const pkg = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' });
  if (pkg.error || pkg.status !== 0) return say(`libfuse3 headers not found (Debian: apt-get install libfuse3-dev pkg-config): ${without}`);
  const include = nodeIncludeDir();
  if (!include) return say(`Node's N-API headers (node_api.h) not found next to ${process.execPath}: ${without}`);
  const flags = pkg.stdout.trim().split(/\s+/);
  compileAddon('fuse3', [
    '-Wextra', `-I${include}`, ...flags.filter((a) => a.startsWith('-I') || a.startsWith('-D')),
    join(ROOT, 'src', 'fuse', 'native', 'fuse3.c'),
    ...flags.filter((a) => a.startsWith('-l') || a.startsWith('-L')), '-lpthread',
  ], without);
}

/**
 * The sector decryption of encrypted volumes (src/volume/crypt/native/sectors.c): needs only a
 * C compiler and Node's headers (OpenSSL's come with Node). Without it, decryption runs in
 * JavaScript, ~20x slower (src/volume/crypt/sector-cipher.ts).
 */
function buildSectors(): void {
  clean('sectors');
  const without = 'encrypted volumes decrypt in JavaScript (slower)';
  const include = nodeIncludeDir();
  if (!include || !existsSync(join(include, 'openssl', 'evp.h'))) return say(`Node's headers (node_api.h, openssl/) not found: ${without}`);
  compileAddon('sectors', ['-Wextra', `-I${include}`, join(ROOT, 'src', 'volume', 'crypt', 'native', 'sectors.c')], without);
}

/**
 * zstd and CRC-32C for compressed, checksummed data (src/source/native/codecs.c): a C compiler,
 * Node's headers and the system's libzstd.so.1 (Debian libzstd1; libzstd-dev's header is used
 * when present, not needed). Without it, zstd decodes through fzstd (~20x slower) and CRC-32C
 * runs in JavaScript (src/source/codecs.ts).
 */
function buildCodecs(): void {
  clean('codecs');
  const without = 'zstd decodes through fzstd (slower; libzstd.so.1 is Debian\'s libzstd1)';
  const include = nodeIncludeDir();
  if (!include) return say(`Node's headers (node_api.h) not found: ${without}`);
  compileAddon('codecs', ['-Wextra', `-I${include}`, join(ROOT, 'src', 'source', 'native', 'codecs.c'), '-l:libzstd.so.1'], without);
}

/**
 * posix_fadvise for image files (src/source/native/hostio.c): a C compiler and Node's headers.
 * Without it, cold listings read their scattered pieces one after another and metadata spans
 * keep the kernel's readahead (src/source/hostio.ts): slower, the same answers.
 */
function buildHostio(): void {
  clean('hostio');
  const without = 'image reads go without kernel hints (slower cold listings)';
  const include = nodeIncludeDir();
  if (!include) return say(`Node's headers (node_api.h) not found: ${without}`);
  compileAddon('hostio', ['-Wextra', `-I${include}`, join(ROOT, 'src', 'source', 'native', 'hostio.c')], without);
}

/**
 * Argon2 for LUKS2 keyslots (src/volume/luks/native/argon2.c): diskpick's entry point compiled
 * with the reference libargon2 sources that the `argon2` npm package ships (a devDependency:
 * node_modules/argon2/argon2/), into dist/native/argon2.node with the library's licence. The
 * published package then carries it and depends on no package with an install script (issue
 * 20). The package's own linux-x64 prebuild is not used: it crashed on load here. opt.c (SSE2)
 * on x86-64, the portable ref.c elsewhere. Without a compiler: Argon2 keyslots need the
 * `argon2` package installed (src/volume/luks/kdf.ts says so).
 */
function buildArgon2(): void {
  clean('argon2');
  rmSync(join(NATIVE, 'argon2.LICENSE'), { force: true });
  const without = 'Argon2 keyslots then need the "argon2" package';
  const lib = join(ROOT, 'node_modules', 'argon2', 'argon2');
  const include = nodeIncludeDir();
  if (!include || !existsSync(join(lib, 'include', 'argon2.h'))) return say(`Node's headers or the argon2 sources (node_modules/argon2/argon2) not found: ${without}`);
  const core = process.arch === 'x64' ? 'opt.c' : 'ref.c';
  const sources = ['argon2.c', 'core.c', 'encoding.c', 'thread.c', core, 'blake2/blake2b.c'].map((f) => join(lib, 'src', f));
  const built = compileAddon('argon2', [
    '-fvisibility=hidden', '-DNDEBUG', ...(process.arch === 'x64' ? ['-msse2'] : []),
    `-I${include}`, `-I${join(lib, 'include')}`, `-I${join(lib, 'src')}`,
    join(ROOT, 'src', 'volume', 'luks', 'native', 'argon2.c'), ...sources, '-lpthread',
  ], without);
  if (built) copyFileSync(join(lib, 'LICENSE'), join(NATIVE, 'argon2.LICENSE'));
}

buildFuse3();
buildSectors();
buildCodecs();
buildHostio();
buildArgon2();
