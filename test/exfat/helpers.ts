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

