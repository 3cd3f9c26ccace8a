/**
 * A locked BitLocker volume opened later (as the browser does when the user enters it): the
 * Windows-made recovery-password volume of the corpus (test/bitlocker/corpus.ts) opened with no
 * key, then through Vfs.unlock with a wrong and the right recovery password; the decrypted volume
 * takes its place and its NTFS boot sector is there (the oracle that the other tests check
 * byte for byte against dislocker-file).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Vfs } from '../../src/vfs/vfs.js';
import { noKeys } from '../../src/volume/crypt/keys.js';
import { bdeDir } from './corpus.js';

const DIR = bdeDir();
const RP = '284867-596541-514998-422114-660297-261613-215424-199408';

describe.skipIf(!DIR)('BitLocker opened after the Vfs (browser flow)', () => {
  it('locked without a key; a wrong recovery password refused; the right one opens it in place', async () => {
    const vfs = await Vfs.open(join(DIR!, 'recovery_password.bin'), { keys: noKeys() });
    try {
      const node = await vfs.lookup('/p0');
      const vol = vfs.lockedVolume(node);
      expect(vol?.encryption).toMatchObject({ type: 'BitLocker', locked: true });
      await expect(vfs.unlock(vol!, { recoveryPasswords: [RP.replace(/^284867/, '284868')] })).rejects.toMatchObject({ kind: 'wrongKey' });
      expect(await vfs.unlock(vol!, { recoveryPasswords: [RP] })).toBe(true);
      expect(vfs.lockedVolume(node)).toBeNull();
      expect(vol!.encryption).toMatchObject({ locked: false, openedWith: 'recovery password' });
      const boot = await vfs.volumeSource('p0').read(0, 512);
      expect(boot.toString('latin1', 3, 11)).toBe('NTFS    ');
    } finally {
      await vfs.close();
    }
  });
});
