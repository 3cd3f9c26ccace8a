/**
 * Key derivation of LUKS keyslots and digests: PBKDF2 (RFC 8018, node:crypto) and Argon2i /
 * Argon2id (RFC 9106, the `argon2` package: native prebuilds for Node 20; measured against the
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
import { unsupported } from '../../errors.js';
import type { LuksKdf } from './metadata.js';

/** Largest Argon2 memory cost accepted, KiB (1 GiB: cryptsetup's default maximum). */
export const ARGON2_MAX_MEMORY_KIB = 1024 * 1024;
/** Largest Argon2 time × memory, KiB passes (32 GiB of memory passes: ~30 s here). */
export const ARGON2_MAX_WORK = 32 * 1024 * 1024;
export const ARGON2_MAX_LANES = 64;
/** Largest PBKDF2 iteration count accepted (~30 s of SHA-256 here). */
export const PBKDF2_MAX_ITERATIONS = 50_000_000;

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
  if (kdf.type === 'pbkdf2') {
    if (kdf.iterations > PBKDF2_MAX_ITERATIONS) throw unsupported(file, `${what}: PBKDF2 with ${kdf.iterations} iterations exceeds diskpick's limit of ${PBKDF2_MAX_ITERATIONS}`);
    return;
  }
  if (kdf.memory > ARGON2_MAX_MEMORY_KIB) throw unsupported(file, `${what}: Argon2 memory cost of ${human(kdf.memory)} exceeds diskpick's limit of ${human(ARGON2_MAX_MEMORY_KIB)}`);
  if (kdf.time * kdf.memory > ARGON2_MAX_WORK) throw unsupported(file, `${what}: Argon2 cost (${kdf.time} passes over ${human(kdf.memory)}) exceeds diskpick's limit of ${human(ARGON2_MAX_WORK)} of passes`);
  if (kdf.cpus > ARGON2_MAX_LANES) throw unsupported(file, `${what}: Argon2 with ${kdf.cpus} lanes exceeds diskpick's limit of ${ARGON2_MAX_LANES}`);
}

type Argon2Module = { hash(pw: Buffer, o: Record<string, unknown>): Promise<Buffer>; argon2i: number; argon2id: number };
let argon2Module: Argon2Module | undefined;

function loadArgon2(file: string): Argon2Module {
  if (argon2Module) return argon2Module;
  try {
    // Loaded on first use: most images never need it, and it is a native module.
    argon2Module = createRequire(import.meta.url)('argon2') as Argon2Module;
    return argon2Module;
  } catch {
    throw unsupported(file, 'Argon2 keyslots need the "argon2" package, which cannot be loaded here');
  }
}

export async function deriveKey(kdf: LuksKdf, secret: Buffer, length: number, file: string, what: string): Promise<Buffer> {
  checkKdfCost(kdf, file, what);
  if (kdf.type === 'pbkdf2') return pbkdf2Async(secret, kdf.salt, kdf.iterations, length, nodeHash(kdf.hash, file, what));
  const a = loadArgon2(file);
  // Argon2 (RFC 9106) needs a salt of at least 8 bytes and output of at least 4.
  if (kdf.salt.length < 8 || length < 4) throw unsupported(file, `${what}: Argon2 parameters out of range`);
  return a.hash(secret, {
    raw: true,
    salt: kdf.salt,
    type: kdf.type === 'argon2i' ? a.argon2i : a.argon2id,
    memoryCost: kdf.memory,
    timeCost: kdf.time,
    parallelism: kdf.cpus,
    hashLength: length,
    version: 0x13,
  });
}
