/**
 * exFAT through the built CLI (`diskpick ls/cat/extract/info`), checked against the host
 * tree's manifest, blkid and exfatlabel.
 */
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI, cachedImage, diskpick, sha256, sha256File, tool } from '../helpers/tools.js';
import { exfatImages } from '../../scripts/images/exfat.js';
import { manifestOf, type ManifestEntry } from '../../scripts/images/tree.js';

const built = existsSync(CLI);
if (!built) console.warn(`SKIP: ${CLI} is absent (run npm run build); exFAT CLI tests skipped`);

describe.skipIf(!built)('exFAT through the diskpick CLI', () => {
  let image: string;
  let manifest: ManifestEntry[];
  let before: string;

  beforeAll(async () => {
    image = cachedImage('exfat-small.img', exfatImages.small);
    manifest = manifestOf(`${image}.tree`);
    before = await sha256File(image);
  });

  it('ls -R --json lists the manifest: paths, types, sizes, mtimes', () => {
    const r = diskpick(['ls', '-R', '--json', image, '/p0']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const rows = r.stdout.toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as { path: string; type: string; size: number; mtime: string });
    expect(rows.map((x) => x.path.slice(3)).sort()).toEqual(manifest.map((m) => m.path).sort());
    for (const row of rows) {
      const m = manifest.find((e) => e.path === row.path.slice(3))!;
      expect(row.type, m.path).toBe(m.type);
      if (m.type === 'file') expect(row.size, m.path).toBe(m.size);
      expect(Date.parse(row.mtime) / 1000, m.path).toBe(m.mtime);
    }
  });

  it('cat gives every byte of the fragmented file, and finds names in any case', () => {
    const m = manifest.find((e) => e.path === '/frag/fragmented.bin')!;
    expect(sha256(diskpick(['cat', image, '/p0/frag/fragmented.bin']).stdout)).toBe(m.sha256);
    const u = manifest.find((e) => e.path === '/Ünïcödé Grüße.txt')!;
    expect(sha256(diskpick(['cat', image, '/p0/ÜNÏCÖDÉ GRÜßE.TXT']).stdout)).toBe(u.sha256);
  });

  it('extract writes a folder tree identical to the source tree', () => {
    const out = mkdtempSync(join(tmpdir(), 'diskpick-exfat-extract-'));
    try {
      const r = diskpick(['extract', image, '/p0/nested', '/p0/frag', '-o', out]);
      expect(r.stderr).not.toMatch(/diskpick:/);
      expect(r.status).toBe(0);
      // diff -r exits 0 only when both trees hold the same names and bytes.
      tool('diff', ['-r', join(`${image}.tree`, 'nested'), join(out, 'nested')]);
      tool('diff', ['-r', join(`${image}.tree`, 'frag'), join(out, 'frag')]);
      for (const m of manifest.filter((e) => e.path.startsWith('/nested/') || e.path.startsWith('/frag/'))) {
        expect(statSync(join(out, m.path)).mtimeMs / 1000, m.path).toBe(m.mtime);
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('info --json: exFAT with the label and UUID the real tools print', () => {
    const info = JSON.parse(diskpick(['info', '--json', image]).stdout.toString('utf8')) as { volumes: { filesystem: { type: string; label: string; uuid: string } }[] };
    const fs = info.volumes[0]!.filesystem;
    expect(fs.type).toBe('exFAT');
    expect(fs.label).toBe(/^label: (.*)$/m.exec(tool('exfatlabel', [image]))![1]);
    expect(fs.uuid).toBe(tool('blkid', ['-p', '-s', 'UUID', '-o', 'value', image]).trim());
  });

  it('a file with a looping FAT chain: exit 3 (image), one line on stderr; others still cat', () => {
    const bad = join(tmpdir(), `diskpick-exfat-cli-loop-${process.pid}.img`);
    try {
      tool('cp', [image, bad]);
      // Point the fragmented file's second cluster back at its first, through the real FAT:
      // dump.exfat gives the FAT's place, fls/istat the file's first cluster.
      const d = tool('dump.exfat', [bad]);
      const fatOffset = Number(/FAT Offset\(sector offset\):\s*(\d+)/.exec(d)![1]) * 512;
      const heap = Number(/Cluster Heap Offset \(sector offset\):\s*(\d+)/.exec(d)![1]);
      const spc = 2 ** Number(/Sector per Cluster bits:\s*(\d+)/.exec(d)![1]);
      const ino = /^r\/r (\d+):\s+frag\/fragmented\.bin$/m.exec(tool('fls', ['-r', '-p', '-f', 'exfat', bad]))![1]!;
      const firstSector = Number(tool('istat', ['-f', 'exfat', bad, ino]).split('Sectors:')[1]!.trim().split(/\s+/)[0]);
      const first = (firstSector - heap) / spc + 2;
      const buf = Buffer.alloc(4);
      buf.writeUInt32LE(first);
      // The damaged copy is a test's own scratch file, opened for writing by the test only.
      const fd = openSync(bad, 'r+');
      const next = Buffer.alloc(4);
      readSync(fd, next, 0, 4, fatOffset + first * 4);
      writeSync(fd, buf, 0, 4, fatOffset + next.readUInt32LE() * 4);
      closeSync(fd);
      const r = diskpick(['cat', bad, '/p0/frag/fragmented.bin']);
      expect(r.status).toBe(3);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/fragmented\.bin.*loop/);
      const ok = manifest.find((e) => e.path === '/README.txt')!;
      expect(sha256(diskpick(['cat', bad, '/p0/README.txt']).stdout)).toBe(ok.sha256);
    } finally {
      rmSync(bad, { force: true });
    }
  });

  it('never changes the image', async () => {
    expect(await sha256File(image)).toBe(before);
  });
});
