/**
 * dm-crypt cipher specifications as LUKS writes them ("aes-xts-plain64", "aes-cbc-essiv:sha256":
 * cipher-chainmode-ivmode[:ivopts]) turned into a sector cipher. Only AES is read; anything else
 * (serpent, twofish, capi: forms, keyed IVs like lmk/tcw) is named in a one-line error.
 */
import { unsupported } from '../../errors.js';
import { CbcCipher, XtsCipher, essivIvs, plainIvs, type SectorCipher } from './sector-cipher.js';
import { getHashes } from 'node:crypto';

/** `ivStep`: see SectorCipher.ivStep (LUKS: sectorSize / 512). */
export function makeSectorCipher(spec: string, key: Buffer, sectorSize: number, file: string, ivStep = sectorSize / 512): SectorCipher {
  const m = /^([a-z0-9]+)-([a-z0-9]+)-([a-z0-9]+)(?::([a-z0-9]+))?$/.exec(spec);
  const what = `the cipher "${spec.slice(0, 64)}"`;
  if (!m) throw unsupported(file, `${what} is not one diskpick reads (aes-xts-plain64, aes-cbc-essiv:sha256, aes-cbc-plain64)`);
  const [, cipher, mode, iv, ivOpt] = m as unknown as [string, string, string, string, string | undefined];
  if (cipher !== 'aes') throw unsupported(file, `${what}: only AES is read`);
  if (mode === 'xts') {
    if (key.length !== 32 && key.length !== 64) throw unsupported(file, `${what} with a ${key.length * 8}-bit key`);
    if (iv !== 'plain64' && iv !== 'plain') throw unsupported(file, `${what}: the IV mode "${iv}" is not read`);
    return new XtsCipher(key, sectorSize, iv, ivStep);
  }
  if (mode === 'cbc') {
    if (![16, 24, 32].includes(key.length)) throw unsupported(file, `${what} with a ${key.length * 8}-bit key`);
    if (iv === 'plain64' || iv === 'plain') return new CbcCipher(key, sectorSize, plainIvs(iv === 'plain' ? 32 : 64), ivStep);
    if (iv === 'essiv' && ivOpt && getHashes().includes(ivOpt)) return new CbcCipher(key, sectorSize, essivIvs(key, ivOpt), ivStep);
    throw unsupported(file, `${what}: the IV mode "${iv}${ivOpt ? `:${ivOpt}` : ''}" is not read`);
  }
  throw unsupported(file, `${what}: the mode "${mode}" is not read`);
}
