/**
 * Key nodes ("nk" cells): a registry key with its name, its subkey list and its value list
 * (libyal REGF documentation, "Named key"). Names are compared ignoring case, as Windows does.
 */
import { corrupt } from '../../errors.js';
import { type Hive, NO_CELL } from './cell.js';
import { subkeyOffsets } from './subkey-list.js';

/** Key node flags. */
export const KEY_COMP_NAME = 0x0020;

export interface KeyNode {
  offset: number;
  flags: number;
  number_of_subkeys: number;
  subkeys_list_offset: number;
  number_of_values: number;
  values_list_offset: number;
  name: string;
}

export async function readKeyNode(hive: Hive, offset: number): Promise<KeyNode> {
  const b = await hive.cell(offset, 'key node');
  hive.need(b, 0, 76, 'key node');
  if (b.toString('latin1', 0, 2) !== 'nk') throw corrupt(hive.src.name, `registry key node at cell offset 0x${offset.toString(16)} has no "nk" signature`);
  const flags = b.readUInt16LE(2);
  const nameLength = b.readUInt16LE(72);
  hive.need(b, 76, nameLength, 'key name');
  const raw = b.subarray(76, 76 + nameLength);
  return {
    offset,
    flags,
    number_of_subkeys: b.readUInt32LE(20),
    subkeys_list_offset: b.readUInt32LE(28),
    number_of_values: b.readUInt32LE(36),
    values_list_offset: b.readUInt32LE(40),
    // A compressed name is one byte per character (Latin-1); otherwise UTF-16LE.
    name: flags & KEY_COMP_NAME ? raw.toString('latin1') : raw.toString('utf16le'),
  };
}

/** The subkey of `key` named `name` (case ignored), or null. */
export async function findSubkey(hive: Hive, key: KeyNode, name: string): Promise<KeyNode | null> {
  if (key.number_of_subkeys === 0 || key.subkeys_list_offset === NO_CELL) return null;
  const want = name.toUpperCase();
  for (const off of await subkeyOffsets(hive, key.subkeys_list_offset)) {
    const k = await readKeyNode(hive, off);
    if (k.name.toUpperCase() === want) return k;
  }
  return null;
}

/** The key at a path of names below `key` ("MountedDevices", "Select"), or null. */
export async function openKey(hive: Hive, key: KeyNode, path: string[]): Promise<KeyNode | null> {
  let k: KeyNode | null = key;
  for (const p of path) {
    k = await findSubkey(hive, k, p);
    if (!k) return null;
  }
  return k;
}
