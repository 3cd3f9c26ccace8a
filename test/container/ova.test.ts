/**
 * OVA: read in place. Oracle: `tar -x` then `qemu-img convert -O raw` of the disk (the
 * issue's), the source disk and its manifest; the descriptor's facts against what the builder
 * wrote into it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openContainer } from '../../src/container/open.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { DiskpickError } from '../../src/errors.js';
import { CACHE, sha256File, tool } from '../helpers/tools.js';
import { buildOva, OVA, ovaSources } from '../../scripts/images/ova.js';
import type { ManifestEntry } from '../../scripts/images/tree.js';

let ova: string;
let hash: string;
const work = mkdtempSync(join(tmpdir(), 'dp-ova-'));

beforeAll(async () => {
  ova = existsSync(join(CACHE, OVA.name)) ? join(CACHE, OVA.name) : buildOva(CACHE);
  hash = await sha256File(ova);
}, 120_000);

afterAll(async () => {
  expect(await sha256File(ova)).toBe(hash);
  rmSync(work, { recursive: true, force: true });
});

describe('OVA', () => {
  it('the first disk inside the tar is what tar -x + qemu-img convert give (and the source disk)', async () => {
    const x = join(work, 'x');
    tool('mkdir', ['-p', x]);
    tool('tar', ['-xf', ova, '-C', x]);
    tool('qemu-img', ['convert', '-q', '-f', 'vmdk', '-O', 'raw', join(x, OVA.disks[0]!.file), join(x, 'disk1.raw')]);
    const c = await openContainer(ova);
    try {
      expect(c.format).toBe('ova');
      expect(c.chain.map((l) => `${l.format} ${l.variant}`)).toEqual([`ova OVF appliance.ovf, 2 disks`, 'vmdk streamOptimized']);
      const h = createHash('sha256');
      for (let off = 0; off < c.size; off += 1 << 20) h.update(await c.read(off, 1 << 20));
      const ours = h.digest('hex');
      expect(ours).toBe(await sha256File(join(x, 'disk1.raw')));
      expect(ours).toBe(await sha256File(ovaSources(CACHE)[0]!));
    } finally {
      await c.close();
    }
  });

  it('files in the partitions of the first disk match the manifest; info names the VM, OS and both disks', async () => {
    const manifests = JSON.parse(readFileSync(`${ovaSources(CACHE)[0]}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    const vfs = await Vfs.open(ova);
    try {
      for (const [vol, entries] of Object.entries(manifests)) {
        for (const m of entries.filter((e) => e.type === 'file').slice(0, 40)) {
          const n = await vfs.lookup(`/${vol}${m.path}`);
          const s = await vfs.openFile(n);
          expect(createHash('sha256').update(await s.read(0, s.size)).digest('hex'), m.path).toBe(m.sha256);
        }
      }
      const d = vfs.info().container.details!;
      expect(d['VM name']).toBe(OVA.vmName);
      expect(d['OS type']).toContain(OVA.osType);
      expect(d['OS type']).toContain(OVA.osDescription);
      expect(d['disk 1']).toMatch(new RegExp(`^vmdisk1: ${OVA.disks[0]!.file}, capacity ${(await import('node:fs')).statSync(ovaSources(CACHE)[0]!).size} bytes`));
      expect(d['disk 2']).toMatch(/^vmdisk2: appliance-disk2\.vmdk, capacity 1474560 bytes/);
    } finally {
      await vfs.close();
    }
  });

  it('a gzip-compressed disk, a disk missing from the tar, a cut-short tar: one-line errors', async () => {
    const b = readFileSync(ova);
    // Variants of the package: the descriptor edited, tarred again with the same disks.
    const x = join(work, 'edit');
    tool('mkdir', ['-p', x]);
    tool('tar', ['-xf', ova, '-C', x]);
    const ovf = readFileSync(join(x, 'appliance.ovf'), 'utf8');
    const withOvf = (label: string, text: string) => {
      writeFileSync(join(x, 'appliance.ovf'), text);
      const p = join(work, `${label}.ova`);
      tool('tar', ['--format=ustar', '-C', x, '-cf', p, 'appliance.ovf', ...OVA.disks.map((d) => d.file)]);
      return p;
    };
    const put = (name: string, data: Buffer) => {
      const p = join(work, name);
      writeFileSync(p, data);
      return p;
    };
    const withAttr = (from: string, to: string) => withOvf(to.replace(/\W/g, ''), ovf.replace(from, to));
    // ovf:compression other than gzip: not read. (gzip is: test/container/vma.test.ts.)
    const gz = await openContainer(withAttr('ovf:size=', 'ovf:compression="deflate" ovf:size=')).catch((e) => e);
    expect(gz).toBeInstanceOf(DiskpickError);
    expect(gz.message).toMatch(/deflate-compressed/);
    const missing = await openContainer(withAttr('ovf:href="appliance-disk1.vmdk"', 'ovf:href="absent.vmdk"')).catch((e) => e);
    expect(missing.message).toMatch(/absent\.vmdk is not in the archive/);
    const short = await openContainer(put('short.ova', b.subarray(0, 1 << 20))).catch((e) => e);
    expect(short).toBeInstanceOf(DiskpickError);
    expect(short.message).toMatch(/runs past the end of the archive/);
  });
});
