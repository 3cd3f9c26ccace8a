/**
 * BitLocker To Go's volume header (issue #24, item 7: it showed as plain FAT32). No real To Go
 * image was found (docs/formats/bitlocker.md), so this is a synthetic one, said plainly: the
 * Windows-made aes_128 volume with sector 0 replaced by a FAT32 boot sector from mkfs.fat that
 * carries the BitLocker GUID and the three metadata offsets where To Go keeps them (424, 440…).
 * Sector 0 of the decrypted volume comes from the encrypted copy either way, so the decrypted
 * bytes must equal dislocker's for the original volume; and the volume must not show as FAT.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, copyFileSync, existsSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CACHE, diskpick, sha256 } from '../helpers/tools.js';
import { bdeDir as corpusDir } from './corpus.js';

const DIR = corpusDir();
const bdeDir = (): string => DIR!;


describe.runIf(DIR)('BitLocker To Go header (synthetic, see above)', () => {
  it('info says BitLocker To Go, not FAT32; with the password the volume decrypts as the original does', () => {
    const orig = join(bdeDir(), 'aes_128.bin');
    const img = join(CACHE, 'bde-togo-synthetic.bin');
    copyFileSync(orig, img);
    const fat = join(CACHE, 'bde-togo-fat.img');
    rmSync(fat, { force: true });
    execFileSync('truncate', ['-s', '64M', fat]);
    execFileSync('mkfs.fat', ['-F', '32', '-n', 'TOGO', fat], { stdio: 'pipe' });
    const s0 = Buffer.alloc(512);
    let fd = openSync(fat, 'r');
    readSync(fd, s0, 0, 512, 0);
    closeSync(fd);
    const o = Buffer.alloc(512);
    fd = openSync(orig, 'r');
    readSync(fd, o, 0, 512, 0);
    closeSync(fd);
    o.copy(s0, 424, 160, 200); // GUID and the three offsets
    fd = openSync(img, 'r+');
    writeSync(fd, s0, 0, 512, 0);
    closeSync(fd);

    const locked = diskpick(['info', img], { env: { DISKPICK_PASSPHRASE: '' } });
    expect(locked.status).toBe(0);
    expect(locked.stdout.toString()).toMatch(/p0 .*BitLocker To Go \(locked\)/);
    expect(locked.stdout.toString()).not.toMatch(/FAT32/);

    const env = { DISKPICK_PASSPHRASE: 'password12!@' };
    const ours = diskpick(['dd', '--volume', 'p0', '-q', '-o', '-', img], { env });
    const theirs = diskpick(['dd', '--volume', 'p0', '-q', '-o', '-', orig], { env });
    expect(ours.status, ours.stderr).toBe(0);
    expect(theirs.status).toBe(0);
    expect(ours.stdout.length).toBeGreaterThan(1 << 20);
    expect(sha256(ours.stdout)).toBe(sha256(theirs.stdout));
    expect(ours.stdout.toString('latin1', 3, 11)).toBe('NTFS    ');
  });
});
