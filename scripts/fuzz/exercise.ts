/**
 * What the fuzzer does with one image, in process, through the same Vfs the CLI uses:
 * open, info, list everything recursively (with metadata files), look every path up again,
 * streams and xattrs, and read every file and stream fully — each with a cap. Any exception
 * that is not a one-line DiskpickError is an invariant failure.
 */
import { DiskpickError } from '../../src/errors.js';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { noKeys } from '../../src/volume/crypt/keys.js';
import { setKdfLimits } from '../../src/volume/luks/kdf.js';

// Each mutant must finish in seconds: the KDF caps stay (hostile.test.ts checks them at full
// size), scaled down so a mutated iteration count is refused instead of run for half a minute.
setKdfLimits({ pbkdf2Iterations: 200_000, argon2Work: 64 * 1024, argon2MemoryKiB: 64 * 1024, totalWork: 1_000_000 });

/** The passphrase of the encrypted seeds (seeds.ts). */
export const FUZZ_PASSPHRASE = 'fuzz';

export const LIMITS = {
  /** entries listed per image */
  maxEntries: 3000,
  /** bytes read per image, all files together */
  maxBytes: 64 * 1024 * 1024,
  /** lookups of listed paths per image */
  maxLookups: 300,
  readChunk: 1024 * 1024,
};

export interface Violation {
  op: string;
  path: string;
  /** "exception" (not a DiskpickError), "multiline" (message of more than one line), "empty" (no message), "fs" (wrong shape) */
  kind: string;
  message: string;
  stack: string;
}

export interface ExerciseResult {
  opened: boolean;
  entries: number;
  bytes: number;
  errors: number;
  violation: Violation | null;
}

class Stop extends Error {}

export async function exercise(imagePath: string): Promise<ExerciseResult> {
  const r: ExerciseResult = { opened: false, entries: 0, bytes: 0, errors: 0, violation: null };
  /** Runs one operation: DiskpickErrors are expected (counted), anything else stops with a violation. */
  const guard = async <T>(op: string, path: string, fn: () => Promise<T> | T): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof Stop) throw err;
      if (err instanceof DiskpickError) {
        const line = err.toLine();
        if (!err.message) r.violation = { op, path, kind: 'empty', message: line, stack: err.stack ?? '' };
        else if (/[\r\n]/.test(line)) r.violation = { op, path, kind: 'multiline', message: line, stack: err.stack ?? '' };
        else {
          r.errors++;
          return undefined;
        }
      } else {
        const e = err as Error;
        r.violation = { op, path, kind: 'exception', message: `${e?.name ?? typeof err}: ${e?.message ?? String(err)}`, stack: e?.stack ?? String(err) };
      }
      throw new Stop();
    }
  };

  let vfs: Vfs | undefined;
  try {
    // Encrypted seeds (LUKS) are made with this passphrase, so mutants reach the decrypted volume.
    vfs = await guard('open', '/', () => Vfs.open(imagePath, { keys: { ...noKeys(), passphrases: [Buffer.from(FUZZ_PASSPHRASE)] } }));
    if (!vfs) return r;
    r.opened = true;
    const v = vfs;
    await guard('drives', '/', () => v.driveLetters());
    await guard('info', '/', () => JSON.stringify(v.info()));
    const queue: VfsNode[] = [v.root()];
    const seen: string[] = [];
    while (queue.length && r.entries < LIMITS.maxEntries) {
      const dir = queue.shift()!;
      const kids = await guard('readdir', dir.path, () => v.readdir(dir, { system: true }));
      if (!kids) continue;
      for (const k of kids) {
        if (++r.entries > LIMITS.maxEntries) break;
        if (typeof k.name !== 'string' || !k.stat || typeof k.stat.size !== 'number') {
          r.violation = { op: 'readdir', path: dir.path, kind: 'fs', message: `entry without name or stat: ${JSON.stringify(k.name)}`, stack: '' };
          throw new Stop();
        }
        seen.push(k.path);
        if (k.stat.type === 'dir') queue.push(k);
        const streams = (await guard('streams', k.path, () => v.streams(k))) ?? [];
        await guard('xattrs', k.path, () => v.xattrs(k));
        if (k.stat.type === 'file') await readAll(v, k, undefined);
        for (const s of streams) if (s.name) await readAll(v, k, s.name);
      }
    }
    for (const p of seen.slice(0, LIMITS.maxLookups)) await guard('lookup', p, () => v.lookupWithStream(p));
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
  } finally {
    if (vfs) await vfs.close().catch(() => undefined);
  }
  return r;

  async function readAll(v: Vfs, node: VfsNode, stream: string | undefined): Promise<void> {
    const label = stream ? `${node.path}:${stream}` : node.path;
    const src = await guard('openFile', label, () => v.openFile(node, stream));
    if (!src) return;
    try {
      // The holes a file reports (what sparse extracts and the mount's SEEK_DATA answer from):
      // in order, inside the file, never overlapping — else a restore would be silently wrong.
      if (src.dataRanges) {
        const ranges = await guard('dataRanges', label, () => {
          const out: Array<[number, number]> = [];
          for (const x of src.dataRanges!(0, src.size)) if (out.push(x) > 100_000) break;
          return out;
        });
        let end = 0;
        for (const [at, len] of ranges ?? []) {
          if (!Number.isSafeInteger(at) || !Number.isSafeInteger(len) || at < end || len < 0 || at + len > src.size) {
            r.violation = { op: 'dataRanges', path: label, kind: 'fs', message: `data range [${at}, +${len}) out of order or outside the file (${src.size} bytes)`, stack: '' };
            throw new Stop();
          }
          end = at + len;
        }
      }
      let off = 0;
      while (off < src.size && r.bytes < LIMITS.maxBytes) {
        const want = Math.min(LIMITS.readChunk, src.size - off);
        const buf = await guard('read', label, () => src.read(off, want));
        if (!buf) return;
        if (buf.length === 0) break;
        r.bytes += buf.length;
        off += buf.length;
      }
      // A read that starts at or past the end must not throw anything but our error.
      await guard('read', label, () => src.read(src.size, 16));
    } finally {
      await src.close().catch(() => undefined);
    }
  }
}
