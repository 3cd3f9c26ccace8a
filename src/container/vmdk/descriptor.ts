/**
 * The VMDK text descriptor: either a small standalone file (`name.vmdk` next to its
 * `-flat.vmdk` / `-s001.vmdk` / `-delta.vmdk` extents) or embedded in a sparse extent
 * (monolithicSparse, streamOptimized). libyal "VMware Virtual Disk (VMDK) format", §2
 * "The descriptor file"; VMware "Virtual Disk Format 5.0", "The Descriptor File".
 *
 * The text is hostile input: its size is capped before it is read, lines and extents are
 * counted, numbers are checked to be safe integers, and names must be plain strings.
 */
import { corrupt, unsupported } from '../../errors.js';

/** Largest descriptor accepted (real ones are a few KiB; a 62 TB twoGbMaxExtent disk needs ~1.5 MiB). */
export const MAX_DESCRIPTOR_BYTES = 4 * 1024 * 1024;
/** Most extents accepted: 62 TB in 2 GB extents is 31 744. */
export const MAX_EXTENTS = 40000;
/** Largest virtual disk accepted, in bytes (VMware's own limit is 62 TB; keeps offsets exact in a double). */
export const MAX_VIRTUAL_BYTES = 2 ** 50;

/** Extent types of an extent description line (libyal §2.2.1.2 "Extent type"). */
export type ExtentType = 'FLAT' | 'SPARSE' | 'ZERO' | 'VMFS' | 'VMFSSPARSE' | 'SESPARSE' | 'VMFSRDM' | 'VMFSRAW';
const EXTENT_TYPES = new Set<string>(['FLAT', 'SPARSE', 'ZERO', 'VMFS', 'VMFSSPARSE', 'SESPARSE', 'VMFSRDM', 'VMFSRAW']);

/** One extent description line: `RW 4192256 SPARSE "test-s001.vmdk"` / `RW 2048 FLAT "x-flat.vmdk" 0`. */
export interface ExtentLine {
  access: 'RW' | 'RDONLY' | 'NOACCESS';
  /** Size in 512-byte sectors. */
  sectors: number;
  type: ExtentType;
  /** The extent file name, relative to the descriptor's folder (absent for ZERO). */
  file?: string;
  /** Start sector inside a FLAT/VMFS file (0 when not given). */
  offset: number;
}

export interface Descriptor {
  version: number;
  /** Content ID, 8 hex digits; changes when the disk is written. */
  cid: string;
  /** The parent's CID; `ffffffff` means no parent. */
  parentCid: string;
  createType: string;
  parentFileNameHint?: string;
  extents: ExtentLine[];
}

/** Cheap check used by probe(): does this text look like a VMDK descriptor? */
export function looksLikeDescriptor(head: Buffer): boolean {
  // Text up to the first NUL: qemu and ESX pad descriptor files with NULs to a sector.
  const n = Math.min(head.length, 4096);
  const nul = head.subarray(0, n).indexOf(0);
  const text = head.subarray(0, nul < 0 ? n : nul).toString('latin1');
  if (text.length < 20) return false;
  if (/#\s*Disk DescriptorFile/i.test(text)) return true;
  return /^\s*createType\s*=/m.test(text) && /^\s*(RW|RDONLY|NOACCESS)\s+\d+\s+[A-Z]+/m.test(text);
}

function unquote(v: string): string {
  const t = v.trim();
  return t.length >= 2 && t.startsWith('"') && t.endsWith('"') ? t.slice(1, -1) : t;
}

/** Parses descriptor text; `file` names the file it came from for errors. */
export function parseDescriptor(raw: Buffer, file: string): Descriptor {
  if (raw.length > MAX_DESCRIPTOR_BYTES) {
    throw corrupt(file, `VMDK descriptor is ${raw.length} bytes, more than the ${MAX_DESCRIPTOR_BYTES} accepted`);
  }
  // An embedded descriptor is padded with NULs to its sector count.
  const nul = raw.indexOf(0);
  const text = (nul >= 0 ? raw.subarray(0, nul) : raw).toString('utf8');
  const header = new Map<string, string>();
  const extents: ExtentLine[] = [];
  let total = 0;
  const lines = text.split(/\r?\n|\r/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '' || line.startsWith('#')) continue;
    const ext = /^(RW|RDONLY|NOACCESS)\s+(\d+)\s+([A-Za-z]+)(?:\s+"([^"]*)"(?:\s+(\d+))?)?/.exec(line);
    if (ext) {
      if (extents.length >= MAX_EXTENTS) throw corrupt(file, `VMDK descriptor lists more than ${MAX_EXTENTS} extents`);
      const type = ext[3]!.toUpperCase();
      if (!EXTENT_TYPES.has(type)) throw unsupported(file, `VMDK extent type ${type} (line ${i + 1}) is not supported`);
      const sectors = Number(ext[2]);
      const offset = ext[5] === undefined ? 0 : Number(ext[5]);
      if (!Number.isSafeInteger(sectors) || sectors <= 0 || sectors * 512 > MAX_VIRTUAL_BYTES) {
        throw corrupt(file, `VMDK descriptor line ${i + 1}: absurd extent size ${ext[2]} sectors`);
      }
      if (!Number.isSafeInteger(offset) || offset * 512 > MAX_VIRTUAL_BYTES) {
        throw corrupt(file, `VMDK descriptor line ${i + 1}: absurd extent offset ${ext[5]}`);
      }
      total += sectors * 512;
      if (total > MAX_VIRTUAL_BYTES) throw corrupt(file, `VMDK descriptor describes more than ${MAX_VIRTUAL_BYTES} bytes`);
      const name = ext[4];
      if (type !== 'ZERO' && (name === undefined || name === '')) {
        throw corrupt(file, `VMDK descriptor line ${i + 1}: ${type} extent without a file name`);
      }
      extents.push({ access: ext[1] as ExtentLine['access'], sectors, type: type as ExtentType, file: type === 'ZERO' ? undefined : name, offset });
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9_.]*)\s*=\s*(.*)$/.exec(line);
    if (kv) {
      // Keys appear once; a repeated key keeps its first value (what VMware writes first).
      if (!header.has(kv[1]!)) header.set(kv[1]!, unquote(kv[2]!));
      continue;
    }
    // Anything else (ddb lines with odd spacing, vendor notes) is ignored, as VMware does.
  }
  // VMware Workstation's encryption keeps the real descriptor encrypted in encryption.data.
  if (header.has('encryption.keySafe') || header.has('encryption.data')) {
    throw unsupported(file, 'encrypted VMDK (VMware encryption.keySafe): not supported');
  }
  if (extents.length === 0) throw corrupt(file, 'VMDK descriptor lists no extents');
  const cid = contentId(header.get('CID'));
  const parentCid = contentId(header.get('parentCID'));
  const hint = header.get('parentFileNameHint');
  return {
    version: Number(header.get('version') ?? '1') || 1,
    cid,
    parentCid,
    createType: header.get('createType') ?? 'unknown',
    parentFileNameHint: hint && hint.length > 0 ? hint : undefined,
    extents,
  };
}

/**
 * A content ID as 8 lower-case hex digits: writers differ in zero padding ("CID=87adc4" and
 * "CID=0087adc4" are the same 32-bit number), and parentCID is compared with the parent's CID.
 */
function contentId(text: string | undefined): string {
  const n = text !== undefined && /^[0-9a-fA-F]{1,8}$/.test(text.trim()) ? parseInt(text.trim(), 16) : 0xffffffff;
  return n.toString(16).padStart(8, '0');
}

/** True when the descriptor says this disk is a delta on a parent. */
export function hasParent(d: Descriptor): boolean {
  return d.parentCid !== 'ffffffff' || d.parentFileNameHint !== undefined;
}
