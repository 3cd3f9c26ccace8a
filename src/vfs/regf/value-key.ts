/**
 * Value keys ("vk" cells) and their data (libyal REGF documentation, "Value key" and "Data
 * block key"): a value's name, type and bytes. Data of 4 bytes or less sits in the offset
 * field itself; data larger than 16 344 bytes (hive 1.4 and later) is split into segments
 * listed by a "db" cell. Sizes are bounded by MAX_VALUE_DATA.
 */
import { corrupt } from '../../errors.js';
import { type Hive, NO_CELL } from './cell.js';
import type { KeyNode } from './key-node.js';

export const VALUE_COMP_NAME = 0x0001;
/** High bit of data_size: the data is stored in the data_offset field. */
const DATA_IN_OFFSET = 0x80000000;
/** Most bytes of one "db" segment that belong to the value. */
const DB_SEGMENT = 16344;
/** Largest value read (MountedDevices values are 12 to a few hundred bytes). */
export const MAX_VALUE_DATA = 1 << 20;
/** More values than one key holds in practice. */
export const MAX_VALUES = 100_000;

/** Value types used here (winnt.h). */
export const REG_SZ = 1;
export const REG_BINARY = 3;

export interface ValueKey {
  name: string;
  data_type: number;
  data_size: number;
  data_offset: number;
  inOffset: boolean;
}

/** The value keys of a key node, in stored order. */
export async function readValues(hive: Hive, key: KeyNode): Promise<ValueKey[]> {
  if (key.number_of_values === 0 || key.values_list_offset === NO_CELL) return [];
  if (key.number_of_values > MAX_VALUES) throw corrupt(hive.src.name, `registry key "${key.name}" claims ${key.number_of_values} values`);
  const list = await hive.cell(key.values_list_offset, 'value list');
  hive.need(list, 0, key.number_of_values * 4, 'value list');
  const out: ValueKey[] = [];
  for (let i = 0; i < key.number_of_values; i++) out.push(await readValueKey(hive, list.readUInt32LE(4 * i)));
  return out;
}

export async function readValueKey(hive: Hive, offset: number): Promise<ValueKey> {
  const b = await hive.cell(offset, 'value key');
  hive.need(b, 0, 20, 'value key');
  if (b.toString('latin1', 0, 2) !== 'vk') throw corrupt(hive.src.name, `registry value key at cell offset 0x${offset.toString(16)} has no "vk" signature`);
  const nameLength = b.readUInt16LE(2);
  const size = b.readUInt32LE(4);
  const flags = b.readUInt16LE(16);
  hive.need(b, 20, nameLength, 'value name');
  const raw = b.subarray(20, 20 + nameLength);
  return {
    name: flags & VALUE_COMP_NAME ? raw.toString('latin1') : raw.toString('utf16le'),
    data_type: b.readUInt32LE(12),
    data_size: (size & ~DATA_IN_OFFSET) >>> 0,
    data_offset: b.readUInt32LE(8),
    inOffset: (size & DATA_IN_OFFSET) !== 0,
  };
}

/** The bytes of a value. */
export async function valueData(hive: Hive, v: ValueKey): Promise<Buffer> {
  const size = v.data_size;
  if (v.inOffset) {
    if (size > 4) throw corrupt(hive.src.name, `registry value "${v.name}": ${size} bytes cannot be stored in its offset field`);
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v.data_offset);
    return b.subarray(0, size);
  }
  if (size === 0) return Buffer.alloc(0);
  if (size > MAX_VALUE_DATA) throw corrupt(hive.src.name, `registry value "${v.name}" claims ${size} bytes`);
  const cell = await hive.cell(v.data_offset, 'value data');
  if (size <= DB_SEGMENT || hive.base.minor_version < 4 || cell.toString('latin1', 0, 2) !== 'db') {
    hive.need(cell, 0, size, `value "${v.name}" data`);
    return cell.subarray(0, size);
  }
  // A data block key: number of segments, then the offset of the list of their offsets.
  hive.need(cell, 0, 8, 'data block key');
  const segments = cell.readUInt16LE(2);
  if (segments * DB_SEGMENT < size) throw corrupt(hive.src.name, `registry value "${v.name}": ${segments} segments cannot hold ${size} bytes`);
  const list = await hive.cell(cell.readUInt32LE(4), 'data block list');
  hive.need(list, 0, segments * 4, 'data block list');
  const parts: Buffer[] = [];
  let left = size;
  for (let i = 0; i < segments && left > 0; i++) {
    const seg = await hive.cell(list.readUInt32LE(4 * i), 'data segment');
    const n = Math.min(left, DB_SEGMENT);
    hive.need(seg, 0, n, 'data segment');
    parts.push(seg.subarray(0, n));
    left -= n;
  }
  return Buffer.concat(parts);
}
