/**
 * GUIDs as GPT, VHDX and NTFS store them: the first three fields little-endian, the last
 * two as bytes. Formatted the way sgdisk, blkid and Windows print them (upper case).
 */
export function formatGuid(b: Buffer, at = 0): string {
  const hex = (from: number, to: number) => b.subarray(at + from, at + to).toString('hex');
  const le = (from: number, len: number) => Buffer.from(b.subarray(at + from, at + from + len)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 2)}-${le(6, 2)}-${hex(8, 10)}-${hex(10, 16)}`.toUpperCase();
}

export function isZeroGuid(b: Buffer, at = 0): boolean {
  for (let i = 0; i < 16; i++) if (b[at + i] !== 0) return false;
  return true;
}
