/**
 * `diskpick mount` of a GPT disk with FAT32 and FAT16 (raw, and the same disk as QCOW2),
 * walked with find/stat/sha256sum/fsck/losetup and compared with the builder's manifest and
 * the image bytes; ownership options; concurrency; the mount lifecycle (SIGTERM, kill -9 and
 * remount, lazy umount of a busy mount, --daemon); one-line errors; EIO on a damaged image.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, readlinkSync, writeFileSync, mkdirSync, copyFileSync, truncateSync, existsSync, statSync, mkdtempSync, readdirSync, cpSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CACHE, CLI, cachedImage, diskpick, sha256, sha256File, tool } from '../helpers/tools.js';
import { seededBytes } from '../../scripts/images/tree.js';
import { buildGptFatDisk, type VolumeManifests } from '../../scripts/images/fat.js';
import { alive, hashes, isMounted, mountDaemon, mountForeground, newMountpoint, q, release, releaseAll, sh, waitFor, walk } from './mounts.js';

let image: string;
let manifests: VolumeManifests;
let imageSha: string;

beforeAll(async () => {
  image = cachedImage('fuse-fat-gpt.img', buildGptFatDisk);
  manifests = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as VolumeManifests;
  imageSha = await sha256File(image);
});

afterAll(async () => {
  releaseAll();
  // The image was only ever read.
  expect(await sha256File(image)).toBe(imageSha);
});

describe('FAT GPT disk through a mount', () => {
  let mnt: string;
  let pid: number;
  beforeAll(() => {
    mnt = newMountpoint('fat');
    pid = mountDaemon(image, mnt).pid;
  });

  it('is served by the binding DISKPICK_FUSE names: the mount process has that libfuse loaded', () => {
    // The test projects set it (vitest.config.ts): libfuse3 through diskpick's binding, or fuse-native's libfuse2.
    const want = process.env.DISKPICK_FUSE;
    expect(want === 'libfuse3' || want === 'libfuse2').toBe(true);
    const maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
    expect(maps.includes('/libfuse3.so.3')).toBe(want === 'libfuse3');
    expect(maps.includes('/libfuse.so.2')).toBe(want === 'libfuse2');
    expect(maps.includes('/native/fuse3.node')).toBe(want === 'libfuse3');
  });

  it('shows the same volumes as the partition table (sgdisk) and a hidden .raw folder', () => {
    expect(sh(`ls ${q(mnt)}`).split('\n').filter(Boolean)).toEqual(['p1', 'p2']);
    expect(sh(`ls -A ${q(mnt)}`).split('\n').filter(Boolean)).toEqual(['.raw', 'p1', 'p2']);
    const parts = tool('sgdisk', ['-p', image]).split('\n').filter((l) => /^\s+\d+\s+\d+\s+\d+/.test(l));
    expect(parts.length).toBe(2);
    expect(sh(`ls ${q(join(mnt, '.raw'))}`).split('\n').filter(Boolean)).toEqual(['disk', 'p1', 'p2']);
  });

  for (const vol of ['p1', 'p2']) {
    it(`${vol}: paths, types, sizes, mtimes and sha256 match the manifest`, () => {
      const found = walk(join(mnt, vol));
      const sums = hashes(join(mnt, vol));
      const m = manifests[vol]!;
      expect([...found.keys()].sort()).toEqual(m.map((e) => e.path).sort());
      for (const e of m) {
        const f = found.get(e.path)!;
        expect(f.type, e.path).toBe(e.type === 'dir' ? 'd' : 'f');
        if (e.type !== 'file') continue;
        expect(f.size, e.path).toBe(e.size);
        expect(sums.get(e.path), e.path).toBe(e.sha256);
        // FAT keeps mtimes in 2-second steps.
        expect(Math.abs(f.mtimeMs - e.mtime * 1000), e.path).toBeLessThanOrEqual(2000);
        // Allocation is whole clusters: at least the size, in 512-byte blocks.
        expect(f.blocks * 512, e.path).toBeGreaterThanOrEqual(e.size);
      }
    });
  }

  it('gives every file its own inode number, the mounting user, 0755/0644, read-only', () => {
    const found = [...walk(join(mnt, 'p1')).values(), ...walk(join(mnt, 'p2')).values()];
    const inos = new Set(found.map((f) => f.ino));
    expect(inos.size).toBe(found.length);
    for (const f of found) {
      expect(f.uid).toBe(process.getuid!());
      expect(f.gid).toBe(process.getgid!());
      expect(f.mode).toBe(f.type === 'd' ? 0o755 : 0o644);
    }
    // Same number on a second look (the kernel caches; stat again through a new process).
    const again = walk(join(mnt, 'p1'));
    for (const [p, f] of again) expect(f.ino).toBe(found.find((x) => x.path === p && x.ino === f.ino)?.ino);
    const w = sh(`{ echo x > ${q(join(mnt, 'p1', 'new.txt'))}; } 2>&1`, { allowFail: true });
    expect(w).toMatch(/Read-only file system/);
    expect(sh(`grep ' ${mnt} ' /proc/self/mountinfo`)).toMatch(/ ro[, ]/);
  });

  it('has no extended attributes on FAT (getfattr)', () => {
    expect(sh(`getfattr -d --absolute-names ${q(join(mnt, 'p1', 'docs', 'report.docx'))}`)).toBe('');
  });

  it('.raw/disk is the image, .raw/pN are the partitions (sgdisk offsets, fsck.vfat -n, losetup -r + blkid)', async () => {
    expect(sh(`sha256sum < ${q(join(mnt, '.raw', 'disk'))}`).slice(0, 64)).toBe(imageSha);
    // Partition 1 starts at 1 MiB and is 40 MiB long (sgdisk -i).
    const info = tool('sgdisk', ['-i', '1', image]);
    const first = Number(/First sector: (\d+)/.exec(info)![1]);
    const last = Number(/Last sector: (\d+)/.exec(info)![1]);
    expect(statSync(join(mnt, '.raw', 'p1')).size).toBe((last - first + 1) * 512);
    const fromImage = sh(`dd if=${q(image)} bs=512 skip=${first} count=${last - first + 1} status=none | sha256sum`).slice(0, 64);
    expect(sh(`sha256sum < ${q(join(mnt, '.raw', 'p1'))}`).slice(0, 64)).toBe(fromImage);
    expect(sh(`fsck.vfat -n ${q(join(mnt, '.raw', 'p1'))}`)).toMatch(/files/);
    const loop = sh(`losetup -r -f --show ${q(join(mnt, '.raw', 'p2'))}`).trim();
    try {
      expect(sh(`blkid -o value -s LABEL ${loop}`).trim()).toBe('GPTSECOND');
    } finally {
      sh(`losetup -d ${loop}`);
    }
  });

  it('a read from the middle of a fresh file (parallel kernel readahead) gives the bytes written', () => {
    // big.bin is writeLargeSeeded(…, 20 MiB, seed 4242): 4 MiB pieces of seededBytes(4242000 + i).
    const expected = Buffer.concat([seededBytes(4242 * 1000 + 2, 4 << 20), seededBytes(4242 * 1000 + 3, 4 << 20)]);
    sh('echo 3 > /proc/sys/vm/drop_caches');
    const got = sh(`dd if=${q(join(mnt, 'p1', 'big.bin'))} bs=1M skip=8 count=8 status=none | sha256sum`).slice(0, 64);
    expect(got).toBe(sha256(expected));
  });

  it('reads correctly with two parallel big readers and 8 parallel cats of small files', () => {
    const big = manifests.p1!.find((e) => e.path === '/big.bin')!;
    const info = tool('sgdisk', ['-i', '2', image]);
    const first = Number(/First sector: (\d+)/.exec(info)![1]);
    const last = Number(/Last sector: (\d+)/.exec(info)![1]);
    const p2Sha = sh(`dd if=${q(image)} bs=512 skip=${first} count=${last - first + 1} status=none | sha256sum`).slice(0, 64);
    sh('echo 3 > /proc/sys/vm/drop_caches');
    const out = sh(`(sha256sum ${q(join(mnt, 'p1', 'big.bin'))} & sha256sum ${q(join(mnt, '.raw', 'p2'))} & wait)`);
    expect(out).toContain(`${big.sha256}  ${join(mnt, 'p1', 'big.bin')}`);
    expect(out).toContain(`${p2Sha}  ${join(mnt, '.raw', 'p2')}`);
    const small = manifests.p2!.filter((e) => e.type === 'file' && e.size < 200_000).slice(0, 8);
    expect(small.length).toBe(8);
    const cats = small.map((e, i) => `(cat ${q(join(mnt, 'p2') + e.path)} | sha256sum > /tmp/dp-fuse-cat-${process.pid}-${i}) &`).join(' ');
    sh(`${cats} wait`);
    small.forEach((e, i) => expect(readFileSync(`/tmp/dp-fuse-cat-${process.pid}-${i}`, 'utf8').slice(0, 64), e.path).toBe(e.sha256));
    sh(`rm -f /tmp/dp-fuse-cat-${process.pid}-*`);
  });
});

describe('reads diskpick\'s binding serves by itself', () => {
  const viaBinding = process.env.DISKPICK_FUSE === 'libfuse3';
  const root = process.getuid?.() === 0;
  if (!viaBinding) console.warn('SKIP: reads without JavaScript are a property of diskpick\'s libfuse3 binding (project diskpick)');
  else if (!root) console.warn('SKIP: the blocked-reader test needs root (to abort the FUSE connection should the read wait for JavaScript)');
  it.runIf(viaBinding && root)('a file on a raw image reads while the JavaScript thread is blocked in read(2), bytes as written (manifest)', async () => {
    const big = manifests.p1!.filter((e) => e.type === 'file').sort((a, b) => b.size - a.size)[0]!;
    const mnt = newMountpoint('blocked');
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./blocked-reader.ts', import.meta.url)), image, mnt, `/p1${big.path}`]);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    let waited = false;
    // A read waiting for the blocked JavaScript thread never ends, and the process cannot even be
    // killed while it waits: abort the mount's FUSE connection (fusectl), which fails the read.
    const timer = setTimeout(() => {
      waited = true;
      const dev = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')).find((f) => f[4] === mnt)?.[2];
      sh('mountpoint -q /sys/fs/fuse/connections || mount -t fusectl none /sys/fs/fuse/connections', { allowFail: true });
      if (dev) sh(`echo 1 > /sys/fs/fuse/connections/${dev.split(':')[1]}/abort`, { allowFail: true });
      child.kill('SIGKILL');
    }, 30_000);
    const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
    clearTimeout(timer);
    sh(`fusermount -uz ${q(mnt)} 2>/dev/null; rmdir ${q(mnt)}`, { allowFail: true });
    expect(waited, `the read waited for JavaScript (aborted after 30 s); stderr: ${err}`).toBe(false);
    expect(code, err).toBe(0);
    expect(out.trim()).toBe(big.sha256);
  });
});

describe('ownership options', () => {
  it('-o allow_other reaches the kernel; --uid/--gid/--umask set owner and permissions of FAT files', () => {
    const mnt = newMountpoint('own');
    const m = mountDaemon(image, mnt, ['-o', 'allow_other', '--uid', '1234', '--gid', '5678', '--umask', '027']);
    try {
      expect(sh(`grep ' ${mnt} ' /proc/self/mountinfo`)).toMatch(/allow_other/);
      const found = walk(join(mnt, 'p1'));
      expect(found.size).toBe(manifests.p1!.length);
      for (const f of found.values()) {
        expect([f.uid, f.gid]).toEqual([1234, 5678]);
        expect(f.mode).toBe(f.type === 'd' ? 0o750 : 0o640);
      }
    } finally {
      release(m);
    }
  });
});

describe('containers (files inside them read by the binding from their host runs)', () => {
  // QCOW2, VHDX, monolithicSparse VMDK, and QCOW2 with compressed clusters (read through JavaScript).
  for (const [name, args] of [['qcow2', ['-O', 'qcow2']], ['vhdx', ['-O', 'vhdx']], ['vmdk', ['-O', 'vmdk']], ['c.qcow2', ['-O', 'qcow2', '-c']]] as const) {
    it(`mounts the same disk converted by qemu-img ${args.join(' ')}: .raw/disk is the raw image, files match the manifest`, () => {
      const img = cachedImage(`fuse-fat-gpt.${name}`, (p) => tool('qemu-img', ['convert', '-f', 'raw', ...args, image, p]));
      const mnt = newMountpoint(name.replace('.', '-'));
      const m = mountDaemon(img, mnt);
      try {
        expect(sh(`sha256sum < ${q(join(mnt, '.raw', 'disk'))}`).slice(0, 64)).toBe(imageSha);
        const sums = hashes(join(mnt, 'p1'));
        for (const e of manifests.p1!) if (e.type === 'file') expect(sums.get(e.path), e.path).toBe(e.sha256);
      } finally {
        release(m);
      }
    });
  }
});

describe('lifecycle', () => {
  it('foreground: SIGTERM unmounts cleanly and exits 0; so does Ctrl-C (SIGINT)', async () => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      const mnt = newMountpoint('fg');
      const m = await mountForeground(image, mnt);
      expect(isMounted(mnt)).toBe(true);
      expect(sh(`cat ${q(join(mnt, 'p1', 'lower.txt'))}`)).toBe('lower case 8.3 name\n');
      const exited = new Promise<number | null>((res) => m.child!.once('exit', (c) => res(c)));
      m.child!.kill(sig);
      expect(await exited).toBe(0);
      expect(isMounted(mnt)).toBe(false);
      release(m);
    }
  });

  it('kill -9 leaves a stale mount; the next mount on that folder cleans it up and works', async () => {
    const mnt = newMountpoint('stale');
    const m1 = mountDaemon(image, mnt);
    process.kill(m1.pid, 'SIGKILL');
    await waitFor(() => !alive(m1.pid));
    // ENOTCONN, or ECONNABORTED when the listing reached the kernel while the killed process's
    // last threads were still exiting (its main thread shows as a zombie first).
    expect(sh(`ls ${q(mnt)} 2>&1`, { allowFail: true })).toMatch(/Transport endpoint is not connected|Software caused connection abort/);
    const m2 = mountDaemon(image, mnt);
    expect(sh(`cat ${q(join(mnt, 'p1', 'UPPER.TXT'))}`)).toBe('upper case 8.3 name\n');
    expect(readFileSync(`${mnt}.log`, 'utf8')).toMatch(/stale mount/);
    release(m2);
    release(m1);
  });

  it('umount cleans up a stale mount too', async () => {
    const mnt = newMountpoint('stale2');
    const m = mountDaemon(image, mnt);
    process.kill(m.pid, 'SIGKILL');
    await waitFor(() => !alive(m.pid));
    const r = diskpick(['umount', mnt]);
    expect(r.status).toBe(0);
    expect(isMounted(mnt)).toBe(false);
    release(m);
  });

  it('umount of a busy mount works lazily: the open file still reads, the daemon leaves after it is closed', async () => {
    const mnt = newMountpoint('busy');
    const m = mountDaemon(image, mnt);
    const big = manifests.p1!.find((e) => e.path === '/big.bin')!;
    // A reader holding the file open across the unmount; it reads only once told to.
    sh(`rm -f /tmp/dp-fuse-go-${process.pid}; mkfifo /tmp/dp-fuse-go-${process.pid}`);
    const holder = spawn('bash', ['-c', `exec 3< ${q(join(mnt, 'p1', 'big.bin'))}; read -r _ < /tmp/dp-fuse-go-${process.pid}; sha256sum <&3`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    holder.stdout!.on('data', (d) => (out += d));
    // Unmount only once the holder really has the file open.
    expect(await waitFor(() => {
      try {
        return readlinkSync(`/proc/${holder.pid}/fd/3`).startsWith(mnt);
      } catch {
        return false;
      }
    }, 20_000)).toBe(true);
    const r = diskpick(['umount', mnt]);
    expect(r.status, r.stderr).toBe(0);
    expect(isMounted(mnt)).toBe(false);
    expect(alive(m.pid)).toBe(true);
    const done = new Promise<void>((res) => holder.once('exit', () => res()));
    writeFileSync(`/tmp/dp-fuse-go-${process.pid}`, 'go\n');
    await done;
    expect(out.slice(0, 64)).toBe(big.sha256);
    // The kernel sends the last RELEASE asynchronously; on a loaded machine that took > 20 s once.
    expect(await waitFor(() => !alive(m.pid), 60_000), m.stderr()).toBe(true);
    sh(`rm -f /tmp/dp-fuse-go-${process.pid}`);
    release(m);
  });
});

describe('errors', () => {
  it('one-line errors: missing mountpoint, not empty, not a folder, bad image, nothing mounted', () => {
    const mnt = newMountpoint('err');
    let r = diskpick(['mount', image, join(mnt, 'missing')]);
    expect([r.status, r.stderr.trim().split('\n').length]).toEqual([2, 1]);
    expect(r.stderr).toMatch(/mountpoint does not exist/);
    mkdirSync(join(mnt, 'full'));
    writeFileSync(join(mnt, 'full', 'x'), 'x');
    r = diskpick(['mount', image, join(mnt, 'full')]);
    expect([r.status, r.stderr.trim()]).toEqual([2, `diskpick: ${join(mnt, 'full')}: mountpoint is not empty`]);
    r = diskpick(['mount', image, join(mnt, 'full', 'x')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/not a folder/);
    const junk = join(CACHE, 'fuse-junk.img');
    writeFileSync(junk, Buffer.alloc(1 << 20, 0x5a));
    mkdirSync(join(mnt, 'empty'));
    r = diskpick(['mount', '--daemon', '--log', join(mnt, 'junk.log'), junk, join(mnt, 'empty')]);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n').length).toBe(1);
    expect(r.stderr).toMatch(/not a disk image/);
    expect(isMounted(join(mnt, 'empty'))).toBe(false);
    r = diskpick(['umount', join(mnt, 'empty')]);
    expect([r.status, r.stderr.trim()]).toEqual([2, `diskpick: ${join(mnt, 'empty')}: nothing is mounted here`]);
    r = diskpick(['mount', '-o', 'rw', image, join(mnt, 'empty')]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/mount option rw: diskpick mounts are read-only/);
    sh(`rm -rf ${q(mnt)}`);
  });

  // Only where /dev/fuse is root-only (crw-------); where others may use it there is nothing to refuse.
  const isRoot = process.getuid?.() === 0;
  if (!isRoot) console.warn('SKIP: hiding libfuse needs root (a private mount namespace)');
  it.skipIf(!isRoot)('libfuse missing (hidden in a private mount namespace): without libfuse3 the mount works through libfuse2; without either, one line naming the packages, exit 6', () => {
    const lib = (name: string) => sh(`ldconfig -p | awk '/${name.replace(/\./g, '\\.')} .*x86-64/ {print $NF; exit}'`).trim();
    const fuse2 = lib('libfuse.so.2');
    const fuse3 = lib('libfuse3.so.3');
    expect(fuse2).not.toBe('');
    expect(fuse3).not.toBe('');
    const mnt = newMountpoint('nolib');
    const env = { ...process.env };
    delete env.DISKPICK_FUSE;
    const run = (hide: string[], mountArgs: string) => {
      const binds = hide.map((f) => `mount --bind /dev/null ${q(f)}`).join(' && ');
      return spawnSync('unshare', ['-m', 'bash', '-c', `${binds} && ${q(process.execPath)} ${q(CLI)} mount ${mountArgs}; echo "exit=$?"; ${mountArgs.includes('--daemon') ? `fusermount -uz ${q(mnt)}` : 'true'}`], { encoding: 'utf8', env });
    };
    try {
      const neither = run([fuse2, fuse3], `${q(image)} ${q(mnt)}`);
      expect(neither.stdout).toContain('exit=6');
      const lines = neither.stderr.trim().split('\n');
      expect(lines.length).toBe(1);
      expect(lines[0]).toMatch(/^diskpick: libfuse3 is not installed \(Debian package libfuse3-3.*libfuse2 is not installed: install the Debian package libfuse2/);
      const only2 = run([fuse3], `--daemon --log ${q(`${mnt}.log`)} ${q(image)} ${q(mnt)}`);
      expect(only2.stdout).toContain('exit=0');
      expect(only2.stdout).toMatch(/^mounted /);
    } finally {
      sh(`fusermount -uz ${q(mnt)} 2>/dev/null; rmdir ${q(mnt)}; rm -f ${q(`${mnt}.log`)}`, { allowFail: true });
    }
  });

  const devFuseOpen = existsSync('/dev/fuse') && (statSync('/dev/fuse').mode & 0o006) !== 0;
  if (devFuseOpen) console.warn('SKIP: /dev/fuse is usable by everyone here; the "not permitted" test needs a root-only /dev/fuse');
  it.skipIf(devFuseOpen)('/dev/fuse not permitted (an unprivileged user): one line naming /dev/fuse, exit 6', () => {
    // /dev/fuse is root-only here (crw-------); setpriv drops to nobody. The checkout may sit in
    // a folder nobody cannot enter (mktemp -d is 0700), so the installed parts of diskpick it
    // runs — the bundle, package.json, the libfuse3 binding, fuse-native and what it requires — and the image are
    // staged in a world-readable folder first.
    const stage = mkdtempSync(join(tmpdir(), 'diskpick-nobody-'));
    try {
      const root = dirname(dirname(dirname(CLI)));
      mkdirSync(join(stage, 'dist', 'cli'), { recursive: true });
      for (const f of readdirSync(dirname(CLI)).filter((n) => /^(launch\.cjs|bundle\.cjs(\..*\.cache)?)$/.test(n))) {
        copyFileSync(join(dirname(CLI), f), join(stage, 'dist', 'cli', f));
      }
      copyFileSync(join(root, 'package.json'), join(stage, 'package.json'));
      if (existsSync(join(root, 'dist', 'native'))) cpSync(join(root, 'dist', 'native'), join(stage, 'dist', 'native'), { recursive: true });
      const wanted = ['fuse-native'];
      const copied = new Set<string>();
      while (wanted.length) {
        const dep = wanted.pop()!;
        if (copied.has(dep)) continue;
        copied.add(dep);
        cpSync(join(root, 'node_modules', dep), join(stage, 'node_modules', dep), { recursive: true, dereference: true });
        const pj = JSON.parse(readFileSync(join(root, 'node_modules', dep, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
        wanted.push(...Object.keys(pj.dependencies ?? {}));
      }
      copyFileSync(image, join(stage, 'disk.img'));
      sh(`chmod -R a+rX ${q(stage)}`);
      const r = sh(`setpriv --reuid=65534 --regid=65534 --clear-groups ${process.execPath} ${q(join(stage, 'dist', 'cli', 'launch.cjs'))} mount ${q(join(stage, 'disk.img'))} /tmp 2>&1; echo "rc=$?"`, { allowFail: true });
      const lines = r.trim().split('\n');
      expect(lines[lines.length - 1]).toBe('rc=6');
      expect(lines.length).toBe(2);
      expect(lines[0]).toMatch(/^diskpick: \/dev\/fuse: not permitted/);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  });

  it('a damaged image: failing reads return EIO with one log line each, the mount keeps serving', () => {
    const bad = join(CACHE, 'fuse-fat-gpt-cut.img');
    if (!existsSync(bad)) {
      copyFileSync(image, bad);
      // Cut p2 (41 MiB … 81 MiB) just after its FATs and root folder: later clusters are gone.
      truncateSync(bad, 41 * 1024 * 1024 + 120 * 1024);
    }
    const badSha = sh(`sha256sum < ${q(bad)}`).slice(0, 64);
    const mnt = newMountpoint('eio');
    const m = mountDaemon(bad, mnt);
    try {
      const files = manifests.p2!.filter((e) => e.type === 'file');
      let failed = 0;
      for (const e of files) {
        const r = sh(`cat ${q(join(mnt, 'p2') + e.path)} > /dev/null 2>&1 && echo ok || echo fail`).trim();
        if (r === 'fail') failed++;
      }
      expect(failed).toBeGreaterThan(0);
      const lines = m.stderr().split('\n').filter((l) => /^diskpick: (read|readdir|open|getattr) /.test(l));
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(l).toMatch(/^diskpick: \w+ \/p2\/\S.*truncated/);
      expect(alive(m.pid)).toBe(true);
      // Still serving p1, whose clusters are all present.
      const lower = manifests.p1!.find((e) => e.path === '/lower.txt')!;
      expect(sh(`sha256sum < ${q(join(mnt, 'p1', 'lower.txt'))}`).slice(0, 64)).toBe(lower.sha256);
    } finally {
      release(m);
    }
    expect(sh(`sha256sum < ${q(bad)}`).slice(0, 64)).toBe(badSha);
  });

  it('an image cut short after a file was opened: its reads return EIO with one log line each, the mount keeps serving', async () => {
    // A file opened before the cut keeps the map it was opened with (through diskpick's binding,
    // read by libfuse's threads without JavaScript); its data is then gone from the image.
    const dir = mkdtempSync(join(tmpdir(), 'dp-fuse-cut-'));
    const copy = join(dir, 'disk.img');
    copyFileSync(image, copy);
    const mnt = newMountpoint('cut');
    const m = mountDaemon(copy, mnt);
    try {
      const big = manifests.p1!.filter((e) => e.type === 'file').sort((a, b) => b.size - a.size)[0]!;
      const p1Start = Number(tool('sgdisk', ['-i', '1', image]).match(/First sector: (\d+)/)![1]) * 512;
      const file = join(mnt, 'p1') + big.path;
      // fd 3 is opened before the cut; the read after it must fail, not return a short file.
      const out = sh(`exec 3< ${q(file)}; truncate -s ${p1Start + 512} ${q(copy)}; cat <&3 > /dev/null 2>&1 && echo ok || echo fail`).trim();
      expect(out).toBe('fail');
      // The binding answers the failed read at once and hands its log line to JavaScript without
      // waiting (fuse3.c note()): the line may land just after `cat` has ended.
      const readLines = () => m.stderr().split('\n').filter((l) => l.startsWith('diskpick: read '));
      await waitFor(() => readLines().length > 0);
      const lines = readLines();
      expect(lines.length).toBeGreaterThan(0);
      for (const l of lines) expect(l).toMatch(new RegExp(`^diskpick: read /p1${big.path.replace(/[.]/g, '\\.')}: .*truncated`));
      expect(alive(m.pid)).toBe(true);
      // Still answering: the folder listing is kept, and stat needs no image bytes.
      expect(sh(`ls ${q(join(mnt, 'p1'))}`)).toContain(big.path.slice(1).split('/')[0]);
    } finally {
      release(m);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
