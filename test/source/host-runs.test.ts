/**
 * ByteSource.hostRuns (what the mount's libfuse3 binding reads by itself, docs/fuse.md): for
 * files on raw images the runs are given, and the bytes at those offsets of the image file
 * (zeros for holes) are the file, compared with the builders' manifests (FAT) and the host tree
 * the image was built from (ext4, with a sparse file). The same disk as QCOW2 gives runs in the
 * QCOW2 file; where bytes need decoding — the disk as compressed QCOW2 — there are none. A
 * split raw image's runs name its parts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, openSync, readSync, readFileSync, readlinkSync, lstatSync, readdirSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { createHash } from 'node:crypto';
import { join, relative } from 'node:path';
import { cachedImage, sha256File, tool } from '../helpers/tools.js';
import { buildGptFatDisk, type VolumeManifests } from '../../scripts/images/fat.js';
import { buildExtImage, treeOf } from '../../scripts/images/ext.js';
import { FUSE_EXT } from '../fuse/mounts.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { hostRunsOf, type HostRun } from '../../src/source/source.js';

/**
 * sha256 of the bytes the runs describe, each read from the file its fd names, opened here
 * (not through diskpick's fd); `expectFile`: the one host file every run must name.
 */
function sha256OfRuns(runs: HostRun[], expectFile?: string): string {
  const h = createHash('sha256');
  const buf = Buffer.alloc(1 << 20);
  for (const r of runs) {
    let fd = -1;
    if (r.fd >= 0) {
      const file = readlinkSync(`/proc/self/fd/${r.fd}`);
      if (expectFile) expect(file).toBe(expectFile);
      fd = openSync(file, 'r');
    }
    try {
      for (let done = 0; done < r.length;) {
        const n = Math.min(buf.length, r.length - done);
        if (fd < 0) buf.fill(0, 0, n);
        else expect(readSync(fd, buf, 0, n, r.offset + done)).toBe(n);
        h.update(buf.subarray(0, n));
        done += n;
      }
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }
  return h.digest('hex');
}

async function runsOf(vfs: Vfs, path: string): Promise<HostRun[] | null> {
  const src = await vfs.openFile(await vfs.lookup(path));
  try {
    return await hostRunsOf(src);
  } finally {
    await src.close();
  }
}

describe('host runs of files on a raw GPT disk with FAT32 and FAT16', () => {
  let image: string;
  let manifests: VolumeManifests;
  let before: string;
  beforeAll(async () => {
    image = cachedImage('fuse-fat-gpt.img', buildGptFatDisk);
    manifests = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as VolumeManifests;
    before = await sha256File(image);
  });
  afterAll(async () => expect(await sha256File(image)).toBe(before));

  /** Every non-empty file of `vols` in `disk` (this disk, or a copy in a container): runs given, all in `disk`, their bytes the manifest's. */
  async function everyFileByRuns(disk: string, vols: string[]): Promise<number> {
    const vfs = await Vfs.open(disk);
    try {
      let files = 0;
      for (const vol of vols) {
        for (const e of manifests[vol]!) {
          if (e.type !== 'file' || e.size === 0) continue;
          const runs = await runsOf(vfs, `/${vol}${e.path}`);
          expect(runs, e.path).not.toBeNull();
          expect(runs!.reduce((a, r) => a + r.length, 0), e.path).toBe(e.size);
          expect(sha256OfRuns(runs!, disk), e.path).toBe(e.sha256);
          files++;
        }
      }
      return files;
    } finally {
      await vfs.close();
    }
  }

  it('every file: runs are given, and the image bytes they point at are the file (manifest sha256)', async () => {
    expect(await everyFileByRuns(image, ['p1', 'p2'])).toBeGreaterThan(10);
  });

  it('the same disk cut into parts by split(1): runs name the parts, and reading them gives every file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dp-runs-split-'));
    try {
      // An odd part size, so that files straddle parts.
      execFileSync('split', ['-d', '-a', '3', '-b', '7000001', image, join(dir, 'disk.')]);
      const parts = readdirSync(dir).sort();
      expect(parts.length).toBeGreaterThan(2);
      const vfs = await Vfs.open(join(dir, parts[0]!));
      let straddling = 0;
      try {
        for (const e of manifests.p1!) {
          if (e.type !== 'file' || e.size === 0) continue;
          const runs = await runsOf(vfs, `/p1${e.path}`);
          expect(runs, e.path).not.toBeNull();
          if (new Set(runs!.filter((r) => r.fd >= 0).map((r) => r.fd)).size > 1) straddling++;
          expect(sha256OfRuns(runs!), e.path).toBe(e.sha256);
        }
      } finally {
        await vfs.close();
      }
      expect(straddling).toBeGreaterThan(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the same disk as QCOW2 (qemu-img convert): runs name the stored clusters, and every file is there', async () => {
    const qcow = cachedImage('fuse-fat-gpt.qcow2', (p) => tool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', image, p]));
    expect(await everyFileByRuns(qcow, ['p1', 'p2'])).toBeGreaterThan(10);
  });

  it('the same disk as compressed QCOW2 (qemu-img convert -c): no runs, its bytes need decoding', async () => {
    const qcow = cachedImage('fuse-fat-gpt-c.qcow2', (p) => tool('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', '-c', image, p]));
    const vfs = await Vfs.open(qcow);
    try {
      const e = manifests.p1!.find((x) => x.type === 'file' && x.size > 0)!;
      expect(await runsOf(vfs, `/p1${e.path}`)).toBeNull();
    } finally {
      await vfs.close();
    }
  });
});

describe('host runs of files on a raw ext4 volume', () => {
  it('every regular file of the source tree, the sparse one with holes as zero runs: the image bytes are the file', async () => {
    const image = cachedImage('fuse-ext4.img', (p) => buildExtImage(p, FUSE_EXT));
    const tree = treeOf(image);
    const before = await sha256File(image);
    const vfs = await Vfs.open(image);
    let holes = 0;
    let files = 0;
    try {
      const walk = async (dir: string): Promise<void> => {
        for (const name of readdirSync(dir)) {
          const p = join(dir, name);
          const st = lstatSync(p);
          if (st.isDirectory()) await walk(p);
          if (!st.isFile() || st.size === 0) continue;
          const rel = '/' + relative(tree, p);
          const runs = await runsOf(vfs, `/p0${rel}`);
          expect(runs, rel).not.toBeNull();
          holes += runs!.filter((r) => r.fd < 0).length;
          expect(sha256OfRuns(runs!, image), rel).toBe(createHash('sha256').update(readFileSync(p)).digest('hex'));
          files++;
        }
      };
      await walk(tree);
    } finally {
      await vfs.close();
    }
    expect(files).toBeGreaterThan(10);
    expect(holes).toBeGreaterThan(0);
    expect(await sha256File(image)).toBe(before);
  });
});
