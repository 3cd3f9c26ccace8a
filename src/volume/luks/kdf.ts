/**
 * Key derivation of LUKS keyslots and digests: PBKDF2 (RFC 8018, node:crypto) and Argon2i /
 * Argon2id (RFC 9106, the `argon2` package's native prebuild, carried in dist/native; measured against the
 * pure-wasm `hash-wasm` on this machine, 64 MiB t=4 p=4: 162 against 342 ms; 256 MiB: 600 against
 * 1567 ms).
 *
 * The costs come from the header, which may be hostile: every cost is capped before any work,
 * so a header cannot make diskpick allocate gigabytes or spin for hours. The caps sit above
 * what cryptsetup makes by default (Argon2 memory at most 1 GiB, ~2 s of work on the machine
 * that formatted the volume).
 */
import { getHashes, pbkdf2 } from 'node:crypto';
import { createRequire } from 'node:module';
import { loadAddon } from '../../source/addon.js';
import { corrupt, unsupported } from '../../errors.js';
import type { LuksKdf } from './metadata.js';

/**
 * The caps (mutable only through setKdfLimits, for the fuzzer, whose mutants must each finish
 * in seconds). Work is counted in PBKDF2 iterations; an Argon2 pass over 1 KiB counts one (so
 * 1 GiB × 1 pass ≈ 1 M iterations ≈ 0.5 s here, like 1 M iterations of PBKDF2-SHA256).
 */
export const KDF_LIMITS = {
  /** Largest Argon2 memory cost, KiB (1 GiB: cryptsetup's default maximum). */
  argon2MemoryKiB: 1024 * 1024,
  /** Largest Argon2 time × memory, KiB passes (32 GiB of passes). */
  argon2Work: 32 * 1024 * 1024,
  argon2Lanes: 64,
  /** Largest PBKDF2 iteration count (a 2-second slot from a fast machine is ~10 M). */
  pbkdf2Iterations: 20_000_000,
  /** All KDFs of one open together (every keyslot tried, and the digests). */
  totalWork: 64 * 1024 * 1024,
};

export function setKdfLimits(l: Partial<typeof KDF_LIMITS>): void {
  Object.assign(KDF_LIMITS, l);
}

/** The work of one KDF, in the units of KDF_LIMITS.totalWork. */
export function kdfWork(kdf: LuksKdf): number {
  return kdf.type === 'pbkdf2' ? kdf.iterations : kdf.time * kdf.memory;
}

export function nodeHash(name: string, file: string, what: string): string {
  const n = name.toLowerCase();
  if (!getHashes().includes(n)) throw unsupported(file, `${what} uses the hash "${name.slice(0, 32)}", which this Node.js cannot compute`);
  return n;
}

function human(kib: number): string {
  return kib >= 1024 * 1024 * 1024 ? `${(kib / 1024 ** 3).toFixed(0)} TiB` : kib >= 1024 * 1024 ? `${(kib / 1024 ** 2).toFixed(1)} GiB` : `${(kib / 1024).toFixed(0)} MiB`;
}

export function pbkdf2Async(secret: Buffer, salt: Buffer, iterations: number, length: number, hash: string): Promise<Buffer> {
  return new Promise((resolve, reject) => pbkdf2(secret, salt, iterations, length, hash, (err, key) => (err ? reject(err) : resolve(key))));
}

/** Refuses costs above the caps, naming what is too large; called before any work. */
export function checkKdfCost(kdf: LuksKdf, file: string, what: string): void {
  const L = KDF_LIMITS;
  if (kdf.type === 'pbkdf2') {
    if (kdf.iterations < 1) throw corrupt(file, `${what}: PBKDF2 with ${kdf.iterations} iterations`);
    if (kdf.iterations > L.pbkdf2Iterations) throw unsupported(file, `${what}: PBKDF2 with ${kdf.iterations} iterations exceeds diskpick's limit of ${L.pbkdf2Iterations}`);
    return;
  }
  if (kdf.memory > L.argon2MemoryKiB) throw unsupported(file, `${what}: Argon2 memory cost of ${human(kdf.memory)} exceeds diskpick's limit of ${human(L.argon2MemoryKiB)}`);
  if (kdf.time * kdf.memory > L.argon2Work) throw unsupported(file, `${what}: Argon2 cost (${kdf.time} passes over ${human(kdf.memory)}) exceeds diskpick's limit of ${human(L.argon2Work)} of passes`);
  if (kdf.cpus > L.argon2Lanes) throw unsupported(file, `${what}: Argon2 with ${kdf.cpus} lanes exceeds diskpick's limit of ${L.argon2Lanes}`);
  if (kdf.memory < 8 * kdf.cpus) throw corrupt(file, `${what}: Argon2 memory of ${kdf.memory} KiB is below 8 KiB per lane`);
}

/** Counts the KDF work of one open against KDF_LIMITS.totalWork. */
export class KdfBudget {
  private used = 0;
  constructor(private readonly file: string) {}
  spend(kdf: LuksKdf, what: string): void {
    checkKdfCost(kdf, this.file, what);
    this.used += kdfWork(kdf);
    if (this.used > KDF_LIMITS.totalWork) {
      throw unsupported(this.file, `${what}: the key derivations of this header together exceed diskpick's limit (${KDF_LIMITS.totalWork} PBKDF2 iterations or Argon2 KiB-passes)`);
    }
  }
}

/** What diskpick asks of Argon2: a raw hash (RFC 9106 types: 1 Argon2i, 2 Argon2id). */
type Argon2Hash = (pw: Buffer, o: { salt: Buffer; type: 1 | 2; memoryCost: number; timeCost: number; parallelism: number; hashLength: number }) => Promise<Buffer>;
/** dist/native/argon2.node (src/volume/luks/native/argon2.c). */
type Argon2Binding = {
  argon2Hash(type: 1 | 2, password: Buffer, salt: Buffer, t: number, m: number, p: number, length: number, done: (err: string | null, key?: Buffer) => void): void;
};
type Argon2Package = { hash(pw: Buffer, o: Record<string, unknown>): Promise<Buffer> };
let argon2: { hash: Argon2Hash; from: 'bundled' | 'package' } | undefined;

/**
 * diskpick's own Argon2 binding (libargon2 compiled in by scripts/native.ts): the published
 * package carries it and depends on no package with an install script (issue 20).
 */
function bundledArgon2(): Argon2Binding | null {
  return loadAddon<Argon2Binding>('argon2');
}

function loadArgon2(file: string): NonNullable<typeof argon2> {
  if (argon2) return argon2;
  // Loaded on first use: most images never need it, and it is a native module.
  const b = bundledArgon2();
  if (b) {
    argon2 = {
      from: 'bundled',
      hash: (password, o) =>
        new Promise((resolve, reject) =>
          b.argon2Hash(o.type, password, o.salt, o.timeCost, o.memoryCost, o.parallelism, o.hashLength, (err, key) => (err || !key ? reject(new Error(err ?? 'no key')) : resolve(key)))),
    };
    return argon2;
  }
  // Elsewhere (a platform without the prebuild, a checkout that was not built): the package, if installed.
  try {
    const a = createRequire(import.meta.url)('argon2') as Argon2Package;
    argon2 = { from: 'package', hash: (pw, o) => a.hash(pw, { ...o, raw: true, version: 0x13 }) };
    return argon2;
  } catch {
    throw unsupported(file, 'Argon2 keyslots need Argon2, whose binding was not built with this diskpick (no C compiler at build time): install the "argon2" package next to diskpick (npm install -g argon2)');
  }
}

/** Which Argon2 the KDF uses (loading it): the one in diskpick's package, or the `argon2` package. */
export function argon2Source(): 'bundled' | 'package' | null {
  try {
    return loadArgon2('argon2').from;
  } catch {
    return null;
  }
}

export async function deriveKey(kdf: LuksKdf, secret: Buffer, length: number, file: string, what: string, budget = new KdfBudget(file)): Promise<Buffer> {
  budget.spend(kdf, what);
  if (kdf.type === 'pbkdf2') return pbkdf2Async(secret, kdf.salt, kdf.iterations, length, nodeHash(kdf.hash, file, what));
  const a = loadArgon2(file);
  // Argon2 (RFC 9106) needs a salt of at least 8 bytes and output of at least 4.
  if (kdf.salt.length < 8 || length < 4) throw unsupported(file, `${what}: Argon2 parameters out of range`);
  try {
    return await a.hash(secret, {
      salt: kdf.salt,
      type: kdf.type === 'argon2i' ? 1 : 2,
      memoryCost: kdf.memory,
      timeCost: kdf.time,
      parallelism: kdf.cpus,
      hashLength: length,
    });
  } catch (err) {
    throw corrupt(file, `${what}: Argon2 refused the header's parameters (${(err as Error).message.split('\n')[0]})`);
  }
}
