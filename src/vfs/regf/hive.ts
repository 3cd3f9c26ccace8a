/**
 * A read-only registry hive reader (docs/formats/regf.md): open a hive file's bytes, find a
 * key by path, read its values. One module per on-disk object: base-block.ts, cell.ts,
 * key-node.ts, subkey-list.ts, value-key.ts.
 */
import type { ByteSource } from '../../source/source.js';
import { Hive } from './cell.js';
import { openKey, readKeyNode, type KeyNode } from './key-node.js';
import { readValues, valueData } from './value-key.js';

export { Hive } from './cell.js';

export interface RegistryValue {
  name: string;
  type: number;
  data: Buffer;
}

export async function openHive(src: ByteSource): Promise<{ hive: Hive; root: KeyNode }> {
  const hive = await Hive.open(src);
  return { hive, root: await readKeyNode(hive, hive.base.root_key_offset) };
}

/** Every value of the key at `path` (names below the root key), or null when there is no such key. */
export async function keyValues(src: ByteSource, path: string[]): Promise<RegistryValue[] | null> {
  const { hive, root } = await openHive(src);
  const key = await openKey(hive, root, path);
  if (!key) return null;
  const out: RegistryValue[] = [];
  for (const v of await readValues(hive, key)) out.push({ name: v.name, type: v.data_type, data: await valueData(hive, v) });
  return out;
}
