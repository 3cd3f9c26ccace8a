/**
 * cat and extract of a 1 GiB file stream with bounded buffers: peak RSS of the whole
 * process stays far below the file size (bench reports the exact figure).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildFatWithLargeFile, type VolumeManifests } from '../../scripts/images/fat.js';
import { cachedImage, CLI, sha256File } from '../helpers/tools.js';

function peakRssMb(cmd: string): { rss: number; status: number | null } {
  const r = spawnSync('/usr/bin/time', ['-f', '%M', 'bash', '-c', cmd], { encoding: 'utf8' });
  const lines = r.stderr.trim().split('\n');
  return { rss: Number(lines[lines.length - 1]) / 1024, status: r.status };
}

describe('memory stays flat', () => {
  const img = cachedImage('fat-1g.img', (p) => buildFatWithLargeFile(p, 1 << 30));
  const want = (JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as VolumeManifests).p0![0]!;

  it('cat of a 1 GiB file', () => {
    const r = peakRssMb(`node ${CLI} cat ${img} /p0/big.bin | sha256sum | cut -d' ' -f1 > ${img}.cat.sha`);
    expect(r.status).toBe(0);
    expect(readFileSync(`${img}.cat.sha`, 'utf8').trim()).toBe(want.sha256);
    expect(r.rss).toBeLessThan(150);
  });

  it('extract of a 1 GiB file', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-mem-'));
    const r = peakRssMb(`node ${CLI} extract -q ${img} /p0/big.bin -o ${out}`);
    expect(r.status).toBe(0);
    expect(await sha256File(join(out, 'big.bin'))).toBe(want.sha256);
    expect(r.rss).toBeLessThan(150);
    rmSync(out, { recursive: true, force: true });
  });
});
