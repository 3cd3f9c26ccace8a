/**
 * Volumes diskpick names but does not read (blkid's TYPE, UUID and LABEL are the oracle), and
 * images holding nothing recognised: `info` describes them instead of failing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildNamedDisk, NAMED_PARTS } from '../../scripts/images/named.js';
import { seededBytes } from '../../scripts/images/tree.js';
import { CACHE, cachedImage, diskpick, sha256File } from '../helpers/tools.js';

const MiB = 1024 * 1024;
const img = cachedImage('named.img', (p) => buildNamedDisk(p));

/** blkid's view of the volume at `offset` MiB. */
function blkid(offsetMiB: number): Record<string, string> {
  const out = execFileSync('blkid', ['-p', '-o', 'export', '-O', String(offsetMiB * MiB), img], { encoding: 'utf8' });
  return Object.fromEntries(out.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

/** Our names for blkid's TYPE (+ VERSION). */
function ourType(b: Record<string, string>): string {
  if (b.TYPE === 'crypto_LUKS') return `LUKS${b.VERSION}`;
  return ({ swap: 'Linux swap', iso9660: 'ISO 9660' } as Record<string, string>)[b.TYPE!] ?? b.TYPE!;
}

interface Vol { name: string; content: { type: string; uuid?: string; label?: string } | null; error: string | null }

describe('volumes named as blkid names them', () => {
  let before: string;
  beforeAll(async () => {
    before = await sha256File(img);
  });
  afterAll(async () => {
    expect(await sha256File(img)).toBe(before);
  });

  it('info --json: LUKS2, LUKS1, swap, ISO 9660 with the type, UUID and label blkid reports', () => {
    const r = diskpick(['info', '--json', img]);
    expect(r.status, r.stderr).toBe(0);
    const vols = (JSON.parse(r.stdout.toString()) as { volumes: Vol[] }).volumes;
    for (const p of NAMED_PARTS.slice(0, 4)) {
      const b = blkid(p.start);
      const v = vols.find((x) => x.name === `p${p.n}`)!;
      expect(v.content, `p${p.n}`).not.toBeNull();
      expect(v.content!.type).toBe(ourType(b));
      // ISO 9660's "UUID" is blkid's made-up date string, not one stored in the volume.
      if (b.TYPE !== 'iso9660') expect(v.content!.uuid ?? null).toBe(b.UUID ?? null);
      expect(v.content!.label ?? null).toBe(b.LABEL ?? null);
    }
    // BitLocker: blkid needs more than the boot sector; the signature ("-FVE-FS-" at byte 3, as
    // libbde documents it) is what is written.
    expect(vols.find((x) => x.name === 'p5')!.content!.type).toBe('BitLocker');
    expect(vols.find((x) => x.name === 'p6')!.content).toBeNull();
    expect(vols.find((x) => x.name === 'p6')!.error).toBe('unknown filesystem');
  });

  it('opening one: a one-line error naming it, exit 6; its raw bytes stay reachable with dd --volume', () => {
    const r = diskpick(['ls', img, '/p1']);
    expect(r.status).toBe(6);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('/p1: is LUKS2 (UUID 0b6f9a11-2f4e-4c1b-9d1e-5a7c3e2f1a01), which diskpick does not read');
    expect(diskpick(['cat', img, '/p3/x']).status).toBe(6);
    const out = join(CACHE, 'named-p1.dd');
    expect(diskpick(['dd', img, '--volume', 'p1', '-o', out, '--force', '-q']).status).toBe(0);
    expect(readFileSync(out).equals(readFileSync(img).subarray(MiB, 21 * MiB))).toBe(true);
    rmSync(out);
    const text = diskpick(['info', img]).stdout.toString();
    expect(text).toMatch(/^p1\s+1\.00 MiB\s+20\.0 MiB\s+LUKS2\s+secret-home\s+LUKS2 \(UUID 0b6f9a11-2f4e-4c1b-9d1e-5a7c3e2f1a01\), not read$/m);
  });

  it('a whole disk that is one LUKS volume: p0, named; ls of it says what it is', () => {
    const whole = join(CACHE, 'named-whole-luks.img');
    writeFileSync(whole, readFileSync(img).subarray(MiB, 21 * MiB));
    expect(diskpick(['ls', whole]).stdout.toString().trim()).toBe('p0');
    const r = diskpick(['ls', whole, '/p0']);
    expect(r.status).toBe(6);
    expect(r.stderr).toMatch(/is LUKS2/);
    rmSync(whole);
  });
});

describe('nothing recognised (issue 24 item 8)', () => {
  it('info describes the container and says so (exit 0, text and JSON); ls still fails with exit 3', () => {
    const p = join(CACHE, 'named-random.bin');
    writeFileSync(p, seededBytes(77, 1 << 20));
    const t = diskpick(['info', p]);
    expect(t.status, t.stderr).toBe(0);
    expect(t.stdout.toString()).toMatch(/container:\s+raw \(raw\), virtual size 1\.00 MiB/);
    expect(t.stdout.toString()).toMatch(/^finding:\s+no partition table or filesystem recognised$/m);
    const j = JSON.parse(diskpick(['info', '--json', p]).stdout.toString()) as { findings: string[]; container: { virtualSize: number } };
    expect(j.findings).toEqual(['no partition table or filesystem recognised']);
    expect(j.container.virtualSize).toBe(1 << 20);
    const r = diskpick(['ls', p]);
    expect(r.status).toBe(3);
    expect(r.stderr).toMatch(/not a disk image/);
    rmSync(p);
  });
});
