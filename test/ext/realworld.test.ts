/**
 * Real-world ext2 images made by other tools (dfvfs test data): every entry debugfs lists must
 * read identically through diskpick. The split raw opens through its .000 file; the oracle runs
 * on the two parts joined. The VMDK needs the VMDK container reader; its oracle is debugfs on
 * qemu-img's raw conversion.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { ROOT, cachedImage, corpusFile, sha256File, tool } from '../helpers/tools.js';
import { debugfsBatch, parseDebugfsLs, readAll, sha, statField } from './helpers.js';

/** Walks the debugfs tree of `oracleImg` and checks every entry against diskpick on `img`. */
async function compareWithDebugfs(img: string, oracleImg: string): Promise<number> {
  const vfs = await Vfs.open(img);
  try {
    const vol = vfs.info().volumes.find((v) => v.filesystem?.type.startsWith('ext'))!;
    const base = `/${vol.name}`;
    let checked = 0;
    const queue = ['/'];
    const out = mkdtempSync(join(tmpdir(), 'diskpick-ext-rw-'));
    try {
      while (queue.length) {
        const d = queue.shift()!;
        const [ls] = debugfsBatch(oracleImg, [`ls -l "${d}"`]);
        const theirs = parseDebugfsLs(ls!);
        const ours = await vfs.readdir(await vfs.lookup(base + d));
        expect(ours.map((o) => o.name).sort(), d).toEqual(theirs.map((t) => t.name).sort());
        for (const t of theirs) {
          const p = d === '/' ? `/${t.name}` : `${d}/${t.name}`;
          const o = ours.find((x) => x.name === t.name)!;
          expect({ ino: o.stat.ino, size: o.stat.size, uid: o.stat.uid, gid: o.stat.gid, perm: o.stat.mode }, p)
            .toEqual({ ino: t.ino, size: t.size, uid: t.uid, gid: t.gid, perm: t.mode & 0o7777 });
          if (o.stat.type === 'dir') queue.push(p);
          else if (o.stat.type === 'file') {
            const dumpPath = join(out, String(checked));
            debugfsBatch(oracleImg, [`dump "${p}" ${dumpPath}`]);
            expect(sha(await readAll(vfs, o)), p).toBe(sha(readFileSync(dumpPath)));
          } else if (o.stat.type === 'symlink') {
            const [st] = debugfsBatch(oracleImg, [`stat "${p}"`]);
            const m = /Fast link dest: "(.*)"/.exec(st!);
            if (m) expect(o.stat.symlinkTarget, p).toBe(m[1]);
            expect(o.stat.nlink, p).toBe(Number(statField(st!, 'Links')));
          }
          checked++;
        }
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    return checked;
  } finally {
    await vfs.close();
  }
}

describe('real-world ext2 (dfvfs test data)', () => {
  it('split raw: every entry debugfs lists reads identically', async () => {
    const p0 = corpusFile('ext2.splitraw.000');
    const p1 = corpusFile('ext2.splitraw.001');
    if (!p0 || !p1) return;
    const before = [await sha256File(p0), await sha256File(p1)];
    const joined = cachedImage('ext-realworld-joined.img', (p) => writeFileSync(p, Buffer.concat([readFileSync(p0), readFileSync(p1)])));
    const n = await compareWithDebugfs(p0, joined);
    expect(n).toBeGreaterThan(3);
    expect([await sha256File(p0), await sha256File(p1)]).toEqual(before);
  });

  const hasVmdk = existsSync(join(ROOT, 'src', 'container', 'vmdk.ts')) || existsSync(join(ROOT, 'src', 'container', 'vmdk'));
  if (!hasVmdk) console.warn('SKIP: src/container/vmdk* is absent (VMDK reader not written yet); ext2.vmdk test skipped');
  it.skipIf(!hasVmdk)('VMDK: every entry debugfs lists (on qemu-img raw conversion) reads identically', async () => {
    const vmdk = corpusFile('ext2.vmdk');
    if (!vmdk) return;
    const before = await sha256File(vmdk);
    const raw = cachedImage('ext-realworld-vmdk.raw', (p) => void tool('qemu-img', ['convert', '-O', 'raw', vmdk, p]));
    const n = await compareWithDebugfs(vmdk, raw);
    expect(n).toBeGreaterThan(3);
    expect(await sha256File(vmdk)).toBe(before);
  });
});
