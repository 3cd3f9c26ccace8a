/**
 * `versions` over images in S3 named by a glob in the key (#19 with #18): the bucket is listed
 * (ListObjectsV2 on s3rver), every matching object is a point at its LastModified, and the
 * rows' hashes and SAME AS follow what the test wrote into each night's ext4 image.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diskpick, tool } from '../helpers/tools.js';
import { startS3, S3_KEY, type S3Server } from '../helpers/s3server.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const v1 = Buffer.from('report, first draft\n'.repeat(300));
const v2 = Buffer.from('report, second draft, longer\n'.repeat(400));

describe('versions of a file across S3 objects named by a glob', () => {
  let dir: string;
  let s3: S3Server;
  const nights: [string, Buffer][] = [['2026-11-28', v1], ['2026-11-29', v2], ['2026-11-30', v1]];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dp-s3-versions-'));
    s3 = await startS3();
    for (const [day, data] of nights) {
      const tree = join(dir, day);
      mkdirSync(join(tree, 'docs'), { recursive: true });
      writeFileSync(join(tree, 'docs', 'report.docx'), data);
      const img = join(dir, `${day}.img`);
      tool('truncate', ['-s', '8M', img]);
      tool('mkfs.ext4', ['-q', '-F', '-d', tree, img]);
      // Put in time order: a point's time is its object's LastModified.
      await s3.putFile(`fileserver/${day}.img`, img);
      await new Promise((r) => setTimeout(r, 50));
    }
    // Objects the glob must not take.
    await s3.putFile('fileserver/2026-12-01.img', join(dir, '2026-11-29.img'));
    await s3.putFile('other/2026-11-29.img', join(dir, '2026-11-29.img'));
  });
  afterAll(async () => {
    await s3?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('lists the bucket for the glob and gives one row per matching object', () => {
    const env = { ...process.env, ...s3.env };
    const r = diskpick(['versions', '--json', 's3://backups/fileserver/2026-11-*.img', '/p0/docs/report.docx'], { env });
    expect(r.status, r.stderr).toBe(0);
    const rows = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { point: string; pointTime: string; sha256: string; sameAs: string | null });
    const urls = nights.map(([day]) => `s3://backups/fileserver/${day}.img`);
    expect(rows.map((x) => x.point)).toEqual(urls);
    expect(rows.map((x) => x.sha256)).toEqual(nights.map(([, d]) => sha(d)));
    expect(rows.map((x) => x.sameAs)).toEqual([null, null, urls[0]]);
    for (const x of rows) expect(Math.abs(Date.parse(x.pointTime) - Date.now())).toBeLessThan(10 * 60_000);
    const text = diskpick(['versions', 's3://backups/fileserver/2026-11-*.img', '/p0/docs/report.docx'], { env });
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout.toString().trim().split('\n')).toHaveLength(4);
    expect(`${r.stdout}${r.stderr}${text.stdout}${text.stderr}`).not.toContain(S3_KEY);
    // A glob matching nothing: one line, exit 4.
    const none = diskpick(['versions', 's3://backups/fileserver/2025-*.img', '/p0/docs/report.docx'], { env });
    expect(none.status).toBe(4);
    expect(none.stderr.trim().split('\n')).toEqual(['diskpick: s3://backups/fileserver/2025-*.img: no object in the bucket matches']);
  });
});
