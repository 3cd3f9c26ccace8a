// Placeholder until the FAT reader lands in the next commit.
import type { FsFormat } from './types.js';
import { DiskpickError } from '../errors.js';
export const fatFormat: FsFormat = {
  name: 'fat',
  probe: () => false,
  open: async (src) => { throw new DiskpickError('image', 'FAT not yet readable', src.name); },
};
