/**
 * Every container format's probe: its magic, told from the file's first bytes (and a fixed
 * VHD's last 512) with no import of the format's module. The registry (formats.ts) runs these
 * and imports a format's module only when its probe matched, so a start that opens a VMDK does
 * not load and initialise QCOW2, VHDX, EWF, OVA, VMA... (issue 27: the whole registry loaded
 * at every start cost `cat` of a small file ~7 M instructions, ~4 % of it). The format modules
 * take their magic from here too, so each is declared once.
 */
import { isTarHeader } from './ova/tar.js';
import { looksLikeDescriptor, MAX_DESCRIPTOR_BYTES } from './vmdk/descriptor.js';
import { streamCodecOf } from '../source/stream-cache.js';
import type { ByteSource } from '../source/source.js';

/** "QFI\xfb", QCOW (version 1) and QCOW2 (versions 2 and 3) alike. */
export const QCOW_MAGIC = 0x514649fb;
export const probeQcow = (head: Buffer): boolean => head.length >= 8 && head.readUInt32BE(0) === QCOW_MAGIC && head.readUInt32BE(4) === 1;
export const probeQcow2 = (head: Buffer): boolean => head.length >= 8 && head.readUInt32BE(0) === QCOW_MAGIC;

export const probeVhdx = (head: Buffer): boolean => head.length >= 8 && head.toString('latin1', 0, 8) === 'vhdxfile';

/** VDI's image signature, at 0x40 after the 64-byte pre-header text. */
export const VDI_SIGNATURE = 0xbeda107f;
export const probeVdi = (head: Buffer): boolean => head.length >= 0x48 && head.readUInt32LE(0x40) === VDI_SIGNATURE;

/** VMDK hosted sparse extent magic "KDMV". */
export const SPARSE_MAGIC = 0x564d444b;
/** VMDK ESX COW sparse extent magic "COWD". */
export const COWD_MAGIC = 0x44574f43;
/** SESparse constant header magic 0x00000000cafebabe, as its low and high u32 halves. */
export const SESPARSE_CONST_MAGIC = 0xcafebabe;
/** SESparse version 0x0000000200000001, as its low and high u32 halves. */
const SESPARSE_VERSION_LO = 1;
const SESPARSE_VERSION_HI = 2;

export function isSesparse(b: Buffer): boolean {
  return (
    b.length >= 16 &&
    b.readUInt32LE(0) === SESPARSE_CONST_MAGIC &&
    b.readUInt32LE(4) === 0 &&
    b.readUInt32LE(8) === SESPARSE_VERSION_LO &&
    b.readUInt32LE(12) === SESPARSE_VERSION_HI
  );
}

export function probeVmdk(head: Buffer, src: ByteSource): boolean {
  if (head.length >= 4) {
    const magic = head.readUInt32LE(0);
    if (magic === SPARSE_MAGIC || magic === COWD_MAGIC) return true;
  }
  if (isSesparse(head)) return true;
  return src.size <= MAX_DESCRIPTOR_BYTES && looksLikeDescriptor(head);
}

/** VHD footer cookie. */
export const VHD_COOKIE = Buffer.from('conectix');
/** Footer Disk Type of a fixed disk. */
export const VHD_DISK_FIXED = 2;

// A dynamic or differencing VHD starts with a copy of its footer; a fixed one has its footer
// only at the end (its first sector is the guest's), so the tail is checked too, asking for a
// fixed disk type so a raw disk that merely ends in the word "conectix" stays raw.
export function probeVhd(head: Buffer, _src: ByteSource, tail?: Buffer): boolean {
  if (head.length >= 8 && head.subarray(0, 8).equals(VHD_COOKIE)) return true;
  if (!tail || tail.length < 512) return false;
  for (const at of [0, 1]) {
    if (tail.subarray(at, at + 8).equals(VHD_COOKIE) && tail.readUInt32BE(at + 60) === VHD_DISK_FIXED) return true;
  }
  return false;
}

/** "EVF\x09\x0d\x0a\xff\x00": EWF-E01 and EWF-S01 (SMART uses "EVF" too; LVF is EWF-L01). */
export const EVF_SIGNATURE = Buffer.from([0x45, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00]);
/** "EVF2\r\n\x81\0": EWF2-Ex01 (disk images). "LEF2…" is EWF2-Lx01 (logical evidence). */
export const EVF2_SIGNATURE = Buffer.from([0x45, 0x56, 0x46, 0x32, 0x0d, 0x0a, 0x81, 0x00]);
export const LEF2_SIGNATURE = Buffer.from([0x4c, 0x45, 0x46, 0x32, 0x0d, 0x0a, 0x81, 0x00]);
export const LVF_SIGNATURE = Buffer.from([0x4c, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00]);
/** EWF-E01 file header: signature, fields_start, segment_number, fields_end. */
export const EWF_FILE_HEADER_SIZE = 13;
export const probeEwf = (head: Buffer): boolean =>
  head.length >= EWF_FILE_HEADER_SIZE && [EVF_SIGNATURE, EVF2_SIGNATURE, LEF2_SIGNATURE, LVF_SIGNATURE].some((s) => head.subarray(0, 8).equals(s));

// A ustar header whose first member is the descriptor (the OVF spec puts it first).
export const probeOva = (head: Buffer): boolean => isTarHeader(head) && /\.ovf\0/i.test(head.toString('latin1', 0, 101));

export const VMA_MAGIC = 'VMA\0';
export const probeVma = (head: Buffer): boolean => head.length >= 8 && head.toString('latin1', 0, 4) === VMA_MAGIC && head.readUInt32BE(4) === 1;

export const probeCompressed = (head: Buffer): boolean => streamCodecOf(head) !== null;
