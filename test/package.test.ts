/**
 * diskpick is a real npm package: `npm pack`, then a global install of the tarball into a
 * temporary prefix with runtime dependencies only, gives a working `diskpick`.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/tools.js';

describe('npm package', () => {
  it('packs, installs globally and runs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-pack-'));
    const env = { ...process.env, npm_config_loglevel: 'error', npm_config_fund: 'false', npm_config_audit: 'false' };
    const name = execFileSync('npm', ['pack', '--silent', '--pack-destination', dir], { cwd: ROOT, env, encoding: 'utf8' }).trim().split('\n').pop()!;
    const prefix = join(dir, 'prefix');
    execFileSync('npm', ['install', '-g', '--omit=dev', '--prefix', prefix, join(dir, name)], { env, encoding: 'utf8', stdio: 'pipe' });
    const bin = join(prefix, 'bin', 'diskpick');
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(execFileSync(bin, ['--version'], { encoding: 'utf8' }).trim()).toBe(pkg.version);
    const info = JSON.parse(execFileSync(bin, ['info', '--json', join(ROOT, 'images', 'fileserver.vmdk')], { encoding: 'utf8' }));
    expect(info.volumes[0].filesystem.type).toBe('FAT32');
    // The installed CLI runs from the V8 code cache made at build time (start-up time).
    const run = spawnSync(bin, ['--version'], { env: { ...process.env, DISKPICK_CODE_CACHE_REPORT: '1' }, encoding: 'utf8' });
    expect(run.stderr.trim()).toBe('diskpick: code cache used');
    // Only runtime dependencies were installed.
    const installed = join(prefix, 'lib', 'node_modules', 'diskpick', 'node_modules');
    const names = existsSync(installed) ? readdirSync(installed) : [];
    for (const dev of Object.keys(pkg.devDependencies)) expect(names).not.toContain(dev.split('/')[0]);
    for (const dep of Object.keys(pkg.dependencies)) expect(names).toContain(dep.split('/')[0]);
  }, 300_000);
});
