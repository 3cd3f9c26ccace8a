/**
 * Names what is on a volume that diskpick does not read (as blkid would), so `info`, `ls` and
 * the browser say "LUKS2 encrypted volume" rather than "unknown filesystem". Only magic numbers
 * at fixed places are checked; nothing here is parsed beyond a UUID or label.
 */
import type { ByteSource } from '../source/source.js';

export interface NamedContent {
  /** As blkid's TYPE words say it, spelled for users: "LUKS2", "BitLocker", "Linux swap". */
  type: string;
  uuid?: string;
  label?: string;
}

function uuidAt(b: Buffer, at: number): string {
  const h = b.toString('hex', at, at + 16);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function cString(b: Buffer, at: number, len: number): string {
  const s = b.subarray(at, at + len);
  const nul = s.indexOf(0);
  return (nul >= 0 ? s.subarray(0, nul) : s).toString('utf8');
}

const MD_MAGIC = 0xa92b4efc;
const ZFS_UBERBLOCK_MAGIC = 0x00bab10cn;

/** The format on a volume by its magic, or null. `head` is its first 64 KiB (or less). */
export async function identifyContent(head: Buffer, src: ByteSource): Promise<NamedContent | null> {
  const at = (off: number, magic: string) => head.length >= off + magic.length && head.toString('latin1', off, off + magic.length) === magic;
  if (at(0, 'LUKS\xba\xbe')) {
    const version = head.readUInt16BE(6);
    // LUKS1 and LUKS2 binary headers both hold the UUID as text at byte 168 (40 bytes); LUKS2 a label at 24.
    const uuid = cString(head, 168, 40);
    const label = version === 2 ? cString(head, 24, 48) : '';
    return { type: version === 2 ? 'LUKS2' : version === 1 ? 'LUKS1' : `LUKS (version ${version})`, ...(uuid ? { uuid } : {}), ...(label ? { label } : {}) };
  }
  if (at(3, '-FVE-FS-')) return { type: 'BitLocker' };
  if (at(0, 'XFSB')) return { type: 'XFS', uuid: uuidAt(head, 32), label: cString(head, 108, 12) || undefined };
  if (at(4086, 'SWAPSPACE2') || at(4086, 'SWAP-SPACE')) {
    const sw = at(4086, 'SWAPSPACE2');
    return { type: 'Linux swap', ...(sw ? { uuid: uuidAt(head, 1036) } : {}), ...(sw && cString(head, 1052, 16) ? { label: cString(head, 1052, 16) } : {}) };
  }
  if (at(0, 'PRIVHEAD') || at(3072, 'PRIVHEAD')) return { type: 'Windows LDM (dynamic disk)' };
  // MD superblock 1.1 at 0, 1.2 at 4 KiB; 0.90 and 1.0 near the end.
  for (const off of [0, 4096]) {
    if (head.length >= off + 32 && head.readUInt32LE(off) === MD_MAGIC) return { type: 'Linux MD RAID member', uuid: uuidAt(head, off + 16) };
  }
  if (at(32769, 'CD001')) return { type: 'ISO 9660', label: cString(head, 32808, 32).trim() || undefined };
  if (at(32, 'NXSB')) return { type: 'APFS' };
  if (at(1024, 'H+') || at(1024, 'HX')) return { type: 'HFS+' };
  if (src.size >= 0x10048) {
    const b = await src.read(0x10020, 0x28);
    if (b.length === 0x28 && b.toString('latin1', 0x20, 0x28) === '_BHRfS_M') return { type: 'Btrfs', uuid: uuidAt(b, 0) };
  }
  // ZFS vdev label 0: uberblocks from 128 KiB, 1 KiB apart (or larger: ashift), magic in either byte order.
  if (src.size >= 256 * 1024) {
    const ub = await src.read(128 * 1024, 8);
    if (ub.length === 8 && (ub.readBigUInt64LE(0) === ZFS_UBERBLOCK_MAGIC || ub.readBigUInt64BE(0) === ZFS_UBERBLOCK_MAGIC)) return { type: 'ZFS member' };
  }
  if (src.size >= 128 * 1024) {
    for (const off of [Math.floor(src.size / 65536) * 65536 - 65536, Math.floor((src.size - 8192) / 4096) * 4096]) {
      if (off < 0) continue;
      const b = await src.read(off, 32);
      if (b.length === 32 && b.readUInt32LE(0) === MD_MAGIC) return { type: 'Linux MD RAID member', uuid: off === Math.floor((src.size - 8192) / 4096) * 4096 ? uuidAt(b, 16) : undefined };
    }
  }
  return null;
}
