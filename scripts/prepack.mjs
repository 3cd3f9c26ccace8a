// `npm pack` / `npm publish` run this first (package.json "prepack"): the tarball carries the
// built files (dist/), so installing it runs no build and no script. A checkout builds on
// `npm install` ("prepare", README's quick start); the packed package.json leaves "prepare" out
// (npm packs package.json as it is on disk after this script, and reads its "prepare" from there
// too), and "postpack" (scripts/postpack.mjs) puts the checkout's own back. In a fresh clone the build
// tools (TypeScript, esbuild: devDependencies) are not there yet: they are installed first,
// without running any package's install scripts. Plain JavaScript: it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = join(root, 'package.json');
const kept = join(root, 'package.json.unpacked');
// A pack that stopped between here and postpack left the checkout's own manifest aside.
if (existsSync(kept)) renameSync(kept, manifest);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (args) => {
  const r = spawnSync(npm, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    process.stderr.write(`diskpick pack: npm ${args.join(' ')} failed (${r.status ?? r.error?.message ?? r.signal})\n`);
    process.exit(1);
  }
};
if (!existsSync(join(root, 'node_modules', 'typescript')) || !existsSync(join(root, 'node_modules', 'esbuild'))) {
  process.stderr.write('diskpick pack: installing the build tools first (npm ci --ignore-scripts)\n');
  run(['ci', '--ignore-scripts', '--no-audit', '--no-fund']);
}
run(['run', 'build']);

// The manifest the tarball carries: the same, without the checkout's build-on-install.
const text = readFileSync(manifest, 'utf8');
const pkg = JSON.parse(text);
delete pkg.scripts.prepare;
writeFileSync(kept, text);
writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
