/**
 * The VMA header (Proxmox pve-qemu vma_spec.txt, "VMA Header"): magic, version, the archive's
 * UUID, the backup time, an MD5 of the whole header, then the configuration files (names and
 * data as offsets into the blob buffer) and up to 255 devices (dev_info[1…255]: name, size).
 * All numbers big-endian, except each blob's 2-byte length, which vzdump's writer (and its
 * reader) keep little-endian.
 */
import { createHash } from 'node:crypto';
import { corrupt } from '../../errors.js';

import { VMA_MAGIC } from '../magic.js';
export { VMA_MAGIC };
/** sizeof(VmaHeader): the fixed part, before the blob buffer. */
export const VMA_FIXED_HEADER = 12288;
/** Largest header accepted: the fixed part plus vzdump's blob buffer room (a few MiB at most). */
const MAX_HEADER = 64 << 20;
export const CONFIG_NAMES_AT = 2044;
export const CONFIG_DATA_AT = 3068;
export const DEV_INFO_AT = 4096;
const DEV_INFO_SIZE = 32;
const MAX_CONFIGS = 256;

export interface VmaDevice {
  /** dev_id: the index in dev_info, used by every cluster's block info. */
  devId: number;
  name: string;
  size: number;
}

export interface VmaConfig {
  name: string;
  data: Buffer;
}

export interface VmaHeader {
  version: number;
  uuid: string;
  /** ctime: seconds since the epoch. */
  ctime: number;
  headerSize: number;
  configs: VmaConfig[];
  devices: VmaDevice[];
}

/** header_size from the first 60 bytes (to know how much to read), after the magic check. */
export function vmaHeaderSize(head: Buffer, file: string): number {
  if (head.length < 60 || head.toString('latin1', 0, 4) !== VMA_MAGIC) throw corrupt(file, 'VMA: no VMA header magic');
  const size = head.readUInt32BE(56);
  if (size < VMA_FIXED_HEADER || size > MAX_HEADER) throw corrupt(file, `VMA: header_size ${size} is outside ${VMA_FIXED_HEADER}…${MAX_HEADER}`);
  return size;
}

export function formatUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** MD5 of `buf` with the 16 bytes at `at` read as zeros (how both header checksums are made). */
export function md5WithHole(buf: Buffer, at: number): Buffer {
  const h = createHash('md5');
  h.update(buf.subarray(0, at));
  h.update(Buffer.alloc(16));
  h.update(buf.subarray(at + 16));
  return h.digest();
}

/** Parses and checks the whole header (`buf` holds header_size bytes). */
export function parseVmaHeader(buf: Buffer, file: string): VmaHeader {
  const headerSize = vmaHeaderSize(buf, file);
  if (buf.length < headerSize) throw corrupt(file, `VMA: truncated header: ${headerSize} bytes needed, ${buf.length} present`);
  const h = buf.subarray(0, headerSize);
  if (!md5WithHole(h, 32).equals(h.subarray(32, 48))) throw corrupt(file, 'VMA: header MD5 does not match (md5sum): the header is damaged');
  const version = h.readUInt32BE(4);
  if (version !== 1) throw corrupt(file, `VMA: version ${version} (only 1 is defined)`);
  const uuid = formatUuid(h.subarray(8, 24));
  const ctime = Number(h.readBigInt64BE(24));
  const blobOffset = h.readUInt32BE(48);
  const blobSize = h.readUInt32BE(52);
  if (blobOffset < VMA_FIXED_HEADER || blobOffset + blobSize > headerSize) {
    throw corrupt(file, `VMA: blob buffer [${blobOffset}, +${blobSize}) is outside the header (${headerSize} bytes)`);
  }
  // Blobs are found by walking the buffer from offset 1 (0 means "none"); a pointer must name
  // the start of one of them, as vma-reader's blob table does.
  const blobs = new Map<number, Buffer>();
  let pos = 1;
  while (pos + 2 <= blobSize) {
    const len = h[blobOffset + pos]! | (h[blobOffset + pos + 1]! << 8);
    if (pos + 2 + len > blobSize) break;
    blobs.set(pos, h.subarray(blobOffset + pos + 2, blobOffset + pos + 2 + len));
    pos += 2 + len;
  }
  const blob = (ptr: number, what: string): Buffer => {
    const b = blobs.get(ptr);
    if (!b) throw corrupt(file, `VMA: ${what} points to ${ptr}, which starts no blob of the blob buffer`);
    return b;
  };
  const text = (ptr: number, what: string): string => {
    const b = blob(ptr, what);
    if (b.length === 0 || b[b.length - 1] !== 0) throw corrupt(file, `VMA: ${what} is not a NUL-terminated string`);
    return b.toString('utf8', 0, b.length - 1);
  };
  const configs: VmaConfig[] = [];
  for (let i = 0; i < MAX_CONFIGS; i++) {
    const nameAt = h.readUInt32BE(CONFIG_NAMES_AT + 4 * i);
    const dataAt = h.readUInt32BE(CONFIG_DATA_AT + 4 * i);
    if (nameAt === 0 && dataAt === 0) continue;
    configs.push({ name: text(nameAt, `config_names[${i}]`), data: blob(dataAt, `config_data[${i}]`) });
  }
  const devices: VmaDevice[] = [];
  for (let id = 1; id < 256; id++) {
    const at = DEV_INFO_AT + DEV_INFO_SIZE * id;
    const nameAt = h.readUInt32BE(at);
    const size = Number(h.readBigUInt64BE(at + 8));
    if (nameAt === 0 && size === 0) continue;
    if (!Number.isSafeInteger(size) || size <= 0) throw corrupt(file, `VMA: device ${id} has size ${h.readBigUInt64BE(at + 8)}`);
    devices.push({ devId: id, name: text(nameAt, `dev_info[${id}].devname_ptr`), size });
  }
  if (devices.length === 0) throw corrupt(file, 'VMA: the header lists no device');
  return { version, uuid, ctime, headerSize, configs, devices };
}
