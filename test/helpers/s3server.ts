/**
 * s3rver (an S3 implementation from npm) on a loopback port in a child process, so that tests
 * can run diskpick with spawnSync while the server answers. Objects are put through the AWS SDK.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort } from './nginx.js';
import { ROOT } from './tools.js';

export interface S3Server {
  endpoint: string;
  /** Environment for diskpick: the test's credentials, region, and the endpoint. */
  env: Record<string, string>;
  put(key: string, body: Buffer | string): Promise<void>;
  /** Puts a local file under `key`. */
  putFile(key: string, path: string): Promise<void>;
  stop(): Promise<void>;
}

export const S3_KEY = 'S3RVER';

export async function startS3(bucket = 'backups'): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'dp-s3srv-'));
  const port = await freePort();
  const script = `const S3rver = require('s3rver'); new S3rver({ port: ${port}, address: '127.0.0.1', silent: true, directory: ${JSON.stringify(dir)}, configureBuckets: [{ name: ${JSON.stringify(bucket)}, configs: [] }] }).run().then(() => process.stdout.write('ready\\n'));`;
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`s3rver exited (${code})`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const c = new S3Client({ endpoint, forcePathStyle: true, region: 'us-east-1', credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_KEY } });
  const put = async (key: string, body: Buffer | string) => void (await c.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body })));
  return {
    endpoint,
    env: { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_KEY, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: endpoint },
    put,
    putFile: (key, path) => put(key, readFileSync(path)),
    async stop() {
      c.destroy();
      child.kill();
      await new Promise((r) => setTimeout(r, 100));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
