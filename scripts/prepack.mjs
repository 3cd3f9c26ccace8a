// `npm pack` / `npm publish` run this first (package.json "prepack"): the tarball carries the
// built files (dist/), so installing it runs no build and no script. In a fresh clone the build
// tools (TypeScript, esbuild: devDependencies) are not there yet: they are installed first,
// without running any package's install scripts. Plain JavaScript: it runs before anything is built.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
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
