/**
 * The formats that landed after the remote sources (ISO 9660, UDF, EWF/E01 in segments, OVA,
 * XFS, Btrfs, LVM2, LUKS2), each read by URL over HTTP (nginx) and S3 (s3rver) and compared
 * with the same reads of the local file: the whole `ls -R --json` listing and the bytes of its
 * largest file. URLs carry credentials (HTTP user information; S3 keys in the environment)
 * that must never show in any output.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE, cachedImage, diskpick, sha256 } from '../helpers/tools.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';
import { startS3, S3_KEY, type S3Server } from '../helpers/s3server.js';
import { buildIsoImage, ISO_VARIANTS } from '../../scripts/images/iso.js';
import { buildUdfBridge, UDF_BRIDGE } from '../../scripts/images/udf.js';
import { EWF_VARIANTS, ewfImage, ewfSegments } from '../../scripts/images/ewf.js';
import { buildOva, OVA } from '../../scripts/images/ova.js';
import { buildXfsImage, XFS_VARIANTS } from '../../scripts/images/xfs.js';
import { buildRootdirImage } from '../../scripts/images/btrfs.js';
import { buildLvmImageA } from '../../scripts/images/lvm.js';
import { buildSmallLuks } from '../../scripts/images/luks.js';

const PASS = 'remote-formats';
const SECRET = 'hunter2-in-the-url';

interface Row { path: string; type: string; size: number; [k: string]: unknown }

describe('every later format by URL, as the local file', () => {
  let root: string;
  let nginx: Nginx;
  let s3: S3Server;
  /** name → the local files that make the image (the first is the one named). */
  const images: Record<string, string[]> = {};

  beforeAll(async () => {
    const iso = ISO_VARIANTS[0]!;
    images.iso = [existsSync(join(CACHE, iso.name)) && existsSync(join(CACHE, 'iso.tree.done')) ? join(CACHE, iso.name) : buildIsoImage(CACHE, iso)];
    images.udf = [existsSync(join(CACHE, UDF_BRIDGE.name)) ? join(CACHE, UDF_BRIDGE.name) : buildUdfBridge(CACHE)];
    const e01 = ewfImage(CACHE, EWF_VARIANTS.find((v) => v.name === 'ewf-fast-split')!);
    images.ewf = ewfSegments(e01);
    images.ova = [existsSync(join(CACHE, OVA.name)) ? join(CACHE, OVA.name) : buildOva(CACHE)];
    const xfs = XFS_VARIANTS.find((v) => v.name === 'xfs-v4-512')!;
    images.xfs = [cachedImage(`${xfs.name}.img`, (p) => buildXfsImage(p, xfs))];
    images.btrfs = [cachedImage('btrfs-rootdir.img', (p) => buildRootdirImage(p))];
    images.lvm = [cachedImage('lvm-a.img', (p) => void buildLvmImageA(p))];
    images.luks = [cachedImage('remote-luks2.img', (p) => buildSmallLuks(p, 2, PASS))];
    expect(images.ewf.length).toBeGreaterThan(1);
    // Served from a folder of links (nginx follows them), one sub-folder per image.
    root = mkdtempSync(join(tmpdir(), 'dp-remote-formats-'));
    chmodSync(root, 0o755);
    s3 = await startS3();
    for (const [name, files] of Object.entries(images)) {
      mkdirSync(join(root, name));
      for (const f of files) {
        symlinkSync(f, join(root, name, basename(f)));
        await s3.putFile(`formats/${name}/${basename(f)}`, f);
      }
    }
    nginx = await startNginx(root);
  }, 600_000);
  afterAll(async () => {
    nginx?.stop();
    await s3?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  const rows = (out: Buffer, s3Url: boolean) =>
    out.toString().trim().split('\n').map((l) => {
      const e = JSON.parse(l) as Row;
      // Folders with no times of their own (volume and VG folders, a FAT root: no blocks, no
      // birth time) carry the image file's: HTTP's Last-Modified has whole seconds, and an S3
      // object's is when it was put.
      if (e.type === 'dir' && e.allocated === 0 && e.birthtime === null) {
        for (const k of ['atime', 'mtime', 'ctime']) e[k] = s3Url ? null : String(e[k]).replace(/\.\d+Z$/, 'Z');
      }
      return e;
    });

  it.each(['iso', 'udf', 'ewf', 'ova', 'xfs', 'btrfs', 'lvm', 'luks'])('%s: the listing and the largest file over HTTP and S3 equal the local reads', (name) => {
    const local = images[name]![0]!;
    const env = { ...process.env, ...s3.env, DISKPICK_PASSPHRASE: PASS };
    const l = diskpick(['ls', '-R', '--json', local], { env });
    expect(l.status, l.stderr).toBe(0);
    const want = rows(l.stdout, false);
    const files = want.filter((e) => e.type === 'file' && e.size < 16 << 20).sort((a, b) => b.size - a.size);
    expect(files.length, name).toBeGreaterThan(0);
    const big = files[0]!.path;
    const wantBytes = sha256(diskpick(['cat', local, big], { env }).stdout);
    const http = nginx.http.replace('http://', `http://reader:${SECRET}@`);
    for (const url of [`${http}/${name}/${basename(local)}`, `s3://backups/formats/${name}/${basename(local)}`]) {
      const isS3 = url.startsWith('s3:');
      const ls = diskpick(['ls', '-R', '--json', url], { env });
      expect(ls.status, `${url}: ${ls.stderr}`).toBe(0);
      const got = rows(ls.stdout, isS3);
      expect(got, url).toEqual(isS3 ? rows(l.stdout, true) : want);
      const cat = diskpick(['cat', url, big], { env });
      expect(cat.status, cat.stderr).toBe(0);
      expect(sha256(cat.stdout), `${url} ${big}`).toBe(wantBytes);
      // info shows the image's name: over HTTP, where the URL holds a password.
      const info = isS3 ? { status: 0, stdout: Buffer.alloc(0), stderr: '' } : diskpick(['info', url], { env });
      expect(info.status, info.stderr).toBe(0);
      for (const out of [ls.stderr, cat.stderr, info.stdout.toString(), info.stderr]) {
        expect(out).not.toContain(SECRET);
        expect(out).not.toContain(S3_KEY);
        expect(out).not.toContain(PASS);
      }
    }
  });

  it('a missing EWF segment by URL is one line naming it, without credentials', () => {
    const http = nginx.http.replace('http://', `http://reader:${SECRET}@`);
    // The first segment alone in a folder of its own.
    mkdirSync(join(root, 'ewf-alone'));
    symlinkSync(images.ewf![0]!, join(root, 'ewf-alone', basename(images.ewf![0]!)));
    const r = diskpick(['ls', `${http}/ewf-alone/${basename(images.ewf![0]!)}`]);
    expect(r.status).toBe(3);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/disk\.E02/);
    expect(r.stderr).not.toContain(SECRET);
    expect(dirname(images.ewf![0]!)).not.toBe('');
  });
});
