// Placeholder until the MBR/GPT readers land in the next commit.
import type { ByteSource } from '../source/source.js';
import type { PartitionTable } from './types.js';
export async function readPartitionTable(_disk: ByteSource, _sectorSize: number): Promise<PartitionTable | null> {
  return null;
}
