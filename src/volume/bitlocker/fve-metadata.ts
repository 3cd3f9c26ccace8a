/**
 * FVE metadata (libbde specification, §"FVE metadata block"): three copies of one block, each a
 * 64-byte block header ("-FVE-FS-", version 1 Vista / 2 Windows 7+), a 48-byte metadata header
 * and a list of metadata entries (size, entry type, value type, version, data). Entries nest:
 * a VMK holds its protector's key entries, a stretch key holds an AES-CCM encrypted key.
 *
 * Validation: a block must carry the signature, a known version, offsets that agree with where
 * it was found, and entries that tile its metadata exactly (sizes ≥ 8, inside the block, nesting
 * at most 4 deep). The first valid copy of the three is used; every invalid one is a warning.
 */
import { corrupt } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import type { BitLockerVolumeHeader } from './volume-header.js';

/** Entry types (§"FVE metadata entry types"). */
export const ENTRY = { property: 0x0000, vmk: 0x0002, fvek: 0x0003, validation: 0x0004, startupKey: 0x0006, description: 0x0007, fvekBackup: 0x000b, volumeHeaderBlock: 0x000f } as const;
/** Value types (§"FVE metadata value types"). */
export const VALUE = { erased: 0, key: 1, unicode: 2, stretchKey: 3, useKey: 4, aesCcmKey: 5, tpmKey: 6, validation: 7, vmk: 8, externalKey: 9, update: 10, error: 11, offsetAndSize: 15 } as const;

export interface FveEntry {
  type: number;
  valueType: number;
  version: number;
  data: Buffer;
}

export interface FveMetadata {
  version: 1 | 2;
  /** Byte offsets of the three blocks. */
  blockOffsets: number[];
  /** Windows 7+: bytes of the volume still encrypted (the rest is plaintext during conversion). */
  encryptedSize: number | null;
  /** Windows 7+: where the first sectors of the volume are kept (encrypted), and how many. */
  volumeHeaderOffset: number | null;
  volumeHeaderSectors: number | null;
  /** Vista: the MFT mirror cluster put back into the reconstructed boot sector. */
  mftMirrorCluster: number | null;
  volumeGuid: string;
  /** Encryption method (§"Encryption methods"): 0x8000 … 0x8005. */
  encryptionMethod: number;
  creationTime: Date | null;
  entries: FveEntry[];
  /** Which copy was used, and why the others were not. */
  copies: string;
  warnings: string[];
  /** Size of each metadata block on the volume (read as zeros in the decrypted volume). */
  blockSize: number;
}

/** Largest metadata a block may declare: Windows writes ~1 KiB in a 64 KiB block. */
const MAX_METADATA = 64 * 1024;
const MAX_DEPTH = 4;

export function guidString(b: Buffer): string {
  const h = b.toString('hex');
  const le = (s: string) => s.match(/../g)!.reverse().join('');
  return `${le(h.slice(0, 8))}-${le(h.slice(8, 12))}-${le(h.slice(12, 16))}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

export function filetime(b: Buffer, at: number): Date | null {
  const t = b.readBigUInt64LE(at);
  if (t === 0n) return null;
  const ms = Number(t / 10000n) - 11644473600000;
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms) : null;
}

/** The entries in `data[at … end)`, each checked to lie inside it; nested data is parsed on demand. */
export function parseEntries(data: Buffer, at: number, end: number, file: string, depth = 0): FveEntry[] {
  if (depth > MAX_DEPTH) throw corrupt(file, 'BitLocker metadata: entries nested too deeply');
  const out: FveEntry[] = [];
  let pos = at;
  while (pos + 8 <= end) {
    const size = data.readUInt16LE(pos);
    // Windows pads the list with zeros up to the declared size.
    if (size === 0) break;
    if (size < 8 || pos + size > end) throw corrupt(file, `BitLocker metadata: an entry at ${pos} of ${size} bytes does not fit its list`);
    out.push({ type: data.readUInt16LE(pos + 2), valueType: data.readUInt16LE(pos + 4), version: data.readUInt16LE(pos + 6), data: data.subarray(pos + 8, pos + size) });
    pos += size;
  }
  return out;
}

/** Header sizes of each value type before its nested entries (VMK: 28; external key: 24; stretch key: 20). */
export function nestedEntries(e: FveEntry, file: string, depth = 1): FveEntry[] {
  const skip = e.valueType === VALUE.vmk ? 28 : e.valueType === VALUE.externalKey ? 24 : e.valueType === VALUE.stretchKey ? 20 : -1;
  if (skip < 0 || e.data.length < skip) throw corrupt(file, `BitLocker metadata: value type ${e.valueType} holds no entries`);
  return parseEntries(e.data, skip, e.data.length, file, depth);
}

async function readBlock(src: ByteSource, at: number, hdr: BitLockerVolumeHeader): Promise<Omit<FveMetadata, 'copies' | 'warnings'> | string> {
  if (!Number.isSafeInteger(at) || at <= 0 || at + 112 > src.size) return `offset ${at} is outside the volume`;
  if (at % hdr.bytesPerSector !== 0) return `offset ${at} is not on a sector boundary`;
  const head = await readExact(src, at, 112, 'BitLocker metadata block');
  if (head.toString('latin1', 0, 8) !== '-FVE-FS-') return 'no -FVE-FS- signature';
  const version = head.readUInt16LE(10);
  if (version !== 1 && version !== 2) return `unknown version ${version}`;
  const blockOffsets = [32, 40, 48].map((o) => Number(head.readBigUInt64LE(o)));
  if (!blockOffsets.includes(at)) return `its own offset ${at} is not among the offsets it lists`;
  const m = 64;
  const size = head.readUInt32LE(m);
  const headerSize = head.readUInt32LE(m + 8);
  if (head.readUInt32LE(m + 4) !== 1 || headerSize !== 48) return 'unknown metadata header version';
  if (size < 48 || size > MAX_METADATA) return `metadata size ${size} is out of range`;
  if (at + m + size > src.size) return 'metadata past the end of the volume';
  const data = await readExact(src, at + m, size, 'BitLocker metadata');
  return {
    version,
    blockOffsets,
    encryptedSize: version === 2 ? Number(head.readBigUInt64LE(16)) : null,
    volumeHeaderSectors: version === 2 ? head.readUInt32LE(28) : null,
    volumeHeaderOffset: version === 2 ? Number(head.readBigUInt64LE(56)) : null,
    mftMirrorCluster: version === 1 ? Number(head.readBigUInt64LE(56)) : null,
    volumeGuid: guidString(data.subarray(16, 32)),
    encryptionMethod: data.readUInt32LE(36) & 0xffff,
    creationTime: filetime(data, 40),
    entries: parseEntries(data, 48, size, src.name),
    blockSize: version === 1 ? 16 * 1024 : 64 * 1024,
  };
}

/** The first valid of the three metadata copies; all three bad is a one-line error. */
export async function readFveMetadata(src: ByteSource, hdr: BitLockerVolumeHeader): Promise<FveMetadata> {
  const tried = new Set<number>();
  const why: string[] = [];
  let queue = [...hdr.metadataOffsets];
  let found: Omit<FveMetadata, 'copies' | 'warnings'> | null = null;
  let used = -1;
  // Vista's header names one block; each block names all three. At most three distinct offsets
  // are ever read, so offsets that point at each other cannot loop.
  while (queue.length && tried.size < 3) {
    const at = queue.shift()!;
    if (tried.has(at)) continue;
    tried.add(at);
    let r: Awaited<ReturnType<typeof readBlock>>;
    try {
      r = await readBlock(src, at, hdr);
    } catch (err) {
      r = (err as Error).message;
    }
    if (typeof r === 'string') {
      why.push(`copy at ${at}: ${r}`);
      continue;
    }
    if (!found) {
      found = r;
      used = at;
      queue = [...queue, ...r.blockOffsets.filter((o) => !tried.has(o))];
    }
  }
  if (!found) throw corrupt(src.name, `BitLocker metadata: no valid copy (${why.join('; ')})`);
  return { ...found, copies: `copy at ${used} used${why.length ? `; ${why.join('; ')}` : ''}`, warnings: why.map((w) => `BitLocker metadata ${w}`) };
}

/** The text of a Unicode property entry. */
export function unicodeOf(e: FveEntry): string {
  const s = e.data.toString('utf16le');
  const z = s.indexOf('\0');
  return z < 0 ? s : s.slice(0, z);
}
