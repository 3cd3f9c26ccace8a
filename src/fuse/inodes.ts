/**
 * Inode numbers the kernel sees (st_ino, 32 bits through fuse-native): unique over the whole
 * mount, the same for every path of one file (hard links), and the same from one mount to
 * the next where possible.
 */
import type { VfsNode } from '../vfs/vfs.js';

/** Layout of the numbers given to the kernel. */
const SLOT_BITS = 27;
const SLOT_SIZE = 2 ** SLOT_BITS;
const MAX_DIRECT_SLOT = 15;
const FIRST_ASSIGNED = 2 ** 31;
/** Stat.ino below this has a direct number (see forFile, directBase). */
export const SLOT_LIMIT = SLOT_SIZE;

/**
 * A file's number is `(volume index + 1) << 27 | Stat.ino` while both fit (15 volumes, 2^27
 * inodes — ext and NTFS volumes short of 134 million files); slot 0 holds the synthetic
 * folders and `.raw/`. Anything larger (FAT/exFAT use byte offsets of directory entries, which
 * outgrow 2^27 on big volumes) gets a number from 2^31 up, assigned on first sight and kept
 * for the mount's life.
 */
export class InodeMap {
  private readonly assigned = new Map<string, number>();
  private next = FIRST_ASSIGNED;

  forFile(volumeIndex: number, ino: number): number {
    const slot = volumeIndex + 1;
    if (slot <= MAX_DIRECT_SLOT && Number.isSafeInteger(ino) && ino >= 0 && ino < SLOT_SIZE) return slot * SLOT_SIZE + ino;
    const key = `${volumeIndex}:${ino}`;
    let n = this.assigned.get(key);
    if (n === undefined) {
      // 2^31 numbers: a walk of two billion distinct oversized inodes would wrap; restart above the
      // direct range rather than hand out 0.
      if (this.next > 0xffffffff) this.next = FIRST_ASSIGNED;
      n = this.next++;
      this.assigned.set(key, n);
    }
    return n;
  }

  /**
   * What forFile adds Stat.ino to for the volume's numbers below SLOT_LIMIT, or -1 where it
   * has no direct slot: the per-entry loop of a listing (setPartials) then makes no call.
   */
  directBase(volumeIndex: number): number {
    const slot = volumeIndex + 1;
    return slot <= MAX_DIRECT_SLOT ? slot * SLOT_SIZE : -1;
  }

  /** The number of a Vfs node: the root 1, synthetic folders (VG, disk, volume folders) in slot 0 from 16. */
  of(node: VfsNode): number {
    const pl = node.place;
    if (pl.kind === 'root') return 1;
    // Their Vfs numbers are small and unique.
    if (pl.kind === 'group' || pl.kind === 'volume') return 16 + node.stat.ino;
    return this.forFile(pl.vol.id, node.stat.ino);
  }
}
