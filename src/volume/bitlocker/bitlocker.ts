/**
 * BitLocker volumes (Windows Vista, 7 and later, To Go): detection, a description that needs no
 * key (protectors, method) and opening with a recovery password, a user password, a startup key
 * (.BEK) or the clear key of a suspended volume. Formats: libbde's "BitLocker Drive Encryption
 * (BDE) format specification"; see docs/formats/bitlocker.md.
 */
import { DiskpickError, corrupt, unsupported } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { CbcCipher, XtsCipher, encryptedIvs, type SectorCipher } from '../crypt/sector-cipher.js';
import { DecryptedSource } from '../crypt/decrypted-source.js';
import { ElephantCipher, offsetBlocks } from './elephant.js';
import { ENTRY, VALUE, readFveMetadata, unicodeOf, type FveMetadata } from './fve-metadata.js';
import {
  fvekWith, parseBek, protectionName, vmkFromBek, vmkFromClearKey, vmkFromRecoveryPassword, vmkFromUserPassword, vmksOf, type Vmk,
} from './protectors.js';
import { RemappedSource, type Piece } from './bitlocker-source.js';
import { parseBitLockerHeader, type BitLockerVolumeHeader } from './volume-header.js';

export const METHODS: Record<number, string> = {
  0x8000: 'AES-CBC-128 with Elephant diffuser',
  0x8001: 'AES-CBC-256 with Elephant diffuser',
  0x8002: 'AES-CBC-128',
  0x8003: 'AES-CBC-256',
  0x8004: 'AES-XTS-128',
  0x8005: 'AES-XTS-256',
};

export interface BitLockerDescription {
  header: BitLockerVolumeHeader;
  meta: FveMetadata;
  vmks: Vmk[];
  /** "DESKTOP-… TestVolume 10/8/2021": computer, drive label, date. */
  description: string | null;
  method: string;
}

export interface BitLockerKeys {
  recoveryPasswords: string[];
  passphrases: Buffer[];
  bekFiles: Buffer[];
}

export function probeBitLocker(head: Buffer): BitLockerVolumeHeader | null {
  return parseBitLockerHeader(head);
}

export async function describeBitLocker(src: ByteSource): Promise<BitLockerDescription> {
  const header = parseBitLockerHeader(await src.read(0, 512));
  if (!header) throw corrupt(src.name, 'not a BitLocker volume');
  const meta = await readFveMetadata(src, header);
  const vmks = vmksOf(meta.entries, src.name);
  const d = meta.entries.find((e) => e.type === ENTRY.description && e.valueType === VALUE.unicode);
  return { header, meta, vmks, description: d ? unicodeOf(d) : null, method: METHODS[meta.encryptionMethod] ?? `method 0x${meta.encryptionMethod.toString(16)}` };
}

/** "BitLocker AES-XTS-128; protectors: recovery password, TPM; "DESKTOP-… TestVolume"". */
export function summarizeBitLocker(d: BitLockerDescription): string {
  const protectors = [...new Set(d.vmks.map((v) => protectionName(v.protection)))].join(', ') || 'none';
  return `${d.method}, ${d.header.bytesPerSector}-byte sectors, protectors: ${protectors}${d.description ? `; "${d.description}"` : ''}`;
}

/** The VMK from whatever key fits, and what opened it; null when none does. */
function findVmk(d: BitLockerDescription, keys: BitLockerKeys, file: string): { vmk: Buffer; with: string } | null {
  for (const v of d.vmks.filter((x) => x.protection === 0x0000)) {
    const vmk = vmkFromClearKey(v, file);
    if (vmk) return { vmk, with: 'clear key (protection suspended)' };
  }
  for (const bekFile of keys.bekFiles) {
    const bek = parseBek(bekFile, file);
    if (!bek) throw new DiskpickError('usage', 'the startup key file is not a BitLocker .BEK file');
    for (const v of d.vmks.filter((x) => x.protection === 0x0200 || x.protection === 0x0800 || x.id === bek.id)) {
      const vmk = vmkFromBek(v, bek, file);
      if (vmk) return { vmk, with: 'startup key' };
    }
  }
  for (const pw of keys.recoveryPasswords) {
    for (const v of d.vmks.filter((x) => x.protection === 0x0800)) {
      const vmk = vmkFromRecoveryPassword(v, pw, file);
      if (vmk) return { vmk, with: 'recovery password' };
    }
  }
  for (const pw of keys.passphrases) {
    for (const v of d.vmks.filter((x) => x.protection === 0x2000)) {
      const vmk = vmkFromUserPassword(v, pw, file);
      if (vmk) return { vmk, with: 'password' };
    }
  }
  return null;
}

function cipherFor(method: number, key: Buffer, ss: number, file: string): SectorCipher {
  const need = (n: number) => {
    if (key.length < n) throw corrupt(file, `BitLocker FVEK of ${key.length} bytes is too short for ${METHODS[method]}`);
  };
  switch (method) {
    case 0x8000:
    case 0x8001: {
      const half = method === 0x8000 ? 16 : 32;
      need(32 + half);
      return new ElephantCipher(key.subarray(0, half), key.subarray(32, 32 + half), ss);
    }
    case 0x8002:
    case 0x8003: {
      const k = key.subarray(0, method === 0x8002 ? 16 : 32);
      need(k.length);
      return new CbcCipher(k, ss, encryptedIvs(k, offsetBlocks(ss)));
    }
    case 0x8004:
    case 0x8005: {
      const n = method === 0x8004 ? 32 : 64;
      need(n);
      return new XtsCipher(key.subarray(0, n), ss, 'plain64', 1);
    }
    default:
      throw unsupported(file, `BitLocker encryption method 0x${method.toString(16)} is not read`);
  }
}

/** Why a volume stays locked, naming what would open it. */
function lockedMessage(d: BitLockerDescription, triedAny: boolean): string {
  const kinds = new Set(d.vmks.map((v) => v.protection));
  const usable: string[] = [];
  if (kinds.has(0x0800)) usable.push('its recovery password (--recovery-password or DISKPICK_RECOVERY_PASSWORD)');
  if (kinds.has(0x2000)) usable.push('its password (--passphrase-file or DISKPICK_PASSPHRASE)');
  if (kinds.has(0x0200)) usable.push('its startup key (--bek FILE.BEK)');
  const tpm = [...kinds].some((k) => (k & 0x0100) !== 0 || k === 0x0500);
  const names = [...new Set(d.vmks.map((v) => protectionName(v.protection)))].join(', ');
  const tpmHint = tpm ? '; TPM protectors need the computer that made them: give the recovery password (from the Microsoft account, Active Directory or Entra ID)' : '';
  const head = triedAny ? 'wrong key: no protector of this BitLocker volume opens with the key given' : 'locked: a BitLocker volume';
  return `${head} (protectors: ${names})${usable.length ? `; give ${usable.join(' or ')}` : ''}${tpmHint}`;
}

export async function openBitLocker(src: ByteSource, keys: BitLockerKeys, name = `${src.name} (decrypted)`): Promise<{ source: ByteSource; openedWith: string }> {
  const d = await describeBitLocker(src);
  const found = findVmk(d, keys, src.name);
  const triedAny = keys.recoveryPasswords.length + keys.passphrases.length + keys.bekFiles.length > 0;
  if (!found) throw new DiskpickError('wrongKey', lockedMessage(d, triedAny), src.name);
  const fvek = fvekWith(d.meta.entries, found.vmk, src.name);
  found.vmk.fill(0);
  if (!fvek) throw corrupt(src.name, 'BitLocker FVEK does not open with the volume master key (damaged metadata)');
  const method = d.meta.encryptionMethod || fvek.method;
  const ss = d.header.bytesPerSector;
  const cipher = cipherFor(method, fvek.key, ss, src.name);
  fvek.key.fill(0);
  const size = Math.floor(src.size / ss) * ss;
  const decrypted = new DecryptedSource(src, [{ start: 0, length: size, sourceOffset: 0, cipher, firstIv: 0 }], name);
  return { source: new RemappedSource(decrypted, layout(d, src, decrypted, ss, size), size, name), openedWith: found.with };
}

/** Where the decrypted volume reads something other than its own sectors decrypted. */
function layout(d: BitLockerDescription, src: ByteSource, decrypted: ByteSource, ss: number, size: number): Piece[] {
  const m = d.meta;
  const pieces: Piece[] = [];
  const zero = (start: number, length: number) => pieces.push({ start, length, from: null, offset: 0 });
  if (m.version === 1) {
    // Vista: sector 0 rebuilt from the header, sectors 1-15 stored in the clear.
    pieces.push({ start: 0, length: ss, from: new PatchedBootSector(src, ss, m.mftMirrorCluster ?? 0), offset: 0 });
    pieces.push({ start: ss, length: 15 * ss, from: src, offset: ss });
  } else {
    const hdrBlock = m.entries.find((e) => e.type === ENTRY.volumeHeaderBlock && e.valueType === VALUE.offsetAndSize && e.data.length >= 16);
    const hdrOffset = hdrBlock ? Number(hdrBlock.data.readBigUInt64LE(0)) : m.volumeHeaderOffset ?? 0;
    const hdrSize = hdrBlock ? Number(hdrBlock.data.readBigUInt64LE(8)) : (m.volumeHeaderSectors ?? 16) * ss;
    if (!Number.isSafeInteger(hdrOffset) || !Number.isSafeInteger(hdrSize) || hdrSize <= 0 || hdrSize > 64 << 20 || hdrOffset + hdrSize > size || hdrOffset < hdrSize) {
      throw corrupt(src.name, `BitLocker volume header copy (${hdrOffset}, ${hdrSize} bytes) lies outside the volume`);
    }
    // The first sectors, decrypted where they are kept (their IVs are those of that place).
    pieces.push({ start: 0, length: hdrSize, from: decrypted, offset: hdrOffset });
    zero(hdrOffset, hdrSize);
    // Encrypted part only up to the encrypted size (conversion in progress): the rest is plain.
    const enc = m.encryptedSize ?? size;
    if (enc > 0 && enc < size) pieces.push({ start: enc, length: size - enc, from: src, offset: enc });
  }
  for (const o of m.blockOffsets) zero(o, m.blockSize);
  return pieces;
}

/** Vista's sector 0: the BitLocker header with the NTFS signature and MFT mirror cluster put back. */
class PatchedBootSector implements ByteSource {
  readonly name: string;
  constructor(private readonly src: ByteSource, readonly size: number, private readonly mftMirror: number) {
    this.name = src.name;
  }
  async read(offset: number, length: number): Promise<Buffer> {
    const s = Buffer.from(await this.src.read(0, this.size));
    s.write('NTFS    ', 3, 'latin1');
    s.writeBigUInt64LE(BigInt(this.mftMirror), 56);
    return s.subarray(offset, offset + length);
  }
  async close(): Promise<void> {}
}
