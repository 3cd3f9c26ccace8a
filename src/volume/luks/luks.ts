/**
 * LUKS1 and LUKS2 volumes: detection, a description that needs no secret (for `info`), and
 * opening with a passphrase, a key file or the volume key into a decrypted ByteSource.
 *
 * Opening (LUKS1 spec §2.5 "Key Recovery"; LUKS2 spec §4): for each keyslot by priority,
 * derive the area key from the secret (kdf.ts), decrypt the keyslot area with 512-byte sectors
 * from IV 0, AF-merge it (af.ts) into a candidate volume key and check it against the digest
 * (digest.ts). The first key that matches opens the data segments.
 */
import { DiskpickError, corrupt, unsupported } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { makeSectorCipher } from '../crypt/cipher-spec.js';
import { DecryptedSource, type PlainSegment } from '../crypt/decrypted-source.js';
import { afMerge } from './af.js';
import { KdfBudget, deriveKey, nodeHash, pbkdf2Async } from './kdf.js';
import { LUKS1_HEADER_SIZE, parseLuks1Header, probeLuks } from './luks1-header.js';

// Here since the registry (formats.ts) and detect.ts probe without loading this module.
export { probeLuks };
import { readLuks2Header } from './luks2-header.js';
import type { LuksDigest, LuksKeyslot, LuksMetadata } from './metadata.js';
import { timingSafeEqual } from 'node:crypto';

export type { LuksMetadata } from './metadata.js';

/** What opens a LUKS volume. Secrets are never put into messages. */
export type LuksKey = { passphrase: Buffer } | { keyFile: Buffer } | { volumeKey: Buffer };

export interface LuksOpenOptions {
  /** A detached header (cryptsetup --header): metadata and keyslots come from here. */
  header?: ByteSource;
  /** Name for the decrypted source ("image.vmdk:/p3"). */
  name?: string;
}

/** The header's metadata: needs no secret. */
export async function describeLuks(src: ByteSource, opts: { header?: ByteSource } = {}): Promise<LuksMetadata> {
  const hdr = opts.header ?? src;
  const head = await hdr.read(0, LUKS1_HEADER_SIZE);
  const version = probeLuks(head);
  if (!version) throw corrupt(hdr.name, 'not a LUKS header');
  const meta = version === 1 ? parseLuks1Header(head, hdr.name) : await readLuks2Header(hdr);
  for (const k of meta.keyslots) {
    const end = k.area.offset + k.area.size;
    if (k.af.stripes * k.keyBytes > k.area.size) throw corrupt(hdr.name, `LUKS keyslot ${k.id}: ${k.af.stripes} stripes of ${k.keyBytes} bytes do not fit its ${k.area.size}-byte area`);
    if (k.area.offset < (version === 1 ? LUKS1_HEADER_SIZE : 8192) || k.area.size > 64 << 20) throw corrupt(hdr.name, `LUKS keyslot ${k.id}: its area (${k.area.offset}, ${k.area.size} bytes) is invalid`);
    if (end > hdr.size) throw corrupt(hdr.name, `truncated: LUKS keyslot ${k.id} area ends at ${end}, past the end (${hdr.size} bytes)`);
  }
  return meta;
}

/** One line for `info`: "LUKS2 aes-xts-plain64 512-bit, 4096-byte sectors, keyslots 0 (argon2id), 1 (pbkdf2)". */
export function summarizeLuks(m: LuksMetadata): string {
  const seg = m.segments[0]!;
  const slots = m.keyslots.map((k) => `${k.id} (${k.kdf.type})`).join(', ') || 'none';
  const tokens = m.tokens.length ? `; tokens ${m.tokens.map((t) => `${t.id} (${t.type})`).join(', ')}, not used` : '';
  return `LUKS${m.version} ${seg.encryption} ${m.keyBytes * 8}-bit, ${seg.sectorSize}-byte sectors, keyslots ${slots}${tokens}`;
}

function digestFor(meta: LuksMetadata, slot?: LuksKeyslot): LuksDigest | undefined {
  const seg = meta.segments.find((s) => s.type === 'crypt');
  return meta.digests.find((d) => (!slot || d.keyslots.includes(slot.id)) && (!seg || d.segments.includes(seg.id)));
}

async function digestMatches(d: LuksDigest, key: Buffer, file: string, budget: KdfBudget): Promise<boolean> {
  budget.spend({ type: 'pbkdf2', hash: d.hash, iterations: d.iterations, salt: d.salt }, `digest ${d.id}`);
  const got = await pbkdf2Async(key, d.salt, d.iterations, d.digest.length, nodeHash(d.hash, file, `digest ${d.id}`));
  return timingSafeEqual(got, d.digest);
}

/** The volume key a keyslot gives for `secret`, or null if its digest does not match. */
async function openKeyslot(hdr: ByteSource, meta: LuksMetadata, k: LuksKeyslot, secret: Buffer, budget: KdfBudget): Promise<Buffer | null> {
  const what = `keyslot ${k.id}`;
  const d = digestFor(meta, k);
  if (!d) return null;
  const areaKey = await deriveKey(k.kdf, secret, k.area.keyBytes, hdr.name, what, budget);
  const cipher = makeSectorCipher(k.area.encryption, areaKey, 512, hdr.name);
  const material = Buffer.from(await readExact(hdr, k.area.offset, k.area.size, `LUKS ${what} area`));
  cipher.decrypt(material, 0, Math.floor(material.length / 512) * 512, 0);
  const key = afMerge(material, k.keyBytes, k.af.stripes, nodeHash(k.af.hash, hdr.name, what));
  material.fill(0);
  areaKey.fill(0);
  if (await digestMatches(d, key, hdr.name, budget)) return key;
  key.fill(0);
  return null;
}

/** Opens the volume: the decrypted data segments as one source. Wrong key: a 'wrongKey' error. */
export async function openLuks(src: ByteSource, key: LuksKey, opts: LuksOpenOptions = {}): Promise<ByteSource> {
  const hdr = opts.header ?? src;
  const meta = await describeLuks(src, opts);
  let volumeKey: Buffer | null = null;
  const budget = new KdfBudget(hdr.name);
  if ('volumeKey' in key) {
    const d = digestFor(meta);
    if (!d) throw corrupt(hdr.name, 'LUKS header has no digest for its data segment');
    if (await digestMatches(d, key.volumeKey, hdr.name, budget)) volumeKey = Buffer.from(key.volumeKey);
  } else {
    const secret = 'passphrase' in key ? key.passphrase : key.keyFile;
    // High priority first, "ignore" (0) slots only when nothing else is there (as cryptsetup).
    const slots = [...meta.keyslots].sort((a, b) => b.priority - a.priority).filter((k) => k.priority > 0);
    const usable = slots.filter((k) => digestFor(meta, k));
    if (usable.length === 0) throw unsupported(hdr.name, `LUKS${meta.version} volume has no passphrase keyslot diskpick can use`);
    for (const k of usable) {
      volumeKey = await openKeyslot(hdr, meta, k, secret, budget);
      if (volumeKey) break;
    }
  }
  if (!volumeKey) {
    const what = 'volumeKey' in key ? 'the volume key does not match the header digest' : `no keyslot of this LUKS${meta.version} volume opens with this ${'passphrase' in key ? 'passphrase' : 'key file'}`;
    throw new DiskpickError('wrongKey', `wrong key: ${what}`, hdr.name);
  }
  return new DecryptedSource(src, dataSegments(meta, volumeKey, src), opts.name ?? `${src.name} (decrypted)`);
}

function dataSegments(meta: LuksMetadata, volumeKey: Buffer, src: ByteSource): PlainSegment[] {
  const out: PlainSegment[] = [];
  let start = 0;
  meta.segments.forEach((s, i) => {
    const last = i === meta.segments.length - 1;
    if (s.size === 'dynamic' && !last) throw corrupt(src.name, `LUKS segment ${s.id}: only the last segment may be "dynamic"`);
    const align = s.type === 'crypt' ? s.sectorSize : 512;
    const avail = src.size - s.offset;
    if (avail < 0) throw corrupt(src.name, `truncated: LUKS data segment ${s.id} starts at ${s.offset}, past the end (${src.size} bytes)`);
    const length = s.size === 'dynamic' ? Math.floor(avail / align) * align : s.size;
    if (length % align !== 0) throw corrupt(src.name, `LUKS segment ${s.id}: size ${length} is not a multiple of its ${align}-byte sectors`);
    // LUKS IVs count 512-byte units whatever the sector size (no iv_large_sectors): the
    // 4096-byte sector at byte 4096 of a segment has IV 8 (checked on cryptsetup's own output).
    // iv_tweak is in the same units.
    const cipher = s.type === 'crypt' ? makeSectorCipher(s.encryption, volumeKey, s.sectorSize, src.name, s.sectorSize / 512) : null;
    out.push({ start, length, sourceOffset: s.offset, cipher, firstIv: s.ivTweak });
    start += length;
  });
  return out;
}
