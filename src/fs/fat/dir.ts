/**
 * FAT folders (fatgen103 §6, §7): 32-byte short entries (DIR_Name, DIR_Attr, DIR_NTRes,
 * times, DIR_FstClusHI/LO, DIR_FileSize) and the long-name entries (LDIR_*) before them.
 */
import { DEFAULT_DIR_MODE, DEFAULT_FILE_MODE, type FsNode, type Stat, type Timespec } from '../types.js';

/** Directory entry attribute bits (fatgen103 §6). */
export const ATTR_READ_ONLY = 0x01;
export const ATTR_HIDDEN = 0x02;
export const ATTR_SYSTEM = 0x04;
export const ATTR_VOLUME_ID = 0x08;
export const ATTR_DIRECTORY = 0x10;
export const ATTR_ARCHIVE = 0x20;
export const ATTR_LONG_NAME = 0x0f;
/** DIR_NTRes bits Windows NT sets for an all-lower-case base name / extension. */
const NTRES_LOWER_BASE = 0x08;
const NTRES_LOWER_EXT = 0x10;

/**
 * Files are numbered by the position of their entry; folders by their first cluster, so two
 * entries naming the same folder (a loop in a damaged or hostile tree) have one identity.
 * Above any entry position (a 2 TiB volume has < 2^36 entries).
 */
export const DIR_INO_BASE = 2 ** 40;

/** A directory may hold at most 65 536 entries (fatgen103 §6): 2 MiB. */
export const MAX_DIR_BYTES = 65536 * 32;

/** Code page 437, bytes 0x80–0xFF: short names are stored in the OEM code page. */
const CP437_HIGH =
  'ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■\u00a0';

export function decodeOem(bytes: Buffer): string {
  let s = '';
  for (const c of bytes) s += c < 0x80 ? String.fromCharCode(c) : CP437_HIGH[c - 0x80]!;
  return s;
}

/** FAT date/time (fatgen103 §6.2) as UTC: FAT stores local time with no zone, read as UTC. */
function fatTime(date: number, time: number, tenths = 0): Timespec | undefined {
  if (date === 0) return undefined;
  const day = date & 0x1f;
  const month = (date >> 5) & 0x0f;
  const year = 1980 + (date >> 9);
  if (day === 0 || month === 0 || month > 12) return undefined;
  const h = time >> 11;
  const m = (time >> 5) & 0x3f;
  const s = (time & 0x1f) * 2;
  const ms = Date.UTC(year, month - 1, day, h, m, s);
  const extra = Math.min(tenths, 199) * 10; // CrtTimeTenth: 10 ms units, 0–199
  const sec = Math.floor(ms / 1000) + Math.floor(extra / 1000);
  return { sec, nsec: (extra % 1000) * 1_000_000 };
}

function shortNameChecksum(raw: Buffer): number {
  let sum = 0;
  for (let i = 0; i < 11; i++) sum = (((sum & 1) << 7) + (sum >> 1) + raw[i]!) & 0xff;
  return sum;
}

export class FatNode implements FsNode {
  constructor(
    readonly name: string,
    readonly shortName: string,
    readonly stat: Stat,
    readonly firstCluster: number,
    /** FAT12/16 root: the fixed root directory region. */
    readonly fixedRoot = false,
  ) {}
}

/** The volume label entry of the root folder (ATTR_VOLUME_ID): its name, null when blank, undefined when there is none. */
export function volumeLabelEntry(raw: Buffer): string | null | undefined {
  for (let off = 0; off + 32 <= raw.length; off += 32) {
    const b0 = raw[off]!;
    if (b0 === 0) break;
    if (b0 === 0xe5) continue;
    const attr = raw[off + 11]!;
    if ((attr & ATTR_LONG_NAME) === ATTR_LONG_NAME) continue;
    if (attr & ATTR_VOLUME_ID) return decodeOem(raw.subarray(off, off + 11)).trimEnd() || null;
  }
  return undefined;
}

/**
 * The entries of a folder's bytes (fatgen103 §6, §7): short entries with the long names
 * (LFN, checksummed against the short name) before them. `volumeOffset` maps a byte of the
 * folder to its place on the volume (files are numbered by it); `fat32`: the first cluster
 * has a high word (DIR_FstClusHI).
 */
export function parseDirEntries(raw: Buffer, fat32: boolean, clusterSize: number, volumeOffset: (off: number) => number): FatNode[] {
  const out: FatNode[] = [];
  let lfnParts: string[] = [];
  let lfnChecksum = -1;
  let lfnNext = -1;
  for (let off = 0; off + 32 <= raw.length; off += 32) {
    const b0 = raw[off]!;
    if (b0 === 0x00) break;
    if (b0 === 0xe5) {
      lfnParts = [];
      continue;
    }
    const attr = raw[off + 11]!;
    if ((attr & 0x3f) === ATTR_LONG_NAME) {
      const ord = b0 & 0x3f;
      const chk = raw[off + 13]!;
      if (b0 & 0x40) {
        lfnParts = [];
        lfnChecksum = chk;
        lfnNext = ord;
      }
      if (ord !== lfnNext || chk !== lfnChecksum || ord === 0) {
        lfnParts = [];
        lfnNext = -1;
        continue;
      }
      const units = Buffer.concat([raw.subarray(off + 1, off + 11), raw.subarray(off + 14, off + 26), raw.subarray(off + 28, off + 32)]);
      let part = '';
      for (let i = 0; i + 1 < units.length; i += 2) {
        const u = units.readUInt16LE(i);
        if (u === 0x0000 || u === 0xffff) break;
        part += String.fromCharCode(u);
      }
      lfnParts[ord - 1] = part;
      lfnNext = ord - 1;
      continue;
    }
    if (attr & ATTR_VOLUME_ID) {
      lfnParts = [];
      continue;
    }
    const nameBytes = Buffer.from(raw.subarray(off, off + 11));
    if (nameBytes[0] === 0x05) nameBytes[0] = 0xe5; // KANJI lead byte 0xE5 is stored as 0x05
    const ntRes = raw[off + 12]!;
    let base83 = decodeOem(nameBytes.subarray(0, 8)).trimEnd();
    let ext83 = decodeOem(nameBytes.subarray(8, 11)).trimEnd();
    const shortName = ext83 ? `${base83}.${ext83}` : base83;
    if (ntRes & NTRES_LOWER_BASE) base83 = base83.toLowerCase();
    if (ntRes & NTRES_LOWER_EXT) ext83 = ext83.toLowerCase();
    let name = ext83 ? `${base83}.${ext83}` : base83;
    if (lfnNext === 0 && lfnParts.length > 0 && lfnChecksum === shortNameChecksum(nameBytes)) {
      name = lfnParts.join('');
    }
    lfnParts = [];
    lfnNext = -1;
    if (shortName === '.' || shortName === '..') continue;
    const isDir = (attr & ATTR_DIRECTORY) !== 0;
    const firstCluster = (fat32 ? raw.readUInt16LE(off + 20) << 16 : 0) + raw.readUInt16LE(off + 26);
    const size = isDir ? 0 : raw.readUInt32LE(off + 28);
    const mtime = fatTime(raw.readUInt16LE(off + 24), raw.readUInt16LE(off + 22));
    const attributes: string[] = [];
    if (attr & ATTR_READ_ONLY) attributes.push('readonly');
    if (attr & ATTR_HIDDEN) attributes.push('hidden');
    if (attr & ATTR_SYSTEM) attributes.push('system');
    if (attr & ATTR_ARCHIVE) attributes.push('archive');
    const volOffset = volumeOffset(off);
    const stat: Stat = {
      type: isDir ? 'dir' : 'file',
      size,
      allocated: isDir ? clusterSize : Math.ceil(size / clusterSize) * clusterSize,
      mode: isDir ? DEFAULT_DIR_MODE : DEFAULT_FILE_MODE,
      uid: 0,
      gid: 0,
      nlink: isDir ? 2 : 1,
      ino: isDir && firstCluster >= 2 ? DIR_INO_BASE + firstCluster : volOffset / 32,
      mtime,
      ctime: mtime,
      atime: fatTime(raw.readUInt16LE(off + 18), 0),
      birthtime: fatTime(raw.readUInt16LE(off + 16), raw.readUInt16LE(off + 14), raw[off + 13]!),
      hasOwnership: false,
      attributes,
    };
    out.push(new FatNode(name, shortName, stat, firstCluster));
  }
  return out;
}
