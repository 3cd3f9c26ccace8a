/**
 * Never a file that looks restored but is not (issue 20): real processes are killed with each
 * signal in the middle of a 1 GiB file, and no final name may then hold a cut file. Oracle: the
 * builder's manifest (size, sha256, mtime) of the file, and the folder's listing.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constants } from 'node:os';
import { buildFatWithLargeFile } from '../../scripts/images/fat.js';
import { CLI, cachedImage, diskpick, sha256File, type ManifestEntry } from '../helpers/tools.js';

const img = cachedImage('fat-1g.img', (p) => buildFatWithLargeFile(p, 1 << 30));
const big = (JSON.parse(readFileSync(`${img}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>).p0!.find((e) => e.path === '/big.bin')!;
const PART = '.big.bin.diskpick-part';
const dirs: string[] = [];
const tmp = (tag: string) => {
  const d = mkdtempSync(join(tmpdir(), `dp-${tag}-`));
  dirs.push(d);
  return d;
};
let imageSha = '';
beforeAll(async () => {
  imageSha = await sha256File(img);
});
afterAll(async () => {
  expect(await sha256File(img)).toBe(imageSha);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Starts `diskpick ARGS`, waits until `partPath` holds data, sends `sig`, returns how it ended. */
async function interrupt(args: string[], partPath: string, sig: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; stdout: string; partSize: number }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  let partSize = 0;
  for (let i = 0; i < 800; i++) {
    partSize = existsSync(partPath) ? statSync(partPath).size : 0;
    if (partSize > 32 << 20) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(partSize, `${partPath} never grew; stderr: ${stderr}`).toBeGreaterThan(0);
  child.kill(sig);
  const end = await exited;
  return { ...end, stderr, stdout, partSize };
}

const exitOf = (sig: NodeJS.Signals) => 128 + constants.signals[sig];

describe('extract interrupted by a signal', () => {
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGPIPE'] as NodeJS.Signals[]) {
    it(`${sig}: the partial file is removed, said in one line, exit ${exitOf(sig)}`, async () => {
      const out = tmp('sig');
      const r = await interrupt(['extract', '-q', img, '/p0/big.bin', '-o', out], join(out, PART), sig);
      expect(r.signal, r.stderr).toBeNull();
      expect(r.code, r.stderr).toBe(exitOf(sig));
      // While it ran the file existed only under its temporary name; now nothing is left.
      expect(readdirSync(out)).toEqual([]);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`^diskpick: ${sig}: stopped; removed the partial file .*\\.big\\.bin\\.diskpick-part \\(.+ of /p0/big\\.bin\\)$`));
    });
  }

  it('the cancel summary counts no byte of the removed partial file (--json)', async () => {
    const out = tmp('sum');
    mkdirSync(join(out, 'sub'));
    const r = await interrupt(['extract', '--json', img, '/p0/big.bin', '-o', out], join(out, PART), 'SIGTERM');
    expect(r.code).toBe(exitOf('SIGTERM'));
    const s = JSON.parse(r.stdout) as { bytes: number; cancelled: boolean; written: unknown[]; removed: { source: string; target: string; bytes: number }[] };
    expect(s.cancelled).toBe(true);
    expect(s.written).toEqual([]);
    expect(s.bytes).toBe(0);
    expect(s.removed).toHaveLength(1);
    expect(s.removed[0]!.source).toBe('/p0/big.bin');
    expect(s.removed[0]!.bytes).toBeGreaterThan(0);
    expect(readdirSync(out)).toEqual(['sub']);
  });

  it('SIGKILL leaves only the temporary name; a rerun with --skip-existing removes it and restores the whole file', async () => {
    const out = tmp('kill');
    const r = await interrupt(['extract', '-q', img, '/p0/big.bin', '-o', out], join(out, PART), 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    expect(readdirSync(out)).toEqual([PART]);
    const again = diskpick(['extract', img, '/p0/big.bin', '-o', out, '--skip-existing']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/^extracted 1 file \(1\.00 GiB\), 0 folders → /);
    expect(readdirSync(out)).toEqual(['big.bin']);
    const st = statSync(join(out, 'big.bin'));
    expect(st.size).toBe(big.size);
    expect(Math.floor(st.mtimeMs / 1000)).toBe(big.mtime);
    expect(await sha256File(join(out, 'big.bin'))).toBe(big.sha256);
    // Complete now: a further --skip-existing skips it.
    const third = diskpick(['extract', img, '/p0/big.bin', '-o', out, '--skip-existing']);
    expect(third.status).toBe(0);
    expect(third.stderr).toMatch(/1 skipped/);
  });

  it('--skip-existing does not keep a cut-short file under the real name (left by an older version or another tool)', () => {
    const out = tmp('cut');
    writeFileSync(join(out, 'big.bin'), Buffer.alloc(1_045_430, 7));
    const r = diskpick(['extract', img, '/p0/big.bin', '-o', out, '--skip-existing']);
    // Nothing else was asked for, so the run failed as a whole: exit 7 (output), one line.
    expect(r.status).toBe(7);
    expect(r.stderr.trim().split('\n')).toHaveLength(2);
    expect(r.stderr).toContain(`big.bin: exists with 1045430 bytes, the image's file has ${big.size}`);
    expect(statSync(join(out, 'big.bin')).size).toBe(1_045_430);
  });
});

describe('dd -o FILE interrupted', () => {
  for (const sig of ['SIGTERM', 'SIGHUP'] as NodeJS.Signals[]) {
    it(`${sig}: no partial image is left, one line says so`, async () => {
      const out = tmp('dd');
      const r = await interrupt(['dd', '-q', img, '-o', join(out, 'disk.raw')], join(out, '.disk.raw.diskpick-part'), sig);
      expect(r.code, r.stderr).toBe(exitOf(sig));
      expect(readdirSync(out)).toEqual([]);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(new RegExp(`^diskpick: ${sig}: stopped; removed the partial file .*\\.disk\\.raw\\.diskpick-part`));
    });
  }

  it('SIGKILL leaves only the temporary name; a rerun writes the whole image and leaves no temporary file', async () => {
    const out = tmp('ddkill');
    const r = await interrupt(['dd', '-q', img, '-o', join(out, 'disk.raw')], join(out, '.disk.raw.diskpick-part'), 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    expect(readdirSync(out)).toEqual(['.disk.raw.diskpick-part']);
    const again = diskpick(['dd', '-q', img, '-o', join(out, 'disk.raw')]);
    expect(again.status, again.stderr).toBe(0);
    expect(readdirSync(out)).toEqual(['disk.raw']);
    // A raw image: the dd output is the image itself, byte for byte, and the image is unchanged.
    expect(await sha256File(join(out, 'disk.raw'))).toBe(imageSha);
  });
});
