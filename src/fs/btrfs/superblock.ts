/**
 * struct btrfs_super_block (kernel Documentation/filesystems/btrfs, btrfs-progs
 * kernel-shared/ctree.h, the btrfs wiki "On-disk Format"): 4 KiB at 64 KiB, with mirrors at
 * 64 MiB and 256 GiB where the device is that large. Every copy carries its own checksum.
 */
import { corrupt, unsupported } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { CSUM_SIZES, CSUM_TYPE_NAMES, csumMatches } from './checksum.js';

export const BTRFS_MAGIC = Buffer.from('_BHRfS_M', 'latin1');
export const SUPER_INFO_OFFSET = 0x10000;
export const SUPER_INFO_SIZE = 4096;
/** Primary, then the mirrors (btrfs_sb_offset: 64 KiB, 64 MiB, 256 GiB). */
export const SUPER_MIRROR_OFFSETS = [0x10000, 0x4000000, 0x4000000000];
const SYS_CHUNK_ARRAY_OFFSET = 0x32b;
const SYS_CHUNK_ARRAY_SIZE = 2048;

/** incompat_flags bits (BTRFS_FEATURE_INCOMPAT_*). */
export const INCOMPAT = {
  MIXED_BACKREF: 1n << 0n,
  DEFAULT_SUBVOL: 1n << 1n,
  MIXED_GROUPS: 1n << 2n,
  COMPRESS_LZO: 1n << 3n,
  COMPRESS_ZSTD: 1n << 4n,
  BIG_METADATA: 1n << 5n,
  EXTENDED_IREF: 1n << 6n,
  RAID56: 1n << 7n,
  SKINNY_METADATA: 1n << 8n,
  NO_HOLES: 1n << 9n,
  METADATA_UUID: 1n << 10n,
  RAID1C34: 1n << 11n,
  ZONED: 1n << 12n,
  EXTENT_TREE_V2: 1n << 13n,
  RAID_STRIPE_TREE: 1n << 14n,
  SIMPLE_QUOTA: 1n << 16n,
} as const;

export interface DevItem {
  devid: number;
  total_bytes: number;
  uuid: Buffer;
  fsid: Buffer;
}

export interface Superblock {
  /** Where this copy was read (0x10000 for the primary). */
  at: number;
  fsid: Buffer;
  /** The fsid tree blocks carry: metadata_uuid with the METADATA_UUID feature, else fsid. */
  treeFsid: Buffer;
  bytenr: number;
  flags: bigint;
  generation: number;
  root: number;
  chunk_root: number;
  log_root: number;
  total_bytes: number;
  bytes_used: number;
  root_dir_objectid: number;
  num_devices: number;
  sectorsize: number;
  nodesize: number;
  stripesize: number;
  sys_chunk_array_size: number;
  chunk_root_generation: number;
  compat_flags: bigint;
  compat_ro_flags: bigint;
  incompat_flags: bigint;
  csum_type: number;
  root_level: number;
  chunk_root_level: number;
  dev_item: DevItem;
  label: string;
  sys_chunk_array: Buffer;
}

const u64 = (b: Buffer, o: number, file: string, what: string): number => {
  const v = b.readBigUInt64LE(o);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `superblock ${what} ${v} is out of range`);
  return Number(v);
};

/** Parses and checks one copy; throws a corrupt error saying what is wrong with it. */
export function parseSuperblock(b: Buffer, at: number, file: string): Superblock {
  if (b.length < SUPER_INFO_SIZE) throw corrupt(file, `truncated: Btrfs superblock at ${at} cut short`);
  if (!b.subarray(0x40, 0x48).equals(BTRFS_MAGIC)) throw corrupt(file, `no Btrfs superblock magic at ${at}`);
  const csum_type = b.readUInt16LE(0xc4);
  if (csum_type >= CSUM_TYPE_NAMES.length) throw unsupported(file, `Btrfs checksum type ${csum_type} is unknown`);
  if (!csumMatches(csum_type, b, 0x20, SUPER_INFO_SIZE, b, 0)) throw corrupt(file, `Btrfs superblock at ${at}: checksum mismatch`);
  const incompat_flags = b.readBigUInt64LE(0xbc);
  const fsid = Buffer.from(b.subarray(0x20, 0x30));
  const metadataUuid = Buffer.from(b.subarray(0x23b, 0x24b));
  const sb: Superblock = {
    at,
    fsid,
    treeFsid: incompat_flags & INCOMPAT.METADATA_UUID ? metadataUuid : fsid,
    bytenr: u64(b, 0x30, file, 'bytenr'),
    flags: b.readBigUInt64LE(0x38),
    generation: u64(b, 0x48, file, 'generation'),
    root: u64(b, 0x50, file, 'root'),
    chunk_root: u64(b, 0x58, file, 'chunk_root'),
    log_root: u64(b, 0x60, file, 'log_root'),
    total_bytes: u64(b, 0x70, file, 'total_bytes'),
    bytes_used: u64(b, 0x78, file, 'bytes_used'),
    root_dir_objectid: u64(b, 0x80, file, 'root_dir_objectid'),
    num_devices: u64(b, 0x88, file, 'num_devices'),
    sectorsize: b.readUInt32LE(0x90),
    nodesize: b.readUInt32LE(0x94),
    stripesize: b.readUInt32LE(0x9c),
    sys_chunk_array_size: b.readUInt32LE(0xa0),
    chunk_root_generation: u64(b, 0xa4, file, 'chunk_root_generation'),
    compat_flags: b.readBigUInt64LE(0xac),
    compat_ro_flags: b.readBigUInt64LE(0xb4),
    incompat_flags,
    csum_type,
    root_level: b[0xc6]!,
    chunk_root_level: b[0xc7]!,
    dev_item: {
      devid: u64(b, 0xc9, file, 'dev_item.devid'),
      total_bytes: u64(b, 0xc9 + 8, file, 'dev_item.total_bytes'),
      uuid: Buffer.from(b.subarray(0xc9 + 66, 0xc9 + 82)),
      fsid: Buffer.from(b.subarray(0xc9 + 82, 0xc9 + 98)),
    },
    label: cString(b.subarray(0x12b, 0x22b)),
    sys_chunk_array: Buffer.from(b.subarray(SYS_CHUNK_ARRAY_OFFSET, SYS_CHUNK_ARRAY_OFFSET + SYS_CHUNK_ARRAY_SIZE)),
  };
  if (sb.bytenr !== at) throw corrupt(file, `Btrfs superblock at ${at} says it belongs at ${sb.bytenr}`);
  const pow2 = (x: number) => x > 0 && (x & (x - 1)) === 0;
  if (!pow2(sb.sectorsize) || sb.sectorsize < 4096 || sb.sectorsize > 65536) throw corrupt(file, `Btrfs sectorsize ${sb.sectorsize} is invalid`);
  if (!pow2(sb.nodesize) || sb.nodesize < sb.sectorsize || sb.nodesize > 65536) throw corrupt(file, `Btrfs nodesize ${sb.nodesize} is invalid`);
  if (sb.sys_chunk_array_size > SYS_CHUNK_ARRAY_SIZE) throw corrupt(file, `Btrfs sys_chunk_array_size ${sb.sys_chunk_array_size} is too large`);
  if (sb.root_level > 7 || sb.chunk_root_level > 7) throw corrupt(file, 'Btrfs tree root level is above 7');
  sb.sys_chunk_array = sb.sys_chunk_array.subarray(0, sb.sys_chunk_array_size);
  return sb;
}

/**
 * The superblock to use: the primary when it is sound, else the newest sound mirror, with a
 * warning (as `btrfs rescue super-recover` would choose).
 */
export async function readSuperblock(src: ByteSource, warnings: string[]): Promise<Superblock> {
  const file = src.name;
  let primaryError: Error | null = null;
  let best: Superblock | null = null;
  for (const at of SUPER_MIRROR_OFFSETS) {
    if (at + SUPER_INFO_SIZE > src.size) break;
    try {
      const sb = parseSuperblock(await readExact(src, at, SUPER_INFO_SIZE, 'Btrfs superblock'), at, file);
      if (at === SUPER_INFO_OFFSET) return sb;
      if (!best || sb.generation > best.generation) best = sb;
    } catch (err) {
      if (at === SUPER_INFO_OFFSET) primaryError = err as Error;
      else if (!(err instanceof Error)) throw err;
    }
  }
  if (!best) throw primaryError ?? corrupt(file, 'no Btrfs superblock');
  warnings.push(`the primary superblock is unusable (${primaryError?.message}); using the mirror at ${best.at} (generation ${best.generation})`);
  return best;
}

export function csumTypeName(sb: Superblock): string {
  return CSUM_TYPE_NAMES[sb.csum_type]!;
}

export function csumSize(sb: Superblock): number {
  return CSUM_SIZES[sb.csum_type]!;
}

export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function cString(b: Buffer): string {
  const z = b.indexOf(0);
  return b.subarray(0, z < 0 ? b.length : z).toString('utf8');
}

/** Names of the incompat feature bits set, as btrfs inspect-internal dump-super prints them. */
export function incompatNames(flags: bigint): string[] {
  return Object.entries(INCOMPAT).filter(([, bit]) => flags & bit).map(([n]) => n);
}

/** The registry's probe (src/fs/formats.ts): the magic of the primary superblock at 64 KiB. */
export function probeBtrfs(head: Buffer): boolean {
  return head.length >= SUPER_INFO_OFFSET + 0x48 && head.subarray(SUPER_INFO_OFFSET + 0x40, SUPER_INFO_OFFSET + 0x48).equals(BTRFS_MAGIC);
}
