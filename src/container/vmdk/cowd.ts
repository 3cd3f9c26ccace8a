/**
 * The COWD sparse extent: ESX 2/3 redo logs (`name.vmdk.REDO`, `-delta.vmdk` of the
 * vmfsSparse disk type). All fields 32-bit; 4096 entries per grain table.
 * libyal VMDK format §5 "The COWD sparse extent data file"; VMware "Virtual Disk Format
 * 5.0" §"ESX Server Sparse Extents".
 */
import { corrupt, unsupported } from '../../errors.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { DirectoryPages, GRAIN_UNALLOCATED, type GrainMap, type GrainTable } from './grains.js';

import { COWD_MAGIC } from '../magic.js';
export { COWD_MAGIC };
const SECTOR = 512;
/** COWDisk_Header is 2048 bytes (4 sectors). */
export const COWD_HEADER_BYTES = 2048;
/** Fixed number of entries in a COWD grain table. */
export const COWD_GTES_PER_GT = 4096;
const MAX_GRAIN_SECTORS = 0x10000;
const MAX_GD_BYTES = 64 * 1024 * 1024;

/** COWDisk_Header (libyal §5.1). */
export interface CowdHeader {
  version: number;
  flags: number;
  /** numSectors: capacity in sectors. */
  numSectors: number;
  /** grainSize in sectors. */
  grainSize: number;
  /** gdOffset in sectors (4 in every file seen). */
  gdOffset: number;
  numGDEntries: number;
  freeSector: number;
  /** u.child.parentFileName, when this redo log names its parent (empty in a root disk). */
  parentFileName: string;
  parentGeneration: number;
  generation: number;
}

export function parseCowdHeader(b: Buffer, file: string): CowdHeader {
  if (b.length < COWD_HEADER_BYTES || b.readUInt32LE(0) !== COWD_MAGIC) throw corrupt(file, 'not a COWD sparse extent');
  const h: CowdHeader = {
    version: b.readUInt32LE(4),
    flags: b.readUInt32LE(8),
    numSectors: b.readUInt32LE(12),
    grainSize: b.readUInt32LE(16),
    gdOffset: b.readUInt32LE(20),
    numGDEntries: b.readUInt32LE(24),
    freeSector: b.readUInt32LE(28),
    parentFileName: parentName(b.subarray(32, 32 + 1024)),
    parentGeneration: b.readUInt32LE(1056),
    generation: b.readUInt32LE(1060),
  };
  if (h.version !== 1) throw unsupported(file, `COWD version ${h.version} is not supported`);
  if (h.grainSize < 1 || h.grainSize > MAX_GRAIN_SECTORS || (h.grainSize & (h.grainSize - 1)) !== 0) {
    throw corrupt(file, `COWD header: absurd grain size ${h.grainSize} sectors`);
  }
  if (h.numSectors === 0) throw corrupt(file, 'COWD header: capacity is 0');
  return h;
}

/**
 * The root/child union at offset 32: a root disk keeps its geometry there (three small
 * integers, so a NUL within the first bytes), a child the parent's file name. Only a
 * printable string of two or more characters is taken as a name.
 */
function parentName(b: Buffer): string {
  const nul = b.indexOf(0);
  const raw = b.subarray(0, nul < 0 ? b.length : nul);
  if (raw.length < 2) return '';
  for (const c of raw) if (c < 0x20 || c === 0x7f) return '';
  return raw.toString('utf8');
}

export class CowdExtent implements GrainMap {
  readonly grainBytes: number;
  readonly capacity: number;
  readonly gtesPerGt = COWD_GTES_PER_GT;
  readonly compressed = false;

  private constructor(
    readonly file: ByteSource,
    readonly header: CowdHeader,
    private readonly gd: DirectoryPages,
  ) {
    this.grainBytes = header.grainSize * SECTOR;
    this.capacity = header.numSectors * SECTOR;
  }

  static async open(file: ByteSource): Promise<CowdExtent> {
    const h = parseCowdHeader(await readExact(file, 0, COWD_HEADER_BYTES, 'COWD header'), file.name);
    const gdStart = h.gdOffset * SECTOR;
    const gdBytes = h.numGDEntries * 4;
    if (h.gdOffset < COWD_HEADER_BYTES / SECTOR || gdBytes > MAX_GD_BYTES || gdStart + gdBytes > file.size) {
      throw corrupt(file.name, `truncated or corrupt COWD: grain directory of ${h.numGDEntries} entries at sector ${h.gdOffset} does not fit in the file (${file.size} bytes)`);
    }
    return new CowdExtent(file, h, new DirectoryPages(file, gdStart, h.numGDEntries, 4, 'COWD grain directory'));
  }

  private isMetadata(start: number, end: number): boolean {
    return start < COWD_HEADER_BYTES || (start < this.gd.start + this.gd.bytes && end > this.gd.start);
  }

  async loadTable(gt: number): Promise<GrainTable> {
    const sector = await this.gd.u32(gt);
    if (sector === undefined || sector === 0) return null;
    const at = sector * SECTOR;
    const bytes = COWD_GTES_PER_GT * 4;
    const name = this.file.name;
    if (at + bytes > this.file.size) throw corrupt(name, `COWD grain directory entry ${gt} points past the end of the file (sector ${sector})`);
    if (this.isMetadata(at, at + bytes)) throw corrupt(name, `COWD grain directory entry ${gt} points into the header or the grain directory itself`);
    const raw = await readExact(this.file, at, bytes, 'COWD grain table');
    const t = new Float64Array(COWD_GTES_PER_GT);
    for (let i = 0; i < t.length; i++) {
      const v = raw.readUInt32LE(i * 4);
      if (v === 0) {
        t[i] = GRAIN_UNALLOCATED;
        continue;
      }
      const off = v * SECTOR;
      if (off >= this.file.size) throw corrupt(name, `COWD grain table ${gt} entry ${i} points past the end of the file (sector ${v})`);
      if (this.isMetadata(off, off + 1)) throw corrupt(name, `COWD grain table ${gt} entry ${i} points into the header or grain directory`);
      t[i] = off;
    }
    return t;
  }
}
