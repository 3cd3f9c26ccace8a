/**
 * LUKS1/LUKS2 as a volume system: found by its magic, its one child the decrypted volume in its
 * place (src/volume/crypt/unlock.ts). A volume whose header is kept apart (`--header FILE`) has
 * no magic: it is tried last, on the first volume nothing else claims whose decrypted bytes
 * hold something diskpick recognises.
 */
import type { ByteSource } from '../../source/source.js';
import { encryptedSystemOf, unlockLuks, whereOf } from '../crypt/unlock.js';
import type { VolumeSystem } from '../system.js';
import { probeLuks } from './luks1-header.js';

/** Detached headers already matched to their data volume (one header opens one volume). */
const matched = new WeakSet<ByteSource>();

export const luksSystem: VolumeSystem = {
  name: 'luks',
  beforeFilesystems: true,
  probe: (head) => probeLuks(head) !== null,
  async open(src, ctx) {
    const where = whereOf(ctx);
    const u = await unlockLuks(src, ctx.keys, where, undefined);
    return encryptedSystemOf(u, src, (keys) => unlockLuks(src, keys, where, undefined));
  },
  async openUnmarked(src, ctx) {
    const header = ctx.keys?.header;
    if (!header || matched.has(header)) return null;
    const where = whereOf(ctx);
    const u = await unlockLuks(src, ctx.keys, where, header);
    if (u.source) {
      // The header's data: only where the decrypted bytes make sense (a filesystem, a PV …).
      if (!ctx.recognises || !(await ctx.recognises(u.source))) return null;
      matched.add(header);
    } else if (u.error?.kind !== 'wrongKey') {
      return null;
    }
    return encryptedSystemOf(u, src, (keys) => unlockLuks(src, { ...keys, header }, where, header));
  },
};
