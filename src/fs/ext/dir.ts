/**
 * Directory entries (kernel Documentation/filesystems/ext4/directory.rst). Linear and htree
 * folders share one leaf format: htree interior blocks are disguised as one empty entry
 * spanning the block (and the root's index hides inside ".."'s record), so walking every
 * block of the folder linearly lists every name exactly once.
 */
import { corrupt } from '../../errors.js';
import type { FileType } from '../types.js';
import { crc32cUpdate } from './crc32c.js';

/** One struct ext4_dir_entry_2. */
export interface DirEntry {
  inode: number;
  name: string;
  /** From file_type when the filetype feature is on; 'other' when unknown. */
  type: FileType | null;
}

/** file_type values (directory.rst "ext4_dir_entry_2"). */
const DIRENT_TYPE: Record<number, FileType> = { 1: 'file', 2: 'dir', 3: 'chardev', 4: 'blockdev', 5: 'fifo', 6: 'socket', 7: 'symlink' };

/** The fake entry at the end of a leaf block holding its checksum (struct ext4_dir_entry_tail). */
const DIR_TAIL_SIZE = 12;
const DIR_TAIL_FT = 0xde;

/**
 * rec_len as stored: 64 KiB blocks cannot store 65536 in 16 bits, so 65535 (or 0) means the
 * whole block and the low two bits carry bits 16-17 (ext4_rec_len_from_disk).
 */
function recLen(v: number, blockSize: number): number {
  if (blockSize >= 65536 && (v === 65535 || v === 0)) return blockSize;
  return (v & 65532) | ((v & 3) << 16);
}

/** True when `block` ends in a checksum tail (metadata_csum leaf blocks). */
export function hasDirTail(block: Buffer): boolean {
  const t = block.length - DIR_TAIL_SIZE;
  return t >= 0 && block.readUInt32LE(t) === 0 && block.readUInt16LE(t + 4) === DIR_TAIL_SIZE && block[t + 6] === 0 && block[t + 7] === DIR_TAIL_FT;
}

/** metadata_csum: crc32c(inode seed, leaf block up to the tail) == the tail's checksum. */
export function dirTailChecksumOk(block: Buffer, inodeSeed: number): boolean {
  const t = block.length - DIR_TAIL_SIZE;
  return crc32cUpdate(inodeSeed, block.subarray(0, t)) === block.readUInt32LE(t + 8);
}

/**
 * Parses the entries in one region (a directory block, or inline data). A record that is too
 * short, misaligned or runs past the region makes the folder unreadable with a one-line error:
 * guessing past it could list garbage as files.
 */
export function parseDirRegion(b: Buffer, fileType: boolean, blockSize: number, file: string, out: DirEntry[]): void {
  let o = 0;
  while (o + 8 <= b.length) {
    const inode = b.readUInt32LE(o);
    const rl = recLen(b.readUInt16LE(o + 4), blockSize);
    const nameLen = fileType ? b[o + 6]! : b.readUInt16LE(o + 6);
    if (rl < 8 || rl % 4 !== 0 || o + rl > b.length) throw corrupt(file, `folder entry at byte ${o} has a bad record length (${rl})`);
    if (inode !== 0) {
      if (8 + nameLen > rl) throw corrupt(file, `folder entry at byte ${o} has a name longer than its record`);
      const name = b.subarray(o + 8, o + 8 + nameLen).toString('utf8');
      // A name with "/" or NUL cannot be a path component: such an entry is damage, not a file.
      if (name !== '.' && name !== '..' && nameLen > 0 && !name.includes('/') && !name.includes('\0')) {
        out.push({ inode, name, type: fileType ? (DIRENT_TYPE[b[o + 7]!] ?? null) : null });
      }
    }
    o += rl;
  }
}
