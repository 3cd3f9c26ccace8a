/**
 * LUKS metadata in one shape for both versions: LUKS1's fixed header (luks1-header.ts) and
 * LUKS2's JSON area (LUKS2 On-Disk Format Specification, §3 "JSON area"), validated here.
 * Every number the JSON gives is checked to be a safe integer in range before it is used;
 * names keep the spec's (key_size → keyBytes, iv_tweak → ivTweak, sector_size → sectorSize).
 */
import { corrupt } from '../../errors.js';

export type LuksKdf =
  | { type: 'pbkdf2'; hash: string; iterations: number; salt: Buffer }
  | { type: 'argon2i' | 'argon2id'; time: number; memory: number; cpus: number; salt: Buffer };

export interface LuksKeyslot {
  id: string;
  /** Size of the volume key this slot holds. */
  keyBytes: number;
  /** 0 ignore, 1 normal, 2 high (LUKS2 "priority"; LUKS1 slots are all normal). */
  priority: number;
  kdf: LuksKdf;
  /** Anti-forensic splitter (§2.4 of LUKS1; "af" object of LUKS2, type "luks1"). */
  af: { stripes: number; hash: string };
  /** The encrypted key material, relative to the header's start. */
  area: { offset: number; size: number; encryption: string; keyBytes: number };
}

export interface LuksDigest {
  id: string;
  type: 'pbkdf2';
  hash: string;
  iterations: number;
  salt: Buffer;
  digest: Buffer;
  keyslots: string[];
  segments: string[];
}

export interface LuksSegment {
  id: string;
  /** "crypt" or "linear" (plaintext, during re-encryption). */
  type: 'crypt' | 'linear';
  /** Bytes from the start of the data device (the header's device unless detached). */
  offset: number;
  size: number | 'dynamic';
  /** In 512-byte sectors, added to the sector number before the IV is made. */
  ivTweak: number;
  encryption: string;
  sectorSize: number;
}

export interface LuksToken {
  id: string;
  type: string;
  keyslots: string[];
}

export interface LuksMetadata {
  version: 1 | 2;
  uuid: string;
  label: string;
  subsystem: string;
  /** Size of the volume key (of the first data segment's digest). */
  keyBytes: number;
  keyslots: LuksKeyslot[];
  digests: LuksDigest[];
  segments: LuksSegment[];
  tokens: LuksToken[];
  /** LUKS2: metadata + keyslots area; LUKS1: the payload offset. */
  headerSize: number;
  /** Which copy of the metadata was used and why (LUKS2 has two). */
  metadataCopies: string;
  warnings: string[];
}

/** LUKS2 limits (LUKS2_KEYSLOTS_MAX, LUKS2_TOKENS_MAX in the spec's reference implementation). */
const MAX_KEYSLOTS = 32;
const MAX_TOKENS = 32;
const MAX_SEGMENTS = 32;
const MAX_DIGESTS = 32;

type Json = Record<string, unknown>;

class Reader {
  constructor(private readonly file: string) {}

  fail(what: string): never {
    throw corrupt(this.file, `LUKS2 metadata: ${what}`);
  }

  obj(v: unknown, what: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(`${what} is not an object`);
    return v as Json;
  }

  str(v: unknown, what: string): string {
    if (typeof v !== 'string' || v.length > 1024) this.fail(`${what} is not a string`);
    return v;
  }

  int(v: unknown, what: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > max) this.fail(`${what} is not an integer in ${min}…${max}`);
    return v;
  }

  /** u64 values are JSON strings of decimal digits (§3.1). */
  u64(v: unknown, what: string): number {
    if (typeof v !== 'string' || !/^[0-9]{1,20}$/.test(v)) this.fail(`${what} is not a decimal string`);
    const n = Number(v);
    if (!Number.isSafeInteger(n)) this.fail(`${what} (${v}) is too large`);
    return n;
  }

  b64(v: unknown, what: string, maxBytes = 1024): Buffer {
    const s = this.str(v, what);
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) this.fail(`${what} is not base64`);
    const b = Buffer.from(s, 'base64');
    if (b.length === 0 || b.length > maxBytes) this.fail(`${what} has ${b.length} bytes`);
    return b;
  }

  ids(v: unknown, what: string): string[] {
    if (!Array.isArray(v) || v.length > MAX_KEYSLOTS) this.fail(`${what} is not a list of ids`);
    return v.map((x, i) => this.id(x, `${what}[${i}]`));
  }

  id(v: unknown, what: string): string {
    const s = this.str(v, what);
    if (!/^[0-9]{1,2}$/.test(s)) this.fail(`${what} ("${s.slice(0, 20)}") is not an id`);
    return s;
  }

  entries(v: unknown, what: string, max: number): [string, Json][] {
    const o = this.obj(v ?? {}, what);
    const keys = Object.keys(o);
    if (keys.length > max) this.fail(`${keys.length} ${what}, at most ${max} allowed`);
    return keys.map((k) => [this.id(k, `${what} id`), this.obj(o[k], `${what} ${k}`)]);
  }
}

/** The JSON metadata of a LUKS2 header whose binary header passed its checksum. */
export function parseLuks2Json(text: string, file: string, binary: { uuid: string; label: string; subsystem: string; hdrSize: number }, metadataCopies: string, warnings: string[]): LuksMetadata {
  const r = new Reader(file);
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (err) {
    // V8 reports deep nesting as a RangeError; either way the metadata is unusable.
    r.fail(`not valid JSON (${err instanceof RangeError ? 'nested too deeply' : 'syntax error'})`);
  }
  const top = r.obj(root, 'the JSON area');
  const config = r.obj(top.config ?? {}, 'config');
  const jsonSize = r.u64(config.json_size, 'config.json_size');
  const keyslotsSize = r.u64(config.keyslots_size, 'config.keyslots_size');
  if (jsonSize !== binary.hdrSize - 4096) r.fail(`config.json_size ${jsonSize} does not match the header size ${binary.hdrSize}`);
  const requirements = config.requirements ? r.obj(config.requirements, 'config.requirements') : {};
  const mandatory = Array.isArray(requirements.mandatory) ? requirements.mandatory.map((m, i) => r.str(m, `requirement ${i}`)) : [];

  const keyslots: LuksKeyslot[] = [];
  for (const [id, k] of r.entries(top.keyslots, 'keyslots', MAX_KEYSLOTS)) {
    const type = r.str(k.type, `keyslot ${id} type`);
    if (type !== 'luks2') {
      warnings.push(`keyslot ${id} is of type "${type}" (not a passphrase slot), skipped`);
      continue;
    }
    const kdfJ = r.obj(k.kdf, `keyslot ${id} kdf`);
    const kdfType = r.str(kdfJ.type, `keyslot ${id} kdf type`);
    let kdf: LuksKdf;
    if (kdfType === 'pbkdf2') {
      kdf = { type: 'pbkdf2', hash: r.str(kdfJ.hash, `keyslot ${id} kdf hash`), iterations: r.int(kdfJ.iterations, `keyslot ${id} kdf iterations`, 1, 0xffffffff), salt: r.b64(kdfJ.salt, `keyslot ${id} kdf salt`) };
    } else if (kdfType === 'argon2i' || kdfType === 'argon2id') {
      kdf = {
        type: kdfType,
        time: r.int(kdfJ.time, `keyslot ${id} kdf time`, 1, 0xffffffff),
        // No upper bound here: kdf.ts refuses costs above its caps with a message naming them.
        memory: r.int(kdfJ.memory, `keyslot ${id} kdf memory`, 8),
        cpus: r.int(kdfJ.cpus, `keyslot ${id} kdf cpus`, 1, 0xffffff),
        salt: r.b64(kdfJ.salt, `keyslot ${id} kdf salt`),
      };
    } else {
      warnings.push(`keyslot ${id} uses the unknown KDF "${kdfType}", skipped`);
      continue;
    }
    const af = r.obj(k.af, `keyslot ${id} af`);
    if (r.str(af.type, `keyslot ${id} af type`) !== 'luks1') {
      warnings.push(`keyslot ${id} uses an unknown anti-forensic splitter, skipped`);
      continue;
    }
    const area = r.obj(k.area, `keyslot ${id} area`);
    if (r.str(area.type, `keyslot ${id} area type`) !== 'raw') {
      warnings.push(`keyslot ${id} has a non-raw key area, skipped`);
      continue;
    }
    keyslots.push({
      id,
      keyBytes: r.int(k.key_size, `keyslot ${id} key_size`, 1, 512),
      priority: k.priority === undefined ? 1 : r.int(k.priority, `keyslot ${id} priority`, 0, 2),
      kdf,
      af: { stripes: r.int(af.stripes, `keyslot ${id} af stripes`, 1, 1 << 20), hash: r.str(af.hash, `keyslot ${id} af hash`) },
      area: {
        offset: r.u64(area.offset, `keyslot ${id} area offset`),
        size: r.u64(area.size, `keyslot ${id} area size`),
        encryption: r.str(area.encryption, `keyslot ${id} area encryption`),
        keyBytes: r.int(area.key_size, `keyslot ${id} area key_size`, 1, 512),
      },
    });
  }

  const segments: LuksSegment[] = [];
  for (const [id, s] of r.entries(top.segments, 'segments', MAX_SEGMENTS)) {
    const flags = Array.isArray(s.flags) ? s.flags.map((f, i) => r.str(f, `segment ${id} flag ${i}`)) : [];
    // Backup segments describe re-encryption's other state; they are not part of the data.
    if (flags.some((f) => f.startsWith('backup-'))) continue;
    const type = r.str(s.type, `segment ${id} type`) as 'crypt' | 'linear';
    if (type !== 'crypt' && type !== 'linear') r.fail(`segment ${id} has the unknown type "${type}"`);
    if (s.integrity !== undefined) r.fail(`segment ${id} uses dm-integrity, which is not read`);
    const size = s.size === 'dynamic' ? 'dynamic' : r.u64(s.size, `segment ${id} size`);
    segments.push({
      id,
      type,
      offset: r.u64(s.offset, `segment ${id} offset`),
      size,
      ivTweak: type === 'crypt' ? r.u64(s.iv_tweak ?? '0', `segment ${id} iv_tweak`) : 0,
      encryption: type === 'crypt' ? r.str(s.encryption, `segment ${id} encryption`) : 'none',
      sectorSize: type === 'crypt' ? r.int(s.sector_size, `segment ${id} sector_size`, 512, 4096) : 512,
    });
  }
  segments.sort((a, b) => Number(a.id) - Number(b.id));
  if (segments.length === 0) r.fail('no data segment');
  for (const s of segments) {
    if (s.type === 'crypt' && ![512, 1024, 2048, 4096].includes(s.sectorSize)) r.fail(`segment ${s.id} sector_size ${s.sectorSize} is not a power of two`);
  }

  const digests: LuksDigest[] = [];
  for (const [id, d] of r.entries(top.digests, 'digests', MAX_DIGESTS)) {
    const type = r.str(d.type, `digest ${id} type`);
    if (type !== 'pbkdf2') {
      warnings.push(`digest ${id} is of the unknown type "${type}", skipped`);
      continue;
    }
    digests.push({
      id,
      type: 'pbkdf2',
      hash: r.str(d.hash, `digest ${id} hash`),
      iterations: r.int(d.iterations, `digest ${id} iterations`, 1, 0xffffffff),
      salt: r.b64(d.salt, `digest ${id} salt`),
      digest: r.b64(d.digest, `digest ${id} digest`, 64),
      keyslots: r.ids(d.keyslots, `digest ${id} keyslots`),
      segments: r.ids(d.segments, `digest ${id} segments`),
    });
  }

  const tokens: LuksToken[] = [];
  for (const [id, t] of r.entries(top.tokens, 'tokens', MAX_TOKENS)) {
    tokens.push({ id, type: r.str(t.type, `token ${id} type`), keyslots: t.keyslots === undefined ? [] : r.ids(t.keyslots, `token ${id} keyslots`) });
  }

  const dataDigest = digests.find((d) => d.segments.includes(segments[0]!.id));
  const keyBytes = keyslots.find((k) => dataDigest?.keyslots.includes(k.id))?.keyBytes ?? keyslots[0]?.keyBytes ?? 0;
  for (const m of mandatory) warnings.push(`mandatory requirement "${m}" (read as far as the segments describe the data)`);
  return {
    version: 2,
    uuid: binary.uuid,
    label: binary.label,
    subsystem: binary.subsystem,
    keyBytes,
    keyslots,
    digests,
    segments,
    tokens,
    headerSize: 2 * binary.hdrSize + keyslotsSize,
    metadataCopies,
    warnings,
  };
}
