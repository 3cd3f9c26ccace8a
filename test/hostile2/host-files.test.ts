/**
 * Issue 26 items 5 and 8: the host files around an image.
 * 5: a FIFO or a device as the image, a VMDK extent, a qcow2 backing file, a VHD parent, or
 *    beside a VDI whose parent is searched: refused with one line at once, never a hang (each
 *    run has a 20 s kill timer; opening a FIFO for reading blocks until a writer comes).
 * 8: dd, extract (--force or not) and cat to a redirected stdout never write onto a file the
 *    image chain reads: the image, a hard link of it, a qcow2 backing file, a VMDK extent.
 */
import { spawnSync, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, openSync, closeSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildVdiSet } from '../../scripts/images/vdi.js';
import { buildVhdSet } from '../../scripts/images/vhd.js';
import { CACHE, CLI, cachedImage, sha256File, type CliResult } from '../helpers/tools.js';
import { expectCleanOutput } from './common.js';

/** Runs diskpick with a kill timer: a hang fails the test instead of stalling it. */
function dp(args: string[], stdoutFd?: number): CliResult & { timedOut: boolean } {
  const r = spawnSync(process.execPath, [CLI, ...args], { timeout: 20_000, killSignal: 'SIGKILL', maxBuffer: 1 << 28, stdio: ['ignore', stdoutFd ?? 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status ?? -1, stdout: r.stdout ?? Buffer.alloc(0), stderr: r.stderr.toString(), timedOut: r.signal === 'SIGKILL' };
}

const dir = join(CACHE, 'h2-host-files');

/** A fresh folder of small images made by qemu-img, with `fifo` replaced by a FIFO. */
function setup(): Record<string, string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const p = (n: string) => join(dir, n);
  const q = (args: string[]) => execFileSync('qemu-img', args, { cwd: dir, stdio: 'pipe' });
  q(['create', '-f', 'raw', 'base.raw', '1M']);
  q(['create', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'over.qcow2']);
  q(['create', '-f', 'vmdk', '-o', 'subformat=monolithicFlat', 'flat.vmdk', '1M']);
  // FIFO versions: a qcow2 whose backing file is a FIFO, a VMDK whose extent is one.
  mkdirSync(p('fifo'));
  q(['create', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', '-u', 'fifo/over.qcow2', '1M']);
  execFileSync('mkfifo', [p('fifo/base.raw')]);
  copyFileSync(p('flat.vmdk'), p('fifo/flat.vmdk'));
  execFileSync('mkfifo', [p('fifo/flat-flat.vmdk'), p('fifo/image.img')]);
  return { base: p('base.raw'), over: p('over.qcow2'), flat: p('flat.vmdk'), extent: p('flat-flat.vmdk') };
}

describe('non-regular files are refused at once (issue 26 item 5)', () => {
  const files = setup();
  void files;
  const expectRefused = (r: CliResult & { timedOut: boolean }, what: RegExp) => {
    expect(r.timedOut, 'hung on open').toBe(false);
    expect(r.status, r.stderr).toBe(3);
    expectCleanOutput(r);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(what);
  };

  it('a FIFO or a character device as the image', () => {
    expectRefused(dp(['ls', join(dir, 'fifo/image.img')]), /image\.img: is a FIFO, not a disk image file/);
    expectRefused(dp(['info', '/dev/null']), /\/dev\/null: is a character device/);
  });

  it('a FIFO as a qcow2 backing file and as a VMDK extent', () => {
    expectRefused(dp(['info', join(dir, 'fifo/over.qcow2')]), /base\.raw: is a FIFO/);
    expectRefused(dp(['info', join(dir, 'fifo/flat.vmdk')]), /flat-flat\.vmdk: is a FIFO/);
  });

  it('a FIFO as a VHD parent', () => {
    const set = cachedImage('container-vhd-set', (d) => void buildVhdSet(d));
    const d = join(dir, 'vhd');
    mkdirSync(d, { recursive: true });
    copyFileSync(join(set, 'diff-w2ru.vhd'), join(d, 'diff-w2ru.vhd'));
    execFileSync('mkfifo', [join(d, 'parent.vhd')]);
    expectRefused(dp(['info', join(d, 'diff-w2ru.vhd')]), /parent\.vhd: is a FIFO/);
  });

  it('a FIFO where the VDI parent search looks: skipped, the real parent found', async () => {
    const set = cachedImage('container-vdi-set', (d) => void buildVdiSet(d));
    const d = join(dir, 'vdi');
    mkdirSync(d, { recursive: true });
    copyFileSync(join(set, 'child.vdi'), join(d, 'child.vdi'));
    copyFileSync(join(set, 'parent.vdi'), join(d, 'parent.vdi'));
    execFileSync('mkfifo', [join(d, 'aaa.vdi'), join(d, 'zzz.vdi')]);
    const r = dp(['dd', join(d, 'child.vdi'), '-q', '-o', '-']);
    expect(r.timedOut, 'hung on open').toBe(false);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.equals(execFileSync('cat', [join(set, 'child.vdi.expected')], { maxBuffer: 1 << 28 }))).toBe(true);
  });
});

describe('writers never write onto the image chain (issue 26 item 8)', () => {
  it('dd onto the image, a hard link of it, a backing file, a VMDK extent: refused with --force, files unchanged', async () => {
    const f = setup();
    const link = join(dir, 'hardlink.raw');
    linkSync(f.base, link);
    const sums = new Map<string, string>();
    for (const p of Object.values(f)) sums.set(p, await sha256File(p));
    const cases: [string, string][] = [[f.base, f.base], [f.base, link], [f.over, f.base], [f.flat, f.extent], [f.over, f.over]];
    for (const [img, out] of cases) {
      const r = dp(['dd', img, '-q', '--force', '-o', out]);
      expect(r.status, `${img} -> ${out}: ${r.stderr}`).toBe(7);
      expectCleanOutput(r);
      expect(r.stderr).toMatch(/is a file the image reads .*never writes onto its own input/);
    }
    for (const [p, h] of sums) expect(await sha256File(p), p).toBe(h);
    expect(statSync(f.base).size).toBe(1 << 20);
  });

  it('dd -o - into a stdout that is the image or its backing file (>> IMAGE): refused', async () => {
    const f = setup();
    const before = await sha256File(f.base);
    const fd = openSync(f.base, 'a');
    try {
      for (const args of [['dd', f.base, '-q', '-o', '-'], ['dd', f.over, '-q', '-o', '-']]) {
        const r = dp(args, fd);
        expect(r.status, r.stderr).toBe(7);
        expect(r.stderr).toMatch(/standard output: is a file the image reads/);
      }
    } finally {
      closeSync(fd);
    }
    expect(await sha256File(f.base)).toBe(before);
  });

  it('dd from a block device onto the same disk through another device node: refused', async () => {
    const f = setup();
    const before = await sha256File(f.base);
    const loop = execFileSync('losetup', ['-f', '--show', f.base], { encoding: 'utf8' }).trim();
    const alias = join(dir, 'alias-node');
    try {
      const st = statSync(loop);
      execFileSync('mknod', [alias, 'b', String(Math.floor(st.rdev / 256) & 0xfff), String((st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00))]);
      for (const out of [alias, loop]) {
        const r = dp(['dd', loop, '-q', '--force', '-o', out]);
        expect(r.status, r.stderr).toBe(7);
        expect(r.stderr).toMatch(/is a file the image reads/);
      }
    } finally {
      spawnSync('losetup', ['-d', loop]);
      rmSync(alias, { force: true });
    }
    expect(await sha256File(f.base)).toBe(before);
  });

  it('extract --force into the image\'s own folder does not replace the image', async () => {
    // An ext image holding a file with the image's own name, extracted into the image's folder.
    const d = join(dir, 'ext');
    mkdirSync(join(d, 'tree'), { recursive: true });
    execFileSync('sh', ['-c', `echo restored > ${join(d, 'tree', 'self.img')}`]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-d', join(d, 'tree'), join(d, 'self.img'), '2M'], { stdio: 'pipe' });
    const before = await sha256File(join(d, 'self.img'));
    for (const extra of [['--force'], []]) {
      const r = dp(['extract', ...extra, join(d, 'self.img'), '/p0/self.img', '-o', d]);
      expect(r.status, r.stderr).toBe(7);
      expectCleanOutput(r);
      expect(r.stderr).toMatch(/self\.img: is a file the image reads/);
    }
    expect(await sha256File(join(d, 'self.img'))).toBe(before);
    expect(existsSync(join(d, 'self.img'))).toBe(true);
  });
});
