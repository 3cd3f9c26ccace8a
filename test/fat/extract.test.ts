/**
 * extract: folders and files restored with content and mtime as the manifest says; never
 * writing outside -o, even for hostile names; existing files only replaced with --force.
 */
import { copyFileSync, existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, openSync, writeSync, closeSync, writeFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, beforeAll } from 'vitest';
import { diskpick, sha256, tool } from '../helpers/tools.js';
import { fatImages, manifests } from './images.js';

describe('extract', () => {
  let gpt: string;
  beforeAll(() => {
    gpt = fatImages.gpt();
  });

  it('restores a folder tree with content and mtimes', () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-x-'));
    const r = diskpick(['extract', gpt, '/p2/deep', '/p2/docs', '/p2/gaps', '-o', out]);
    expect(r.status).toBe(0);
    const m = manifests(gpt).p2!;
    for (const e of m.filter((x) => x.type === 'file' && /^\/(deep|docs|gaps)\//.test(x.path))) {
      const p = join(out, e.path);
      expect(sha256(readFileSync(p)), e.path).toBe(e.sha256);
      expect(Math.abs(lstatSync(p).mtimeMs / 1000 - e.mtime)).toBeLessThan(2);
    }
  });

  it('restores a single file into the folder and refuses to overwrite without --force', () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-x-'));
    const want = manifests(gpt).p1!.find((e) => e.path === '/big.bin')!;
    expect(diskpick(['extract', '-q', gpt, '/p1/big.bin', '-o', out]).status).toBe(0);
    expect(sha256(readFileSync(join(out, 'big.bin')))).toBe(want.sha256);
    writeFileSync(join(out, 'big.bin'), 'changed');
    const again = diskpick(['extract', gpt, '/p1/big.bin', '-o', out]);
    expect(again.status).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);
    expect(readFileSync(join(out, 'big.bin'), 'utf8')).toBe('changed');
    // --skip-existing skips only a file that can be the complete one (its size is the image's):
    // this one is not, so it is named and left as it is.
    const skip = diskpick(['extract', '--skip-existing', gpt, '/p1/big.bin', '-o', out]);
    expect(skip.status).not.toBe(0);
    expect(skip.stderr).toMatch(/exists with 7 bytes/);
    expect(readFileSync(join(out, 'big.bin'), 'utf8')).toBe('changed');
    expect(diskpick(['extract', '--force', gpt, '/p1/big.bin', '-o', out]).status).toBe(0);
    expect(sha256(readFileSync(join(out, 'big.bin')))).toBe(want.sha256);
  });

  it('never follows a symlink already in the target folder', () => {
    const out = mkdtempSync(join(tmpdir(), 'dp-x-'));
    const victim = mkdtempSync(join(tmpdir(), 'dp-victim-'));
    symlinkSync(victim, join(out, 'docs'));
    const r = diskpick(['extract', gpt, '/p1/docs', '-o', out]);
    expect(r.status).not.toBe(0);
    expect(readdirSync(victim)).toEqual([]);
    symlinkSync(join(victim, 'x'), join(out, 'empty.txt'));
    diskpick(['extract', '--force', gpt, '/p1/empty.txt', '-o', out]);
    expect(existsSync(join(victim, 'x'))).toBe(false);
  });

  it('dry run writes nothing', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'dp-x-')), 'sub');
    const r = diskpick(['extract', '--dry-run', gpt, '/p1/docs', '-o', out]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/would write file\s+.*report\.docx/);
    expect(existsSync(out)).toBe(false);
  });

  it('hostile names (/, .., control characters in long names) stay inside -o and are reported', () => {
    const src = fatImages.floppy();
    const img = join(mkdtempSync(join(tmpdir(), 'dp-h-')), 'hostile.img');
    copyFileSync(src, img);
    // Rewrite the long-name entries of two files with hostile names; the short-name checksum
    // they carry still matches, so every FAT reader shows the hostile long name.
    const raw = readFileSync(img);
    const rewrite = (longName: string, hostile: string) => {
      const needle = Buffer.from(longName.slice(0, 5), 'utf16le');
      const at = raw.indexOf(needle);
      expect(at).toBeGreaterThan(0);
      const entry = at - 1; // LFN entry: ord byte, then 5 UTF-16 chars
      const units = Buffer.alloc(26, 0xff);
      Buffer.from(hostile + '\0', 'utf16le').copy(units);
      const fd = openSync(img, 'r+');
      writeSync(fd, units, 0, 10, entry + 1);
      writeSync(fd, units, 10, 12, entry + 14);
      writeSync(fd, units, 22, 4, entry + 28);
      closeSync(fd);
    };
    rewrite('MixedCase.Txt', '../../x\x01y');
    rewrite('odd size.bin', '..');
    const names = diskpick(['ls', '--json', img, '/p0']).stdout.toString().trim().split('\n').map((l) => JSON.parse(l).name as string);
    // TSK sees the same hostile names: the image really holds them.
    const fls = tool('fls', [img]);
    expect(names).toContain('../../x\x01y');
    expect(fls).toContain('../../x');
    const outParent = mkdtempSync(join(tmpdir(), 'dp-o-'));
    const out = join(outParent, 'out');
    const r = diskpick(['extract', img, '/p0', '-o', out]);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/renamed/);
    expect(readdirSync(outParent)).toEqual(['out']);
    const restored = readdirSync(join(out, 'p0'));
    expect(restored).toContain('.._.._x_y');
    expect(restored).toContain('_..');
  });
});
