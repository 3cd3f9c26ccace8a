/**
 * The volume-system interface. A volume system is found on a volume (or a whole disk) by its
 * magic and turns it into child volumes; the engine (tree.ts) runs passes until nothing new is
 * found, so systems nest: GPT → LVM2 PV → LV → (later) LUKS → filesystem.
 *
 * Two kinds:
 * - one parent (`open`): partition tables, and encrypted volumes (one child, whose `open` may
 *   need a secret from `ctx.secret`; without one the child is listed "locked");
 * - pooled (`readMember` + `assemble`): members found on many volumes, possibly on several
 *   disks, are grouped (LVM2: PVs by VG UUID) and the group gives the children, named at the top
 *   level under the group's name (`VG/LV`).
 */
import type { DiskpickError } from '../errors.js';
import type { ByteSource } from '../source/source.js';
import type { Volume } from './types.js';
import type { EncryptionInfo, VolumeKeys } from './crypt/keys.js';

export type SecretKind = 'passphrase' | 'recovery-key' | 'key-file';

export interface VolumeContext {
  /** Logical sector size of the disk the volume lies on (512 or 4096). */
  sectorSize: number;
  /** The volume's path, for messages ("p2", "rl/root"). */
  volumePath: string;
  /**
   * A key for an encrypted volume, asked of the user (or taken from an option) on demand;
   * null when none is given: the child is then listed, "locked", with an unsupported error.
   */
  secret(kind: SecretKind, volumePath: string): Promise<Buffer | null>;
  /** The user's keys for encrypted volumes (options, environment, a prompt): never shown anywhere. */
  keys?: VolumeKeys;
  /** True when something diskpick reads is on `src` (a filesystem or a volume system). */
  recognises?(src: ByteSource): Promise<boolean>;
  warn(message: string): void;
}

export interface ChildVolume {
  /** Its name: under the parent ("p1") for one-parent systems, under the group ("root") for pooled ones. */
  name: string;
  start: number | null;
  size: number;
  /** null: listed, not readable; `error` says why (missing PV, locked, unsupported segment type). */
  source: ByteSource | null;
  error?: DiskpickError;
  what: string;
  partition?: Volume;
  /** Paths of the member volumes it is built from (pooled systems fill these in from members). */
  members?: string[];
  /** An earlier state of a sibling (an LVM snapshot): the sibling's name and when it was taken. */
  pointOf?: string;
  pointTime?: { sec: number; nsec: number };
  /**
   * Shown in its parent's place, under the parent's path (the decrypted volume of an encrypted
   * one: /p3 is what LUKS on p3 holds). The tree descends into it as into any volume.
   */
  inPlace?: boolean;
  /** A locked child: opens later with a key (the browser asks when the volume is opened). */
  unlock?: (keys: VolumeKeys) => Promise<{ source: ByteSource; encryption: EncryptionInfo } | null>;
}

export interface OpenedSystem {
  /** How `info` describes the parent: "GPT, 512-byte sectors", "LVM2 PV of VG rl (3 LVs)". */
  describe: string;
  children: ChildVolume[];
  warnings: string[];
  details?: Record<string, string | number | boolean>;
  /** An encrypted volume's header facts (never a key). */
  encryption?: EncryptionInfo;
}

/** One member of a pooled system, as read from its own volume. */
export interface PoolMember {
  /** Members with the same key are one group (LVM2: the VG UUID). */
  groupKey: string;
  /** What the member is, for `info`, before the group is known: "LVM2 PV". */
  describe: string;
  source: ByteSource;
  /** Format-specific parse (LVM2: label, PV header, metadata). */
  data: unknown;
}

export interface AssembledGroup {
  /** Top-level folder name (LVM2: the VG name). */
  name: string;
  children: ChildVolume[];
  /** The members (indexes into the list given to `assemble`) and how `info` describes each once grouped. */
  members: Array<{ index: number; describe: string }>;
  warnings: string[];
  details?: Record<string, string | number | boolean>;
}

export interface VolumeSystem {
  name: string;
  /**
   * A partition table: the only kind looked for on a whole disk. Anything else on a disk
   * without one (a filesystem, an LVM2 PV, LUKS) is found on the disk's one volume, `p0`.
   */
  partitionTable?: boolean;
  /**
   * Probed before the filesystems (a BitLocker To Go volume is also a valid FAT32 discovery
   * volume: the encryption must win). The probe then answers false when its metadata cannot be
   * read, so the filesystem is read instead.
   */
  beforeFilesystems?: boolean;
  /**
   * A last try on a volume nothing else claimed (a LUKS volume whose header is kept apart,
   * `--header`): like `open`, or null when it does not apply.
   */
  openUnmarked?(src: ByteSource, ctx: VolumeContext): Promise<OpenedSystem | null>;
  /** True when the first bytes (`head`, up to 64 KiB) show this system. May read more of `src`. */
  probe(head: Buffer, src: ByteSource, sectorSize: number): boolean | Promise<boolean>;
  /** One-parent systems. */
  open?(src: ByteSource, ctx: VolumeContext): Promise<OpenedSystem>;
  /** Pooled systems: one member, then every group once all volumes were examined. */
  readMember?(src: ByteSource, ctx: VolumeContext): Promise<PoolMember>;
  assemble?(members: Array<{ member: PoolMember; path: string }>, ctx: VolumeContext): Promise<AssembledGroup[]>;
}
