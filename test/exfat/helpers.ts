/** Shared by the exFAT test files: walking a volume and hashing files through the Vfs. */
import { createHash } from 'node:crypto';
import type { Vfs, VfsNode } from '../../src/vfs/vfs.js';

/** Every node under `vol` (e.g. "/p0"), keyed by its path relative to the volume. */
export async function walk(vfs: Vfs, vol: string): Promise<Map<string, VfsNode>> {
  const out = new Map<string, VfsNode>();
  const visit = async (dir: VfsNode) => {
    for (const k of await vfs.readdir(dir)) {
      out.set(k.path.slice(vol.length), k);
      if (k.stat.type === 'dir') await visit(k);
    }
  };
  await visit(await vfs.lookup(vol));
  return out;
}

export async function hashOf(vfs: Vfs, node: VfsNode): Promise<string> {
  const src = await vfs.openFile(node);
  const h = createHash('sha256');
  for (let off = 0; off < src.size; off += 1 << 20) h.update(await src.read(off, 1 << 20));
  await src.close();
  return h.digest('hex');
}


/** Offset of the File (0x85) entry of the set naming `name` (its first File Name entry holds up to 15 units). */
export function fileEntry(img: Buffer, name: string): number {
  const needle = Buffer.concat([Buffer.from([0xc1, 0x00]), Buffer.from(name.slice(0, 15), 'utf16le')]);
  let at = img.indexOf(needle);
  while (at >= 0 && (at % 32 !== 0 || img[at - 64] !== 0x85)) at = img.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`test setup: no entry set for ${name}`);
  return at - 64;
}

/** SetChecksum as the spec's Figure 2 computes it. */
export function fixSetChecksum(img: Buffer, at: number): void {
  const n = (img[at + 1]! + 1) * 32;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    if (i === 2 || i === 3) continue;
    sum = ((((sum & 1) << 15) | (sum >>> 1)) + img[at + i]!) & 0xffff;
  }
  img.writeUInt16LE(sum, at + 2);
}

