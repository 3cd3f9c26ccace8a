/**
 * Hostile LUKS headers: a small cryptsetup-made LUKS2 (and LUKS1) volume with its metadata
 * rewritten (checksums made valid again, so the content itself must be refused): absurd
 * costs, sizes, nesting and offsets each give one line, a documented exit code, no hang and no
 * big allocation; the image is never changed.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, openSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildSmallLuks, rewriteLuks2Json } from '../../scripts/images/luks.js';
import { CACHE, diskpick, sha256File } from '../helpers/tools.js';

const PASS = 'hostile-test';
const env = { DISKPICK_PASSPHRASE: PASS };
let base2: string;
let base1: string;

beforeAll(() => {
  base2 = join(CACHE, 'luks2-small.img');
  if (!existsSync(base2)) buildSmallLuks(base2, 2, PASS);
  base1 = join(CACHE, 'luks1-small.img');
  if (!existsSync(base1)) buildSmallLuks(base1, 1, PASS);
});

type J = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function variant(name: string, from: string, edit: (path: string) => void): string {
  const p = join(CACHE, `luks-hostile-${name}.img`);
  copyFileSync(from, p);
  edit(p);
  return p;
}

async function expectOneLine(img: string, args: string[], status: number, message: RegExp): Promise<void> {
  const before = await sha256File(img);
  const r = diskpick([...args, img, ...(args[0] === 'ls' ? ['/p0'] : [])], { env });
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toContain(PASS);
  expect(r.status).toBe(status);
  expect(r.stdout.length).toBe(0);
  expect(await sha256File(img)).toBe(before);
}

describe('the seeds themselves', () => {
  it('open with the passphrase (LUKS1 and LUKS2)', () => {
    for (const img of [base1, base2]) {
      const r = diskpick(['cat', img, '/p0/readme.txt'], { env });
      expect(r.stderr).toBe('');
      expect(r.stdout.toString()).toBe('an encrypted volume\n');
    }
  });
});

describe('hostile LUKS2 metadata', () => {
  it('Argon2 memory of 4 TiB: refused before any work, naming the cap (exit 6)', async () => {
    const img = variant('argon-4tib', base2, (p) => rewriteLuks2Json(p, (j: J) => {
      j.keyslots['0'].kdf = { type: 'argon2id', time: 4, memory: 4 * 1024 ** 3, cpus: 1, salt: j.keyslots['0'].kdf.salt };
      return j;
    }));
    await expectOneLine(img, ['ls'], 6, /keyslot 0: Argon2 memory cost of 4 TiB exceeds diskpick's limit of 1\.0 GiB/);
  });

  it('Argon2 with 2^32 passes over 1 GiB: refused (exit 6)', async () => {
    const img = variant('argon-passes', base2, (p) => rewriteLuks2Json(p, (j: J) => {
      j.keyslots['0'].kdf = { type: 'argon2i', time: 0xffffffff, memory: 1024 * 1024, cpus: 4, salt: j.keyslots['0'].kdf.salt };
      return j;
    }));
    await expectOneLine(img, ['ls'], 6, /Argon2 cost .* exceeds diskpick's limit/);
  });

  it('PBKDF2 with 2^32-1 iterations: refused (exit 6)', async () => {
    const img = variant('pbkdf2-iter', base2, (p) => rewriteLuks2Json(p, (j: J) => {
      j.keyslots['0'].kdf.iterations = 0xffffffff;
      return j;
    }));
    await expectOneLine(img, ['ls'], 6, /PBKDF2 with 4294967295 iterations exceeds diskpick's limit/);
  });

  it('JSON nested 6000 deep: one line (exit 3)', async () => {
    const img = variant('nesting', base2, (p) => rewriteLuks2Json(p, () => '['.repeat(6000) + ']'.repeat(6000)));
    await expectOneLine(img, ['ls'], 3, /LUKS2 metadata: the JSON area is not an object/);
    // info describes what it can (exit 0) and names the problem on the volume's row.
    const info = diskpick(['info', img], { env });
    expect(info.status).toBe(0);
    expect(info.stdout.toString()).toMatch(/LUKS2 metadata: the JSON area is not an object/);
  });

  it('JSON whose size field disagrees with the header: one line (exit 3)', async () => {
    const img = variant('json-size', base2, (p) => rewriteLuks2Json(p, (j: J) => {
      j.config.json_size = '999999999999999';
      return j;
    }));
    await expectOneLine(img, ['ls'], 3, /config\.json_size 999999999999999 does not match/);
  });

  it('an absurd hdr_size in both binary headers: no usable copy (exit 3)', async () => {
    const img = variant('hdr-size', base2, (p) => {
      const fd = openSync(p, 'r+');
      const big = Buffer.alloc(8);
      big.writeBigUInt64BE(1n << 40n);
      writeSync(fd, big, 0, 8, 8);
      writeSync(fd, big, 0, 8, 16384 + 8);
      closeSync(fd);
    });
    await expectOneLine(img, ['ls'], 3, /no usable metadata copy \(primary: invalid hdr_size 1099511627776/);
  });

  it('a keyslot area past the end of the image: one line (exit 3)', async () => {
    const img = variant('area-past-end', base2, (p) => rewriteLuks2Json(p, (j: J) => {
      j.keyslots['0'].area.offset = '1099511627776';
      return j;
    }));
    await expectOneLine(img, ['ls'], 3, /truncated: LUKS keyslot 0 area ends at 1099511\d+, past the end/);
  });

  it('a data segment past the end: one line (exit 3)', async () => {
    const img = variant('segment-past-end', base2, (p) => rewriteLuks2Json(p, (j: J) => {
      j.segments['0'].offset = '1099511627776';
      return j;
    }));
    await expectOneLine(img, ['ls'], 3, /LUKS data segment 0 starts at 1099511627776, past the end/);
  });

  it('1000 keyslots: refused (exit 3)', async () => {
    const img = variant('many-slots', base2, (p) => rewriteLuks2Json(p, (j: J) => {
      const slots: J = {};
      for (let i = 0; i < 1000; i++) slots[String(i)] = {};
      j.keyslots = slots;
      return JSON.stringify(j).slice(0, 12000).length < 12000 ? j : { ...j, keyslots: Object.fromEntries(Object.keys(slots).slice(0, 100).map((k) => [k, {}])) };
    }));
    await expectOneLine(img, ['ls'], 3, /\d+ keyslots, at most 32 allowed/);
  });

  it('a damaged primary copy: the secondary is used, with a warning in info', () => {
    const img = variant('primary-bad', base2, (p) => {
      const fd = openSync(p, 'r+');
      writeSync(fd, Buffer.from('X'), 0, 1, 4096 + 10);
      closeSync(fd);
    });
    const r = diskpick(['info', img], { env });
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/warning: +p0: the primary metadata copy is unusable \(checksum mismatch\); the secondary is used/);
    const c = diskpick(['cat', img, '/p0/readme.txt'], { env });
    expect(c.stdout.toString()).toBe('an encrypted volume\n');
  });
});

describe('tokens', () => {
  it('a systemd-tpm2 token (added by cryptsetup token import) is named in info, not used; the passphrase still opens', () => {
    const img = variant('token', base2, (p) => {
      const json = join(CACHE, 'luks-token.json');
      writeFileSync(json, JSON.stringify({ type: 'systemd-tpm2', keyslots: ['0'], 'tpm2-blob': 'AAAA', 'tpm2-pcrs': [7], 'tpm2-pcr-bank': 'sha256', 'tpm2-primary-alg': 'ecc', 'tpm2-policy-hash': '00' }));
      execFileSync('cryptsetup', ['token', 'import', '--json-file', json, p]);
    });
    expect(execFileSync('cryptsetup', ['luksDump', img], { encoding: 'utf8' })).toMatch(/Tokens:\n  0: systemd-tpm2/);
    const r = diskpick(['info', img], { env });
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/encrypted: +p0: LUKS2 .*keyslots 0 \(pbkdf2\); tokens 0 \(systemd-tpm2\), not used; opened with a passphrase/);
  });
});

describe('hostile LUKS1 headers', () => {
  it('a keyslot with 2^32-1 stripes: one line (exit 3)', async () => {
    const img = variant('luks1-stripes', base1, (p) => {
      const fd = openSync(p, 'r+');
      const b = Buffer.alloc(4);
      b.writeUInt32BE(0xffffffff);
      writeSync(fd, b, 0, 4, 208 + 44);
      closeSync(fd);
    });
    await expectOneLine(img, ['ls'], 3, /LUKS keyslot 0: its area .* is invalid|do not fit/);
  });

  it('a key size of 1000 bytes: one line (exit 3)', async () => {
    const img = variant('luks1-keybytes', base1, (p) => {
      const fd = openSync(p, 'r+');
      const b = Buffer.alloc(4);
      b.writeUInt32BE(1000);
      writeSync(fd, b, 0, 4, 108);
      closeSync(fd);
    });
    await expectOneLine(img, ['ls'], 3, /LUKS1 header: key size of 1000 bytes is not a valid one/);
  });
});
