/**
 * Extended attributes: a node's own (ext) and `user.<stream>` for each NTFS named stream,
 * one table per path kept in a bounded cache; stream values are read only when asked for.
 */
import { Lru } from '../source/lru.js';
import type { Vfs, VfsNode } from '../vfs/vfs.js';
import { Errno } from './errno.js';

/** Linux caps one extended attribute value at 64 KiB (XATTR_SIZE_MAX). */
const XATTR_SIZE_MAX = 65536;

type XattrValue = Buffer | { stream: string; size: number };

export class Xattrs {
  private readonly tables = new Lru<string, Map<string, XattrValue>>(4096);

  /** `nodeOf` finds the node behind a path (null for entries that are no filesystem's). */
  constructor(private readonly vfs: Vfs, private readonly nodeOf: (path: string) => Promise<VfsNode | null>) {}

  private async table(path: string): Promise<Map<string, XattrValue>> {
    const hit = this.tables.get(path);
    if (hit) return hit;
    const node = await this.nodeOf(path);
    const t = new Map<string, XattrValue>();
    if (node && node.place.kind === 'fs') {
      for (const [k, v] of await this.vfs.xattrs(node)) t.set(k, v);
      for (const s of await this.vfs.streams(node)) {
        const name = `user.${s.name}`;
        if (!t.has(name)) t.set(name, { stream: s.name, size: s.size });
      }
    }
    this.tables.set(path, t);
    return t;
  }

  async list(path: string): Promise<string[]> {
    return [...(await this.table(path)).keys()];
  }

  /** The value, ENODATA when absent, E2BIG for a stream larger than Linux allows an xattr. */
  async get(path: string, name: string): Promise<Buffer | number> {
    const v = (await this.table(path)).get(name);
    if (v === undefined) return Errno.ENODATA;
    if (Buffer.isBuffer(v)) return v;
    if (v.size > XATTR_SIZE_MAX) return Errno.E2BIG;
    const node = await this.nodeOf(path);
    if (!node) return Errno.ENODATA;
    const src = await this.vfs.openFile(node, v.stream);
    try {
      const data = await src.read(0, v.size);
      return Buffer.from(data);
    } finally {
      await src.close();
    }
  }
}
