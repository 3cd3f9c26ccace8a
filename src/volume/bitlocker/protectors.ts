/**
 * BitLocker key protectors (libbde specification, §"Keys", §"FVE Volume Master Key"): each VMK
 * entry holds the volume master key encrypted (AES-CCM) under a key made from one protector:
 * - 0x0800 recovery password: 48 digits, 8 groups each a multiple of 11 (value / 11 is 16 bits),
 *   giving a 128-bit key, stretched (below) with the salt of the VMK's stretch key;
 * - 0x2000 user password: SHA-256(SHA-256(UTF-16LE password)), stretched the same way;
 * - 0x0200 startup key: the 256-bit key of a .BEK file whose identifier is the VMK's;
 * - 0x0000 clear key: the key stored next to it (protection suspended);
 * - 0x0100 TPM (and 0x0500 TPM+PIN, …): sealed by the computer's TPM, not usable here.
 * The FVEK is then AES-CCM decrypted with the VMK. A wrong key fails CCM's MAC: that is the check.
 */
import * as nodeCrypto from 'node:crypto';
import { createDecipheriv, createHash } from 'node:crypto';
import { nativeStretch } from '../crypt/sector-cipher.js';
import { corrupt } from '../../errors.js';
import { ENTRY, VALUE, guidString, nestedEntries, parseEntries, type FveEntry } from './fve-metadata.js';

export const PROTECTION: Record<number, string> = {
  0x0000: 'clear key',
  0x0100: 'TPM',
  0x0200: 'startup key',
  0x0500: 'TPM and PIN',
  0x0800: 'recovery password',
  0x2000: 'password',
};

export function protectionName(t: number): string {
  return PROTECTION[t] ?? `protector type 0x${t.toString(16).padStart(4, '0')}`;
}

export interface Vmk {
  id: string;
  protection: number;
  entries: FveEntry[];
}

export function vmksOf(entries: FveEntry[], file: string): Vmk[] {
  return entries
    .filter((e) => e.type === ENTRY.vmk && e.valueType === VALUE.vmk && e.data.length >= 28)
    .map((e) => ({ id: guidString(e.data.subarray(0, 16)), protection: e.data.readUInt16LE(26), entries: nestedEntries(e, file) }));
}

/** The 128-bit key of a recovery password, or null if it is not one (as typed, dashes optional). */
export function recoveryPasswordKey(text: string): Buffer | null {
  const digits = text.replace(/[\s-]/g, '');
  if (!/^[0-9]{48}$/.test(digits)) return null;
  const key = Buffer.alloc(16);
  for (let i = 0; i < 8; i++) {
    const n = Number(digits.slice(i * 6, i * 6 + 6));
    if (n % 11 !== 0 || n / 11 > 0xffff) return null;
    key.writeUInt16LE(n / 11, i * 2);
  }
  return key;
}

/** The key stretching of recovery and user passwords: 2^20 rounds of SHA-256 over a fixed struct. */
export function stretch(initial: Buffer, salt: Buffer): Buffer {
  // struct { last_sha256[32]; initial_sha256[32]; salt[16]; count (u64 LE) }
  const s = Buffer.alloc(88);
  initial.copy(s, 32);
  salt.copy(s, 64, 0, 16);
  if (!nativeStretch(s)) {
    // node:crypto's one-shot hash where it exists (Node >= 20.12): ~3x faster than createHash.
    // Read here, not at module load: the bundle loads node:crypto on first use of an export,
    // and a read at load cost every command (`cat` included) the ~5 ms of loading it.
    const cryptoHash = (nodeCrypto as { hash?: unknown }).hash;
    const one = (cryptoHash as ((alg: string, data: Buffer, enc: 'buffer') => Buffer) | undefined) ?? ((_a: string, d: Buffer) => createHash('sha256').update(d).digest());
    for (let count = 0; count < 0x100000; count++) {
      s.writeUInt32LE(count, 80);
      one('sha256', s, 'buffer').copy(s, 0);
    }
  }
  return Buffer.from(s.subarray(0, 32));
}

export function userPasswordInitial(password: Buffer): Buffer {
  const utf16 = Buffer.from(password.toString('utf8'), 'utf16le');
  return createHash('sha256').update(createHash('sha256').update(utf16).digest()).digest();
}

/**
 * An AES-CCM encrypted key entry (value type 5: nonce time 8, counter 4, then MAC 16 and data)
 * decrypted with `key`; null when the MAC does not match (a wrong key).
 */
export function unwrapCcm(e: FveEntry, key: Buffer): Buffer | null {
  if (e.valueType !== VALUE.aesCcmKey || e.data.length < 12 + 16 + 12) return null;
  const nonce = e.data.subarray(0, 12);
  const mac = e.data.subarray(12, 28);
  const body = e.data.subarray(28);
  try {
    const alg = (key.length === 16 ? 'aes-128-ccm' : key.length === 24 ? 'aes-192-ccm' : 'aes-256-ccm') as 'aes-256-ccm';
    const d = createDecipheriv(alg, key, nonce, { authTagLength: 16 });
    d.setAuthTag(mac);
    const plain = d.update(body);
    d.final();
    return plain;
  } catch {
    return null;
  }
}

/** The key in a key container (the plaintext of an unwrapped key): size, version, method, key. */
export function keyFromContainer(plain: Buffer, file: string): { method: number; key: Buffer } {
  if (plain.length < 12) throw corrupt(file, 'BitLocker key container is cut short');
  const size = plain.readUInt32LE(0);
  if (size < 12 || size > plain.length) throw corrupt(file, `BitLocker key container of ${size} bytes does not fit`);
  return { method: plain.readUInt32LE(8) & 0xffff, key: Buffer.from(plain.subarray(12, size)) };
}

function stretchSalt(v: Vmk): Buffer | null {
  const s = v.entries.find((e) => e.valueType === VALUE.stretchKey && e.data.length >= 20);
  return s ? Buffer.from(s.data.subarray(4, 20)) : null;
}

function ccmOf(v: Vmk): FveEntry | undefined {
  return v.entries.find((e) => e.valueType === VALUE.aesCcmKey);
}

/** The VMK from a protector key (the stretched password, the BEK's or the clear key); null if wrong. */
function vmkWith(v: Vmk, protectorKey: Buffer, file: string): Buffer | null {
  const ccm = ccmOf(v);
  if (!ccm) return null;
  const plain = unwrapCcm(ccm, protectorKey);
  return plain ? keyFromContainer(plain, file).key : null;
}

export function vmkFromRecoveryPassword(v: Vmk, password: string, file: string): Buffer | null {
  const key = recoveryPasswordKey(password);
  const salt = stretchSalt(v);
  if (!key || !salt) return null;
  return vmkWith(v, stretch(createHash('sha256').update(key).digest(), salt), file);
}

export function vmkFromUserPassword(v: Vmk, password: Buffer, file: string): Buffer | null {
  const salt = stretchSalt(v);
  if (!salt) return null;
  return vmkWith(v, stretch(userPasswordInitial(password), salt), file);
}

export function vmkFromClearKey(v: Vmk, file: string): Buffer | null {
  const k = v.entries.find((e) => e.valueType === VALUE.key && e.data.length >= 4 + 32);
  return k ? vmkWith(v, Buffer.from(k.data.subarray(4)), file) : null;
}

/** A .BEK file: its identifier and 256-bit key (an external key entry, value type 9). */
export function parseBek(bek: Buffer, file: string): { id: string; key: Buffer } | null {
  if (bek.length < 48 + 8) return null;
  const size = bek.readUInt32LE(0);
  if (bek.readUInt32LE(4) !== 1 || bek.readUInt32LE(8) !== 48 || size < 48 || size > bek.length) return null;
  for (const e of parseEntries(bek, 48, size, file)) {
    if (e.valueType !== VALUE.externalKey || e.data.length < 24) continue;
    const key = nestedEntries(e, file).find((k) => k.valueType === VALUE.key && k.data.length >= 4 + 32);
    if (key) return { id: guidString(e.data.subarray(0, 16)), key: Buffer.from(key.data.subarray(4, 36)) };
  }
  return null;
}

export function vmkFromBek(v: Vmk, bek: { id: string; key: Buffer }, file: string): Buffer | null {
  return v.id.toLowerCase() === bek.id.toLowerCase() ? vmkWith(v, bek.key, file) : null;
}

/** The FVEK entry (top level, AES-CCM encrypted under the VMK) opened. */
export function fvekWith(entries: FveEntry[], vmk: Buffer, file: string): { method: number; key: Buffer } | null {
  const e = entries.find((x) => x.type === ENTRY.fvek && x.valueType === VALUE.aesCcmKey);
  if (!e) throw corrupt(file, 'BitLocker metadata has no FVEK entry');
  const plain = unwrapCcm(e, vmk);
  return plain ? keyFromContainer(plain, file) : null;
}
