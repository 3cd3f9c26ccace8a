/**
 * UDF volume structure (ECMA-167 part 3, OSTA UDF 2.60 §2.2): the Volume Recognition Sequence
 * at 32 KiB, the Anchor Volume Descriptor Pointer at block 256 (or the last block), and the
 * Main Volume Descriptor Sequence it points at: Primary Volume, Partition and Logical Volume
 * Descriptors (with their partition maps), ended by a Terminating Descriptor.
 */
import { corrupt, unsupported } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { dstring, longAd, readTag, regid, TAG, timestamp, type AllocationDescriptor } from './tag.js';
import type { Timespec } from '../types.js';

/** Descriptors read from one sequence, at most (a real one holds a handful). */
const MAX_VDS_DESCRIPTORS = 256;
const MAX_POINTERS = 8;

/** True when the Volume Recognition Sequence (from byte 32768) names an NSR02/NSR03 descriptor. `head` is the first 64 KiB. */
export function hasUdfRecognition(head: Buffer): boolean {
  let bea = false;
  for (let at = 32768; at + 7 <= head.length; at += 2048) {
    const id = head.toString('latin1', at + 1, at + 6);
    if (id === 'BEA01') bea = true;
    else if (bea && (id === 'NSR02' || id === 'NSR03')) return true;
    else if (id === 'TEA01') return false;
  }
  return false;
}

export interface PrimaryVolumeDescriptor {
  VolumeIdentifier: string;
  VolumeSetIdentifier: string;
  RecordingDateandTime: Timespec | undefined;
  ApplicationIdentifier: string;
}

export interface PartitionDescriptor {
  PartitionNumber: number;
  PartitionContents: string;
  AccessType: number;
  PartitionStartingLocation: number;
  PartitionLength: number;
}

/** A partition map of the Logical Volume Descriptor (3/10.7, UDF 2.2.4–2.2.10). */
export type PartitionMap =
  | { kind: 'physical'; PartitionNumber: number }
  | { kind: 'sparable'; PartitionNumber: number; PacketLength: number; SparingTableLocations: number[]; SizeofEachSparingTable: number }
  | { kind: 'metadata'; PartitionNumber: number; MetadataFileLocation: number; MetadataMirrorFileLocation: number; Flags: number }
  | { kind: 'virtual'; PartitionNumber: number }
  | { kind: 'unknown'; identifier: string };

export interface LogicalVolumeDescriptor {
  LogicalVolumeIdentifier: string;
  LogicalBlockSize: number;
  DomainIdentifier: string;
  /** UDF revision from the Domain Identifier suffix (0x0102 … 0x0260). */
  udfRevision: number;
  /** File Set Descriptor location (LogicalVolumeContentsUse). */
  fileSetDescriptor: AllocationDescriptor;
  partitionMaps: PartitionMap[];
  IntegritySequenceExtent: { length: number; location: number };
}

export interface VolumeDescriptors {
  blockSize: number;
  pvd: PrimaryVolumeDescriptor | null;
  partitions: PartitionDescriptor[];
  lvd: LogicalVolumeDescriptor;
}

/** The AVDP: tries block 256 with each block size, then the last block and last - 256. */
export async function findAnchor(src: ByteSource): Promise<{ blockSize: number; main: { length: number; location: number }; reserve: { length: number; location: number } }> {
  for (const bs of [2048, 512, 1024, 4096]) {
    const blocks = Math.floor(src.size / bs);
    for (const at of [256, blocks - 1, blocks - 257]) {
      if (at < 256 && at !== 256) continue;
      const b = await src.read(at * bs, 512);
      if (b.length < 512) continue;
      const tag = readTag(b, 0, at);
      if (typeof tag === 'string' || tag.TagIdentifier !== TAG.AnchorVolumeDescriptorPointer) continue;
      return {
        blockSize: bs,
        main: { length: b.readUInt32LE(16), location: b.readUInt32LE(20) },
        reserve: { length: b.readUInt32LE(24), location: b.readUInt32LE(28) },
      };
    }
  }
  throw corrupt(src.name, 'UDF: no Anchor Volume Descriptor Pointer at block 256 or at the end of the volume');
}

function parsePartitionMaps(b: Buffer, count: number, tableLength: number, name: string): PartitionMap[] {
  const maps: PartitionMap[] = [];
  let at = 440;
  const end = Math.min(b.length, 440 + tableLength);
  for (let i = 0; i < count && i < 64; i++) {
    if (at + 2 > end) throw corrupt(name, `UDF: partition map ${i} runs past the Logical Volume Descriptor`);
    const type = b[at]!;
    const len = b[at + 1]!;
    if (len < 6 || at + len > end) throw corrupt(name, `UDF: partition map ${i} has an invalid length ${len}`);
    if (type === 1) maps.push({ kind: 'physical', PartitionNumber: b.readUInt16LE(at + 4) });
    else if (type === 2 && len >= 40) {
      const id = regid(b, at + 4);
      const pn = b.readUInt16LE(at + 38);
      if (id === '*UDF Metadata Partition' && len >= 59) {
        maps.push({ kind: 'metadata', PartitionNumber: pn, MetadataFileLocation: b.readUInt32LE(at + 40), MetadataMirrorFileLocation: b.readUInt32LE(at + 44), Flags: b[at + 58]! });
      } else if (id === '*UDF Sparable Partition' && len >= 48) {
        const n = Math.min(b[at + 42]!, 4);
        const locs: number[] = [];
        for (let k = 0; k < n && at + 48 + 4 * k + 4 <= at + len; k++) locs.push(b.readUInt32LE(at + 48 + 4 * k));
        maps.push({ kind: 'sparable', PartitionNumber: pn, PacketLength: b.readUInt16LE(at + 40), SparingTableLocations: locs, SizeofEachSparingTable: b.readUInt32LE(at + 44) });
      } else if (id === '*UDF Virtual Partition') maps.push({ kind: 'virtual', PartitionNumber: pn });
      else maps.push({ kind: 'unknown', identifier: id });
    } else maps.push({ kind: 'unknown', identifier: `type ${type}` });
    at += len;
  }
  return maps;
}

/** Reads the Main Volume Descriptor Sequence (falling back to the Reserve one). */
export async function readVolumeDescriptors(src: ByteSource): Promise<VolumeDescriptors> {
  const anchor = await findAnchor(src);
  const bs = anchor.blockSize;
  let lastErr: Error | null = null;
  for (const ext of [anchor.main, anchor.reserve]) {
    try {
      return await readSequence(src, bs, ext);
    } catch (err) {
      lastErr = err as Error;
    }
  }
  throw lastErr!;
}

async function readSequence(src: ByteSource, bs: number, first: { length: number; location: number }): Promise<VolumeDescriptors> {
  let pvd: PrimaryVolumeDescriptor | null = null;
  let lvd: LogicalVolumeDescriptor | null = null;
  const partitions = new Map<number, PartitionDescriptor>();
  let ext = first;
  let read = 0;
  let pointers = 0;
  outer: for (;;) {
    const blocks = Math.floor(ext.length / bs);
    for (let i = 0; i < blocks; i++) {
      if (++read > MAX_VDS_DESCRIPTORS) throw corrupt(src.name, `UDF: volume descriptor sequence longer than ${MAX_VDS_DESCRIPTORS} descriptors`);
      const loc = ext.location + i;
      const b = await src.read(loc * bs, bs);
      if (b.length < Math.min(bs, 512)) throw corrupt(src.name, `UDF: volume descriptor sequence at block ${loc} is past the end of the image`);
      const tag = readTag(b, 0, loc);
      if (typeof tag === 'string') {
        // An unrecorded block ends the sequence (3/8.4.2), like a Terminating Descriptor.
        if (b.subarray(0, 16).every((x) => x === 0)) break outer;
        throw corrupt(src.name, `UDF: volume descriptor at block ${loc}: ${tag}`);
      }
      switch (tag.TagIdentifier) {
        case TAG.PrimaryVolume:
          pvd = {
            VolumeIdentifier: dstring(b, 24, 32),
            VolumeSetIdentifier: dstring(b, 72, 128),
            RecordingDateandTime: timestamp(b, 376),
            ApplicationIdentifier: regid(b, 344),
          };
          break;
        case TAG.Partition: {
          const p: PartitionDescriptor = {
            PartitionNumber: b.readUInt16LE(22),
            PartitionContents: regid(b, 24),
            AccessType: b.readUInt32LE(184),
            PartitionStartingLocation: b.readUInt32LE(188),
            PartitionLength: b.readUInt32LE(192),
          };
          partitions.set(p.PartitionNumber, p);
          break;
        }
        case TAG.LogicalVolume: {
          const domain = b.subarray(216, 248);
          lvd = {
            LogicalVolumeIdentifier: dstring(b, 84, 128),
            LogicalBlockSize: b.readUInt32LE(212),
            DomainIdentifier: regid(b, 216),
            udfRevision: domain.readUInt16LE(24),
            fileSetDescriptor: longAd(b, 248),
            partitionMaps: parsePartitionMaps(b, b.readUInt32LE(268), b.readUInt32LE(264), src.name),
            IntegritySequenceExtent: { length: b.readUInt32LE(432), location: b.readUInt32LE(436) },
          };
          break;
        }
        case TAG.VolumeDescriptorPointer:
          if (++pointers > MAX_POINTERS) throw corrupt(src.name, 'UDF: too many Volume Descriptor Pointers (a loop?)');
          ext = { length: b.readUInt32LE(20), location: b.readUInt32LE(24) };
          continue outer;
        case TAG.Terminating:
          break outer;
        default:
          break;
      }
    }
    break;
  }
  if (!lvd) throw corrupt(src.name, 'UDF: no Logical Volume Descriptor in the volume descriptor sequence');
  if (lvd.LogicalBlockSize !== bs) {
    throw corrupt(src.name, `UDF: logical block size ${lvd.LogicalBlockSize} differs from the anchor's block size ${bs}`);
  }
  for (const m of lvd.partitionMaps) {
    if (m.kind === 'unknown') throw unsupported(src.name, `UDF: unknown partition map ${JSON.stringify(m.identifier)}`);
    if (!partitions.has(m.PartitionNumber)) throw corrupt(src.name, `UDF: partition map names partition ${m.PartitionNumber}, which has no Partition Descriptor`);
  }
  return { blockSize: bs, pvd, partitions: [...partitions.values()], lvd };
}
