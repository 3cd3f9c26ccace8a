import type { FsFormat } from './types.js';
import { fatFormat } from './fat.js';
import { exfatFormat } from './exfat.js';
import { extFormat } from './ext/ext.js';
import { ntfsFormat } from './ntfs/ntfs.js';
import { btrfsFormat } from './btrfs/btrfs.js';

/** Every filesystem module, tried in order by its probe. Add a format by adding it here. */
export const fsFormats: FsFormat[] = [exfatFormat, extFormat, ntfsFormat, fatFormat, btrfsFormat];
