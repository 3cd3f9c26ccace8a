/**
 * S3Fetcher + RemoteSource against s3rver (an S3 implementation from npm) on loopback, through
 * the AWS SDK as for a real bucket: ranged reads equal the object, a glob lists the bucket, a
 * replaced object and a missing one are one-line errors, and the test's credentials never show.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Fetcher, expandS3Glob } from '../../src/source/s3.js';
import { RemoteSource } from '../../src/source/remote.js';
import { pump } from '../../src/source/chunks.js';
import { freePort } from '../helpers/nginx.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('images in S3 (s3rver on loopback)', () => {
  let dir: string;
  let server: S3rver;
  let endpoint: string;
  let put: (key: string, body: Buffer) => Promise<void>;
  const data = randomBytes(6 * 1024 * 1024 + 777);
  const saved = { ...process.env };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dp-s3-'));
    const port = await freePort();
    server = new S3rver({ port, address: '127.0.0.1', silent: true, directory: dir, configureBuckets: [{ name: 'backups', configs: [] }] });
    await server.run();
    endpoint = `http://127.0.0.1:${port}`;
    process.env.AWS_ACCESS_KEY_ID = 'S3RVER';
    process.env.AWS_SECRET_ACCESS_KEY = 'S3RVER';
    process.env.AWS_REGION = 'us-east-1';
    const c = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } });
    put = async (key, body) => void (await c.send(new PutObjectCommand({ Bucket: 'backups', Key: key, Body: body })));
    await put('web01/2026-11-29/disk.img', data);
    await put('web01/2026-11-30/disk.img', data.subarray(0, 1000));
    await put('web01/2026-12-01/other.bin', data.subarray(0, 10));
  });
  afterAll(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    process.env = saved;
  });

  it('reads an object by ranges, byte for byte, fetching only what is read', async () => {
    const src = new RemoteSource(await S3Fetcher.open('s3://backups/web01/2026-11-29/disk.img', { endpoint }));
    expect(src.size).toBe(data.length);
    expect((await src.read(3_000_000, 5000)).equals(data.subarray(3_000_000, 3_005_000))).toBe(true);
    expect(src.transferred).toBeLessThanOrEqual(256 * 1024);
    const parts: Buffer[] = [];
    await pump(src, (c) => void parts.push(Buffer.from(c)));
    expect(sha(Buffer.concat(parts))).toBe(sha(data));
    await src.close();
  });

  it('expands a glob in the key by listing the bucket', async () => {
    expect(await expandS3Glob('s3://backups/web01/2026-*/disk.img', { endpoint })).toEqual(['s3://backups/web01/2026-11-29/disk.img', 's3://backups/web01/2026-11-30/disk.img']);
  });

  it('says when an object is missing or was replaced during the read, without credentials', async () => {
    const missing = await S3Fetcher.open('s3://backups/nope.img', { endpoint }).catch((e: { toLine(): string }) => e.toLine());
    expect(missing).toBe('s3://backups/nope.img: no such object in the bucket');
    await put('web01/moving.img', data);
    const src = new RemoteSource(await S3Fetcher.open('s3://backups/web01/moving.img', { endpoint }));
    await src.read(0, 100);
    await put('web01/moving.img', randomBytes(data.length));
    const err = await src.read(5_000_000, 100).catch((e: { toLine(): string }) => e.toLine());
    expect(err).toMatch(/changed in the bucket during the read/);
    expect(String(err)).not.toContain('S3RVER');
    await src.close();
  });
});
