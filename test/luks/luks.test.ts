/**
 * LUKS1/LUKS2 volumes written by cryptsetup itself (scripts/images/luks.ts): every file of the
 * tree read through diskpick against the host tree it was made from; keyslots checked against
 * cryptsetup's own keyslot check (`cryptsetup open --test-passphrase`) and header facts against
 * `cryptsetup luksDump`; the volume key cryptsetup dumps opens the volume too.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LUKS_KEYFILE, LUKS_PASSPHRASE, LUKS_SECOND_PASSPHRASE, LUKS_VARIANTS, buildLuksImage, luksPaths, luksVolumeKey } from '../../scripts/images/luks.js';
import { manifestOf } from '../../scripts/images/tree.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { noKeys } from '../../src/volume/crypt/keys.js';
import { openHostFile } from '../../src/source/index.js';
import { describeLuks, openLuks } from '../../src/volume/luks/luks.js';
import { openFilesystem } from '../../src/fs/detect.js';
import { CACHE, diskpick, sha256, sha256File } from '../helpers/tools.js';

/** cryptsetup's own keyslot check: exit 0 when the secret opens a keyslot. */
function cryptsetupAccepts(image: string, header: string | null, secret: Buffer | string): boolean {
  const r = spawnSync('cryptsetup', ['open', '--test-passphrase', '--batch-mode', '--key-file', '-', ...(header ? ['--header', header] : []), image], { input: secret });
  return r.status === 0;
}

async function readFile(vfs: Vfs, path: string): Promise<Buffer> {
  const node = await vfs.lookup(path);
  const src = await vfs.openFile(node);
  try {
    return await src.read(0, src.size);
  } finally {
    await src.close();
  }
}

describe.each(LUKS_VARIANTS)('$name', (v) => {
  let img: string;
  let hdr: string | null;
  let before: string;
  const p = () => luksPaths(CACHE, v);

  beforeAll(async () => {
    img = buildLuksImage(CACHE, v);
    hdr = p().header;
    before = await sha256File(img);
  });
  afterAll(async () => {
    expect(await sha256File(img)).toBe(before);
  });

  it('cryptsetup accepts the passphrase and rejects a wrong one (the oracle for the keyslot tests)', () => {
    expect(cryptsetupAccepts(img, hdr, LUKS_PASSPHRASE)).toBe(true);
    expect(cryptsetupAccepts(img, hdr, 'wrong')).toBe(false);
  });

  it('describes the header as luksDump does, with no key', async () => {
    const dump = execFileSync('cryptsetup', ['luksDump', ...(hdr ? [hdr] : [img])], { encoding: 'utf8' });
    const src = await openHostFile(img);
    const header = hdr ? await openHostFile(hdr) : undefined;
    try {
      const m = await describeLuks(src, { header });
      expect(m.version).toBe(v.version);
      expect(dump).toContain(`UUID:          \t${m.uuid}`);
      const seg = m.segments[0]!;
      expect(seg.encryption).toBe(v.cipher);
      expect(seg.sectorSize).toBe(v.sectorSize);
      if (v.version === 2) {
        expect(dump).toContain(`offset: ${seg.offset} [bytes]`);
        expect(dump).toContain(`sector: ${seg.sectorSize} [bytes]`);
        expect(dump).toContain(`PBKDF:      ${m.keyslots[0]!.kdf.type}`);
        expect(m.metadataCopies).toBe('both copies valid');
      } else {
        expect(dump).toContain(`Payload offset:\t${seg.offset / 512}`);
        expect(dump).toContain(`Cipher mode:   \t${v.cipher.replace(/^aes-/, '')}`);
      }
      expect(m.keyslots[0]!.kdf.type).toBe(v.kdf);
      expect(m.keyslots.map((k) => k.id)).toEqual(v.moreSlots ? ['0', '1', '2'] : ['0']);
    } finally {
      await src.close();
      await header?.close();
    }
  });

  it('every file of the tree reads back byte for byte with the passphrase', async () => {
    const keys = { ...noKeys(), passphrases: [Buffer.from(LUKS_PASSPHRASE)], headerFile: hdr ?? undefined };
    const vfs = await Vfs.open(img, { keys });
    try {
      const vol = vfs.volumes[0]!;
      expect(vol.encryption?.locked).toBe(false);
      expect(vol.fs?.info.type).toBe('ext4');
      expect(vol.fs?.info.label).toBe('crypted');
      const files = manifestOf(p().tree).filter((e) => e.type === 'file');
      expect(files.length).toBe(5);
      for (const f of files) {
        const data = await readFile(vfs, `/p0${f.path}`);
        expect(data.length, f.path).toBe(f.size);
        expect(sha256(data), f.path).toBe(f.sha256);
      }
    } finally {
      await vfs.close();
    }
  });

  it('a wrong passphrase opens no keyslot (after every KDF): a wrongKey error naming the image', async () => {
    const src = await openHostFile(img);
    const header = hdr ? await openHostFile(hdr) : undefined;
    try {
      const err = await openLuks(src, { passphrase: Buffer.from('wrong') }, { header }).catch((e: unknown) => e);
      expect(err).toMatchObject({ kind: 'wrongKey', file: (hdr ?? img), exitCode: 6 });
      expect((err as Error).message).toBe(`wrong key: no keyslot of this LUKS${v.version} volume opens with this passphrase`);
    } finally {
      await src.close();
      await header?.close();
    }
  });

  it('the volume key cryptsetup dumps opens the volume; another does not', async () => {
    const key = luksVolumeKey(img, hdr);
    const src = await openHostFile(img);
    const header = hdr ? await openHostFile(hdr) : undefined;
    try {
      const dec = await openLuks(src, { volumeKey: key }, { header });
      const fs = await openFilesystem(dec);
      expect(fs.info.type).toBe('ext4');
      const other = Buffer.from(key);
      other[0]! ^= 1;
      await expect(openLuks(src, { volumeKey: other }, { header })).rejects.toMatchObject({ kind: 'wrongKey' });
    } finally {
      await src.close();
      await header?.close();
    }
  });
});

// The CLI's paths are the same for every variant: run on two (a header in place, a detached one).
describe.each(LUKS_VARIANTS.filter((v) => v === LUKS_VARIANTS[0] || v.detached))('CLI: $name', (v) => {
  let img: string;
  let hdr: string | null;
  let before: string;
  const p = () => luksPaths(CACHE, v);

  beforeAll(async () => {
    img = buildLuksImage(CACHE, v);
    hdr = p().header;
    before = await sha256File(img);
  });
  afterAll(async () => {
    expect(await sha256File(img)).toBe(before);
  });

  it('the CLI: cat with --passphrase-file and with DISKPICK_PASSPHRASE gives the file', () => {
    const pwFile = join(CACHE, `${v.name}.test-pw`);
    writeFileSync(pwFile, `${LUKS_PASSPHRASE}\n`);
    const headerArgs = hdr ? ['--header', hdr] : [];
    const want = sha256(readFileSync(join(p().tree, 'data/seeded.bin')));
    const a = diskpick(['cat', '--passphrase-file', pwFile, ...headerArgs, img, '/p0/data/seeded.bin']);
    expect(a.stderr).toBe('');
    expect(a.status).toBe(0);
    expect(sha256(a.stdout)).toBe(want);
    const b = diskpick(['cat', ...headerArgs, img, '/p0/data/seeded.bin'], { env: { DISKPICK_PASSPHRASE: LUKS_PASSPHRASE } });
    expect(b.status).toBe(0);
    expect(sha256(b.stdout)).toBe(want);
  });

  it('a wrong passphrase: exit 6, one line "wrong key", no output, the passphrase nowhere', () => {
    const headerArgs = hdr ? ['--header', hdr] : [];
    const secret = 'not-the-passphrase-4711';
    for (const cmd of [['ls', '-R'], ['info', '--json']]) {
      const path = cmd[0] === 'cat' ? ['/p0/readme.txt'] : cmd[0] === 'ls' ? ['/p0'] : [];
      const r = diskpick([...cmd, ...headerArgs, img, ...path], { env: { DISKPICK_PASSPHRASE: secret } });
      expect(r.status, cmd.join(' ')).toBe(6);
      expect(r.stdout.length).toBe(0);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/wrong key: no keyslot of this LUKS[12] volume opens with this passphrase/);
      expect(r.stderr).not.toContain(secret);
    }
    const d = diskpick(['--debug', 'ls', ...headerArgs, img, '/p0'], { env: { DISKPICK_PASSPHRASE: secret } });
    expect(d.status).toBe(6);
    expect(d.stderr).not.toContain(secret);
  });

  it('no key and no terminal: info shows it locked; a path inside says how to give the key (exit 6)', () => {
    const env = { DISKPICK_PASSPHRASE: '' };
    const headerArgs = hdr ? ['--header', hdr] : [];
    if (hdr) {
      // A detached header's data is noise without the header: not a disk image (exit 3).
      const bare = diskpick(['ls', img, '/p0'], { env });
      expect(bare.status).toBe(3);
      expect(bare.stderr).toMatch(/not a disk image/);
      // With the header but no key: the header names no volume to unlock, so no key opens it.
      const r = diskpick(['ls', ...headerArgs, img, '/p0'], { env });
      expect(r.status).toBe(6);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      return;
    }
    const info = diskpick(['info', '--json', img], { env });
    expect(info.status).toBe(0);
    const j = JSON.parse(info.stdout.toString()) as { volumes: { encryption: { type: string; locked: boolean; uuid: string } }[] };
    expect(j.volumes[0]!.encryption.type).toBe(`LUKS${v.version}`);
    expect(j.volumes[0]!.encryption.locked).toBe(true);
    const ls = diskpick(['ls', img, '/p0'], { env });
    expect(ls.status).toBe(6);
    expect(ls.stderr).toMatch(/^diskpick: \/p0: locked: a LUKS[12] volume; give its passphrase/);
  });
});

describe.each(LUKS_VARIANTS.filter((v) => v.moreSlots))('more keyslots: $name', (v) => {
  let img: string;
  let hdr: string | null;
  let before: string;
  const p = () => luksPaths(CACHE, v);

  beforeAll(async () => {
    img = buildLuksImage(CACHE, v);
    hdr = p().header;
    before = await sha256File(img);
  });
  afterAll(async () => {
    expect(await sha256File(img)).toBe(before);
  });

  it('the second passphrase and the key file open their keyslots, as cryptsetup says', async () => {
    expect(cryptsetupAccepts(img, hdr, LUKS_SECOND_PASSPHRASE)).toBe(true);
    expect(cryptsetupAccepts(img, hdr, LUKS_KEYFILE)).toBe(true);
    const src = await openHostFile(img);
    try {
      for (const key of [{ passphrase: Buffer.from(LUKS_SECOND_PASSPHRASE) }, { keyFile: LUKS_KEYFILE }]) {
        const dec = await openLuks(src, key);
        const fs = await openFilesystem(dec);
        expect(fs.info.label).toBe('crypted');
      }
      // A key file is every byte of it: without its trailing newline it is another key.
      await expect(openLuks(src, { keyFile: LUKS_KEYFILE.subarray(0, -1) })).rejects.toMatchObject({ kind: 'wrongKey' });
    } finally {
      await src.close();
    }
    const r = diskpick(['ls', '--key-file', p().keyFile, img, '/p0/data']);
    expect(r.status).toBe(0);
    expect(r.stdout.toString().split('\n').filter(Boolean).sort()).toEqual(['aligned-4k.bin', 'deep', 'seeded.bin']);
  });

});

describe('LUKS inside a partition of a QCOW2 disk', () => {
  const v = LUKS_VARIANTS[0]!;
  let disk: string;

  beforeAll(() => {
    const luks = buildLuksImage(CACHE, v);
    disk = join(CACHE, 'luks-in-gpt.qcow2');
    const raw = join(CACHE, 'luks-in-gpt.raw');
    execFileSync('truncate', ['-s', '0', raw]);
    execFileSync('truncate', ['-s', '40M', raw]);
    execFileSync('sgdisk', ['-n', '1:2048:+2M', '-t', '1:8300', '-n', `2:0:+${32 * 2048}`, '-t', '2:8309', raw], { stdio: 'pipe' });
    const start = Number(/First sector: (\d+)/.exec(execFileSync('sgdisk', ['-i', '2', raw], { encoding: 'utf8' }))![1]);
    execFileSync('dd', [`if=${luks}`, `of=${raw}`, 'bs=512', `seek=${start}`, 'conv=notrunc', 'status=none']);
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, disk]);
  });

  it('ls and cat reach files in /p2 with the passphrase; info names the encryption', () => {
    const env = { DISKPICK_PASSPHRASE: LUKS_PASSPHRASE };
    const ls = diskpick(['ls', disk, '/p2/data/deep/er'], { env });
    expect(ls.stderr).toBe('');
    expect(ls.stdout.toString()).toBe('small.txt\n');
    const cat = diskpick(['cat', disk, '/p2/data/deep/er/small.txt'], { env });
    expect(cat.stdout.toString()).toBe('small\n');
    const info = diskpick(['info', disk], { env });
    expect(info.stdout.toString()).toMatch(/p2 .* ext4 in LUKS2/);
    expect(info.stdout.toString()).toContain('opened with a passphrase');
    expect(info.stdout.toString()).not.toContain(LUKS_PASSPHRASE);
    const json = diskpick(['info', '--json', disk], { env });
    expect(json.status).toBe(0);
    const vol = (JSON.parse(json.stdout.toString()) as { volumes: { name: string; encryption: { type: string; locked: boolean; openedWith: string } | null; filesystem: { type: string } | null }[] }).volumes.find((x) => x.name === 'p2')!;
    expect(vol.encryption).toMatchObject({ type: 'LUKS2', locked: false, openedWith: 'passphrase' });
    expect(vol.filesystem?.type).toBe('ext4');
    expect(json.stdout.toString() + json.stderr).not.toContain(LUKS_PASSPHRASE);
  });
});

describe('the passphrase typed on a terminal', () => {
  it('is asked for, not echoed, and opens the volume', async () => {
    const v = LUKS_VARIANTS[0]!;
    const img = buildLuksImage(CACHE, v);
    mkdirSync(join(CACHE, 'tmp'), { recursive: true });
    const { spawn } = await import('node:child_process');
    const { CLI } = await import('../helpers/tools.js');
    // script(1) gives diskpick a pseudo-terminal; the passphrase is typed once the prompt shows.
    const child = spawn('script', ['-qec', `${process.execPath} ${CLI} cat ${img} /p0/readme.txt`, '/dev/null'], { env: { ...process.env, DISKPICK_PASSPHRASE: '' } });
    let out = '';
    let typed = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!typed && out.includes('passphrase for the LUKS2 volume')) {
        typed = true;
        child.stdin.write(`${LUKS_PASSPHRASE}\r`);
      }
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(typed).toBe(true);
    expect(status).toBe(0);
    expect(out).toContain('an encrypted volume');
    expect(out).not.toContain(LUKS_PASSPHRASE);
  });
});
