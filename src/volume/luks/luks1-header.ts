/**
 * The LUKS1 partition header (LUKS On-Disk Format Specification 1.2.3, §2.4, Figure 1): 592 bytes
 * at offset 0, big-endian, with eight key slots (§2.6). Everything the header says is checked
 * against the header's own limits here; sizes against the volume in luks.ts.
 */
import { corrupt } from '../../errors.js';
import type { LuksMetadata, LuksKeyslot } from './metadata.js';

export const LUKS_MAGIC = Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe]); // "LUKS\xba\xbe"

/** 1 or 2 when `head` (the first bytes of a volume) starts with a LUKS header, else null. */
export function probeLuks(head: Buffer): 1 | 2 | null {
  if (head.length < 8 || !head.subarray(0, 6).equals(LUKS_MAGIC)) return null;
  const v = head.readUInt16BE(6);
  return v === 1 || v === 2 ? v : null;
}
export const LUKS1_HEADER_SIZE = 592;

/** phdr field offsets (spec §2.4). */
const F = {
  magic: 0, version: 6, cipherName: 8, cipherMode: 40, hashSpec: 72, payloadOffset: 104, keyBytes: 108,
  mkDigest: 112, mkDigestSalt: 132, mkDigestIter: 164, uuid: 168, keyblock: 208,
} as const;
const KEYSLOT_SIZE = 48;
const LUKS_KEY_ENABLED = 0x00ac71f3;
const LUKS_KEY_DISABLED = 0x0000dead;
const LUKS_NUMKEYS = 8;
const LUKS_MKD_DIGESTSIZE = 20;
const SECTOR = 512;

function cstr(b: Buffer, at: number, len: number): string {
  const s = b.subarray(at, at + len);
  const z = s.indexOf(0);
  return s.toString('latin1', 0, z < 0 ? len : z);
}

export function parseLuks1Header(h: Buffer, file: string): LuksMetadata {
  if (h.length < LUKS1_HEADER_SIZE) throw corrupt(file, 'truncated LUKS1 header');
  const cipherName = cstr(h, F.cipherName, 32);
  const cipherMode = cstr(h, F.cipherMode, 32);
  const hashSpec = cstr(h, F.hashSpec, 32);
  const keyBytes = h.readUInt32BE(F.keyBytes);
  if (![16, 24, 32, 48, 64].includes(keyBytes)) throw corrupt(file, `LUKS1 header: key size of ${keyBytes} bytes is not a valid one`);
  const payloadOffset = h.readUInt32BE(F.payloadOffset);
  const warnings: string[] = [];
  const keyslots: LuksKeyslot[] = [];
  for (let i = 0; i < LUKS_NUMKEYS; i++) {
    const o = F.keyblock + i * KEYSLOT_SIZE;
    const active = h.readUInt32BE(o);
    if (active === LUKS_KEY_DISABLED) continue;
    if (active !== LUKS_KEY_ENABLED) {
      warnings.push(`key slot ${i} has an invalid state (0x${active.toString(16)}), skipped`);
      continue;
    }
    const stripes = h.readUInt32BE(o + 44);
    keyslots.push({
      id: String(i),
      keyBytes,
      priority: 1,
      kdf: { type: 'pbkdf2', hash: hashSpec, iterations: h.readUInt32BE(o + 4), salt: Buffer.from(h.subarray(o + 8, o + 40)) },
      af: { stripes, hash: hashSpec },
      area: { offset: h.readUInt32BE(o + 40) * SECTOR, size: Math.ceil((keyBytes * stripes) / SECTOR) * SECTOR, encryption: `${cipherName}-${cipherMode}`, keyBytes },
    });
  }
  return {
    version: 1,
    uuid: cstr(h, F.uuid, 40),
    label: '',
    subsystem: '',
    keyBytes,
    keyslots,
    digests: [{
      id: '0',
      type: 'pbkdf2',
      hash: hashSpec,
      iterations: h.readUInt32BE(F.mkDigestIter),
      salt: Buffer.from(h.subarray(F.mkDigestSalt, F.mkDigestSalt + 32)),
      digest: Buffer.from(h.subarray(F.mkDigest, F.mkDigest + LUKS_MKD_DIGESTSIZE)),
      keyslots: keyslots.map((k) => k.id),
      segments: ['0'],
    }],
    segments: [{ id: '0', type: 'crypt', offset: payloadOffset * SECTOR, size: 'dynamic', ivTweak: 0, encryption: `${cipherName}-${cipherMode}`, sectorSize: SECTOR }],
    tokens: [],
    headerSize: payloadOffset * SECTOR,
    metadataCopies: 'single header (LUKS1)',
    warnings,
  };
}
