/**
 * An ISO 9660 image as a volume system: the whole image is the ISO filesystem (`p0`, as any
 * partition-less disk) and each El Torito boot image of its Boot Catalog is a volume beside
 * it (`boot1`, `boot2` … in catalog order, the default entry first), so a floppy-emulation
 * image's FAT filesystem and a hard-disk-emulation image's MBR partitions open like any other.
 * Hybrid ISOs (an MBR or GPT in the system area as well, isohybrid / xorriso) get the same
 * `p0` and `bootN` beside their partitions (detect.ts asks isoVolumesOf). See
 * docs/formats/iso9660.md.
 *
 * Sizes: floppy images are 1.2/1.44/2.88 MB; a hard-disk image ends where the last partition
 * of its MBR ends; a no-emulation entry gives only the Sector Count the BIOS loads (often 4
 * sectors for a whole EFI image), so when the image starts with a FAT boot sector its size is
 * the FAT's (what xorriso and 7-Zip do), else the entry's count.
 */
import { SliceSource, type ByteSource } from '../../source/source.js';
import type { ChildVolume, OpenedSystem, VolumeSystem } from '../system.js';
import { readBootCatalog, type BootImage } from './catalog.js';

const SECTOR = 2048;
/** Volume descriptors start at sector 16; a hostile set without a terminator ends here. */
const MAX_DESCRIPTORS = 64;

/** True when `head` (the image's first 68 KiB) holds an ISO 9660 Primary Volume Descriptor at sector 16. */
export function hasIsoDescriptor(head: Buffer): boolean {
  return head.length >= 16 * SECTOR + 7 && head[16 * SECTOR] === 1 && head.toString('latin1', 16 * SECTOR + 1, 16 * SECTOR + 6) === 'CD001';
}

/** The Boot Catalog's sector from the El Torito Boot Record volume descriptor, or null. */
async function bootCatalogSector(src: ByteSource): Promise<number | null> {
  for (let i = 0; i < MAX_DESCRIPTORS; i++) {
    const d = await src.read((16 + i) * SECTOR, SECTOR);
    if (d.length < SECTOR || d.toString('latin1', 1, 6) !== 'CD001') return null;
    if (d[0] === 255) return null;
    if (d[0] === 0 && d.toString('latin1', 7, 30) === 'EL TORITO SPECIFICATION') return d.readUInt32LE(71);
  }
  return null;
}

/** A FAT boot sector's size in bytes (total sectors × bytes per sector), or 0. */
function fatSize(b: Buffer): number {
  if (b.length < 512 || (b[0] !== 0xeb && b[0] !== 0xe9)) return 0;
  const bps = b.readUInt16LE(11);
  if (![512, 1024, 2048, 4096].includes(bps) || b[16] === 0) return 0;
  const total = b.readUInt16LE(19) || b.readUInt32LE(32);
  return total * bps;
}

/** Where the last partition of an MBR ends, in bytes, or 0. */
function mbrEnd(b: Buffer): number {
  if (b.length < 512 || b[510] !== 0x55 || b[511] !== 0xaa) return 0;
  let end = 0;
  for (let i = 0; i < 4; i++) {
    const e = 446 + 16 * i;
    if (b[e + 4] === 0) continue;
    end = Math.max(end, (b.readUInt32LE(e + 8) + b.readUInt32LE(e + 12)) * 512);
  }
  return end;
}

async function imageSize(src: ByteSource, img: BootImage, start: number): Promise<number> {
  if (img.media.endsWith('floppy')) return img.size;
  const first = await src.read(start, 512);
  const counted = Math.max(img.sectorCount, 1) * 512;
  if (img.media === 'hard disk') return mbrEnd(first) || counted;
  return Math.max(counted, fatSize(first));
}

/**
 * The boot images of the ISO image `src` as volumes (none when it has no valid catalog). Only
 * those holding something diskpick reads (`recognises`: a FAT, an MBR…) become volumes: a BIOS
 * loader is code, a file in /p0 anyway, and as a volume it would only be an "unknown
 * filesystem" in every listing (ls -R of every bootable ISO would end with exit 1). They keep
 * their catalog number (`boot2` stays `boot2` when boot1 is a loader).
 */
export async function bootVolumes(src: ByteSource, warn: (m: string) => void, recognises?: (s: ByteSource) => Promise<boolean>): Promise<ChildVolume[]> {
  const sector = await bootCatalogSector(src);
  if (sector === null) return [];
  const cat = await readBootCatalog(src, sector);
  if (cat.problem) warn(`El Torito: ${cat.problem}`);
  const out: ChildVolume[] = [];
  let n = 0;
  for (const img of cat.images) {
    n++;
    const name = `boot${n}`;
    const start = img.loadRba * SECTOR;
    if (img.loadRba === 0 || start >= src.size) {
      warn(`El Torito: ${name} (${img.entry}) starts at sector ${img.loadRba}, outside the image: not shown`);
      continue;
    }
    let size = await imageSize(src, img, start);
    if (start + size > src.size) {
      warn(`El Torito: ${name} (${img.entry}) is cut short by the end of the image`);
      size = src.size - start;
    }
    const source = new SliceSource(src, start, size, `${src.name} (${name})`);
    if (recognises && !(await recognises(source).catch(() => false))) continue;
    out.push({
      name, start, size, source,
      what: `El Torito ${img.platform} ${img.media} boot image${img.bootable ? '' : ', not bootable'}`,
    });
  }
  return out;
}

/** `p0` (the whole image, the ISO filesystem) and the boot images, for an ISO image or a hybrid one. */
export async function isoVolumesOf(src: ByteSource, head: Buffer, warn: (m: string) => void, recognises?: (s: ByteSource) => Promise<boolean>): Promise<ChildVolume[]> {
  if (!hasIsoDescriptor(head)) return [];
  opened.add(src);
  return [{ name: 'p0', start: 0, size: src.size, source: src, what: 'ISO 9660 image (whole disk)' }, ...(await bootVolumes(src, warn, recognises))];
}

/** Images already opened as ISO: their `p0` is the same bytes, examined for a filesystem, never again as an ISO image. */
const opened = new WeakSet<ByteSource>();

export const elToritoSystem: VolumeSystem = {
  name: 'iso9660',
  partitionTable: true,
  probe: (head, src) => !opened.has(src) && hasIsoDescriptor(head),
  async open(src, ctx): Promise<OpenedSystem> {
    opened.add(src);
    const warnings: string[] = [];
    const head = await src.read(0, 17 * SECTOR);
    const children = await isoVolumesOf(src, head, (m) => warnings.push(m), ctx.recognises);
    const boots = children.length - 1;
    return {
      describe: `ISO 9660 image${boots ? `, El Torito catalog with ${boots} boot image${boots > 1 ? 's' : ''}` : ''}`,
      children,
      warnings,
      details: { scheme: 'iso9660', sectorSize: ctx.sectorSize },
    };
  },
};
