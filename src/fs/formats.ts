import type { ByteSource } from '../source/source.js';
import type { FsFormat, FsOpenOptions } from './types.js';
import { probeExfat } from './exfat/boot.js';
import { probeExt } from './ext/superblock.js';
import { probeNtfsBoot } from './ntfs/boot.js';
import { probeXfs } from './xfs/superblock.js';
import { bpbLooksValid } from './fat/bpb.js';
import { probeBtrfs } from './btrfs/superblock.js';
import { hasUdfRecognition } from './udf/volume.js';
import { hasIsoDescriptor } from './iso9660/descriptors.js';

/**
 * A registry line: the filesystem's name, its probe (from the module of its boot sector or
 * superblock: no import of the filesystem's reader) and a loader that imports the reader only
 * once the probe matched, so a start loads one filesystem, not all (issue 27).
 */
function lazy(name: string, probe: FsFormat['probe'], load: () => Promise<FsFormat>): FsFormat {
  return { name, probe, open: async (src: ByteSource, opts?: FsOpenOptions) => (await load()).open(src, opts) };
}

/** Every filesystem module, tried in order by its probe. Add a format by adding a line here. */
export const fsFormats: FsFormat[] = [
  lazy('exfat', probeExfat, async () => (await import('./exfat/exfat.js')).exfatFormat),
  lazy('ext', probeExt, async () => (await import('./ext/ext.js')).extFormat),
  lazy('NTFS', probeNtfsBoot, async () => (await import('./ntfs/ntfs.js')).ntfsFormat),
  lazy('xfs', probeXfs, async () => (await import('./xfs/xfs.js')).xfsFormat),
  lazy('fat', bpbLooksValid, async () => (await import('./fat/fat.js')).fatFormat),
  lazy('btrfs', probeBtrfs, async () => (await import('./btrfs/btrfs.js')).btrfsFormat),
  lazy('udf', hasUdfRecognition, async () => (await import('./udf/udf.js')).udfFormat),
  lazy('iso9660', hasIsoDescriptor, async () => (await import('./iso9660/iso9660.js')).iso9660Format),
];
