/**
 * The regf base block: the first 4096 bytes of a Windows registry hive file (libyal
 * documentation/Windows NT Registry File (REGF) format, "File header"). Only what a reader of
 * keys and values needs is kept; the hive bins follow at byte 4096, and every cell offset in
 * the hive counts from there.
 */
import { corrupt } from '../../errors.js';

export const REGF_SIGNATURE = 'regf';
export const BASE_BLOCK_SIZE = 4096;

/** Base block fields under the format documentation's names. */
export interface BaseBlock {
  primary_sequence_number: number;
  secondary_sequence_number: number;
  major_version: number;
  minor_version: number;
  /** 0: a primary hive file (1, 2, 6: transaction logs, which this reader does not take). */
  file_type: number;
  /** Offset of the root key node cell, from the start of the hive bins data. */
  root_key_offset: number;
  /** Size of the hive bins data that follows the base block. */
  hive_bins_data_size: number;
  /** XOR of the first 127 32-bit words; 0 is written as 1, 0xffffffff as 0xfffffffe. */
  checksum: number;
  /** Computed over the block read: whether `checksum` matches. */
  checksumMatches: boolean;
}

export function parseBaseBlock(b: Buffer, file: string): BaseBlock {
  if (b.length < 512 || b.toString('latin1', 0, 4) !== REGF_SIGNATURE) throw corrupt(file, 'not a registry hive (no "regf" signature)');
  let x = 0;
  for (let i = 0; i < 508; i += 4) x = (x ^ b.readUInt32LE(i)) >>> 0;
  if (x === 0) x = 1;
  else if (x === 0xffffffff) x = 0xfffffffe;
  const bb: BaseBlock = {
    primary_sequence_number: b.readUInt32LE(4),
    secondary_sequence_number: b.readUInt32LE(8),
    major_version: b.readUInt32LE(20),
    minor_version: b.readUInt32LE(24),
    file_type: b.readUInt32LE(28),
    root_key_offset: b.readUInt32LE(36),
    hive_bins_data_size: b.readUInt32LE(40),
    checksum: b.readUInt32LE(508),
    checksumMatches: false,
  };
  bb.checksumMatches = bb.checksum === x;
  if (bb.major_version !== 1 || bb.minor_version < 2 || bb.minor_version > 6) {
    throw corrupt(file, `registry hive version ${bb.major_version}.${bb.minor_version} is not one Windows writes (1.2 to 1.6)`);
  }
  if (bb.file_type !== 0) throw corrupt(file, `registry file type ${bb.file_type} is a transaction log, not a hive`);
  return bb;
}
