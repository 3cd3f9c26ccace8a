/**
 * Btrfs read-only snapshots and LVM snapshots (old-style and thin) as points of `versions` and `diff`: the same path
 * as of each snapshot, at the snapshot's time. Oracles: the kernel's own view of each subvolume
 * (loop mounts with subvolid=, recorded when the image was made by the kernel:
 * scripts/images/btrfs.ts) and the trees the LVM snapshot image was made from (lvm-more.ts E).
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cachedImage, diskpick, sha256File } from '../helpers/tools.js';
import { btrfsImage } from '../btrfs/helpers.js';
import { buildLvmImageE, buildLvmImageF } from '../../scripts/images/lvm-more.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
interface Row { point: string; path: string; exists: boolean; sha256: string | null; pointTime: string | null }
const rowsOf = (out: Buffer): Row[] => out.toString().trim().split('\n').map((l) => JSON.parse(l) as Row);

describe('Btrfs read-only snapshots as points', () => {
  it('a file of a subvolume as of each read-only snapshot of it, with the kernel\'s bytes and the snapshot\'s time', async () => {
    const { img, manifest } = btrfsImage('kernel');
    const before = await sha256File(img);
    const id = (path: string) => manifest.list.find((s) => s.path === path)!.id;
    const kernel = (sub: number | string, path: string) => manifest.subvolumes[String(sub)]!.find((e) => e.path === path);
    // The snapshot's creation: its ROOT_ITEM's otime as btrfs-progs dumps it (the root folder's
    // birth time, set a moment apart, can fall in the next second).
    const rootTree = execFileSync('btrfs', ['inspect-internal', 'dump-tree', '-t', 'root', img], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const born = (path: string) => {
      const m = new RegExp(`key \\(${id(path)} ROOT_ITEM [^)]*\\)[^\\n]*\\n(?:[^\\n]*\\n)*?\\s*otime (\\d+)\\.`).exec(rootTree);
      return Number(m![1]);
    };

    const r = diskpick(['versions', '--json', img, '/p0/home/user/notes.txt']);
    expect(r.status, r.stderr.toString()).toBe(0);
    const rows = rowsOf(r.stdout);
    // home's read-only snapshot is a point; the writable home-rw-snap and the top level's are not.
    expect(rows.map((x) => x.point).sort()).toEqual([img, `${img}:/p0/.snapshots/home-before`].sort());
    const snap = rows.find((x) => x.point !== img)!;
    expect(snap.path).toBe('/p0/.snapshots/home-before/user/notes.txt');
    expect(snap.sha256).toBe(kernel(id('.snapshots/home-before'), '/user/notes.txt')!.sha256);
    expect(rows.find((x) => x.point === img)!.sha256).toBe(kernel(id('home'), '/user/notes.txt')!.sha256);
    expect(snap.sha256).not.toBe(rows.find((x) => x.point === img)!.sha256);
    expect(Math.floor(Date.parse(snap.pointTime!) / 1000)).toBe(born('.snapshots/home-before'));

    // A file of the top level: snapper's snapshot of it is the point.
    const top = rowsOf(diskpick(['versions', '--json', img, '/p0/hello.txt']).stdout);
    const s1 = top.find((x) => x.point === `${img}:/p0/.snapshots/1/snapshot`)!;
    expect(s1.sha256).toBe(kernel(id('.snapshots/1/snapshot'), '/hello.txt')!.sha256);
    expect(top.find((x) => x.point === img)!.sha256).toBe(kernel(5, '/hello.txt')!.sha256);
    const gone = rowsOf(diskpick(['versions', '--json', img, '/p0/after-snapshot.txt']).stdout);
    expect(gone.find((x) => x.point === `${img}:/p0/.snapshots/1/snapshot`)!.exists).toBe(false);

    // diff of the snapshot against now, below the top level.
    const d = diskpick(['diff', '--json', `${img}:/p0/.snapshots/1/snapshot`, img, '/p0']);
    expect(d.status, d.stderr.toString()).toBe(0);
    const changes = new Map(d.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; change: string }).map((c) => [c.path, c.change]));
    expect(changes.get('/p0/.snapshots/1/snapshot/after-snapshot.txt') ?? changes.get('/p0/after-snapshot.txt')).toBe('added');
    expect(changes.get('/p0/.snapshots/1/snapshot/hello.txt') ?? changes.get('/p0/hello.txt')).toBe('changed');

    // info lists the read-only snapshots with their times.
    const info = JSON.parse(diskpick(['info', '--json', img]).stdout.toString()) as { points: Array<{ kind: string; path?: string; of?: string; time: string }> };
    const pts = info.points.filter((x) => x.kind === 'btrfs');
    expect(pts.map((x) => [x.path, x.of]).sort()).toEqual(manifest.list.filter((s) => s.readOnly && s.parentUuid).map((s) => [`/p0/${s.path}`, s.path === '.snapshots/home-before' ? '/p0/home' : '/p0']).sort());
    expect(await sha256File(img)).toBe(before);
  }, 240_000);
});

describe('LVM snapshots as points', () => {
  it('a file of the origin LV as of its snapshot, as the tree it was made from', async () => {
    const E = cachedImage('lvm-e.img', (p) => void buildLvmImageE(p));
    const before = await sha256File(E);
    const v1 = join(`${E}.trees`, 'data.v1');
    const v2 = join(`${E}.trees`, 'data.v2');
    const r = diskpick(['versions', '--json', E, '/snapvg/data/hello.txt']);
    expect(r.status, r.stderr.toString()).toBe(0);
    const rows = rowsOf(r.stdout);
    expect(rows.map((x) => [x.point, x.path, x.exists]).sort()).toEqual([[E, '/snapvg/data/hello.txt', false], [`${E}:/snapvg/snap`, '/snapvg/snap/hello.txt', true]].sort());
    expect(rows.find((x) => x.exists)!.sha256).toBe(sha(readFileSync(join(v1, 'hello.txt'))));
    // The snapshot's time: the creation_time its builder wrote in the LVM metadata (scripts/images/lvm.ts).
    expect(rows.find((x) => x.exists)!.pointTime).toBe(new Date(1600000000 * 1000).toISOString().replace('.000Z', '.000000000Z'));
    const added = rowsOf(diskpick(['versions', '--json', E, '/snapvg/data/added.txt']).stdout);
    expect(added.find((x) => x.point === E)!.sha256).toBe(sha(readFileSync(join(v2, 'added.txt'))));
    expect(added.find((x) => x.point !== E)!.exists).toBe(false);
    const d = diskpick(['diff', '--json', `${E}:/snapvg/snap`, E, '/snapvg/data']);
    expect(d.status, d.stderr.toString()).toBe(0);
    const changes = d.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; change: string });
    expect(changes.filter((c) => c.change !== 'changed' || !c.path.endsWith('/')).map((c) => [c.path.replace(/^.*\//, ''), c.change]).filter(([n]) => n === 'hello.txt' || n === 'added.txt').sort()).toEqual([['added.txt', 'added'], ['hello.txt', 'removed']]);
    const info = JSON.parse(diskpick(['info', '--json', E]).stdout.toString()) as { points: Array<{ kind: string; path?: string; of?: string }> };
    expect(info.points.filter((x) => x.kind === 'lvm').map((x) => [x.path, x.of])).toEqual([['/snapvg/snap', '/snapvg/data']]);
    expect(await sha256File(E)).toBe(before);
  });

  it('a thin snapshot (a thin LV whose segment names its origin) is a point of its origin, as the trees it was made from', async () => {
    const F = cachedImage('lvm-f.img', (p) => void buildLvmImageF(p));
    const before = await sha256File(F);
    const v1 = join(`${F}.trees`, 'data.v1');
    const v2 = join(`${F}.trees`, 'data.v2');
    const r = diskpick(['versions', '--json', F, '/thinsnap/data/hello.txt']);
    expect(r.status, r.stderr.toString()).toBe(0);
    const rows = rowsOf(r.stdout);
    expect(rows.map((x) => [x.point, x.path, x.exists]).sort()).toEqual([[F, '/thinsnap/data/hello.txt', false], [`${F}:/thinsnap/snap`, '/thinsnap/snap/hello.txt', true]].sort());
    expect(rows.find((x) => x.exists)!.sha256).toBe(sha(readFileSync(join(v1, 'hello.txt'))));
    expect(rows.find((x) => x.exists)!.pointTime).toBe(new Date(1600000000 * 1000).toISOString().replace('.000Z', '.000000000Z'));
    const added = rowsOf(diskpick(['versions', '--json', F, '/thinsnap/data/added.txt']).stdout);
    expect(added.find((x) => x.point === F)!.sha256).toBe(sha(readFileSync(join(v2, 'added.txt'))));
    expect(added.find((x) => x.point !== F)!.exists).toBe(false);
    const info = JSON.parse(diskpick(['info', '--json', F]).stdout.toString()) as { points: Array<{ kind: string; path?: string; of?: string }> };
    expect(info.points.filter((x) => x.kind === 'lvm').map((x) => [x.path, x.of])).toEqual([['/thinsnap/snap', '/thinsnap/data']]);
    expect(await sha256File(F)).toBe(before);
  });
});
