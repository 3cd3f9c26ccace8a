/**
 * LUKS test images made by the real tool without device-mapper: a seeded tree copied into a
 * filesystem by `mkfs.ext4 -d`, then encrypted in place by `cryptsetup reencrypt --encrypt
 * --force-offline-reencrypt` (cryptsetup itself writes the header, the keyslots and every
 * encrypted sector; no dm-crypt needed). More keyslots are added by `cryptsetup luksAddKey`.
 * The tree stays next to the image (`<name>.tree/`) as the manifest of what was written.
 *
 * The bench image is made the other way the issue names: `cryptsetup luksFormat` writes the
 * header, `luksDump --dump-volume-key` gives the volume key, and node:crypto (one context per
 * sector, independent of diskpick's batched decryption) encrypts the filesystem behind it.
 */
import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { seededBytes, writeTree, type TreeFile } from './tree.js';

export interface LuksVariant {
  /** Cache stem: `<name>.img` (and `<name>.hdr` for a detached header), tree `<name>.tree/`. */
  name: string;
  version: 1 | 2;
  /** cryptsetup options for the encryption (cipher, key size, sector size, KDF). */
  args: string[];
  /** Also a second passphrase keyslot and a key-file keyslot. */
  moreSlots: boolean;
  detached: boolean;
  /** What luksDump should show, for the tests. */
  cipher: string;
  sectorSize: number;
  kdf: 'pbkdf2' | 'argon2i' | 'argon2id';
}

export const LUKS_PASSPHRASE = 'correct horse battery staple';
export const LUKS_SECOND_PASSPHRASE = 'Tr0ub4dor&3 ünï';
/** Key-file bytes: binary, with newlines and NULs inside (a key file is used as it is). */
export const LUKS_KEYFILE = Buffer.concat([seededBytes(77, 200), Buffer.from('\n\0\n')]);

export const LUKS_VARIANTS: LuksVariant[] = [
  // Today's cryptsetup defaults on a file: LUKS2, aes-xts-plain64 512-bit, 4096-byte sectors,
  // Argon2id (memory kept small for speed); three keyslots.
  { name: 'luks2-argon2id-xts512-4k', version: 2, args: ['--type', 'luks2', '--cipher', 'aes-xts-plain64', '--key-size', '512', '--sector-size', '4096', '--pbkdf', 'argon2id', '--pbkdf-memory', '8192', '--pbkdf-parallel', '2', '--pbkdf-force-iterations', '4'], moreSlots: true, detached: false, cipher: 'aes-xts-plain64', sectorSize: 4096, kdf: 'argon2id' },
  // AES-128-XTS, 512-byte sectors, PBKDF2-SHA512.
  { name: 'luks2-pbkdf2-xts256-512', version: 2, args: ['--type', 'luks2', '--cipher', 'aes-xts-plain64', '--key-size', '256', '--sector-size', '512', '--pbkdf', 'pbkdf2', '--hash', 'sha512', '--pbkdf-force-iterations', '1000'], moreSlots: false, detached: false, cipher: 'aes-xts-plain64', sectorSize: 512, kdf: 'pbkdf2' },
  // Detached header, Argon2i, AES-CBC-ESSIV in LUKS2.
  { name: 'luks2-detached-argon2i-cbc', version: 2, args: ['--type', 'luks2', '--cipher', 'aes-cbc-essiv:sha256', '--key-size', '256', '--sector-size', '512', '--pbkdf', 'argon2i', '--pbkdf-memory', '8192', '--pbkdf-parallel', '1', '--pbkdf-force-iterations', '4'], moreSlots: false, detached: true, cipher: 'aes-cbc-essiv:sha256', sectorSize: 512, kdf: 'argon2i' },
  // LUKS1 as old installers made it: aes-cbc-essiv:sha256, SHA-1.
  { name: 'luks1-cbc-essiv-sha1', version: 1, args: ['--type', 'luks1', '--cipher', 'aes-cbc-essiv:sha256', '--key-size', '256', '--hash', 'sha1', '--pbkdf-force-iterations', '1000'], moreSlots: true, detached: false, cipher: 'aes-cbc-essiv:sha256', sectorSize: 512, kdf: 'pbkdf2' },
  // LUKS1 with its later default, aes-xts-plain64, SHA-256.
  { name: 'luks1-xts-sha256', version: 1, args: ['--type', 'luks1', '--cipher', 'aes-xts-plain64', '--key-size', '512', '--hash', 'sha256', '--pbkdf-force-iterations', '1000'], moreSlots: false, detached: false, cipher: 'aes-xts-plain64', sectorSize: 512, kdf: 'pbkdf2' },
];

export const LUKS_TREE: TreeFile[] = [
  { path: 'readme.txt', content: 'an encrypted volume\n' },
  { path: 'data/seeded.bin', size: 3_000_000 + 123, seed: 5 },
  { path: 'data/deep/er/small.txt', content: 'small\n' },
  { path: 'Ünïcödé 日本語.txt', content: 'unicode name\n' },
  { path: 'data/aligned-4k.bin', size: 65536, seed: 6 },
];

function sh(cmd: string, args: string[], input?: string | Buffer): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
}

export function luksPaths(cache: string, v: LuksVariant): { image: string; header: string | null; tree: string; keyFile: string } {
  return { image: join(cache, `${v.name}.img`), header: v.detached ? join(cache, `${v.name}.hdr`) : null, tree: join(cache, `${v.name}.tree`), keyFile: join(cache, 'luks-keyfile.bin') };
}

/** Builds the variant (once; a finished image is reused). Returns the image path. */
export function buildLuksImage(cache: string, v: LuksVariant): string {
  const p = luksPaths(cache, v);
  if (existsSync(p.image) && (!p.header || existsSync(p.header))) return p.image;
  mkdirSync(cache, { recursive: true });
  writeFileSync(p.keyFile, LUKS_KEYFILE);
  writeTree(p.tree, LUKS_TREE);
  const tmp = `${p.image}.tmp`;
  const tmpHdr = p.header ? `${p.header}.tmp` : null;
  rmSync(tmp, { force: true });
  if (tmpHdr) rmSync(tmpHdr, { force: true });
  // Reserve room for the header in front of the filesystem (reencrypt shifts the data there).
  const reserve = v.detached ? 0 : v.version === 1 ? 4 << 20 : 16 << 20;
  sh('mkfs.ext4', ['-q', '-F', '-b', '4096', '-E', 'root_owner=0:0', '-L', 'crypted', '-d', p.tree, tmp, '16M']);
  if (reserve) sh('truncate', ['-s', `+${reserve}`, tmp]);
  const pw = join(cache, `${v.name}.pw`);
  writeFileSync(pw, LUKS_PASSPHRASE);
  try {
    if (v.version === 2) {
      sh('cryptsetup', ['reencrypt', '--encrypt', '--batch-mode', '--force-offline-reencrypt', '--key-file', pw, ...(reserve ? ['--reduce-device-size', String(reserve)] : []), ...(tmpHdr ? ['--header', tmpHdr] : []), ...v.args, tmp]);
    } else {
      // LUKS1 re-encryption needs device-mapper: luksFormat, then the payload is encrypted
      // under the dumped volume key by node:crypto.
      const fs = `${tmp}.fs`;
      renameSync(tmp, fs);
      try {
        formatAndEncrypt(fs, tmp, [...v.args, '--key-file', pw], v.cipher, reserve);
      } finally {
        rmSync(fs, { force: true });
      }
    }
    if (v.moreSlots) {
      const hdr = tmpHdr ? ['--header', tmpHdr] : [];
      // Fixed small costs keep the tests fast (every wrong try runs every keyslot's KDF).
      const fast = v.version === 1 ? ['--pbkdf-force-iterations', '1000'] : ['--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];
      const pw2 = join(cache, `${v.name}.pw2`);
      writeFileSync(pw2, LUKS_SECOND_PASSPHRASE);
      sh('cryptsetup', ['luksAddKey', '--batch-mode', ...hdr, ...fast, '--key-file', pw, tmp, pw2]);
      sh('cryptsetup', ['luksAddKey', '--batch-mode', ...hdr, ...fast, '--key-file', pw, tmp, p.keyFile]);
      rmSync(pw2);
    }
  } finally {
    rmSync(pw, { force: true });
  }
  if (tmpHdr && p.header) renameSync(tmpHdr, p.header);
  renameSync(tmp, p.image);
  return p.image;
}

/** Bytes [0, size) of `fsImage` encrypted sector by sector, one node:crypto context each. */
function encryptPayload(fsImage: string, out: string, at: number, key: Buffer, cipher: string, sectorSize: number): void {
  const size = statSync(fsImage).size;
  const src = openSync(fsImage, 'r');
  const dst = openSync(out, 'r+');
  const essiv = cipher === 'aes-cbc-essiv:sha256' ? createCipheriv(`aes-256-ecb`, createHash('sha256').update(key).digest(), null).setAutoPadding(false) : null;
  try {
    const chunk = Buffer.alloc(4 << 20);
    for (let pos = 0; pos < size; pos += chunk.length) {
      const n = readSync(src, chunk, 0, Math.min(chunk.length, size - pos), pos);
      for (let s = 0; s < n; s += sectorSize) {
        let iv = Buffer.alloc(16);
        iv.writeBigUInt64LE(BigInt((pos + s) / 512));
        if (essiv) iv = essiv.update(iv);
        const alg = cipher === 'aes-xts-plain64' ? `aes-${key.length * 4}-xts` : `aes-${key.length * 8}-cbc`;
        const c = createCipheriv(alg, key, iv).setAutoPadding(false);
        c.update(chunk.subarray(s, s + sectorSize)).copy(chunk, s);
      }
      writeSync(dst, chunk, 0, n, at + pos);
    }
  } finally {
    closeSync(src);
    closeSync(dst);
  }
}

/** luksFormat (`args` name type, cipher, key) of `out`, `fsImage` as the encrypted payload. */
export function formatAndEncrypt(fsImage: string, out: string, args: string[], cipher: string, reserve: number, sectorSize = 512): void {
  rmSync(out, { force: true });
  sh('truncate', ['-s', String(reserve + statSync(fsImage).size), out]);
  sh('cryptsetup', ['luksFormat', '--batch-mode', ...args, out]);
  const dump = sh('cryptsetup', ['luksDump', out]);
  const m = /Payload offset:\s*(\d+)/.exec(dump) ?? /offset: (\d+) \[bytes\]/.exec(dump);
  const offset = /Payload offset/.test(dump) ? Number(m![1]) * 512 : Number(m![1]);
  const keyFile = args[args.indexOf('--key-file') + 1]!;
  const pass = readFileSync(keyFile);
  encryptPayload(fsImage, out, offset, luksVolumeKey(out, null, pass), cipher, sectorSize);
}

/** The volume key, as cryptsetup shows it (hex), given the passphrase. */
export function luksVolumeKey(image: string, header: string | null, passphrase: string | Buffer = LUKS_PASSPHRASE): Buffer {
  const out = sh('cryptsetup', ['luksDump', '--dump-volume-key', '--batch-mode', '--key-file', '-', ...(header ? ['--header', header] : []), image], passphrase);
  const m = /(?:MK dump|Volume key):\s*((?:[0-9a-f]{2}\s*)+)/.exec(out);
  if (!m) throw new Error('no volume key in luksDump output');
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'hex');
}

/**
 * The bench image: LUKS2 (aes-xts-plain64 512-bit, 4096-byte sectors, PBKDF2) holding
 * `fsImage` as its payload: luksFormat writes the header, node:crypto encrypts each sector
 * under the dumped volume key.
 */
export function buildLuksFromVolumeKey(fsImage: string, out: string): void {
  const pw = `${out}.pw`;
  writeFileSync(pw, LUKS_PASSPHRASE);
  try {
    formatAndEncrypt(fsImage, `${out}.tmp`, ['--type', 'luks2', '--cipher', 'aes-xts-plain64', '--key-size', '512', '--sector-size', '4096', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--offset', String((16 << 20) / 512), '--key-file', pw], 'aes-xts-plain64', 16 << 20, 4096);
  } finally {
    rmSync(pw, { force: true });
  }
  renameSync(`${out}.tmp`, out);
}

/**
 * A small LUKS volume (for fuzz seeds and hostile variants): a 1 MiB ext2 of a few files behind
 * a header with one PBKDF2 keyslot at cryptsetup's minimum cost, LUKS2 with the smallest
 * metadata and keyslot areas. Payload encrypted under the dumped volume key.
 */
export function buildSmallLuks(out: string, version: 1 | 2, passphrase: string, tree: TreeFile[] = LUKS_TREE.filter((f) => !f.size || f.size < 100_000)): void {
  const dir = `${out}.tree`;
  const fs = `${out}.fs`;
  const pw = `${out}.pw`;
  writeTree(dir, tree);
  writeFileSync(pw, passphrase);
  try {
    sh('mkfs.ext2', ['-q', '-F', '-b', '1024', '-d', dir, fs, '1M']);
    const args = version === 1
      ? ['--type', 'luks1', '--cipher', 'aes-xts-plain64', '--key-size', '256', '--hash', 'sha256', '--pbkdf-force-iterations', '1000', '--align-payload', '8']
      : ['--type', 'luks2', '--cipher', 'aes-xts-plain64', '--key-size', '256', '--sector-size', '512', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--luks2-metadata-size', '16k', '--luks2-keyslots-size', '128k', '--offset', String((160 * 1024) / 512)];
    formatAndEncrypt(fs, out, [...args, '--key-file', pw], 'aes-xts-plain64', version === 1 ? 300 * 1024 : 160 * 1024);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(fs, { force: true });
    rmSync(pw, { force: true });
  }
}

/**
 * Rewrites the JSON metadata of a LUKS2 image (both copies unless `only`), with valid
 * checksums: for hostile headers that pass the checksum and must be refused by their content.
 */
export function rewriteLuks2Json(image: string, edit: (json: Record<string, unknown>) => string | Record<string, unknown>, only?: 'primary' | 'secondary'): void {
  const fd = openSync(image, 'r+');
  try {
    const bin = Buffer.alloc(4096);
    readSync(fd, bin, 0, 4096, 0);
    const hdrSize = Number(bin.readBigUInt64BE(8));
    for (const [at, which] of [[0, 'primary'], [hdrSize, 'secondary']] as const) {
      if (only && only !== which) continue;
      const whole = Buffer.alloc(hdrSize);
      readSync(fd, whole, 0, hdrSize, at);
      const area = whole.subarray(4096);
      const end = area.indexOf(0);
      const json = JSON.parse(area.toString('utf8', 0, end < 0 ? area.length : end)) as Record<string, unknown>;
      const edited = edit(json);
      const text = typeof edited === 'string' ? edited : JSON.stringify(edited);
      if (text.length >= area.length) throw new Error('edited JSON does not fit');
      area.fill(0);
      area.write(text, 'utf8');
      whole.fill(0, 448, 448 + 64);
      createHash('sha256').update(whole).digest().copy(whole, 448);
      writeSync(fd, whole, 0, hdrSize, at);
    }
  } finally {
    closeSync(fd);
  }
}
