import type { DiskpickError } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import type { EncryptionInfo, VolumeKeys } from './crypt/keys.js';

export type PartitionScheme = 'mbr' | 'gpt';

export interface Volume {
  /** N of the folder `pN`: Linux numbering (MBR logical partitions from 5; GPT in table order). */
  index: number;
  /** Byte offset of the volume in the virtual disk. */
  start: number;
  /** Length in bytes. */
  size: number;
  /** The volume's bytes. */
  source: ByteSource;
  /** Partition type as the spec names it: "0x0c W95 FAT32 (LBA)", "EBD0A0A2-… Microsoft basic data". */
  type: string;
  /** GPT partition name (UTF-16 in the entry), if any. */
  name?: string;
  /** GPT unique partition GUID. */
  uuid?: string;
  bootable?: boolean;
  /** MBR: primary, logical. */
  kind?: 'primary' | 'logical';
}

export interface PartitionTable {
  scheme: PartitionScheme;
  sectorSize: number;
  /** MBR disk signature or GPT disk GUID. */
  diskId: string;
  volumes: Volume[];
  warnings: string[];
  /** Extra facts for `info`: protective/hybrid MBR, which GPT header was used. */
  details: Record<string, string | number | boolean>;
}

/**
 * The volume tree. Every disk is a root; a volume system (a partition table, an LVM2 volume
 * group, later an encrypted volume) found on a volume gives it children. LVM logical volumes
 * span several physical volumes (and disks), so their parent is the volume group, not one
 * volume: they carry the PVs they are made of in `members`.
 */
export interface VolumeNode {
  /** Path name in every interface: "p1", "rl/root", "disk2/p1". "" for the first disk itself. */
  path: string;
  /** Which disk (0: the image, 1: the first `--disk`, …) the volume lies on; -1 spread over several. */
  disk: number;
  /** Byte offset in its disk; null where it is no one range of one disk (LVs). */
  start: number | null;
  size: number;
  /** Its bytes; null when the volume can be listed but not read (missing PV, locked, unsupported). */
  source: ByteSource | null;
  /** Why `source` is null: the error a read gives (unsupported: exit 6; missing PV: exit 3). */
  error?: DiskpickError;
  /** The partition entry, for partitions. */
  partition?: Volume;
  /** One line for `info`'s WHAT column: "Linux filesystem", "LV linear, 2 segments". */
  what: string;
  /** The volume system found on this volume (its children come from it), with facts for `info`. */
  system?: { name: string; describe: string; details?: Record<string, string | number | boolean>; warnings: string[]; encryption?: EncryptionInfo };
  /** The decrypted volume of an encrypted parent, shown under the parent's path (see ChildVolume.inPlace). */
  inPlace?: boolean;
  /** A locked decrypted volume: opens later with a key (VolumeTreeBuilder.unlock). */
  unlock?: (keys: VolumeKeys) => Promise<{ source: ByteSource; encryption: EncryptionInfo } | null>;
  /** A format named (blkid-like) that diskpick does not read, with its UUID where it has one. */
  content?: { type: string; uuid?: string; label?: string };
  /** The volumes this one is built from (LVM LV: its PVs' paths), for `info --json`. */
  members?: string[];
  /** A volume that is an earlier state of another (a shadow copy, an LVM snapshot): when it was taken. */
  pointTime?: { sec: number; nsec: number };
  /** The volume it is an earlier state of ("vg/origin"; a shadow copy's: its parent). */
  pointOf?: string;
  /** Its identity where it has one (a shadow copy's store GUID). */
  pointId?: string;
  /** The volume it lies in (the PV's partition for an LVM PV; for an LV the first PV). */
  parent: VolumeNode | null;
}
