/**
 * Windows-made NTFS volumes from ../shared/corpus/realworld: every regular file and named
 * stream TSK's `fls -r -p` lists must read through diskpick exactly as `icat` reads it.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE, corpusFile, sha256, sha256File, tool, toolBytes } from '../helpers/tools.js';
import { Vfs } from '../../src/vfs/vfs.js';
import type { ByteSource } from '../../src/source/source.js';

async function readAll(src: ByteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let o = 0; o < src.size; o += 1 << 20) parts.push(Buffer.from(await src.read(o, Math.min(1 << 20, src.size - o))));
  return Buffer.concat(parts);
}

/** Decompresses a corpus image into the cache once (sparse). */
function unpacked(name: string): string | null {
  const gz = corpusFile(`${name}.raw.gz`);
  if (!gz) return null;
  const out = join(CACHE, `ntfs-rw-${name.replace(/^ntfs-/, '')}.raw`);
  if (!existsSync(out)) {
    execFileSync('bash', ['-c', 'gzip -dc "$1" | cp --sparse=always /dev/stdin "$2"', '_', gz, `${out}.tmp`]);
    renameSync(`${out}.tmp`, out);
  }
  return out;
}

for (const name of ['ntfs-ptrn', 'ntfs-ramslack', 'ntfs-lastaccess']) {
  describe(`real-world ${name}`, () => {
    it('reads every file and stream fls lists as icat reads it', async () => {
      const img = unpacked(name);
      if (!img) return;
      const before = await sha256File(img);
      // mmls gives the partition's start sector; diskpick calls it p1.
      const part = tool('mmls', [img]).split('\n').find((l) => /NTFS/.test(l))!;
      const start = Number(part.trim().split(/\s+/)[2]);
      const vfs = await Vfs.open(img);
      const info = vfs.info();
      expect(info.volumes[0]!.start).toBe(start * 512);
      expect(info.volumes[0]!.filesystem!.uuid).toBe(tool('blkid', ['-p', '-O', String(start * 512), '-s', 'UUID', '-o', 'value', img]).trim());
      const fls = tool('fls', ['-r', '-p', '-o', String(start), img]);
      let checked = 0;
      for (const line of fls.split('\n')) {
        const m = /^(\S+) (\* )?(\d+)-(\d+)-(\d+):\t(.*)$/.exec(line);
        if (!m || m[2] || m[4] !== '128') continue; // deleted names and non-$DATA attributes
        if (!m[1]!.startsWith('r/') && !m[1]!.startsWith('d/')) continue;
        const full = m[6]!;
        const colon = full.indexOf(':');
        const path = colon >= 0 ? full.slice(0, colon) : full;
        const stream = colon >= 0 ? full.slice(colon + 1) : undefined;
        if (path.endsWith('/.') || (m[1]!.startsWith('d/') && !stream)) continue;
        const node = await vfs.lookup(`/p1/${path}`);
        expect(node.stat.ino, path).toBe(Number(m[3]));
        const size = stream ? (await vfs.streams(node)).find((s) => s.name === stream)!.size : node.stat.size;
        if (size > 64 << 20) continue; // $BadClus:$Bad spans the volume as one hole (icat shows it empty)
        const theirs = toolBytes('icat', ['-o', String(start), img, `${m[3]}-128-${m[5]}`]);
        const ours = await readAll(await vfs.openFile(node, stream));
        expect(ours.length, full).toBe(theirs.length);
        expect(sha256(ours), full).toBe(sha256(theirs));
        checked++;
      }
      expect(checked).toBeGreaterThan(5);
      // The names a user sees (no metadata files) are exactly the names fls lists: each once,
      // no DOS 8.3 aliases, hard links under every name.
      const flsNames = new Set<string>();
      for (const line of fls.split('\n')) {
        const m = /^(\S+) (\* )?(\d+)(?:-\d+-\d+)?:\t(.*)$/.exec(line);
        if (!m || m[2] || m[1]!.startsWith('V') || m[4]!.includes(':')) continue;
        // NTFS metadata only (#24.2): records 0–15 and the $Extend tree; $RECYCLE.BIN is shown.
        if ((Number(m[3]) < 16 && !m[4]!.includes('/')) || m[4]!.split('/')[0] === '$Extend') continue;
        flsNames.add('/' + m[4]!);
      }
      const ours: string[] = [];
      const walk = async (path: string) => {
        for (const k of await vfs.readdir(await vfs.lookup(path))) {
          ours.push(k.path.slice('/p1'.length));
          if (k.stat.type === 'dir') await walk(k.path);
        }
      };
      await walk('/p1');
      expect(ours.length).toBe(new Set(ours).size);
      expect(new Set(ours)).toEqual(flsNames);
      expect(await sha256File(img)).toBe(before);
    });
  });
}
