/**
 * Images by URL through the command line, against a real nginx (and s3rver) on loopback: every
 * container format, a snapshot chain and a split VMDK read the same as the local files (the
 * demo image's manifest for the bytes), and a small file from a 10 GiB image costs < 8 MiB of
 * transfer, counted by nginx itself.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { CLI, ROOT, diskpick, sha256, tool } from '../helpers/tools.js';
import { startNginx, type Nginx } from '../helpers/nginx.js';

interface ManifestEntry { path: string; type: string; sha256?: string }
const DEMO = join(ROOT, 'images', 'fileserver.vmdk');
const manifest = (JSON.parse(readFileSync(join(ROOT, 'images', 'fileserver.manifest.json'), 'utf8')) as Record<string, ManifestEntry[]>).p1!;
const notes = manifest.find((m) => m.path === '/Users/anna/notes.txt')!;

describe('images by URL (nginx on loopback)', () => {
  let root: string;
  let nginx: Nginx;
  const formats: [string, string[]][] = [
    ['disk.qcow2', ['-O', 'qcow2']],
    ['disk.vhdx', ['-O', 'vhdx']],
    ['disk.vhd', ['-O', 'vpc']],
    ['disk.vdi', ['-O', 'vdi']],
    ['disk-stream.vmdk', ['-O', 'vmdk', '-o', 'subformat=streamOptimized']],
    ['disk.raw', ['-O', 'raw']],
  ];

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'dp-remote-'));
    chmodSync(root, 0o755);
    copyFileSync(DEMO, join(root, 'fileserver.vmdk'));
    for (const [name, args] of formats) tool('qemu-img', ['convert', ...args, DEMO, join(root, name)]);
    // A snapshot chain by relative name, and a VMDK whose data lies in extent files.
    tool('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', 'disk.qcow2', '-F', 'qcow2', join(root, 'child.qcow2')]);
    tool('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=twoGbMaxExtentFlat', DEMO, join(root, 'split.vmdk')]);
    // A child in a sub-folder whose parent lies one folder up: outside its folder.
    mkdirSync(join(root, 'sub'));
    tool('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', '../disk.qcow2', '-F', 'qcow2', join(root, 'sub', 'child.qcow2')]);
    chmodSync(join(root, 'sub'), 0o755);
    chmodSync(join(root, 'sub', 'child.qcow2'), 0o644);
    // 10 GiB of virtual disk around the same volume.
    tool('qemu-img', ['convert', '-O', 'qcow2', DEMO, join(root, 'big.qcow2')]);
    tool('qemu-img', ['resize', '-q', join(root, 'big.qcow2'), '10G']);
    // Whole seconds: HTTP's Last-Modified carries no fraction, a local file's mtime does.
    for (const f of readdirSync(root)) {
      if (f !== 'sub') chmodSync(join(root, f), 0o644);
      utimesSync(join(root, f), 1_750_000_000, 1_750_000_000);
    }
    nginx = await startNginx(root);
  });
  afterAll(() => {
    nginx?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it('lists and reads every container format, a chain and a split VMDK as the local files', () => {
    for (const name of ['fileserver.vmdk', ...formats.map((f) => f[0]), 'child.qcow2', 'split.vmdk']) {
      const local = diskpick(['ls', '-R', '--json', join(root, name)]);
      const remote = diskpick(['ls', '-R', '--json', `${nginx.http}/${name}`]);
      expect(remote.status, `${name}: ${remote.stderr}`).toBe(0);
      expect(remote.stdout.toString(), name).toBe(local.stdout.toString());
      const cat = diskpick(['cat', `${nginx.http}/${name}`, '/p1/Users/anna/notes.txt']);
      expect(sha256(cat.stdout), name).toBe(notes.sha256);
    }
    const info = diskpick(['info', '--json', `${nginx.http}/child.qcow2`]);
    expect(info.status, info.stderr).toBe(0);
    expect((JSON.parse(info.stdout.toString()) as { container: { chain: unknown[] } }).container.chain).toHaveLength(2);
  });

  it('reads a small file of a 10 GiB image with less than 8 MiB transferred', () => {
    const before = nginx.bytesSent();
    const r = diskpick(['cat', `${nginx.http}/big.qcow2`, '/p1/Users/anna/notes.txt']);
    expect(r.status, r.stderr).toBe(0);
    expect(sha256(r.stdout)).toBe(notes.sha256);
    const sent = nginx.bytesSent() - before;
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(8 * 1024 * 1024);
  });

  it('says what is wrong in one line: missing file, untrusted certificate, a parent outside the folder', () => {
    const missing = diskpick(['ls', `${nginx.http}/nope.vmdk`]);
    expect(missing.status).toBe(3);
    expect(missing.stderr.trim().split('\n')).toEqual([`diskpick: ${nginx.http}/nope.vmdk: no such file on the server (404)`]);
    const tls = diskpick(['ls', `${nginx.https}/disk.qcow2`]);
    expect(tls.status).toBe(3);
    expect(tls.stderr).toMatch(/TLS certificate not trusted/);
    const ok = diskpick(['--insecure', 'ls', `${nginx.https}/disk.qcow2`, '/p1']);
    expect(ok.status, ok.stderr).toBe(0);
    const outside = diskpick(['ls', `${nginx.http}/sub/child.qcow2`, '/p1']);
    expect(outside.status, outside.stderr).toBe(3);
    expect(outside.stderr).toContain(`outside the image's folder; allow it with --parent-dir ${nginx.http}/`);
    const allowed = diskpick(['--parent-dir', `${nginx.http}/`, 'cat', `${nginx.http}/sub/child.qcow2`, '/p1/Users/anna/notes.txt']);
    expect(allowed.status, allowed.stderr).toBe(0);
    expect(sha256(allowed.stdout)).toBe(notes.sha256);
  });
});

describe('images in S3 through the command line (s3rver on loopback)', () => {
  it('lists and reads an image by s3:// URL with --endpoint, as the local file', async () => {
    const { default: S3rver } = await import('s3rver');
    const { PutObjectCommand, S3Client } = await import('@aws-sdk/client-s3');
    const { freePort } = await import('../helpers/nginx.js');
    const dir = mkdtempSync(join(tmpdir(), 'dp-s3cli-'));
    const port = await freePort();
    const server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'backups', configs: [] }] });
    await server.run();
    const endpoint = `http://127.0.0.1:${port}`;
    try {
      const c = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
      await c.send(new PutObjectCommand({ Bucket: 'backups', Key: 'web01/fileserver.vmdk', Body: readFileSync(DEMO) }));
      const env = { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER', AWS_REGION: 'us-east-1' };
      // s3rver runs in this process: the command must run without blocking it (no spawnSync).
      const run = (args: string[], { env: e }: { env: Record<string, string> }) => new Promise<{ status: number; stdout: Buffer; stderr: string }>((resolve) => {
        const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, TZ: 'UTC', ...e } });
        const out: Buffer[] = [];
        let err = '';
        p.stdout.on('data', (c: Buffer) => out.push(c));
        p.stderr.on('data', (c: Buffer) => (err += c.toString()));
        p.on('close', (code) => resolve({ status: code ?? -1, stdout: Buffer.concat(out), stderr: err }));
      });
      const cat = await run(['--endpoint', endpoint, 'cat', 's3://backups/web01/fileserver.vmdk', '/p1/Users/anna/notes.txt'], { env });
      expect(cat.status, cat.stderr).toBe(0);
      expect(sha256(cat.stdout)).toBe(notes.sha256);
      const ls = await run(['--endpoint', endpoint, 'ls', '-R', 's3://backups/web01/fileserver.vmdk', '/p1'], { env });
      expect(ls.stdout.toString()).toBe(diskpick(['ls', '-R', DEMO, '/p1']).stdout.toString());
      const gone = await run(['--endpoint', endpoint, 'ls', 's3://backups/web01/none.vmdk'], { env });
      expect(gone.stderr.trim()).toBe('diskpick: s3://backups/web01/none.vmdk: no such object in the bucket');
      expect(gone.stderr).not.toContain('S3RVER');
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
