/**
 * diskpick is a real npm package: `npm pack` (its prepack builds), then a global install of the
 * tarball into a temporary prefix with runtime dependencies only, gives a working `diskpick`;
 * the install runs no build (the packed manifest has no prepare; the checkout's does), ink/React/es-toolkit are not installed (bundled),
 * the prebuilt native addons load, the browser starts from the installed files, and the
 * library API (`import { openImage } from 'diskpick'`, typed) works from the installed
 * package, checked against the demo image's manifest. No dependency runs an install script (npm
 * warned about argon2's and fuse-native's, issue 20): Argon2 comes as a prebuilt binding in
 * dist/native, fuse-native is an optional peer (the libfuse2 fallback, installed by the user).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE, ROOT, hasTool } from './helpers/tools.js';
import { LUKS_PASSPHRASE, LUKS_TREE, LUKS_VARIANTS, buildLuksImage } from '../scripts/images/luks.js';

const DEMO = join(ROOT, 'images', 'fileserver.vmdk');
const env = { ...process.env, npm_config_loglevel: 'warn', npm_config_fund: 'false', npm_config_audit: 'false' };
let dir: string;
let prefix: string;
let installed: string;
let installLog: string;
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dp-pack-'));
  const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop()!;
  prefix = join(dir, 'prefix');
  const r = spawnSync('npm', ['install', '-g', '--omit=dev', '--prefix', prefix, join(dir, name)], { env, encoding: 'utf8' });
  installLog = `${r.stdout}${r.stderr}`;
  expect(r.status, installLog).toBe(0);
  installed = join(prefix, 'lib', 'node_modules', 'diskpick');
}, 400_000);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('npm package', () => {
  it('installs without running a build of its own, and runs', () => {
    // No lifecycle script of diskpick's ran on the user's install (it used to be "prepare").
    expect(installLog).not.toMatch(/diskpick@[\d.]+ \((prepare|prepack|install|postinstall)/);
    expect(installLog).not.toMatch(/\btsc\b|esbuild/);
    // The checkout builds on `npm install` (README's quick start); the packed manifest does not.
    expect(pkg.scripts.prepare).toBe('npm run build');
    expect(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).scripts.prepare).toBeUndefined();
    expect(existsSync(join(ROOT, 'package.json.unpacked'))).toBe(false);
    const bin = join(prefix, 'bin', 'diskpick');
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    const info = JSON.parse(execFileSync(bin, ['info', '--json', DEMO], { encoding: 'utf8' }));
    expect(info.volumes[0].filesystem.type).toBe('FAT32');
    // The installed CLI runs from the V8 code cache made at build time (start-up time).
    const run = spawnSync(bin, ['--version'], { env: { ...process.env, DISKPICK_CODE_CACHE_REPORT: '1' }, encoding: 'utf8' });
    expect(run.stderr.trim()).toBe('diskpick: code cache used');
  });

  it('prints no warning: no dependency has an install script (argon2 and fuse-native are not installed)', () => {
    expect(installLog).not.toMatch(/install-scripts|allow-scripts/);
    expect(installLog.split('\n').filter((l) => /^npm (warn|WARN|error|ERR)/.test(l))).toEqual([]);
    const lock = JSON.parse(execFileSync('npm', ['ls', '-g', '--prefix', prefix, '--all', '--json'], { env, encoding: 'utf8' }));
    const withScripts: string[] = [];
    const walk = (deps: Record<string, { path?: string; dependencies?: object }> | undefined) => {
      for (const [name, d] of Object.entries(deps ?? {})) {
        const manifest = d.path ? JSON.parse(readFileSync(join(d.path, 'package.json'), 'utf8')) : {};
        const s = manifest.scripts ?? {};
        if (s.preinstall || s.install || s.postinstall || existsSync(join(d.path ?? '', 'binding.gyp'))) withScripts.push(name);
        walk(d.dependencies as never);
      }
    };
    walk(lock.dependencies);
    expect(withScripts).toEqual([]);
    expect(existsSync(join(installed, 'node_modules', 'argon2'))).toBe(false);
    expect(existsSync(join(installed, 'node_modules', 'fuse-native'))).toBe(false);
  });

  it('installs runtime dependencies only; ink, React and es-toolkit are bundled, not installed', () => {
    const mods = join(installed, 'node_modules');
    const names = existsSync(mods) ? readdirSync(mods) : [];
    for (const dev of Object.keys(pkg.devDependencies)) expect(names).not.toContain(dev.split('/')[0]);
    for (const dep of Object.keys(pkg.dependencies)) expect(names).toContain(dep.split('/')[0]);
    for (const bundled of ['ink', 'react', 'es-toolkit', 'yoga-layout', 'commander', 'picomatch']) expect(names).not.toContain(bundled);
    const du = execFileSync('du', ['-sk', installed], { encoding: 'utf8' });
    console.info(`installed size: ${(Number(du.split('\t')[0]) / 1024).toFixed(1)} MiB`);
  });

  it('the prebuilt native addons in the package load without a compiler', () => {
    for (const addon of ['fuse3.node', 'sectors.node', 'codecs.node', 'hostio.node', 'argon2.node']) {
      const p = join(installed, 'dist', 'native', addon);
      expect(existsSync(p), `${addon} in the package`).toBe(true);
      const r = spawnSync(process.execPath, ['-e', `const m = require(${JSON.stringify(p)}); console.log(Object.getOwnPropertyNames(m).length)`], { env: { PATH: '/usr/bin:/bin' }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      expect(Number(r.stdout.trim())).toBeGreaterThan(0);
    }
  });

  it.skipIf(!hasTool('tmux'))('the browser starts from the installed files (ink bundled)', async () => {
    const session = `dp-pkg-${process.pid}`;
    execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '100', '-y', '30', `'${join(prefix, 'bin', 'diskpick')}' browse '${DEMO}'; echo "diskpick exited $?"; sleep 60`]);
    try {
      let screen = '';
      for (let i = 0; i < 300 && !screen.includes('FILESERVER'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        screen = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
      }
      expect(screen).toContain('p1  FILESERVER');
      execFileSync('tmux', ['send-keys', '-t', session, 'q']);
      for (let i = 0; i < 100 && !screen.includes('diskpick exited'); i++) {
        await new Promise((r) => setTimeout(r, 100));
        screen = execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
      }
      expect(screen).toContain('diskpick exited 0');
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  });

  it('the library API, imported as "diskpick" from the installed package and type-checked, reads the demo image as its manifest says', () => {
    const project = join(dir, 'project');
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    symlinkSync(installed, join(project, 'node_modules', 'diskpick'));
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'));
    const out = join(project, 'out');
    const program = `
import { createHash } from 'node:crypto';
import { openImage, type Entry } from 'diskpick';

const img = await openImage(process.argv[2]!);
try {
  const volumes = img.volumes().map((v) => ({ name: v.name, fs: v.filesystem?.type ?? null }));
  const walked: Array<Pick<Entry, 'path' | 'type' | 'size'>> = [];
  for await (const e of img.walk('/p1')) walked.push({ path: e.path, type: e.type, size: e.size });
  const readme = await img.stat('/p1/Shared/README.txt');
  const h = createHash('sha256');
  for await (const chunk of await img.createReadStream('/p1/Shared/README.txt')) h.update(chunk as Buffer);
  const whole = createHash('sha256').update(await img.readFile('/p1/Shared/README.txt')).digest('hex');
  const extracted = await img.extract('/p1/Shared', process.argv[3]!);
  let failedOk = '';
  try {
    await img.stat('/p1/no/such/file');
  } catch (err) {
    failedOk = \`\${(err as Error).message} exit \${(err as { exitCode: number }).exitCode}\`;
  }
  console.log(JSON.stringify({ volumes, walked, readme: { size: readme.size, mtime: readme.mtime?.getTime() }, streamed: h.digest('hex'), whole, extracted: extracted.written.length, failedOk }));
} finally {
  await img.close();
}
`;
    writeFileSync(join(project, 'use.mts'), program);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-diskpick', type: 'module', private: true }));
    // The types from the installed .d.ts (package.json "exports" → "types"), as a user's tsc sees them.
    const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--types', 'node', '--outDir', join(project, 'js'), join(project, 'use.mts')], { cwd: project, encoding: 'utf8' });
    expect(tsc.status, tsc.stdout + tsc.stderr).toBe(0);
    const r = spawnSync(process.execPath, [join(project, 'js', 'use.mjs'), DEMO, out], { cwd: project, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout);
    const manifest = JSON.parse(readFileSync(join(ROOT, 'images', 'fileserver.manifest.json'), 'utf8')).p1 as Array<{ path: string; type: string; size: number; sha256?: string; mtime: number }>;
    expect(res.volumes[0]).toEqual({ name: 'p1', fs: 'FAT32' });
    expect(res.walked.map((e: { path: string }) => e.path).sort()).toEqual(manifest.map((e) => `/p1${e.path}`).sort());
    for (const e of res.walked as Array<{ path: string; type: string; size: number }>) {
      const m = manifest.find((x) => `/p1${x.path}` === e.path)!;
      expect(e.type, e.path).toBe(m.type);
      if (m.type === 'file') expect(e.size, e.path).toBe(m.size);
    }
    const readme = manifest.find((e) => e.path === '/Shared/README.txt')!;
    expect(res.readme.size).toBe(readme.size);
    expect(Math.abs(res.readme.mtime / 1000 - readme.mtime)).toBeLessThanOrEqual(2);
    expect(res.streamed).toBe(readme.sha256);
    expect(res.whole).toBe(readme.sha256);
    // extract wrote every file under /Shared with the manifest's bytes.
    const files = manifest.filter((e) => e.type === 'file' && e.path.startsWith('/Shared/'));
    for (const f of files) {
      const got = createHash('sha256').update(readFileSync(join(out, f.path))).digest('hex');
      expect(got, f.path).toBe(f.sha256);
    }
    expect(res.failedOk).toMatch(/no such file.* exit \d+$/i);
  });
  it('an Argon2id LUKS2 keyslot (cryptsetup-made) opens with the installed package alone: its own Argon2 binding', () => {
    const v = LUKS_VARIANTS.find((x) => x.kdf === 'argon2id')!;
    const img = buildLuksImage(CACHE, v);
    const want = LUKS_TREE.find((f) => f.path === 'readme.txt')!.content;
    const r = spawnSync(join(prefix, 'bin', 'diskpick'), ['cat', img, '/p0/readme.txt'], { env: { ...process.env, DISKPICK_PASSPHRASE: LUKS_PASSPHRASE }, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(want);
    // Not the argon2 package: there is none in the install, and the binding is diskpick's copy.
    expect(existsSync(join(installed, 'dist', 'native', 'argon2.LICENSE'))).toBe(true);
  });

  it.skipIf(!existsSync('/dev/fuse'))('mounts through the installed libfuse3 binding (DISKPICK_FUSE=libfuse3: no fallback) and reads a file as the manifest says', () => {
    const bin = join(prefix, 'bin', 'diskpick');
    const mnt = mkdtempSync(join(tmpdir(), 'dp-pkg-mnt-'));
    const menv = { ...process.env, DISKPICK_FUSE: 'libfuse3' };
    try {
      const m = spawnSync(bin, ['mount', '--daemon', '--log', `${mnt}.log`, DEMO, mnt], { env: menv, encoding: 'utf8' });
      expect(m.status, m.stderr).toBe(0);
      const readme = JSON.parse(readFileSync(join(ROOT, 'images', 'fileserver.manifest.json'), 'utf8')).p1.find((e: { path: string }) => e.path === '/Shared/README.txt');
      expect(createHash('sha256').update(readFileSync(join(mnt, 'p1', 'Shared', 'README.txt'))).digest('hex')).toBe(readme.sha256);
      const u = spawnSync(bin, ['umount', mnt], { encoding: 'utf8' });
      expect(u.status, u.stderr).toBe(0);
    } finally {
      spawnSync('fusermount3', ['-uz', mnt]);
      rmSync(mnt, { recursive: true, force: true });
      rmSync(`${mnt}.log`, { force: true });
    }
  });
});
