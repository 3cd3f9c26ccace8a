/**
 * Bad inputs end with one line on stderr that names the file and the problem, a documented
 * exit code, and no stack trace. The damaged images are copies of generated ones.
 */
import { copyFileSync, writeFileSync, openSync, writeSync, closeSync, truncateSync, mkdtempSync, mkdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { CLI, diskpick, sha256, sha256File } from '../helpers/tools.js';
import { seededBytes } from '../../scripts/images/tree.js';
import { fatImages, manifests } from './images.js';

const work = mkdtempSync(join(tmpdir(), 'diskpick-errors-'));

function expectOneLineError(r: { status: number; stderr: string }, code: number, ...mustContain: string[]) {
  expect(r.status).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines.length).toBe(1);
  expect(lines[0]).toMatch(/^diskpick: /);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  for (const s of mustContain) expect(r.stderr).toContain(s);
}

function patch(path: string, offset: number, bytes: Buffer) {
  const fd = openSync(path, 'r+');
  writeSync(fd, bytes, 0, bytes.length, offset);
  closeSync(fd);
}

describe('one-line errors with documented exit codes', () => {
  let gpt: string;
  beforeAll(() => {
    gpt = fatImages.gpt();
  });

  it('missing file', () => {
    const p = join(work, 'nope.img');
    expectOneLineError(diskpick(['info', p]), 3, p, 'no such file');
  });

  it('not a disk image', () => {
    const p = join(work, 'random.bin');
    writeFileSync(p, seededBytes(3, 1 << 20));
    expectOneLineError(diskpick(['ls', p]), 3, p, 'not a disk image');
    const empty = join(work, 'empty.img');
    writeFileSync(empty, '');
    expectOneLineError(diskpick(['ls', empty]), 3, empty, 'empty');
  });

  it('dd still copies a disk that holds nothing diskpick can list', async () => {
    const p = join(work, 'random-disk.bin');
    writeFileSync(p, seededBytes(9, 3 << 20));
    const out = join(work, 'random-disk.out');
    const r = diskpick(['dd', '-q', p, '-o', out]);
    expect(r.status).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(p));
  });

  it('a folder given as image', () => {
    expectOneLineError(diskpick(['info', work]), 3, work, 'folder');
  });

  it('truncated image: reading past its end names the problem', () => {
    const p = join(work, 'truncated.img');
    copyFileSync(gpt, p);
    truncateSync(p, 20 << 20); // p1 is 1–41 MiB: its 20 MiB file lies past the cut
    const info = diskpick(['info', p]);
    expect(info.stdout.toString()).toMatch(/truncated/);
    expectOneLineError(diskpick(['cat', p, '/p1/big.bin']), 3, p, 'truncated');
  });

  it('corrupt partition table: both GPT copies damaged', () => {
    const p = join(work, 'nogpt.img');
    copyFileSync(gpt, p);
    patch(p, 512 + 16, Buffer.from([1, 2, 3, 4])); // primary header CRC
    const size = 100 << 20;
    patch(p, size - 512 + 16, Buffer.from([1, 2, 3, 4])); // backup header CRC
    expectOneLineError(diskpick(['ls', p]), 3, p, 'corrupt partition table');
  });

  it('damaged primary GPT falls back to the backup with a warning', () => {
    const p = join(work, 'backup-gpt.img');
    copyFileSync(gpt, p);
    patch(p, 1024, Buffer.alloc(512, 0xff)); // first sector of the primary entry array
    const r = diskpick(['info', '--json', p]);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout.toString());
    expect(info.partitionTable.details.header).toBe('backup');
    expect(info.partitionTable.warnings.join(' ')).toMatch(/primary GPT is damaged/);
    const m = manifests(gpt).p1!.find((e) => e.path === '/docs/report.docx')!;
    expect(sha256(diskpick(['cat', p, '/p1/docs/report.docx']).stdout)).toBe(m.sha256);
  });

  it('corrupt MBR entries', () => {
    const p = join(work, 'badmbr.img');
    copyFileSync(fatImages.mbr(), p);
    patch(p, 446, Buffer.from([0x33])); // boot indicator must be 0x00 or 0x80
    expectOneLineError(diskpick(['ls', p]), 3, p, 'corrupt partition table');
  });

  it('unknown filesystem on a volume', () => {
    const p = join(work, 'nofs.img');
    copyFileSync(gpt, p);
    patch(p, 41 << 20, Buffer.alloc(4096)); // p2's boot sector
    const r = diskpick(['ls', p, '/p2']);
    expectOneLineError(r, 3, 'unknown filesystem');
    expect(diskpick(['ls', p, '/p1']).status).toBe(0);
  });

  it('path not found, folder where a file is needed, and the reverse', () => {
    expectOneLineError(diskpick(['cat', gpt, '/p1/no/such/file']), 4, '/p1/no', 'no such file');
    expectOneLineError(diskpick(['cat', gpt, '/p1/docs']), 5, '/p1/docs', 'folder');
    expectOneLineError(diskpick(['cat', gpt, '/p9/x']), 4, '/p9');
    expectOneLineError(diskpick(['ls', gpt, '/p1/docs/report.docx/x']), 5, 'not a folder');
  });

  it('usage errors exit 2', () => {
    expectOneLineError(diskpick(['cat', gpt]), 2, 'missing required argument');
    // (-o defaults to the current folder, as 7zz x does: test/cli/extract-habits.test.ts.)
    expectOneLineError(diskpick(['extract', gpt]), 2, 'missing required argument');
    expectOneLineError(diskpick(['frobnicate']), 2);
  });

  it('cat into a closed pipe exits quietly', () => {
    const r = spawnSync('bash', ['-c', `set -o pipefail; node ${CLI} cat ${gpt} /p1/big.bin | head -c 100 > /dev/null`], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('--debug shows the stack', () => {
    const r = diskpick(['--debug', 'cat', gpt, '/p1/nope']);
    expect(r.status).toBe(4);
    expect(r.stderr).toMatch(/\n\s+at /);
  });

  it('leaves the images it read unchanged', async () => {
    const before = await sha256File(gpt);
    diskpick(['ls', '-R', gpt]);
    diskpick(['cat', gpt, '/p1/big.bin']);
    expect(await sha256File(gpt)).toBe(before);
  });

  it('a folder that contains its own parent (a loop) is skipped; listing ends', () => {
    const img = join(work, 'loop.img');
    copyFileSync(fatImages.floppy(), img);
    const raw = readFileSync(img);
    const entry = (shortName: string) => {
      const at = raw.indexOf(Buffer.from(shortName.padEnd(11, ' '), 'latin1'));
      expect(at).toBeGreaterThan(0);
      expect(raw[at + 11]! & 0x10).toBe(0x10);
      return at;
    };
    const deep = entry('DEEP');
    const a = entry('A');
    // deep/a now names deep's own first cluster.
    patch(img, a + 26, raw.subarray(deep + 26, deep + 28));
    const fsck = spawnSync('fsck.fat', ['-n', img], { encoding: 'utf8' });
    expect(fsck.status).not.toBe(0);
    const r = spawnSync(process.execPath, [CLI, 'ls', '-R', img], { encoding: 'utf8', timeout: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('/p0/deep');
    expect(r.stdout).not.toContain('/p0/deep/a');
    expect(r.stderr).toMatch(/^diskpick: warning: .*loop in the folder tree/);
    expectOneLineError(diskpick(['ls', img, '/p0/deep/a']), 3, 'folder loop');
    const out = mkdtempSync(join(tmpdir(), 'dp-loop-'));
    expect(diskpick(['extract', '-q', img, '/p0', '-o', out]).status).toBe(0);
  });

  it('split raw images read as one disk', async () => {
    const floppy = fatImages.floppy();
    const dir = join(work, 'split');
    mkdirSync(dir, { recursive: true });
    spawnSync('split', ['-b', '500000', '-d', '-a', '3', floppy, join(dir, 'floppy.img.')]);
    const m = manifests(floppy).p0!;
    const r = diskpick(['info', '--json', join(dir, 'floppy.img.000')]);
    expect(r.status).toBe(0);
    const info = JSON.parse(r.stdout.toString());
    expect(info.container.variant).toBe('split raw');
    expect(info.container.virtualSize).toBe(1474560);
    for (const e of m.filter((x) => x.type === 'file')) {
      expect(sha256(diskpick(['cat', join(dir, 'floppy.img.000'), `/p0${e.path}`]).stdout)).toBe(e.sha256);
    }
    // Numbered from 001 works too.
    const dir1 = join(work, 'split1');
    mkdirSync(dir1, { recursive: true });
    spawnSync('split', ['-b', '500000', '-d', '-a', '3', '--numeric-suffixes=1', floppy, join(dir1, 'f.')]);
    expect(diskpick(['ls', join(dir1, 'f.001'), '/p0']).status).toBe(0);
  });
});
