/**
 * SESparse ("space-efficient sparse"), the snapshot extent of ESXi 6.5+ on VMFS6. Not
 * publicly specified; structures as documented by the qemu commit that added read support
 * (block/vmdk.c, "vmdk: Add read-only support for seSparse snapshots", 2019): a constant
 * header, a volatile header, a grain directory of 64-bit entries naming grain tables by
 * index, and 64-bit grain table entries whose top nibble is the grain's state.
 */
import { corrupt, unsupported } from '../../errors.js';
import { u64leAtMost } from '../../source/bytes.js';
import { readExact, type ByteSource } from '../../source/source.js';
import { MAX_VIRTUAL_BYTES } from './descriptor.js';
import { isSesparse, SESPARSE_CONST_MAGIC } from '../magic.js';
export { isSesparse, SESPARSE_CONST_MAGIC };
import { DirectoryPages, GRAIN_UNALLOCATED, GRAIN_ZERO, type GrainMap, type GrainTable } from './grains.js';

const SECTOR = 512;
const SESPARSE_VOLATILE_MAGIC = 0xcafecafe;
/** Grain tables are 64 sectors = 4096 entries of 8 bytes. */
const GT_SECTORS = 64;
const GTES_PER_GT = (GT_SECTORS * SECTOR) / 8;
const MAX_GD_BYTES = 64 * 1024 * 1024;

/** VMDKSESparseConstHeader (sector 0); offsets and sizes are in sectors. */
export interface SesparseConstHeader {
  capacity: number;
  grainSize: number;
  grainTableSize: number;
  flags: number;
  volatileHeaderOffset: number;
  grainDirOffset: number;
  grainDirSize: number;
  grainTablesOffset: number;
  grainTablesSize: number;
  grainsOffset: number;
  grainsSize: number;
}


/** Sector counts: their byte offsets (x 512) must stay exact Numbers. */
function u64(b: Buffer, at: number, file: string, what: string): number {
  return u64leAtMost(b, at, Math.floor(Number.MAX_SAFE_INTEGER / 512), file, `SESparse header: absurd ${what}`);
}

export function parseSesparseHeader(b: Buffer, file: string): SesparseConstHeader {
  if (!isSesparse(b)) throw corrupt(file, 'not an SESparse extent (bad constant header magic or version)');
  const h: SesparseConstHeader = {
    capacity: u64(b, 16, file, 'capacity'),
    grainSize: u64(b, 24, file, 'grain size'),
    grainTableSize: u64(b, 32, file, 'grain table size'),
    flags: u64(b, 40, file, 'flags'),
    volatileHeaderOffset: u64(b, 80, file, 'volatile header offset'),
    grainDirOffset: u64(b, 128, file, 'grain directory offset'),
    grainDirSize: u64(b, 136, file, 'grain directory size'),
    grainTablesOffset: u64(b, 144, file, 'grain tables offset'),
    grainTablesSize: u64(b, 152, file, 'grain tables size'),
    grainsOffset: u64(b, 192, file, 'grains offset'),
    grainsSize: u64(b, 200, file, 'grains size'),
  };
  if (h.grainSize < 1 || h.grainSize > 0x10000 || (h.grainSize & (h.grainSize - 1)) !== 0) {
    throw corrupt(file, `SESparse header: absurd grain size ${h.grainSize} sectors`);
  }
  if (h.grainTableSize !== GT_SECTORS) throw unsupported(file, `SESparse grain table size ${h.grainTableSize} sectors is not supported`);
  if (h.flags !== 0) throw unsupported(file, `SESparse flags 0x${h.flags.toString(16)} are not supported`);
  if (h.capacity * SECTOR > MAX_VIRTUAL_BYTES) throw corrupt(file, `SESparse header: absurd capacity ${h.capacity} sectors`);
  return h;
}

export class SesparseExtent implements GrainMap {
  readonly grainBytes: number;
  readonly capacity: number;
  readonly gtesPerGt = GTES_PER_GT;
  readonly compressed = false;

  private constructor(
    readonly file: ByteSource,
    readonly header: SesparseConstHeader,
    private readonly gd: DirectoryPages,
  ) {
    this.grainBytes = header.grainSize * SECTOR;
    this.capacity = header.capacity * SECTOR;
  }

  static async open(file: ByteSource): Promise<SesparseExtent> {
    const name = file.name;
    const h = parseSesparseHeader(await readExact(file, 0, SECTOR, 'SESparse constant header'), name);
    const vol = await readExact(file, h.volatileHeaderOffset * SECTOR, SECTOR, 'SESparse volatile header');
    if (vol.readUInt32LE(0) !== SESPARSE_VOLATILE_MAGIC || vol.readUInt32LE(4) !== 0) {
      throw corrupt(name, 'SESparse volatile header has a bad magic');
    }
    // VMDKSESparseVolatileHeader.replay_journal: the tables are stale until the journal is applied.
    if (vol.readBigUInt64LE(24) !== 0n) {
      throw unsupported(name, 'SESparse journal needs replaying (snapshot not closed cleanly); not supported');
    }
    const entries = (h.grainDirSize * SECTOR) / 8;
    const gdStart = h.grainDirOffset * SECTOR;
    if (entries * 8 > MAX_GD_BYTES || gdStart + entries * 8 > file.size) {
      throw corrupt(name, `truncated or corrupt SESparse: grain directory of ${entries} entries does not fit in the file (${file.size} bytes)`);
    }
    const needed = Math.ceil(h.capacity / (h.grainSize * GTES_PER_GT));
    if (entries < needed) throw corrupt(name, `SESparse grain directory has ${entries} entries, the capacity needs ${needed}`);
    return new SesparseExtent(file, h, new DirectoryPages(file, gdStart, needed, 8, 'SESparse grain directory'));
  }

  async loadTable(gt: number): Promise<GrainTable> {
    const name = this.file.name;
    const h = this.header;
    const e = await this.gd.entry(gt);
    if (!e) return null;
    const lo = e.page.readUInt32LE(e.at);
    const hi = e.page.readUInt32LE(e.at + 4);
    if (lo === 0 && hi === 0) return null;
    // An allocated entry's top 32 bits are exactly 0x10000000; the rest is a table index.
    if (hi !== 0x10000000) throw corrupt(name, `SESparse grain directory entry ${gt} is invalid (0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')})`);
    const maxTables = Math.floor(h.grainTablesSize / GT_SECTORS);
    if (lo >= maxTables) throw corrupt(name, `SESparse grain directory entry ${gt} names grain table ${lo}, past the ${maxTables} tables`);
    const idx = lo;
    const at = (h.grainTablesOffset + idx * GT_SECTORS) * SECTOR;
    if (at + GT_SECTORS * SECTOR > this.file.size) throw corrupt(name, `SESparse grain table ${idx} is past the end of the file`);
    const raw = await readExact(this.file, at, GT_SECTORS * SECTOR, 'SESparse grain table');
    const t = new Float64Array(GTES_PER_GT);
    const grainsEnd = h.grainsOffset + h.grainsSize;
    for (let i = 0; i < GTES_PER_GT; i++) {
      const lo = raw.readUInt32LE(i * 8);
      const hi = raw.readUInt32LE(i * 8 + 4);
      switch (hi >>> 28) {
        case 0x0:
          if (lo !== 0 || hi !== 0) throw corrupt(name, `SESparse grain table ${idx} entry ${i} is invalid`);
          t[i] = GRAIN_UNALLOCATED;
          break;
        case 0x1: // unmapped by the guest (SCSI UNMAP): reads as zeros
        case 0x2: // zero grain
          t[i] = GRAIN_ZERO;
          break;
        case 0x3: {
          // Grain index: bits 48..59 are its low 12 bits, bits 0..47 its high bits.
          const high = (hi & 0xffff) * 2 ** 32 + lo;
          if (high >= 2 ** 36) throw corrupt(name, `SESparse grain table ${idx} entry ${i} names an absurd grain`);
          const grain = high * 4096 + ((hi >>> 16) & 0xfff);
          const sector = h.grainsOffset + grain * h.grainSize;
          if (sector + h.grainSize > grainsEnd || (sector + h.grainSize) * SECTOR > this.file.size) {
            throw corrupt(name, `SESparse grain table ${idx} entry ${i} points past the end of the grains (grain ${grain})`);
          }
          t[i] = sector * SECTOR;
          break;
        }
        default:
          throw corrupt(name, `SESparse grain table ${idx} entry ${i} has unknown type ${hi >>> 28}`);
      }
    }
    return t;
  }
}
