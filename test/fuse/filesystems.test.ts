/**
 * ext4, NTFS and exFAT through `diskpick mount`, walked with find/stat/sha256sum/readlink/
 * getfattr and compared with the host trees the images were built from (lstat of the tree,
 * the builders' manifest/extra JSON) and with debugfs where the host tree cannot know
 * (allocation of a sparse file).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { cachedImage, sha256File, tool } from '../helpers/tools.js';
import { buildExtImage, EXT_SPECIAL, treeOf } from '../../scripts/images/ext.js';
import { buildNtfsImage, type NtfsExtra } from '../../scripts/images/ntfs.js';
import { exfatImages } from '../../scripts/images/exfat.js';
import { manifestOf, type ManifestEntry } from '../../scripts/images/tree.js';
import { FUSE_EXT, hashes, mountDaemon, newMountpoint, q, releaseAll, sh, walk, type Mounted } from './mounts.js';

afterAll(() => releaseAll());

/** What the host says about every entry of a tree (lstat with nanoseconds). */
function hostTree(root: string): Map<string, { type: string; size: number; mode: number; uid: number; gid: number; nlink: number; mtimeNs: bigint; rdev: number; target?: string; sha256?: string }> {
  const out = new Map();
  const w = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p, { bigint: true });
      const type = st.isSymbolicLink() ? 'l' : st.isDirectory() ? 'd' : st.isFIFO() ? 'p' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isSocket() ? 's' : 'f';
      out.set('/' + relative(root, p), {
        type, size: Number(st.size), mode: Number(st.mode) & 0o7777, uid: Number(st.uid), gid: Number(st.gid), nlink: Number(st.nlink),
        mtimeNs: st.mtimeNs, rdev: Number(st.rdev),
        target: type === 'l' ? readlinkSync(p) : undefined,
        sha256: type === 'f' ? createHash('sha256').update(readFileSync(p)).digest('hex') : undefined,
      });
      if (type === 'd') w(p);
    }
  };
  w(root);
  return out;
}

/** What a FUSE mount can show of a time: whole milliseconds, nothing before 1970 (docs/fuse.md). */
function fuseMs(ns: bigint): number {
  const ms = Number(ns / 1_000_000n) - (ns < 0n && ns % 1_000_000n !== 0n ? 1 : 0);
  return Math.max(0, ms);
}

describe('ext4 through a mount', () => {
  let image: string;
  let tree: string;
  let mnt: string;
  let before: string;
  beforeAll(async () => {
    image = cachedImage('fuse-ext4.img', (p) => buildExtImage(p, FUSE_EXT));
    tree = treeOf(image);
    before = await sha256File(image);
    mnt = newMountpoint('ext');
    mountDaemon(image, mnt);
  });
  afterAll(async () => {
    releaseAll();
    expect(await sha256File(image)).toBe(before);
  });

  it('every entry: type, size, mode, uid, gid, nlink, mtime (ms), link target, device numbers, sha256', () => {
    const host = hostTree(tree);
    const found = walk(join(mnt, 'p0'));
    const sums = hashes(join(mnt, 'p0'));
    // lost+found is made by mkfs, not in the tree.
    expect([...found.keys()].filter((p) => !p.startsWith('/lost+found')).sort()).toEqual([...host.keys()].sort());
    for (const [p, h] of host) {
      const f = found.get(p)!;
      expect(f.type, p).toBe(h.type);
      expect(f.mode, p).toBe(h.mode);
      expect([f.uid, f.gid], p).toEqual([h.uid, h.gid]);
      if (h.type !== 'd') expect(f.nlink, p).toBe(h.nlink);
      if (h.type === 'f' || h.type === 'l') expect(f.size, p).toBe(h.size);
      if (h.type === 'l') expect(f.target, p).toBe(h.target);
      if (h.type === 'f') expect(sums.get(p), p).toBe(h.sha256);
    }
    // Times: mke2fs -d copies whole seconds and the kernel set the dated files, so the oracle
    // is the inode itself as debugfs decodes it (seconds, then nanoseconds << 2 | epoch bits).
    const paths = [...host.keys()].filter((p) => host.get(p)!.type !== 'd');
    const r = spawnSync('debugfs', ['-f', '-', image], { input: paths.map((p) => `stat "${p}"`).join('\n') + '\n', encoding: 'utf8', maxBuffer: 1 << 28 });
    const outs = r.stdout.split(/^debugfs: .*$/m).slice(1);
    expect(outs.length).toBe(paths.length);
    paths.forEach((p, i) => {
      const mt = /\bmtime: 0x([0-9a-f]+):([0-9a-f]+)/.exec(outs[i]!)!;
      const lo = parseInt(mt[1]!, 16) | 0;
      const extra = BigInt(parseInt(mt[2]!, 16));
      const sec = BigInt(lo) + (extra & 3n) * 2n ** 32n;
      expect(found.get(p)!.mtimeMs, p).toBe(fuseMs(sec * 1_000_000_000n + (extra >> 2n)));
    });
    for (const dev of [EXT_SPECIAL.chardev, EXT_SPECIAL.blockdev]) {
      const [maj, min] = sh(`stat -c '%t %T' ${q(join(mnt, 'p0') + dev)}`).trim().split(' ').map((x) => parseInt(x, 16));
      const h = lstatSync(join(tree, dev));
      expect([maj, min], dev).toEqual([Math.floor(h.rdev / 256) & 0xfff, (h.rdev & 0xff) | ((h.rdev >> 12) & ~0xff)]);
    }
  });

  it('a folder read in small pieces, with telldir/seekdir and rewinddir, gives each name once, in a stable order', () => {
    // The binding hands libfuse each entry with its offset (src/fuse/native/fuse3.c, struct
    // dirlist): every kernel READDIR continues where the last stopped, or where seekdir says.
    // libc's own opendir/readdir/telldir/seekdir (ctypes), and getdents64 with a 512-byte
    // buffer so that /many's 300 names take many calls.
    const script = String.raw`
import ctypes, ctypes.util, json, os, platform, sys
# getdents64's number differs by architecture.
GETDENTS64 = {'x86_64': 217, 'aarch64': 61, 'riscv64': 61, 'ppc64le': 202, 's390x': 220}[platform.machine()]
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
class Dirent(ctypes.Structure):
    _fields_ = [('d_ino', ctypes.c_uint64), ('d_off', ctypes.c_int64), ('d_reclen', ctypes.c_ushort), ('d_type', ctypes.c_ubyte), ('d_name', ctypes.c_char * 256)]
libc.opendir.restype = ctypes.c_void_p
libc.readdir.restype = ctypes.POINTER(Dirent)
libc.readdir.argtypes = [ctypes.c_void_p]
libc.telldir.restype = ctypes.c_long
libc.telldir.argtypes = [ctypes.c_void_p]
libc.seekdir.argtypes = [ctypes.c_void_p, ctypes.c_long]
libc.rewinddir.argtypes = [ctypes.c_void_p]
libc.closedir.argtypes = [ctypes.c_void_p]
d = libc.opendir(sys.argv[1].encode())
def take(n):
    out = []
    while n:
        e = libc.readdir(d)
        if not e: break
        out.append(e.contents.d_name.decode())
        n -= 1
    return out
first = take(-1)
libc.rewinddir(d)
again = take(-1)
libc.rewinddir(d)
head = take(150)
pos = libc.telldir(d)
after = take(40)
libc.seekdir(d, pos)
after_seek = take(40)
libc.closedir(d)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
buf = ctypes.create_string_buffer(512)
small, calls = [], 0
while True:
    n = libc.syscall(GETDENTS64, fd, buf, 512)
    if n < 0: sys.exit('getdents64: ' + os.strerror(ctypes.get_errno()))
    if n == 0: break
    calls += 1
    at = 0
    while at < n:
        reclen = int.from_bytes(buf.raw[at + 16:at + 18], 'little')
        small.append(buf.raw[at + 19:at + reclen].split(b'\0', 1)[0].decode())
        at += reclen
os.close(fd)
print(json.dumps({'first': first, 'again': again, 'head': head, 'after': after, 'afterSeek': after_seek, 'small': small, 'calls': calls}))
`;
    const r = spawnSync('python3', ['-c', script, join(mnt, 'p0', 'many')], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as Record<'first' | 'again' | 'head' | 'after' | 'afterSeek' | 'small', string[]> & { calls: number };
    const host = ['.', '..', ...readdirSync(join(tree, 'many'))].sort();
    expect(host.length).toBe(FUSE_EXT.many + 2);
    expect([...got.first].sort()).toEqual(host);
    expect(got.again).toEqual(got.first);
    expect([...got.head, ...got.after]).toEqual(got.first.slice(0, 190));
    expect(got.afterSeek).toEqual(got.after);
    expect([...got.small].sort()).toEqual(host);
    expect(got.calls).toBeGreaterThan(10);
  });

  it('hard links share one inode number; other files all differ', () => {
    const found = walk(join(mnt, 'p0'));
    const a = found.get(EXT_SPECIAL.hardA)!;
    const b = found.get(EXT_SPECIAL.hardB)!;
    expect(a.ino).toBe(b.ino);
    expect(a.nlink).toBe(2);
    const others = [...found.values()].filter((f) => f.path !== EXT_SPECIAL.hardB);
    expect(new Set(others.map((f) => f.ino)).size).toBe(others.length);
  });

  it('a sparse file shows its real allocation (debugfs Blockcount)', () => {
    const blocks = Number(/Blockcount: (\d+)/.exec(tool('debugfs', ['-R', `stat ${EXT_SPECIAL.sparseFile}`, image]))![1]);
    const f = walk(join(mnt, 'p0')).get(EXT_SPECIAL.sparseFile)!;
    expect(f.size).toBe(EXT_SPECIAL.sparseSize);
    expect(f.blocks).toBe(blocks);
    expect(f.blocks * 512).toBeLessThan(EXT_SPECIAL.sparseSize / 10);
  });

  it('xattrs appear as themselves (getfattr), the same as on the host tree', () => {
    for (const [path, names] of [[EXT_SPECIAL.xattrFile, ['user.comment', 'user.big', 'trusted.note', 'security.label']], ['/docs', ['user.dirnote']]] as const) {
      for (const n of names) {
        const ours = sh(`getfattr --absolute-names -e hex -n ${n} ${q(join(mnt, 'p0') + path)}`);
        const host = sh(`getfattr --absolute-names -e hex -n ${n} ${q(join(tree, path))}`);
        expect(ours.split('\n')[1], `${path} ${n}`).toBe(host.split('\n')[1]);
      }
    }
    const listed = sh(`getfattr --absolute-names -d -m - ${q(join(mnt, 'p0') + EXT_SPECIAL.xattrFile)}`);
    expect(listed).toMatch(/user\.comment="a short comment"/);
  });

  it('symlinks are read with readlink and not followed by diskpick', () => {
    expect(sh(`readlink ${q(join(mnt, 'p0') + EXT_SPECIAL.longLink)}`).trim()).toBe(EXT_SPECIAL.longTarget);
    expect(sh(`cat ${q(join(mnt, 'p0') + EXT_SPECIAL.shortLink)}`)).toBe('target\n');
  });

  it('.raw/p0 is an ext4 volume fsck accepts (e2fsck -n)', () => {
    const r = sh(`e2fsck -fn ${q(join(mnt, '.raw', 'p0'))} > /dev/null 2>&1; echo $?`).trim();
    expect(r).toBe('0');
  });
});

describe('NTFS through a mount', () => {
  let image: string;
  let manifest: ManifestEntry[];
  let extra: NtfsExtra;
  let mnt: string;
  let m: Mounted;
  beforeAll(() => {
    image = cachedImage('fuse-ntfs.img', (p) => buildNtfsImage(p, { content: 'small', sizeMiB: 48 }));
    manifest = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as ManifestEntry[];
    extra = JSON.parse(readFileSync(`${image}.extra.json`, 'utf8')) as NtfsExtra;
    mnt = newMountpoint('ntfs');
    m = mountDaemon(image, mnt);
  });

  it('files, folders, sizes, sha256 and mtimes match the manifest; reparse links are symlinks', () => {
    const found = walk(join(mnt, 'p0'));
    const sums = hashes(join(mnt, 'p0'));
    const expected = new Set([...manifest.map((e) => e.path), ...Object.keys(extra.reparseLinks)]);
    expect([...found.keys()].sort()).toEqual([...expected].sort());
    for (const e of manifest) {
      const f = found.get(e.path)!;
      expect(f.type, e.path).toBe(e.type === 'dir' ? 'd' : e.type === 'symlink' ? 'l' : 'f');
      if (e.type === 'file') {
        expect(f.size, e.path).toBe(e.size);
        expect(sums.get(e.path), e.path).toBe(e.sha256);
        expect(f.mtimeMs, e.path).toBe(Math.round(e.mtime * 1000));
      }
      if (e.type === 'symlink') expect(f.target, e.path).toBe(e.target);
    }
    for (const [p, target] of Object.entries(extra.reparseLinks)) expect(sh(`readlink ${q(join(mnt, 'p0') + p)}`).trim(), p).toBe(target);
  });

  it('alternate data streams are user.<stream> xattrs (getfattr), with the bytes written', () => {
    for (const [path, streams] of Object.entries(extra.streams)) {
      const list = sh(`getfattr --absolute-names -m - ${q(join(mnt, 'p0') + path)}`);
      for (const [name, s] of Object.entries(streams)) {
        expect(list, `${path} ${name}`).toContain(`user.${name}`);
        const out = sh(`getfattr --absolute-names -e hex -n ${q(`user.${name}`)} ${q(join(mnt, 'p0') + path)}`);
        const bytes = Buffer.from(/=0x([0-9a-f]*)/.exec(out)![1]!, 'hex');
        expect(bytes.length).toBe(s.size);
        expect(createHash('sha256').update(bytes).digest('hex'), `${path} ${name}`).toBe(s.sha256);
      }
    }
    expect(sh(`getfattr --absolute-names -d ${q(join(mnt, 'p0', 'hello.txt'))}`)).toMatch(/user\.Zone\.Identifier=/);
  });

  it('hard links share one inode number and show their link count; sparse files their allocation', () => {
    const found = walk(join(mnt, 'p0'));
    for (const group of extra.hardLinks) {
      const inos = group.map((p) => found.get(p)!.ino);
      expect(new Set(inos).size).toBe(1);
      for (const p of group) expect(found.get(p)!.nlink, p).toBe(group.length);
    }
    for (const [p, written] of Object.entries(extra.sparse)) {
      const f = found.get(p)!;
      expect(f.blocks * 512, p).toBeLessThan(f.size);
      expect(f.blocks * 512, p).toBeGreaterThanOrEqual(written);
    }
  });

  it('.raw/p0 is the NTFS volume: ntfsinfo reads it, its bytes are the image', () => {
    expect(sh(`sha256sum < ${q(join(mnt, '.raw', 'p0'))}`).slice(0, 64)).toBe(sh(`sha256sum < ${q(image)}`).slice(0, 64));
    expect(sh(`ntfsinfo -m ${q(join(mnt, '.raw', 'p0'))} 2>/dev/null`)).toMatch(new RegExp(`Volume Name: ${extra.label}`));
    expect(m.pid).toBeGreaterThan(0);
  });
});

describe('exFAT through a mount', () => {
  it('files, sizes, sha256 and 10 ms mtimes match the host tree', () => {
    const image = cachedImage('fuse-exfat.img', exfatImages.small);
    const manifest = manifestOf(`${image}.tree`);
    const mnt = newMountpoint('exfat');
    mountDaemon(image, mnt);
    const found = walk(join(mnt, 'p0'));
    const sums = hashes(join(mnt, 'p0'));
    expect([...found.keys()].sort()).toEqual(manifest.map((e) => e.path).sort());
    for (const e of manifest) {
      const f = found.get(e.path)!;
      expect(f.type, e.path).toBe(e.type === 'dir' ? 'd' : 'f');
      if (e.type !== 'file') continue;
      expect(f.size, e.path).toBe(e.size);
      expect(sums.get(e.path), e.path).toBe(e.sha256);
      expect(Math.abs(f.mtimeMs - e.mtime * 1000), e.path).toBeLessThan(10);
    }
  });
});
