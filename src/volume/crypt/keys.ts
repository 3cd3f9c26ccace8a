/**
 * The secrets a user gives for encrypted volumes, as the volume layer receives them. They come
 * from options, environment variables or a prompt (src/cli/secrets.ts) and go nowhere else:
 * never into messages, `info`, or logs. Buffers are zeroed by whoever made them when done.
 */
import type { ByteSource } from '../../source/source.js';

export interface VolumeKeys {
  /** LUKS passphrases, BitLocker user passwords (as typed, UTF-8). */
  passphrases: Buffer[];
  /** LUKS key files (used as they are, every byte). */
  keyFiles: Buffer[];
  /** BitLocker recovery passwords (48 digits in 8 groups). */
  recoveryPasswords: string[];
  /** BitLocker startup keys (.BEK files). */
  bekFiles: Buffer[];
  /** A detached LUKS header (cryptsetup --header): the file, opened by the Vfs as `header`. */
  headerFile?: string;
  header?: ByteSource;
  /**
   * Asks the user for a secret (a terminal prompt, not echoed); null where nobody can be asked.
   * `what` says which volume ("/p3: LUKS2 passphrase").
   */
  ask?: (what: string) => Promise<Buffer | null>;
}

export function noKeys(): VolumeKeys {
  return { passphrases: [], keyFiles: [], recoveryPasswords: [], bekFiles: [] };
}

export function hasKeys(k: VolumeKeys | undefined): boolean {
  return !!k && (k.passphrases.length > 0 || k.keyFiles.length > 0 || k.recoveryPasswords.length > 0 || k.bekFiles.length > 0 || !!k.header || !!k.headerFile);
}

/** What `info` shows of an encrypted volume: facts from its header, never a secret. */
export interface EncryptionInfo {
  /** "LUKS1", "LUKS2", "BitLocker", "BitLocker To Go". */
  type: string;
  /** One line: cipher, key size, sector size, keyslots / protectors. */
  summary: string;
  uuid: string | null;
  locked: boolean;
  /** With what it was opened ("keyslot 1", "recovery password"); null while locked. */
  openedWith: string | null;
  warnings: string[];
}
