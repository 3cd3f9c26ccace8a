/**
 * The bundled demo image (images/fileserver.vmdk) reads as the manifest of the tree it was
 * made from, and its virtual disk is byte for byte what qemu-img converts it to.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { diskpick, ROOT, sha256, sha256File, tool } from './helpers/tools.js';
import type { VolumeManifests } from '../scripts/images/fat.js';

const demo = join(ROOT, 'images', 'fileserver.vmdk');
const manifest = JSON.parse(readFileSync(join(ROOT, 'images', 'fileserver.manifest.json'), 'utf8')) as VolumeManifests;

describe('demo image', () => {
  it('is a GPT disk with one FAT32 volume', () => {
    const info = JSON.parse(diskpick(['info', '--json', demo]).stdout.toString());
    expect(info.container.format).toBe('vmdk');
    expect(info.partitionTable.scheme).toBe('gpt');
    expect(info.volumes.map((v: { filesystem: { type: string } }) => v.filesystem.type)).toEqual(['FAT32']);
  });

  it('holds every file of its manifest', async () => {
    const before = await sha256File(demo);
    for (const e of manifest.p1!.filter((x) => x.type === 'file')) {
      const r = diskpick(['cat', demo, `/p1${e.path}`]);
      expect(r.status).toBe(0);
      expect(sha256(r.stdout)).toBe(e.sha256);
    }
    expect(await sha256File(demo)).toBe(before);
  });

  it('converts to the same raw disk as qemu-img', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-demo-'));
    tool('qemu-img', ['convert', '-O', 'raw', demo, join(out, 'q.raw')]);
    expect(diskpick(['dd', '-q', demo, '-o', join(out, 'd.raw')]).status).toBe(0);
    const want = readFileSync(join(ROOT, 'images', 'fileserver.raw.sha256'), 'utf8').trim();
    expect(await sha256File(join(out, 'q.raw'))).toBe(want);
    expect(await sha256File(join(out, 'd.raw'))).toBe(want);
  });
});
