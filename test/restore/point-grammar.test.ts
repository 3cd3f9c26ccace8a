/**
 * The point suffix on image arguments (src/container/point.ts): `IMAGE@level:N` against
 * `qemu-img convert` of the file at that level (QCOW2 overlays, VMDK redo logs) or the builder's
 * manifest of what each level holds (VHD/VHDX differencing, which qemu-img does not read), and
 * `IMAGE@snap:NAME` against `qemu-img convert -l snapshot.name=`. Files are checked against the
 * manifest of the state each level and snapshot was made from (scripts/images/points.ts).
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CACHE, cachedImage, diskpick, sha256File, tool } from '../helpers/tools.js';
import { buildPointsSet, states } from '../../scripts/images/points.js';
import { buildChain } from '../../scripts/images/vmdk.js';
import { buildVhdSet } from '../../scripts/images/vhd.js';
import { buildVhdxSet } from '../../scripts/images/vhdx.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const dir = cachedImage('points-set', (d) => void buildPointsSet(d));
const p = (n: string) => join(dir, n);
const levels = [p('base.qcow2'), p('mid.qcow2'), p('top.qcow2')];

let work: string;
const before = new Map<string, string>();
const watched = [...levels, p('snaps.qcow2'), p('odd@vss:1')];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'dp-pointarg-'));
  for (const f of watched) before.set(f, await sha256File(f));
});
afterAll(async () => {
  for (const f of watched) expect(await sha256File(f), f).toBe(before.get(f));
  rmSync(work, { recursive: true, force: true });
});

/** diskpick dd of a point, as bytes. */
function ddOf(arg: string): Buffer {
  const out = join(work, `dd-${Math.random().toString(36).slice(2)}.raw`);
  const r = diskpick(['dd', '-q', arg, '-o', out]);
  expect(r.status, r.stderr.toString()).toBe(0);
  const b = readFileSync(out);
  rmSync(out);
  return b;
}

/** qemu-img's raw conversion, as bytes. */
function qemuRaw(args: string[]): Buffer {
  const out = join(work, `q-${Math.random().toString(36).slice(2)}.raw`);
  tool('qemu-img', ['convert', ...args, '-O', 'raw', out]);
  const b = readFileSync(out);
  rmSync(out);
  return b;
}

/** The files of the point `arg` (one `ls -R --hash` call) equal those of state k, no more, no less. */
function expectState(arg: string, k: number): void {
  const r = diskpick(['ls', '-R', '--json', '--hash', 'sha256', arg, '/p0']);
  expect(r.status, `${arg}: ${r.stderr}`).toBe(0);
  const got = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; type: string; sha256?: string })
    .filter((e) => e.type === 'file' && !e.path.startsWith('/p0/lost+found')).map((e) => [e.path.slice(4), e.sha256]).sort();
  expect(got, arg).toEqual(Object.entries(states[k]!).map(([n, d]) => [n, sha(d)]).sort());
}

const rowsOf = (out: Buffer) => out.toString().trim().split('\n').map((l) => JSON.parse(l) as { point: string; sha256: string | null; exists: boolean });

describe('IMAGE@level:N', () => {
  it('a QCOW2 chain as of each level: the disk as qemu-img converts that level\'s file, files as written', () => {
    for (let n = 1; n <= 3; n++) {
      const arg = `${levels[2]}@level:${n}`;
      expect(sha(ddOf(arg)), arg).toBe(sha(qemuRaw(['-f', 'qcow2', levels[n - 1]!])));
      expectState(arg, n - 1);
    }
    // ls, find, extract and info take the same argument.
    const ls = diskpick(['ls', `${levels[2]}@level:1`, '/p0']);
    expect(ls.stdout.toString().split('\n')).toContain('old.txt');
    const find = diskpick(['find', `${levels[2]}@level:2`, '/p0', '--name', 'new.txt']);
    expect(find.stdout.toString().trim()).toBe('/p0/new.txt');
    const out = join(work, 'x');
    const ex = diskpick(['extract', `${levels[2]}@level:1`, '/p0/report.txt', '-o', out]);
    expect(ex.status, ex.stderr.toString()).toBe(0);
    expect(sha(readFileSync(join(out, 'report.txt')))).toBe(sha(states[0]!['report.txt']!));
  });

  it('levels out of range and malformed numbers are one-line errors', () => {
    const r = diskpick(['ls', `${levels[2]}@level:4`]);
    expect(r.status).toBe(4);
    expect(r.stderr.toString()).toMatch(/no level 4: the chain has 3 levels/);
    expect(r.stderr.toString().trim().split('\n')).toHaveLength(1);
    const z = diskpick(['ls', `${levels[2]}@level:0`]);
    expect(z.status).toBe(2);
    expect(z.stderr.toString().trim().split('\n')).toHaveLength(1);
  });

  it('a VMDK -00000N redo-log chain: each level equals qemu-img convert of that level\'s descriptor', () => {
    const top = buildChain(join(CACHE, 'vmdk-chain'));
    const files = [join(CACHE, 'vmdk-chain', 'base.vmdk'), join(CACHE, 'vmdk-chain', 'base-000001.vmdk'), top];
    for (let n = 1; n <= 3; n++) expect(sha(ddOf(`${top}@level:${n}`)), `level ${n}`).toBe(sha(qemuRaw(['-f', 'vmdk', files[n - 1]!])));
  });

  it('VHD and VHDX differencing chains: each level equals what the builder wrote there', () => {
    const vhd = cachedImage('container-vhd-set', (d) => void buildVhdSet(d));
    const top = join(vhd, 'diff-level3.vhd');
    expect(sha(ddOf(`${top}@level:1`))).toBe(sha(qemuRaw(['-f', 'vpc', join(vhd, 'parent.vhd')])));
    expect(sha(ddOf(`${top}@level:2`))).toBe(sha(readFileSync(join(vhd, 'diff-w2ru.vhd.expected'))));
    expect(sha(ddOf(`${top}@level:3`))).toBe(sha(readFileSync(join(vhd, 'diff-level3.vhd.expected'))));
    const vhdx = cachedImage('container-vhdx-set', (d) => void buildVhdxSet(d));
    expect(sha(ddOf(`${join(vhdx, 'diff.vhdx')}@level:1`))).toBe(sha(qemuRaw(['-f', 'vhdx', join(vhdx, 'parent.vhdx')])));
    expect(sha(ddOf(`${join(vhdx, 'diff.vhdx')}@level:2`))).toBe(sha(readFileSync(join(vhdx, 'diff.vhdx.expected'))));
  });
});

describe('IMAGE@snap:NAME', () => {
  it('each internal snapshot (by name and by id) equals qemu-img convert -l snapshot.name=, files as written', () => {
    const img = p('snaps.qcow2');
    for (const [name, id, k] of [['first', '1', 0], ['second', '2', 1]] as const) {
      const want = sha(qemuRaw(['-f', 'qcow2', '-l', `snapshot.name=${name}`, img]));
      expect(sha(ddOf(`${img}@snap:${name}`)), name).toBe(want);
      expect(sha(ddOf(`${img}@snap:${id}`)), `id ${id}`).toBe(want);
      expectState(`${img}@snap:${name}`, k);
    }
    expect(sha(ddOf(img))).toBe(sha(qemuRaw(['-f', 'qcow2', img])));
    expectState(img, 2);
    const none = diskpick(['ls', `${img}@snap:third`]);
    expect(none.status).toBe(4);
    expect(none.stderr.toString()).toContain('no internal snapshot named third: it has first (id 1), second (id 2)');
    const notQcow = diskpick(['ls', `${p('state1.raw')}@snap:first`]);
    expect(notQcow.status).toBe(6);
    expect(notQcow.stderr.toString().trim().split('\n')).toHaveLength(1);
  });
});

describe('grammar: precedence and escape', () => {
  it('an existing file whose name holds a suffix opens as that file; @@ forces a point', () => {
    const odd = diskpick(['cat', p('odd@vss:1'), '/p0/old.txt']);
    expect(odd.status, odd.stderr.toString()).toBe(0);
    expect(odd.stdout.toString()).toBe('old\n');
    // `X@@level:1` is level 1 of X even though nothing else is special about it.
    const forced = diskpick(['cat', `${levels[2]}@@level:1`, '/p0/report.txt']);
    expect(forced.status, forced.stderr.toString()).toBe(0);
    expect(sha(forced.stdout)).toBe(sha(states[0]!['report.txt']!));
  });
});

describe('info and versions list the points', () => {
  it('info names every level with its file and every internal snapshot with its qemu-img facts', () => {
    const r = diskpick(['info', '--json', levels[2]!]);
    expect(r.status, r.stderr.toString()).toBe(0);
    const pts = (JSON.parse(r.stdout.toString()) as { points: Array<{ kind: string; point: string; file?: string; level?: number; time: string }> }).points;
    expect(pts.map((x) => [x.kind, x.point, x.file])).toEqual([
      ['level', `${levels[2]}@level:1`, levels[0]],
      ['level', `${levels[2]}@level:2`, levels[1]],
      ['image', levels[2], levels[2]],
    ]);
    const s = diskpick(['info', '--json', p('snaps.qcow2')]);
    const snaps = (JSON.parse(s.stdout.toString()) as { points: Array<{ kind: string; name?: string; id?: string; time: string; vmClockNs?: number; size?: number }> }).points.filter((x) => x.kind === 'snap');
    // qemu-img's own table: id, tag, date (to the second), vm clock.
    const q = JSON.parse(tool('qemu-img', ['info', '--output=json', p('snaps.qcow2')])) as { snapshots: Array<{ id: string; name: string; 'date-sec': number; 'date-nsec': number; 'vm-clock-nsec': number; 'vm-clock-sec': number }> };
    expect(snaps.map((x) => [x.id, x.name, Date.parse(x.time) / 1000 | 0, x.vmClockNs])).toEqual(q.snapshots.map((x) => [x.id, x.name, x['date-sec'], x['vm-clock-sec'] * 1e9 + x['vm-clock-nsec']]));
    const text = diskpick(['info', p('snaps.qcow2')]).stdout.toString();
    expect(text).toMatch(/^points:$/m);
    expect(text).toContain('@snap:first');
  });

  it('versions: the levels and internal snapshots are points of their own, the base once however many overlays share it', () => {
    const r = diskpick(['versions', '--json', levels[2]!, levels[1]!, p('snaps.qcow2'), '/p0/report.txt']);
    expect(r.status, r.stderr.toString()).toBe(0);
    const rows = r.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { point: string; sha256: string | null; exists: boolean });
    const byPoint = new Map(rows.map((x) => [x.point, x]));
    // mid.qcow2 was given itself: it is not listed again as top's level 2; base once.
    expect([...byPoint.keys()].sort()).toEqual([levels[2], levels[1], `${levels[2]}@level:1`, p('snaps.qcow2'), `${p('snaps.qcow2')}@snap:first`, `${p('snaps.qcow2')}@snap:second`].sort());
    expect(byPoint.get(`${levels[2]}@level:1`)!.sha256).toBe(sha(states[0]!['report.txt']!));
    expect(byPoint.get(levels[1])!.sha256).toBe(sha(states[1]!['report.txt']!));
    expect(byPoint.get(levels[2])!.sha256).toBe(sha(states[2]!['report.txt']!));
    expect(byPoint.get(`${p('snaps.qcow2')}@snap:first`)!.sha256).toBe(sha(states[0]!['report.txt']!));
    expect(byPoint.get(`${p('snaps.qcow2')}@snap:second`)!.sha256).toBe(sha(states[1]!['report.txt']!));
    const gone = diskpick(['versions', '--json', levels[2]!, '/p0/old.txt']);
    const g = gone.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { point: string; exists: boolean });
    expect(g.map((x) => [x.point, x.exists])).toEqual([[`${levels[2]}@level:1`, true], [`${levels[2]}@level:2`, false], [levels[2], false]].filter((x) => g.some((y) => y.point === x[0])));
    expect(g).toHaveLength(3);
    // A point given as an argument and found again inside its image is one row.
    const twice = rowsOf(diskpick(['versions', '--json', `${levels[2]}@level:1`, levels[2]!, '/p0/report.txt']).stdout);
    expect(twice.map((x) => x.point).sort()).toEqual([`${levels[2]}@level:1`, `${levels[2]}@level:2`, levels[2]].sort());
    // diff between two levels of one chain.
    const d = diskpick(['diff', '--json', `${levels[2]}@level:1`, `${levels[2]}@level:2`, '/p0']);
    const changes = new Map(d.stdout.toString().trim().split('\n').map((l) => JSON.parse(l) as { path: string; change: string }).map((c) => [c.path, c.change]));
    expect(changes.get('/p0/old.txt')).toBe('removed');
    expect(changes.get('/p0/new.txt')).toBe('added');
    expect(changes.get('/p0/report.txt')).toBe('changed');
    expect(changes.has('/p0/keep.bin')).toBe(false);
  });
});
