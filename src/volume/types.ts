import type { ByteSource } from '../source/source.js';

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
