/**
 * BitLocker (and BitLocker To Go) as a volume system: its one child is the decrypted volume in
 * its place (src/volume/crypt/unlock.ts). Probed before the filesystems: a To Go volume is also
 * a valid FAT32 discovery volume. When its metadata cannot be read (a discovery volume whose FVE
 * copies are damaged or absent), the probe passes on a To Go volume, and the volume is read as what else it holds
 * (its FAT filesystem names it).
 */
import { DiskpickError } from '../../errors.js';
import { encryptedSystemOf, unlockBitLocker, whereOf } from '../crypt/unlock.js';
import type { VolumeSystem } from '../system.js';
import { describeBitLocker, probeBitLocker } from './bitlocker.js';

export const bitlockerSystem: VolumeSystem = {
  name: 'bitlocker',
  beforeFilesystems: true,
  async probe(head, src) {
    const header = probeBitLocker(head);
    if (!header) return false;
    if (header.kind !== 'togo') return true;
    try {
      await describeBitLocker(src);
    } catch (err) {
      // (A damaged volume that is not To Go has nothing else to show: its error is the answer.)
      if (err instanceof DiskpickError && err.message.startsWith('BitLocker metadata')) return false;
    }
    return true;
  },
  async open(src, ctx) {
    const where = whereOf(ctx);
    const u = await unlockBitLocker(src, ctx.keys, where);
    return encryptedSystemOf(u, src, (keys) => unlockBitLocker(src, keys, where));
  },
};
