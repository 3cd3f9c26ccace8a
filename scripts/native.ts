/**
 * Builds diskpick's libfuse3 binding (src/fuse/native/fuse3.c → dist/native/fuse3.node), run
 * by `npm run build`. It needs a C compiler, libfuse3's headers (Debian libfuse3-dev) and
 * Node's N-API headers (shipped with Node in include/node). Where one is missing the build
 * says so in one line and goes on: `diskpick mount` then mounts through fuse-native (libfuse2),
 * which works the same and reads more slowly (docs/fuse.md).
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(ROOT, 'src', 'fuse', 'native', 'fuse3.c');
const OUT = join(ROOT, 'dist', 'native', 'fuse3.node');

function say(line: string): void {
  process.stderr.write(`diskpick build: ${line}\n`);
}

function nodeIncludeDir(): string | null {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node', '/usr/local/include/node'];
  return candidates.find((d) => existsSync(join(d, 'node_api.h'))) ?? null;
}

function main(): void {
  rmSync(OUT, { force: true });
  const why = (line: string) => say(`${line}; \`diskpick mount\` will use fuse-native (libfuse2, slower reads)`);
  const pkg = spawnSync('pkg-config', ['--cflags', '--libs', 'fuse3'], { encoding: 'utf8' });
  if (pkg.error || pkg.status !== 0) return why('libfuse3 headers not found (Debian: apt-get install libfuse3-dev pkg-config)');
  const include = nodeIncludeDir();
  if (!include) return why(`Node's N-API headers (node_api.h) not found next to ${process.execPath}`);
  const cc = process.env.CC ?? 'cc';
  mkdirSync(dirname(OUT), { recursive: true });
  const tmp = `${OUT}.${process.pid}.tmp`;
  const args = [
    '-O2', '-shared', '-fPIC', '-Wall', '-Wextra', '-Wno-unused-parameter',
    '-DNODE_GYP_MODULE_NAME=fuse3', `-I${include}`,
    ...pkg.stdout.trim().split(/\s+/).filter((a) => a.startsWith('-I') || a.startsWith('-D')),
    '-o', tmp, SOURCE,
    ...pkg.stdout.trim().split(/\s+/).filter((a) => a.startsWith('-l') || a.startsWith('-L')),
    '-lpthread',
  ];
  const r = spawnSync(cc, args, { encoding: 'utf8' });
  if (r.error) return why(`no C compiler (${cc}: ${r.error.message}; Debian: apt-get install gcc)`);
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    process.stderr.write(r.stderr);
    return why(`${cc} failed on ${SOURCE}`);
  }
  if (r.stderr.trim()) process.stderr.write(r.stderr);
  renameSync(tmp, OUT);
}

main();
buildSectors();

/**
 * The sector decryption of encrypted volumes (src/volume/crypt/native/sectors.c): needs only a
 * C compiler and Node's headers (OpenSSL's come with Node). Without it, decryption runs in
 * JavaScript, ~20x slower (src/volume/crypt/sector-cipher.ts).
 */
function buildSectors(): void {
  const src = join(ROOT, 'src', 'volume', 'crypt', 'native', 'sectors.c');
  const out = join(ROOT, 'dist', 'native', 'sectors.node');
  rmSync(out, { force: true });
  const include = nodeIncludeDir();
  if (!include || !existsSync(join(include, 'openssl', 'evp.h'))) return say('Node\'s headers (node_api.h, openssl/) not found: encrypted volumes decrypt in JavaScript (slower)');
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', '-Wno-unused-parameter', '-DNODE_GYP_MODULE_NAME=sectors', `-I${include}`, '-o', tmp, src], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    if (r.stderr) process.stderr.write(r.stderr);
    return say(`${cc} failed on ${src}: encrypted volumes decrypt in JavaScript (slower)`);
  }
  renameSync(tmp, out);
}

buildCodecs();

/**
 * zstd and CRC-32C for compressed, checksummed data (src/source/native/codecs.c): a C compiler,
 * Node's headers and the system's libzstd.so.1 (Debian libzstd1; libzstd-dev's header is used
 * when present, not needed). Without it, zstd decodes through fzstd (~20x slower) and CRC-32C
 * runs in JavaScript (src/source/codecs.ts).
 */
function buildCodecs(): void {
  const src = join(ROOT, 'src', 'source', 'native', 'codecs.c');
  const out = join(ROOT, 'dist', 'native', 'codecs.node');
  rmSync(out, { force: true });
  const include = nodeIncludeDir();
  if (!include) return say('Node\'s headers (node_api.h) not found: zstd decodes through fzstd (slower)');
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'cc';
  const r = spawnSync(cc, ['-O2', '-shared', '-fPIC', '-Wall', '-Wextra', '-Wno-unused-parameter', '-DNODE_GYP_MODULE_NAME=codecs', `-I${include}`, '-o', tmp, src, '-l:libzstd.so.1'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    if (r.stderr) process.stderr.write(r.stderr);
    return say(`${cc} failed on ${src} (libzstd.so.1 is Debian's libzstd1): zstd decodes through fzstd (slower)`);
  }
  renameSync(tmp, out);
}

buildArgon2();

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
  const out = join(ROOT, 'dist', 'native', 'argon2.node');
  rmSync(out, { force: true });
  const lib = join(ROOT, 'node_modules', 'argon2', 'argon2');
  const include = nodeIncludeDir();
  if (!include || !existsSync(join(lib, 'include', 'argon2.h'))) return say('Node\'s headers or the argon2 sources (node_modules/argon2/argon2) not found: Argon2 keyslots then need the "argon2" package');
  mkdirSync(dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  const cc = process.env.CC ?? 'cc';
  const core = process.arch === 'x64' ? 'opt.c' : 'ref.c';
  const sources = ['argon2.c', 'core.c', 'encoding.c', 'thread.c', core, 'blake2/blake2b.c'].map((f) => join(lib, 'src', f));
  const r = spawnSync(cc, [
    '-O2', '-shared', '-fPIC', '-fvisibility=hidden', '-Wall', '-Wno-unused-parameter', '-DNDEBUG', '-DNODE_GYP_MODULE_NAME=argon2',
    ...(process.arch === 'x64' ? ['-msse2'] : []),
    `-I${include}`, `-I${join(lib, 'include')}`, `-I${join(lib, 'src')}`,
    '-o', tmp, join(ROOT, 'src', 'volume', 'luks', 'native', 'argon2.c'), ...sources, '-lpthread',
  ], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    if (r.stderr) process.stderr.write(r.stderr);
    return say(`${cc} failed on the Argon2 binding: Argon2 keyslots then need the "argon2" package`);
  }
  renameSync(tmp, out);
  copyFileSync(join(lib, 'LICENSE'), join(ROOT, 'dist', 'native', 'argon2.LICENSE'));
}
