/**
 * Directory entries (kernel Documentation/filesystems/ext4/directory.rst). Linear and htree
 * folders share one leaf format: htree interior blocks are disguised as one empty entry
 * spanning the block (and the root's index hides inside ".."'s record), so walking every
 * block of the folder linearly lists every name exactly once.
 */
import { corrupt } from '../../errors.js';
import type { FileType } from '../types.js';
import { scratch } from '../../source/scratch.js';
import { crc32cUpdate } from './crc32c.js';

/**
 * A folder's struct ext4_dir_entry_2 records, by column (inode, name, file_type): a folder can
 * hold millions of entries, and an object per entry was most of a big listing's cost.
 */
export interface DirEntries {
  inodes: number[];
  names: string[];
  /** From file_type when the filetype feature is on; null when the entry does not say. */
  types: Array<FileType | null>;
}

/**
 * A folder's entries while its blocks are parsed. Names are gathered as bytes, "/" after each
 * (no name holds one), and decoded at the end by one utf8Slice and one split: a native call
 * per name cost ~0.6 us, a large part of a 100 000-file listing. Columns are sized for a
 * folder of its byte size (an entry takes at least 12 bytes): arrays grown one push at a time
 * copied themselves ~3 times over.
 */
export interface DirEntriesBuilder {
  inodes: number[];
  types: Array<FileType | null>;
  count: number;
  nameBytes: Buffer;
  used: number;
  /** Entries whose stored name holds a "/" or NUL (kept, with those bytes written as \x2f, \x00). */
  badNames: number;
}

export function dirEntriesBuilder(bytes: number): DirEntriesBuilder {
  // Bounded: a huge (or hostile) size gets arrays and a name buffer that grow as they fill.
  const cap = Math.min(Math.ceil(bytes / 12), 65536);
  return { inodes: new Array<number>(cap), types: new Array<FileType | null>(cap), count: 0, nameBytes: scratch.take(Math.min(bytes, 1 << 20)), used: 0, badNames: 0 };
}

export function endDirEntries(out: DirEntriesBuilder, file: string, warn?: (message: string) => void): DirEntries {
  out.inodes.length = out.types.length = out.count;
  if (out.badNames && warn) warn(`folder ${file}: ${out.badNames} entr${out.badNames === 1 ? 'y has' : 'ies have'} a "/" or NUL byte in the name; shown with it written as \\x2f or \\x00`);
  const names = out.count === 0 ? [] : (out.nameBytes as Utf8Slicing).utf8Slice(0, out.used - 1).split('/');
  scratch.give(out.nameBytes);
  // Decoding never makes a "/" (invalid bytes become U+FFFD), so one name per entry.
  if (names.length !== out.count) throw corrupt(file, `folder names: ${names.length} decoded for ${out.count} entries`);
  return { inodes: out.inodes, names, types: out.types };
}

/** file_type values (directory.rst "ext4_dir_entry_2"), by value. */
const DIRENT_TYPE: ReadonlyArray<FileType | undefined> = [undefined, 'file', 'dir', 'chardev', 'blockdev', 'fifo', 'socket', 'symlink'];

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
export function parseDirRegion(b: Buffer, fileType: boolean, blockSize: number, file: string, out: DirEntriesBuilder): void {
  // Runs once per entry of every listing, much of it before the JIT has optimized it: fields
  // are read inline, and names copied byte by byte (no call per name).
  const end = b.length;
  let o = 0;
  while (o + 8 <= end) {
    const inode = (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16)) + b[o + 3]! * 0x1000000;
    const rl = recLen(b[o + 4]! | (b[o + 5]! << 8), blockSize);
    const nameLen = fileType ? b[o + 6]! : b[o + 6]! | (b[o + 7]! << 8);
    if (rl < 8 || rl % 4 !== 0 || o + rl > end) throw corrupt(file, `folder entry at byte ${o} has a bad record length (${rl})`);
    if (inode !== 0) {
      if (8 + nameLen > rl) throw corrupt(file, `folder entry at byte ${o} has a name longer than its record`);
      const n0 = o + 8;
      const dots = (nameLen === 1 && b[n0] === 0x2e) || (nameLen === 2 && b[n0] === 0x2e && b[n0 + 1] === 0x2e);
      if (nameLen > 0 && !dots) {
        // Room for the name with every byte escaped (4 bytes each), and the separator.
        if (out.used + 4 * nameLen + 1 > out.nameBytes.length) {
          const grown = scratch.take(2 * (out.used + 4 * nameLen + 1));
          out.nameBytes.copy(grown, 0, 0, out.used);
          scratch.give(out.nameBytes);
          out.nameBytes = grown;
        }
        const nb = out.nameBytes;
        let u = out.used;
        let bad = false;
        for (let j = n0; j < n0 + nameLen; j++) {
          const c = b[j]!;
          if (c === 0x2f || c === 0) {
            // "/" or NUL cannot be in a path component: damage, but the file behind it is real.
            // Kept under a name spelling the byte out (\x2f, \x00), reported by the caller;
            // dropping it lost the file silently (issue 26).
            bad = true;
            nb[u++] = 0x5c;
            nb[u++] = 0x78;
            nb[u++] = 0x30 + (c >> 4);
            nb[u++] = c === 0 ? 0x30 : 0x66;
          } else nb[u++] = c;
        }
        if (bad) out.badNames++;
        nb[u++] = 0x2f;
        out.used = u;
        // Past the estimate (a damaged size), the arrays grow as with push.
        const k = out.count++;
        out.inodes[k] = inode;
        out.types[k] = fileType ? (DIRENT_TYPE[b[o + 7]!] ?? null) : null;
      }
    }
    o += rl;
  }
}

/**
 * Buffer.prototype.utf8Slice: what `toString('utf8', start, end)` calls once it has checked
 * its arguments (on Buffer in every Node version; every ext listing test runs through it).
 */
type Utf8Slicing = Buffer & { utf8Slice(start: number, end: number): string };
