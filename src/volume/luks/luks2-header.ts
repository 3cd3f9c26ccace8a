/**
 * The LUKS2 binary header (LUKS2 On-Disk Format Specification, §2, Figure 2 and Table 1): two
 * copies, each a 4096-byte binary header followed by its JSON area, hdr_size bytes in all. The
 * primary sits at 0, the secondary at hdr_size; each carries a checksum over its whole hdr_size
 * (the csum field zeroed) and a sequence id: the valid copy with the higher seqid wins (§2.1).
 */
import { createHash, getHashes } from 'node:crypto';
import { corrupt } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { LUKS_MAGIC } from './luks1-header.js';
import { parseLuks2Json, type LuksMetadata } from './metadata.js';

const LUKS2_SECONDARY_MAGIC = Buffer.from([0x53, 0x4b, 0x55, 0x4c, 0xba, 0xbe]); // "SKUL\xba\xbe"
const BINARY_HEADER_SIZE = 4096;
/** luks2_hdr_disk field offsets (§2, Table 1). */
const F = { magic: 0, version: 6, hdrSize: 8, seqid: 16, label: 24, checksumAlg: 72, salt: 104, uuid: 168, subsystem: 208, hdrOffset: 256, csum: 448 } as const;
/** The only hdr_size values the spec allows (16 KiB … 4 MiB, §2); so a JSON area is at most 4 MiB. */
const HDR_SIZES = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096].map((k) => k * 1024);

interface Copy {
  at: number;
  seqid: bigint;
  hdrSize: number;
  uuid: string;
  label: string;
  subsystem: string;
  json: string;
}

function cstr(b: Buffer, at: number, len: number): string {
  const s = b.subarray(at, at + len);
  const z = s.indexOf(0);
  return s.toString('utf8', 0, z < 0 ? len : z);
}

/** One copy at `at`, or the reason it is unusable. */
async function readCopy(src: ByteSource, at: number, magic: Buffer): Promise<Copy | string> {
  const bin = await src.read(at, BINARY_HEADER_SIZE);
  if (bin.length < BINARY_HEADER_SIZE) return 'cut short';
  if (!bin.subarray(0, 6).equals(magic)) return 'no magic';
  if (bin.readUInt16BE(F.version) !== 2) return `version ${bin.readUInt16BE(F.version)}`;
  const hdrSize64 = bin.readBigUInt64BE(F.hdrSize);
  const hdrSize = Number(hdrSize64);
  if (!HDR_SIZES.includes(hdrSize)) return `invalid hdr_size ${hdrSize64}`;
  if (bin.readBigUInt64BE(F.hdrOffset) !== BigInt(at)) return `hdr_offset ${bin.readBigUInt64BE(F.hdrOffset)} does not match its position ${at}`;
  const alg = cstr(bin, F.checksumAlg, 32);
  if (!getHashes().includes(alg)) return `unknown checksum algorithm "${alg.slice(0, 32)}"`;
  const whole = await src.read(at, hdrSize);
  if (whole.length < hdrSize) return 'cut short';
  const h = createHash(alg);
  const zeroed = Buffer.from(whole.subarray(0, BINARY_HEADER_SIZE));
  zeroed.fill(0, F.csum, F.csum + 64);
  h.update(zeroed);
  h.update(whole.subarray(BINARY_HEADER_SIZE));
  const sum = h.digest();
  if (!sum.equals(bin.subarray(F.csum, F.csum + sum.length))) return 'checksum mismatch';
  const area = whole.subarray(BINARY_HEADER_SIZE);
  const end = area.indexOf(0);
  return {
    at,
    seqid: bin.readBigUInt64BE(F.seqid),
    hdrSize,
    uuid: cstr(bin, F.uuid, 40),
    label: cstr(bin, F.label, 48),
    subsystem: cstr(bin, F.subsystem, 48),
    json: area.toString('utf8', 0, end < 0 ? area.length : end),
  };
}

export async function readLuks2Header(src: ByteSource): Promise<LuksMetadata> {
  const primary = await readCopy(src, 0, LUKS_MAGIC);
  let secondary: Copy | string = 'not found';
  // The secondary follows the primary; with the primary damaged, every allowed offset is tried.
  const places = typeof primary === 'string' ? HDR_SIZES : [primary.hdrSize];
  for (const at of places) {
    secondary = await readCopy(src, at, LUKS2_SECONDARY_MAGIC);
    if (typeof secondary !== 'string') break;
  }
  const warnings: string[] = [];
  let use: Copy;
  let copies: string;
  if (typeof primary !== 'string' && typeof secondary !== 'string') {
    use = secondary.seqid > primary.seqid ? secondary : primary;
    copies = primary.seqid === secondary.seqid ? 'both copies valid' : `both copies valid, seqid ${primary.seqid} and ${secondary.seqid}: the newer used`;
    if (primary.seqid !== secondary.seqid) warnings.push(`the two metadata copies differ (seqid ${primary.seqid} and ${secondary.seqid}); the newer is used`);
  } else if (typeof primary !== 'string') {
    use = primary;
    copies = `primary only (secondary: ${secondary as string})`;
    warnings.push(`the secondary metadata copy is unusable (${secondary as string}); the primary is used`);
  } else if (typeof secondary !== 'string') {
    use = secondary;
    copies = `secondary only (primary: ${primary})`;
    warnings.push(`the primary metadata copy is unusable (${primary}); the secondary is used`);
  } else {
    throw corrupt(src.name, `LUKS2 header: no usable metadata copy (primary: ${primary}; secondary: ${secondary})`);
  }
  return parseLuks2Json(use.json, src.name, { uuid: use.uuid, label: use.label, subsystem: use.subsystem, hdrSize: use.hdrSize }, copies, warnings);
}
