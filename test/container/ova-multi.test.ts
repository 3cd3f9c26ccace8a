/**
 * OVA with several disks (docs/formats/ova.md): every disk of the DiskSection as its own
 * top-level entry (/p…, /disk2/…, /disk3/…), one split in ovf:chunkSize chunks, one stored
 * raw; LVM image B's VG spans the first two. Oracles: `tar -x`, `cat` of the chunks and
 * `qemu-img convert -O raw` per disk (byte for byte), the source disks, the LVM builder's
 * trees (what it wrote into the ext4 LVs).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openContainer } from '../../src/container/open.js';
import type { Container } from '../../src/container/container.js';
import { DiskpickError } from '../../src/errors.js';
import { CACHE, cachedImage, diskpick, sha256File, tool } from '../helpers/tools.js';
import { buildOvaMulti, OVA_MULTI, ovaMultiSources } from '../../scripts/images/ova.js';
import { expectTreeMatches, info } from '../volume/lvm-helpers.js';

let ova: string;
let hash: string;
const work = mkdtempSync(join(tmpdir(), 'dp-ova-multi-'));
const x = join(work, 'x');

async function digest(c: Container): Promise<string> {
  const h = createHash('sha256');
  for (let off = 0; off < c.size; off += 1 << 20) h.update(await c.read(off, 1 << 20));
  return h.digest('hex');
}

beforeAll(async () => {
  ova = cachedImage(OVA_MULTI.name, () => void buildOvaMulti(CACHE));
  hash = await sha256File(ova);
  mkdirSync(x, { recursive: true });
  tool('tar', ['-xf', ova, '-C', x]);
}, 300_000);

afterAll(async () => {
  expect(await sha256File(ova)).toBe(hash);
  rmSync(work, { recursive: true, force: true });
});

describe('OVA with three disks (one chunked, one raw)', () => {
  it('each disk reads as tar -x (+ cat of the chunks) + qemu-img convert -O raw gives it, and as its source disk', async () => {
    const [d1, d2, d3] = OVA_MULTI.disks;
    const chunks = readdirSync(x).filter((n) => n.startsWith(`${d2!.file}.`)).sort();
    expect(chunks.length).toBeGreaterThan(2);
    expect(chunks[0]).toBe(`${d2!.file}.000000000`);
    writeFileSync(join(x, d2!.file), Buffer.concat(chunks.map((n) => readFileSync(join(x, n)))));
    const raws = [];
    for (const d of [d1!, d2!]) {
      tool('qemu-img', ['convert', '-q', '-f', 'vmdk', '-O', 'raw', join(x, d.file), join(x, `${d.id}.raw`)]);
      raws.push(await sha256File(join(x, `${d.id}.raw`)));
    }
    raws.push(await sha256File(join(x, d3!.file)));
    const sources = await Promise.all(ovaMultiSources(CACHE).map((s) => sha256File(s)));
    expect(raws).toEqual(sources);
    const c = await openContainer(ova);
    try {
      expect(c.format).toBe('ova');
      expect(c.moreDisks!.map((d) => `${d.container.format} ${d.container.variant}`)).toEqual(['vmdk streamOptimized', 'raw raw']);
      expect(c.moreDisks!.map((d) => d.label)).toEqual([`${ova}:${d2!.file} (OVF disk ${d2!.id})`, `${ova}:${d3!.file} (OVF disk ${d3!.id})`]);
      expect([await digest(c), ...(await Promise.all(c.moreDisks!.map((d) => digest(d.container))))]).toEqual(raws);
      expect(c.details!['disk 2']).toBe(`${d2!.id}: ${d2!.file}, capacity ${(await import('node:fs')).statSync(ovaMultiSources(CACHE)[1]!).size} bytes, in chunks of ${OVA_MULTI.chunkSize} bytes; shown as /disk2/…`);
    } finally {
      await c.close();
    }
  });

  it('every interface sees the further disks as /disk2, /disk3; the VG over disks 1 and 2 assembles and its LVs read as written', () => {
    const j = info([ova]) as ReturnType<typeof info> & { disks: Array<{ name: string; file: string; format: string }> };
    expect(j.volumes.map((v) => v.name)).toEqual(['p1', 'disk2/p0', 'disk3/p0', 'p1~2/s', 'p1~2/one']);
    expect(j.volumes.find((v) => v.name === 'p1~2/s')!.members).toEqual(['p1', 'disk2/p0']);
    expect(j.disks.map((d) => [d.name, d.format, d.file])).toEqual([
      ['disk2', 'vmdk', `${ova}:${OVA_MULTI.disks[1]!.file} (OVF disk ${OVA_MULTI.disks[1]!.id})`],
      ['disk3', 'raw', `${ova}:${OVA_MULTI.disks[2]!.file} (OVF disk ${OVA_MULTI.disks[2]!.id})`],
    ]);
    const trees = `${ovaMultiSources(CACHE)[0]}.trees`;
    expectTreeMatches([ova], '/p1~2/s', join(trees, 's'));
    expectTreeMatches([ova], '/p1~2/one', join(trees, 'one'));
    // The floppy's FAT on disk 3: its manifest, through cat.
    const floppy = JSON.parse(readFileSync(`${ovaMultiSources(CACHE)[2]}.manifest.json`, 'utf8')) as Record<string, Array<{ path: string; type: string; sha256: string }>>;
    const files = Object.values(floppy)[0]!.filter((e) => e.type === 'file').slice(0, 5);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) {
      const r = diskpick(['cat', ova, `/disk3/p0${f.path}`]);
      expect(r.status, r.stderr).toBe(0);
      expect(createHash('sha256').update(r.stdout).digest('hex')).toBe(f.sha256);
    }
    // dd of a whole further disk is the disk (the chunked one).
    const dd = diskpick(['dd', ova, '--volume', 'disk2', '-o', join(work, 'disk2.dd')]);
    expect(dd.status, dd.stderr).toBe(0);
    expect(createHash('sha256').update(readFileSync(join(work, 'disk2.dd'))).digest('hex')).toBe(createHash('sha256').update(readFileSync(ovaMultiSources(CACHE)[1]!)).digest('hex'));
    const human = diskpick(['info', ova]);
    expect(human.stdout.toString()).toContain(`(OVF disk ${OVA_MULTI.disks[1]!.id})`);
  });

  it('a chunk missing, a chunk cut short, ovf:size past the chunks: one-line errors naming the archive and the chunk (exit 3)', async () => {
    const d2 = OVA_MULTI.disks[1]!;
    const names = readdirSync(x).filter((n) => n.endsWith('.ovf') || n.startsWith('multi-') && n !== d2.file && !n.endsWith('.raw'));
    const ovf = names.find((n) => n.endsWith('.ovf'))!;
    const rest = names.filter((n) => n !== ovf).sort();
    const pack = (label: string, members: string[]) => {
      const p = join(work, `${label}.ova`);
      tool('tar', ['--format=ustar', '-C', x, '-cf', p, ovf, ...members]);
      return p;
    };
    const c1 = `${d2.file}.000000001`;
    const cases: Array<[string, string, RegExp]> = [
      ['nochunk', pack('nochunk', rest.filter((n) => n !== c1)), new RegExp(`chunk ${c1.replace(/\./g, '\\.')} of disk file ${d2.file.replace(/\./g, '\\.')} is not in the archive`)],
      ['lastgone', pack('lastgone', rest.filter((n) => n !== rest.filter((m) => m.startsWith(`${d2.file}.`)).pop())), /hold \d+ bytes, ovf:size says \d+; chunk .* is missing/],
    ];
    // A descriptor listing one file as 300 disks: refused before anything is opened.
    const many = join(work, 'many');
    mkdirSync(many);
    writeFileSync(join(many, 'many.ovf'), `<Envelope><References><File ovf:id="f" ovf:href="${OVA_MULTI.disks[2]!.file}"/></References><DiskSection>${'<Disk ovf:diskId="d" ovf:fileRef="f"/>'.repeat(300)}</DiskSection></Envelope>`);
    writeFileSync(join(many, OVA_MULTI.disks[2]!.file), readFileSync(join(x, OVA_MULTI.disks[2]!.file)));
    const manyOva = join(work, 'many.ova');
    tool('tar', ['--format=ustar', '-C', many, '-cf', manyOva, 'many.ovf', OVA_MULTI.disks[2]!.file]);
    cases.push(['many', manyOva, /lists 300 disks \(at most 256 are read\)/]);
    truncateSync(join(x, c1), 1000);
    cases.push(['short', pack('short', rest), new RegExp(`chunk ${c1.replace(/\./g, '\\.')} is 1000 bytes, not the ovf:chunkSize ${OVA_MULTI.chunkSize}`)]);
    for (const [label, p, re] of cases) {
      const e = await openContainer(p).catch((err: unknown) => err);
      expect(e, label).toBeInstanceOf(DiskpickError);
      expect((e as Error).message, label).toMatch(re);
      const r = diskpick(['ls', p]);
      expect(r.status, label).toBe(3);
      expect(r.stderr.trim().split('\n'), label).toHaveLength(1);
      expect(r.stderr, label).toContain(p);
    }
  });
});
