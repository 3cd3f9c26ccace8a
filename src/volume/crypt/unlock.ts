/**
 * The thin adapter between encrypted-volume readers and the volume tree: given a volume's bytes
 * and the user's keys, describes it and opens it when a key fits. LUKS and BitLocker register
 * as volume systems (luks/system.ts, bitlocker/system.ts) whose one child, shown in the
 * encrypted volume's place, is the decrypted volume (`encryptedSystem` below): the tree descends
 * into it as into any volume, so LVM on LUKS is reached. A locked child keeps its `unlock`, so a
 * key typed later (the browser asks when the volume is opened) opens it then.
 */
import { DiskpickError } from '../../errors.js';
import type { ByteSource } from '../../source/source.js';
import { describeLuks, openLuks, summarizeLuks, type LuksKey } from '../luks/luks.js';
import { describeBitLocker, openBitLocker, summarizeBitLocker } from '../bitlocker/bitlocker.js';
import type { EncryptionInfo, VolumeKeys } from './keys.js';
import type { ChildVolume, OpenedSystem, VolumeContext } from '../system.js';

export interface Unlocked {
  info: EncryptionInfo;
  /** The decrypted volume, or null while locked. */
  source: ByteSource | null;
  /** Why it is locked: no key given (kind wrongKey, "locked: …"), a wrong key, or unreadable. */
  error: DiskpickError | null;
}

export async function unlockBitLocker(src: ByteSource, keys: VolumeKeys | undefined, where: string): Promise<Unlocked> {
  const d = await describeBitLocker(src);
  const info: EncryptionInfo = {
    type: d.header.kind === 'togo' ? 'BitLocker To Go' : 'BitLocker',
    summary: summarizeBitLocker(d),
    uuid: d.meta.volumeGuid,
    locked: true,
    openedWith: null,
    warnings: [...d.meta.warnings],
  };
  const k = { recoveryPasswords: [...(keys?.recoveryPasswords ?? [])], passphrases: [...(keys?.passphrases ?? [])], bekFiles: [...(keys?.bekFiles ?? [])] };
  const usable = d.vmks.some((v) => [0x0000, 0x0200, 0x0800, 0x2000].includes(v.protection));
  const noKey = k.recoveryPasswords.length + k.passphrases.length + k.bekFiles.length === 0;
  const clear = d.vmks.some((v) => v.protection === 0x0000);
  if (noKey && !clear && usable && keys?.ask) {
    // Asked once: a recovery password (digits) or the user password, whichever the volume has.
    const rp = d.vmks.some((v) => v.protection === 0x0800);
    const typed = await keys.ask(`${where}: ${rp ? 'recovery password (or password)' : 'password'} for the ${info.type} volume`);
    if (typed) {
      const text = typed.toString('utf8');
      if (/^[0-9 -]{48,}$/.test(text)) k.recoveryPasswords.push(text);
      else k.passphrases.push(typed);
    }
  }
  try {
    const r = await openBitLocker(src, k, `${src.name}:${where} (decrypted)`);
    return { info: { ...info, locked: false, openedWith: r.openedWith }, source: r.source, error: null };
  } catch (err) {
    if (!(err instanceof DiskpickError)) throw err;
    return { info, source: null, error: err };
  }
}

export async function unlockLuks(src: ByteSource, keys: VolumeKeys | undefined, where: string, header: ByteSource | undefined): Promise<Unlocked> {
  const meta = await describeLuks(src, { header });
  const info: EncryptionInfo = {
    type: `LUKS${meta.version}`,
    summary: summarizeLuks(meta),
    uuid: meta.uuid || null,
    locked: true,
    openedWith: null,
    warnings: [...meta.warnings],
  };
  const tries: [LuksKey, string][] = [];
  for (const p of keys?.passphrases ?? []) tries.push([{ passphrase: p }, 'passphrase']);
  for (const k of keys?.keyFiles ?? []) tries.push([{ keyFile: k }, 'key file']);
  let lastError: DiskpickError | null = null;
  const attempt = async (key: LuksKey, what: string): Promise<Unlocked | null> => {
    try {
      const source = await openLuks(src, key, { header, name: `${src.name}:${where} (decrypted)` });
      return { info: { ...info, locked: false, openedWith: what }, source, error: null };
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      lastError = err;
      if (err.kind !== 'wrongKey') return { info, source: null, error: err };
      return null;
    }
  };
  for (const [key, what] of tries) {
    const r = await attempt(key, what);
    if (r) return r;
  }
  if (tries.length === 0 && keys?.ask) {
    // Three tries on a terminal, as cryptsetup gives.
    for (let i = 0; i < 3; i++) {
      const typed = await keys.ask(`${where}: passphrase for the ${info.type} volume${meta.label ? ` "${meta.label}"` : ''} (UUID ${meta.uuid})`);
      if (!typed) break;
      try {
        const r = await attempt({ passphrase: typed }, 'passphrase');
        if (r) return r;
      } finally {
        typed.fill(0);
      }
    }
  }
  return {
    info,
    source: null,
    error: lastError ?? new DiskpickError('wrongKey', `locked: a ${info.type} volume; give its passphrase (--passphrase-file FILE, DISKPICK_PASSPHRASE, or typed on a terminal) or --key-file FILE`, where),
  };
}

/** The one child of an encrypted volume: its decrypted bytes, or locked with why and how to open it later. */
function decryptedChild(u: Unlocked, src: ByteSource, reopen: (keys: VolumeKeys) => Promise<Unlocked>): ChildVolume {
  const child: ChildVolume = {
    name: 'decrypted', inPlace: true, start: null, size: u.source?.size ?? src.size, source: u.source,
    what: `${u.info.type} volume${u.source ? ', decrypted' : ' (locked)'}`,
  };
  if (u.error) child.error = u.error;
  if (!u.source) {
    child.unlock = async (keys) => {
      const r = await reopen(keys);
      if (r.source) return { source: r.source, encryption: r.info };
      if (r.error) throw r.error;
      return null;
    };
  }
  return child;
}

/** What the tree gets from an encrypted volume: its description, its encryption facts, its one child. */
export function encryptedSystemOf(u: Unlocked, src: ByteSource, reopen: (keys: VolumeKeys) => Promise<Unlocked>): OpenedSystem {
  return {
    describe: `${u.info.type}${u.info.locked ? ' (locked)' : ''}: ${u.info.summary}`,
    children: [decryptedChild(u, src, reopen)],
    warnings: [...u.info.warnings],
    encryption: u.info,
  };
}

export function whereOf(ctx: VolumeContext): string {
  return `/${ctx.volumePath}`;
}
