/**
 * Subkey lists of a key node (libyal REGF documentation, "Sub key list"): "li" (offsets),
 * "lf" (offsets with 4 name characters), "lh" (offsets with a name hash) and "ri" (an index
 * of further li/lf/lh lists). An ri may not name another ri, so the walk is two levels at
 * most and never loops; the total is bounded by MAX_SUBKEYS.
 */
import { corrupt } from '../../errors.js';
import type { Hive } from './cell.js';

/** More subkeys than a real key holds (HKLM\SYSTEM's largest keys have a few thousand). */
export const MAX_SUBKEYS = 100_000;

export async function subkeyOffsets(hive: Hive, offset: number): Promise<number[]> {
  const out: number[] = [];
  await readList(hive, offset, out, true);
  return out;
}

async function readList(hive: Hive, offset: number, out: number[], top: boolean): Promise<void> {
  const b = await hive.cell(offset, 'subkey list');
  hive.need(b, 0, 4, 'subkey list');
  const sig = b.toString('latin1', 0, 2);
  const count = b.readUInt16LE(2);
  const bad = (why: string) => corrupt(hive.src.name, `registry subkey list at cell offset 0x${offset.toString(16)}: ${why}`);
  if (sig === 'ri') {
    if (!top) throw bad('an index list inside an index list');
    hive.need(b, 4, count * 4, 'subkey index list');
    for (let i = 0; i < count; i++) await readList(hive, b.readUInt32LE(4 + 4 * i), out, false);
    return;
  }
  const step = sig === 'li' ? 4 : sig === 'lf' || sig === 'lh' ? 8 : 0;
  if (!step) throw bad(`unknown signature "${sig.replace(/[^\x20-\x7e]/g, '?')}"`);
  hive.need(b, 4, count * step, 'subkey list');
  if (out.length + count > MAX_SUBKEYS) throw bad(`more than ${MAX_SUBKEYS} subkeys`);
  for (let i = 0; i < count; i++) out.push(b.readUInt32LE(4 + step * i));
}
