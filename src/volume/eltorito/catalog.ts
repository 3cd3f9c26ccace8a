/**
 * El Torito ("Bootable CD-ROM Format Specification" 1.0, Phoenix/IBM 1995): the Boot Record
 * volume descriptor points at the Boot Catalog, a list of 32-byte entries: a Validation Entry,
 * the Initial/Default Entry, then Section Headers each followed by Section Entries. Each
 * bootable entry names a boot image (a floppy or hard-disk image, or "no emulation" loader)
 * by its first sector. diskpick lists them in `info`.
 */
import type { ByteSource } from '../../source/source.js';
/** ISO 9660 logical sectors are 2048 bytes (the only size in use). */
const SECTOR = 2048;

export interface BootImage {
  /** "default" or "section N entry M". */
  entry: string;
  /** Platform ID of its section: x86, PowerPC, Mac, EFI, or the number. */
  platform: string;
  bootable: boolean;
  /** Boot media type: no emulation, 1.2M/1.44M/2.88M floppy, hard disk. */
  media: string;
  /** Load RBA: the image's first 2048-byte sector. */
  loadRba: number;
  /** Sector Count: 512-byte virtual sectors loaded by the BIOS (for no emulation, often only the first 2 KiB). */
  sectorCount: number;
  /** Byte size of the image as far as the entry says (floppy images: the floppy size). */
  size: number;
}

export interface BootCatalog {
  /** Validation Entry: platform of the default entry and the manufacturer ID string. */
  platform: string;
  idString: string;
  images: BootImage[];
  /** A problem found in the catalog (bad checksum, bad key bytes), for `info`'s warnings. */
  problem?: string;
}

const PLATFORMS: Record<number, string> = { 0: 'x86', 1: 'PowerPC', 2: 'Mac', 0xef: 'EFI' };
const MEDIA: Record<number, [string, number]> = {
  0: ['no emulation', 0],
  1: ['1.2M floppy', 1_228_800],
  2: ['1.44M floppy', 1_474_560],
  3: ['2.88M floppy', 2_949_120],
  4: ['hard disk', 0],
};
/** The catalog is one sector in practice; hostile catalogs end here. */
const MAX_CATALOG_SECTORS = 4;
const MAX_IMAGES = 64;

function platformName(id: number): string {
  return PLATFORMS[id] ?? `0x${id.toString(16).padStart(2, '0')}`;
}

function bootEntry(e: Buffer, entry: string, platform: string): BootImage {
  const [media, floppy] = MEDIA[e[1]! & 0x0f] ?? [`media type ${e[1]! & 0x0f}`, 0];
  const sectorCount = e.readUInt16LE(6);
  return {
    entry,
    platform,
    bootable: e[0] === 0x88,
    media,
    loadRba: e.readUInt32LE(8),
    sectorCount,
    size: floppy || sectorCount * 512,
  };
}

/** Reads the Boot Catalog at `sector`; problems end the list and are reported, never thrown. */
export async function readBootCatalog(src: ByteSource, sector: number): Promise<BootCatalog> {
  const b = await src.read(sector * SECTOR, MAX_CATALOG_SECTORS * SECTOR);
  const cat: BootCatalog = { platform: '', idString: '', images: [] };
  if (b.length < 64) return { ...cat, problem: `boot catalog at sector ${sector} is past the end of the image` };
  if (b[0] !== 1 || b[30] !== 0x55 || b[31] !== 0xaa) return { ...cat, problem: `boot catalog at sector ${sector} has no valid Validation Entry` };
  let sum = 0;
  for (let i = 0; i < 32; i += 2) sum = (sum + b.readUInt16LE(i)) & 0xffff;
  if (sum !== 0) cat.problem = 'boot catalog Validation Entry checksum mismatch';
  cat.platform = platformName(b[1]!);
  cat.idString = b.toString('latin1', 4, 28).replace(/[\0 ]+$/, '');
  cat.images.push(bootEntry(b.subarray(32, 64), 'default', cat.platform));
  let at = 64;
  let section = 0;
  while (at + 32 <= b.length && cat.images.length < MAX_IMAGES) {
    const hdr = b[at]!;
    if (hdr !== 0x90 && hdr !== 0x91) break;
    section++;
    const platform = platformName(b[at + 1]!);
    const count = b.readUInt16LE(at + 2);
    at += 32;
    for (let i = 1; i <= count && at + 32 <= b.length && cat.images.length < MAX_IMAGES; i++) {
      const e = b.subarray(at, at + 32);
      at += 32;
      if (e[0] !== 0x88 && e[0] !== 0x00) break;
      cat.images.push(bootEntry(e, `section ${section} entry ${i}`, platform));
      // Section Entry Extensions (0x44) carry selection criteria only.
      while (at + 32 <= b.length && b[at] === 0x44) at += 32;
    }
    if (hdr === 0x91) break;
  }
  return cat;
}
