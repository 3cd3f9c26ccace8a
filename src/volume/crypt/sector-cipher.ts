/**
 * Sector ciphers of encrypted volumes (LUKS, BitLocker): AES-XTS and AES-CBC with per-sector IVs,
 * decrypting many sectors per OpenSSL call.
 *
 * Why not one node:crypto decipher per sector: Node has no way to change a decipher's IV, so a
 * per-sector `createDecipheriv` costs a fresh OpenSSL context per 512 or 4096 bytes. Measured on
 * this machine (2 cores, loaded): per-sector aes-256-xts 53–113 MiB/s at 512-byte sectors and
 * 236–600 MiB/s at 4096; the same bytes through the batched form below 408/517 MiB/s with 4 MiB
 * reads (one AES-ECB call for all the tweaks, one for all the data, the GF(2^128) doubling and the
 * XORs in 32-bit JavaScript words). Both forms are checked against each other in the tests.
 *
 * XTS (IEEE 1619): for block j of a sector with tweak value I,
 *   T_j = E_K2(I) · α^j in GF(2^128),  P_j = D_K1(C_j ⊕ T_j) ⊕ T_j.
 * CBC: P_j = D_K(C_j) ⊕ C_{j-1}, with C_{-1} the sector's IV: every block decrypts on its own,
 * so one ECB pass and one XOR pass serve any number of sectors.
 */
import { createCipheriv, createDecipheriv, createHash, type Cipher, type Decipher } from 'node:crypto';
import { loadAddon } from '../../source/addon.js';

/**
 * The native form (src/volume/crypt/native/sectors.c, built by scripts/native.ts): one OpenSSL
 * context, its IV reset per sector. Measured on this machine under a load average of 17 (2
 * cores), 1 MiB of aes-256-xts 4096-byte sectors per call: 2980 MiB/s native against 119–143
 * MiB/s batched JavaScript and 115–135 MiB/s one node:crypto context per sector. Without the
 * build (no C compiler) the JavaScript form below does the same work; DISKPICK_NATIVE_CRYPTO=0
 * forces it (the tests run both).
 */
interface SectorsBinding {
  decryptSectors(cipher: string, key: Buffer, data: Buffer, sectorSize: number, ivs: Buffer): void;
  decryptSectorsAsync(cipher: string, key: Buffer, data: Buffer, sectorSize: number, ivs: Buffer, done: (err: string | null) => void): void;
  stretchSha256(state: Buffer): void;
  readDecryptAsync(
    cipher: string, key: Buffer, fd: number, fileOffset: number, data: Buffer, sectorSize: number,
    firstIv: number, ivStep: number, ivBits: 32 | 64, done: (err: string | null) => void,
  ): void;
  afMerge(hash: string, material: Buffer, keyBytes: number, stripes: number): Buffer;
}
let native: SectorsBinding | null | undefined;

function nativeSectors(): SectorsBinding | null {
  if (native === undefined) native = process.env.DISKPICK_NATIVE_CRYPTO === '0' ? null : loadAddon<SectorsBinding>('sectors');
  return native;
}

/** True when sectors are decrypted by the native binding (for the tests and the bench). */
export function nativeCryptoInUse(): boolean {
  return nativeSectors() !== null;
}

/** BitLocker's password stretch by the binding (true), or false where it is not built. */
export function nativeStretch(state: Buffer): boolean {
  const n = nativeSectors();
  if (!n) return false;
  n.stretchSha256(state);
  return true;
}

/** LUKS's AF merge by the binding, or null where it is not built (src/volume/luks/af.ts). */
export function nativeAfMerge(hash: string, material: Buffer, keyBytes: number, stripes: number): Buffer | null {
  const n = nativeSectors();
  return n ? n.afMerge(hash, material, keyBytes, stripes) : null;
}

/** Tests: `false` forces the JavaScript form, `true` goes back to the binding where built. */
export function useNativeCrypto(on: boolean): void {
  native = on ? undefined : null;
}

export interface SectorCipher {
  /** Data unit: 512 … 4096 bytes. */
  readonly sectorSize: number;
  /**
   * How much the IV number grows from one sector to the next: 1 where IVs count sectors
   * (dm-crypt's iv_large_sectors, BitLocker), sectorSize / 512 where they count 512-byte units
   * whatever the sector size (LUKS2: a 4096-byte sector after IV n has IV n + 8).
   */
  readonly ivStep: number;
  /**
   * Decrypts `buf[at … at + length)` in place: whole sectors, the first one with IV number `iv`.
   */
  decrypt(buf: Buffer, at: number, length: number, iv: number): void;
  /**
   * The same in libuv's thread pool (with the native binding; else it is `decrypt`), so a big
   * read is decrypted while the main thread writes out the one before; `buf` must not be
   * touched until it resolves.
   */
  decryptAsync?(buf: Buffer, at: number, length: number, iv: number): Promise<void>;
  /**
   * One thread-pool job that reads `length` bytes of the host file `fd` at `fileOffset` into
   * `buf[at …]` and decrypts them there (whole sectors, the first with IV number `iv`); rejects
   * with the system's message, or "short" where the file ends first. Present only where the
   * native binding does this cipher (XTS with plain64/plain IVs).
   */
  readDecryptAsync?(fd: number, fileOffset: number, buf: Buffer, at: number, length: number, iv: number): Promise<void>;
}

/** Reads at least this big go to the thread pool; below, the round trip costs more than it saves. */
const ASYNC_MIN = 256 * 1024;

function runAsync(n: SectorsBinding, name: string, key: Buffer, region: Buffer, ss: number, ivs: Buffer): Promise<void> {
  return new Promise((resolve, reject) => n.decryptSectorsAsync(name, key, region, ss, ivs, (err) => (err ? reject(new Error(err)) : resolve())));
}

function ecb(key: Buffer, decrypt: boolean): Cipher | Decipher {
  const alg = `aes-${key.length * 8}-ecb`;
  const c = decrypt ? createDecipheriv(alg, key, null) : createCipheriv(alg, key, null);
  // ECB keeps no state between blocks: one context serves every call (final() is never called).
  c.setAutoPadding(false);
  return c;
}

/** Little-endian 64-bit IV numbers first, first + step, …, one 16-byte block each (zero-padded). */
function sectorBlocks(first: number, count: number, scratch: Buffer, step = 1): Buffer {
  const b = scratch.length >= count * 16 ? scratch.subarray(0, count * 16) : Buffer.alloc(count * 16);
  b.fill(0);
  for (let i = 0; i < count; i++) {
    const s = first + i * step;
    b.writeUInt32LE(s >>> 0, i * 16);
    b.writeUInt32LE(Math.floor(s / 0x1_0000_0000), i * 16 + 4);
  }
  return b;
}

/** A Uint32Array over a buffer, copied first when its byte offset is not 4-aligned. */
function words(b: Buffer): Uint32Array {
  if (b.byteOffset % 4 !== 0) b = Buffer.from(b);
  return new Uint32Array(b.buffer, b.byteOffset, b.length >>> 2);
}

/** IVs of `count` sectors, numbers first, first + step, … (16 bytes each). */
export type IvMaker = (first: number, count: number, step: number) => Buffer;

export class XtsCipher implements SectorCipher {
  // The JavaScript form's two AES-ECB contexts, made on first use: creating them costs ~10 ms
  // of a LUKS open (OpenSSL's first cipher fetch), for nothing where the binding decrypts.
  private ecbKeys: { data: Decipher; tweak: Cipher } | null = null;
  private scratch = Buffer.alloc(0);
  private mask = new Uint32Array(0);
  private readonly key: Buffer;
  private readonly opensslName: string;

  /**
   * `key`: the two AES keys, K1 ‖ K2 (32 bytes for AES-128, 64 for AES-256). `iv`: plain64 (the
   * little-endian sector number) unless given; `plain` truncates it to 32 bits.
   */
  constructor(key: Buffer, readonly sectorSize: number, private readonly ivMode: 'plain64' | 'plain' = 'plain64', readonly ivStep = 1) {
    const half = key.length / 2;
    this.key = Buffer.from(key);
    this.opensslName = `aes-${half * 8}-xts`;
  }

  get readDecryptAsync(): SectorCipher['readDecryptAsync'] {
    const n = nativeSectors();
    if (!n) return undefined;
    const bits = this.ivMode === 'plain' ? 32 : 64;
    return (fd, fileOffset, buf, at, length, iv) =>
      new Promise((resolve, reject) =>
        n.readDecryptAsync(this.opensslName, this.key, fd, fileOffset, buf.subarray(at, at + length), this.sectorSize, iv, this.ivStep, bits, (err) =>
          err ? reject(new Error(err)) : resolve()));
  }

  decryptAsync(buf: Buffer, at: number, length: number, sector: number): Promise<void> {
    const n = nativeSectors();
    if (!n || length < ASYNC_MIN || this.ivMode !== 'plain64') {
      this.decrypt(buf, at, length, sector);
      return Promise.resolve();
    }
    // A fresh IV buffer: the shared scratch may be refilled while this one is in flight.
    const ivs = sectorBlocks(sector, length / this.sectorSize, Buffer.alloc(0), this.ivStep);
    return runAsync(n, this.opensslName, this.key, buf.subarray(at, at + length), this.sectorSize, ivs);
  }

  decrypt(buf: Buffer, at: number, length: number, sector: number): void {
    const ss = this.sectorSize;
    const count = length / ss;
    if (this.scratch.length < count * 16) this.scratch = Buffer.alloc(count * 16);
    const ivs = sectorBlocks(sector, count, this.scratch, this.ivStep);
    if (this.ivMode === 'plain') for (let i = 0; i < count; i++) ivs.fill(0, i * 16 + 4, i * 16 + 8);
    const n = nativeSectors();
    if (n) return n.decryptSectors(this.opensslName, this.key, buf.subarray(at, at + length), ss, ivs);
    const half = this.key.length / 2;
    this.ecbKeys ??= { data: ecb(this.key.subarray(0, half), true) as Decipher, tweak: ecb(this.key.subarray(half), false) as Cipher };
    const tweaks = words(this.ecbKeys.tweak.update(ivs));
    if (this.mask.length < length >>> 2) this.mask = new Uint32Array(length >>> 2);
    const T = this.mask;
    const perSector = ss >>> 4;
    let k = 0;
    for (let s = 0; s < count; s++) {
      let a = tweaks[s * 4]!, b = tweaks[s * 4 + 1]!, c = tweaks[s * 4 + 2]!, d = tweaks[s * 4 + 3]!;
      for (let j = 0; j < perSector; j++) {
        T[k] = a; T[k + 1] = b; T[k + 2] = c; T[k + 3] = d;
        k += 4;
        // Multiply by α: a 128-bit little-endian shift left by one, 0x87 folded in on carry.
        const carry = d >>> 31;
        d = ((d << 1) | (c >>> 31)) >>> 0;
        c = ((c << 1) | (b >>> 31)) >>> 0;
        b = ((b << 1) | (a >>> 31)) >>> 0;
        a = ((a << 1) ^ (carry * 0x87)) >>> 0;
      }
    }
    const region = buf.subarray(at, at + length);
    const aligned = region.byteOffset % 4 === 0;
    const work = aligned ? region : Buffer.from(region);
    const W = new Uint32Array(work.buffer, work.byteOffset, length >>> 2);
    for (let i = 0; i < W.length; i++) W[i] = W[i]! ^ T[i]!;
    const plain = this.ecbKeys.data.update(work);
    const P = words(plain);
    for (let i = 0; i < W.length; i++) W[i] = P[i]! ^ T[i]!;
    if (!aligned) work.copy(region);
  }
}

export class CbcCipher implements SectorCipher {
  private readonly dataKey: Decipher;
  private readonly key: Buffer;

  /** `ivs(first, count)` gives each sector's 16-byte IV. */
  constructor(key: Buffer, readonly sectorSize: number, private readonly ivs: IvMaker, readonly ivStep = 1) {
    this.key = Buffer.from(key);
    this.dataKey = ecb(key, true) as Decipher;
  }

  decryptAsync(buf: Buffer, at: number, length: number, sector: number): Promise<void> {
    const n = nativeSectors();
    if (!n || length < ASYNC_MIN) {
      this.decrypt(buf, at, length, sector);
      return Promise.resolve();
    }
    const ivs = this.ivs(sector, length / this.sectorSize, this.ivStep);
    return runAsync(n, `aes-${this.key.length * 8}-cbc`, this.key, buf.subarray(at, at + length), this.sectorSize, ivs);
  }

  decrypt(buf: Buffer, at: number, length: number, sector: number): void {
    const ss = this.sectorSize;
    const count = length / ss;
    const region = buf.subarray(at, at + length);
    const n = nativeSectors();
    if (n) return n.decryptSectors(`aes-${this.key.length * 8}-cbc`, this.key, region, ss, this.ivs(sector, count, this.ivStep));
    const aligned = region.byteOffset % 4 === 0;
    const work = aligned ? region : Buffer.from(region);
    const C = new Uint32Array(work.buffer, work.byteOffset, length >>> 2);
    const P = words(this.dataKey.update(work));
    const iv = words(this.ivs(sector, count, this.ivStep));
    const perSector = ss >>> 2;
    // Backwards within each sector, so C_{j-1} is still ciphertext when block j needs it.
    for (let s = 0; s < count; s++) {
      const base = s * perSector;
      for (let i = perSector - 1; i >= 4; i--) C[base + i] = P[base + i]! ^ C[base + i - 4]!;
      for (let i = 0; i < 4; i++) C[base + i] = P[base + i]! ^ iv[s * 4 + i]!;
    }
    if (!aligned) work.copy(region);
  }
}

/** plain64: the little-endian 64-bit sector number. plain: the same cut to 32 bits. */
export function plainIvs(bits: 32 | 64): IvMaker {
  return (first, count, step) => {
    const b = sectorBlocks(first, count, Buffer.alloc(0), step);
    if (bits === 32) for (let i = 0; i < count; i++) b.fill(0, i * 16 + 4, i * 16 + 8);
    return b;
  };
}

/** ESSIV: the sector number encrypted with AES under hash(volume key) (dm-crypt's essiv:HASH). */
export function essivIvs(volumeKey: Buffer, hash: string): IvMaker {
  const salt = createHash(hash).update(volumeKey).digest();
  if (![16, 24, 32].includes(salt.length)) throw new Error(`ESSIV hash ${hash} gives a ${salt.length}-byte key`);
  const e = ecb(salt, false) as Cipher;
  return (first, count, step) => e.update(sectorBlocks(first, count, Buffer.alloc(0), step));
}

/** IVs encrypted under a key of their own from given 16-byte blocks (BitLocker's CBC: E_K(offset)). */
export function encryptedIvs(key: Buffer, blocks: IvMaker): IvMaker {
  const e = ecb(key, false) as Cipher;
  return (first, count, step) => e.update(blocks(first, count, step));
}

/** Reference form for tests: one node:crypto context per sector (slow, obviously right). */
export function decryptSectorsOneByOne(alg: string, key: Buffer, data: Buffer, sectorSize: number, ivOf: (sector: number) => Buffer, first: number): Buffer {
  const out = Buffer.alloc(data.length);
  for (let o = 0, s = first; o < data.length; o += sectorSize, s++) {
    const d = createDecipheriv(alg, key, ivOf(s));
    d.setAutoPadding(false);
    Buffer.concat([d.update(data.subarray(o, o + sectorSize)), d.final()]).copy(out, o);
  }
  return out;
}
