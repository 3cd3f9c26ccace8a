import type { FsFormat } from './types.js';
import { fatFormat } from './fat/fat.js';
import { exfatFormat } from './exfat/exfat.js';
import { extFormat } from './ext/ext.js';
import { ntfsFormat } from './ntfs/ntfs.js';
import { xfsFormat } from './xfs/xfs.js';
import { iso9660Format } from './iso9660/iso9660.js';
import { udfFormat } from './udf/udf.js';
import { btrfsFormat } from './btrfs/btrfs.js';

/** Every filesystem module, tried in order by its probe. Add a format by adding it here. */
export const fsFormats: FsFormat[] = [exfatFormat, extFormat, ntfsFormat, xfsFormat, fatFormat, btrfsFormat, udfFormat, iso9660Format];
