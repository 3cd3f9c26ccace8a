/**
 * Images in S3 or an S3-compatible store (MinIO, Ceph RGW, Wasabi, B2, R2), read by ranged
 * GetObject through the AWS SDK v3 with its standard credential chain (environment, profile,
 * SSO, instance role). `--endpoint` / AWS_ENDPOINT_URL point it at another store (path-style
 * addressing then, as most of them want); the bucket's region is found from S3's answer when
 * it is not the configured one. Every range asks `If-Match` the ETag of the first answer, so an
 * object replaced during the read is a one-line error. Nothing is ever written to the bucket.
 *
 * The SDK is loaded only when an s3:// image is opened (it is large; bundle.ts keeps it out of
 * the bundle), so nothing else pays for it.
 */
import { createRequire } from 'node:module';
import picomatch from 'picomatch';
import { DiskpickError, cannotOpen, readFailed } from '../errors.js';
import type { RangeFetcher } from './remote.js';

export interface S3Options {
  endpoint?: string;
  region?: string;
  /** Path-style addressing (default: on when an endpoint is given). */
  pathStyle?: boolean;
}

type Sdk = typeof import('@aws-sdk/client-s3');
let sdk: Promise<Sdk> | undefined;
// require, not import(): the bundle runs in a vm.Script, where import() has no loader.
const loadSdk = () =>
  (sdk ??= Promise.resolve().then(() => {
    // The SDK warns on stderr that its releases after January 2027 need Node 22: package.json
    // pins a release that runs on Node 20, and a restore's output stays one line per problem.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    return createRequire(import.meta.url)('@aws-sdk/client-s3') as Sdk;
  }));

export function parseS3Url(url: string): { bucket: string; key: string } {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!m || !m[1] || !m[2]) throw new DiskpickError('usage', 'an S3 URL is s3://BUCKET/KEY', url);
  return { bucket: m[1], key: m[2] };
}

async function client(opts: S3Options, region?: string) {
  const { S3Client } = await loadSdk();
  const endpoint = opts.endpoint ?? process.env.AWS_ENDPOINT_URL_S3 ?? process.env.AWS_ENDPOINT_URL;
  return new S3Client({
    region: region ?? opts.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
    ...(endpoint ? { endpoint } : {}),
    forcePathStyle: opts.pathStyle ?? !!endpoint,
    maxAttempts: 5,
  });
}

/** A one-line error for what S3 answered, never with credentials or signatures. */
function s3Error(err: unknown, name: string): DiskpickError {
  if (err instanceof DiskpickError) return err;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; message?: string; code?: string };
  const status = e.$metadata?.httpStatusCode;
  if (e.name === 'NoSuchKey' || e.name === 'NotFound' || status === 404) return cannotOpen(name, 'no such object in the bucket');
  if (e.name === 'NoSuchBucket') return cannotOpen(name, 'no such bucket');
  if (e.name === 'PreconditionFailed' || status === 412) return readFailed(name, 'the object changed in the bucket during the read (its ETag is not what it was)');
  if (e.name === 'CredentialsProviderError') return cannotOpen(name, 'no AWS credentials found (environment, ~/.aws profile, SSO or instance role)');
  if (status === 403 || e.name === 'AccessDenied' || e.name === 'Forbidden') return cannotOpen(name, 'access denied by the bucket (403)');
  if (e.code === 'ECONNREFUSED') return cannotOpen(name, 'connection refused by the S3 endpoint');
  return readFailed(name, `S3: ${(e.name ?? 'error')}${status ? ` (${status})` : ''}`);
}

export class S3Fetcher implements RangeFetcher {
  transferred = 0;
  private constructor(
    private readonly s3: Awaited<ReturnType<typeof client>>,
    private readonly bucket: string,
    private readonly key: string,
    readonly name: string,
    readonly size: number,
    private readonly etag: string,
    readonly lastModified: number | null,
  ) {}

  static async open(url: string, opts: S3Options = {}): Promise<S3Fetcher> {
    const { bucket, key } = parseS3Url(url);
    const name = `s3://${bucket}/${key}`;
    const { HeadObjectCommand } = await loadSdk();
    let s3 = await client(opts);
    let head;
    try {
      head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    } catch (err) {
      // The bucket lives in another region: S3 says which in x-amz-bucket-region.
      const region = (err as { $response?: { headers?: Record<string, string> } }).$response?.headers?.['x-amz-bucket-region'];
      if (!region) throw s3Error(err, name);
      s3 = await client(opts, region);
      try {
        head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      } catch (err2) {
        throw s3Error(err2, name);
      }
    }
    if (!head.ContentLength) throw cannotOpen(name, 'empty object, not a disk image');
    return new S3Fetcher(s3, bucket, key, name, head.ContentLength, head.ETag ?? '', head.LastModified ? head.LastModified.getTime() : null);
  }

  async fetch(offset: number, length: number): Promise<Buffer> {
    const { GetObjectCommand } = await loadSdk();
    let out;
    try {
      out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.key, Range: `bytes=${offset}-${offset + length - 1}`, ...(this.etag ? { IfMatch: this.etag } : {}) }));
    } catch (err) {
      throw s3Error(err, this.name);
    }
    if (this.etag && out.ETag && out.ETag !== this.etag) throw readFailed(this.name, 'the object changed in the bucket during the read (its ETag is not what it was)');
    const body = Buffer.from(await out.Body!.transformToByteArray());
    this.transferred += body.length;
    if (body.length !== length) throw readFailed(this.name, `S3 sent ${body.length} bytes for a range of ${length}`);
    return body;
  }

  async close(): Promise<void> {
    this.s3.destroy();
  }
}

/** The keys of a bucket matching a glob in an s3:// URL (ListObjectsV2 under the glob's literal prefix). */
export async function expandS3Glob(url: string, opts: S3Options = {}): Promise<string[]> {
  return (await listS3Glob(url, opts)).map((o) => o.url);
}

/** expandS3Glob with each object's LastModified (ms since 1970; null if S3 gave none); a URL without a glob is itself, unlisted. */
export async function listS3Glob(url: string, opts: S3Options = {}): Promise<{ url: string; lastModified: number | null }[]> {
  const { bucket, key } = parseS3Url(url);
  const scan = picomatch.scan(key);
  if (!scan.isGlob) return [{ url, lastModified: null }];
  const prefix = key.slice(0, key.search(/[*?[{]/));
  const match = picomatch(key, { dot: true });
  const { ListObjectsV2Command } = await loadSdk();
  const s3 = await client(opts);
  const out: { url: string; lastModified: number | null }[] = [];
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key && match(o.Key)) out.push({ url: `s3://${bucket}/${o.Key}`, lastModified: o.LastModified ? o.LastModified.getTime() : null });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (out.length > 100_000) throw new DiskpickError('usage', 'the pattern matches more than 100 000 objects', url);
    } while (token);
  } catch (err) {
    throw s3Error(err, `s3://${bucket}/${prefix}`);
  } finally {
    s3.destroy();
  }
  return out.sort((a, b) => (a.url < b.url ? -1 : a.url > b.url ? 1 : 0));
}

/** The objects directly under an s3:// "folder" (a prefix ending in "/"): ListObjectsV2 with a delimiter, at most `limit`. */
export async function listS3Folder(url: string, opts: S3Options = {}, limit = 10_000): Promise<string[]> {
  const m = /^s3:\/\/([^/]+)\/(.*)$/.exec(url);
  if (!m) throw new DiskpickError('usage', 'an S3 URL is s3://BUCKET/KEY', url);
  const [bucket, prefix] = [m[1]!, m[2]!];
  const { ListObjectsV2Command } = await loadSdk();
  const s3 = await client(opts);
  const out: string[] = [];
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, Delimiter: '/', ContinuationToken: token }));
      for (const o of page.Contents ?? []) if (o.Key && o.Key !== prefix && out.length < limit) out.push(`s3://${bucket}/${o.Key}`);
      token = page.IsTruncated && out.length < limit ? page.NextContinuationToken : undefined;
    } while (token);
  } catch (err) {
    throw s3Error(err, `s3://${bucket}/${prefix}`);
  } finally {
    s3.destroy();
  }
  return out.sort();
}
