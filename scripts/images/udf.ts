/**
 * UDF test images. This machine's kernel has no UDF driver (and wrudf only writes packet
 * media interactively), so populated images come from genisoimage -udf (a UDF 1.02 bridge
 * disc: ISO 9660 and UDF over the same files, from the ISO tests' seeded tree), and every UDF
 * revision mkudffs formats (1.02, 1.50, 2.01 on hard-disk media; 2.01, 2.50, 2.60 on write-once
 * media with a VAT) is an empty volume, checked against udfinfo.
 */
import { execFileSync } from 'node:child_process';
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureIsoTree, isoTreeOf } from './iso.js';

const ENV = { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8', PATH: `${process.env.PATH}:/usr/sbin:/sbin` };

export interface MkudffsVariant {
  name: string;
  media: string;
  rev: string;
  blockSize?: number;
  blocks: number;
}

export const MKUDFFS_VARIANTS: MkudffsVariant[] = [
  { name: 'udf-hd-102.img', media: 'hd', rev: '1.02', blocks: 4096 },
  { name: 'udf-hd-150.img', media: 'hd', rev: '1.50', blocks: 4096 },
  { name: 'udf-hd-201.img', media: 'hd', rev: '2.01', blocks: 4096 },
  { name: 'udf-hd-201-4k.img', media: 'hd', rev: '2.01', blockSize: 4096, blocks: 1024 },
  { name: 'udf-dvd-201.img', media: 'dvd', rev: '2.01', blocks: 8192 },
  { name: 'udf-cdr-201.img', media: 'cdr', rev: '2.01', blocks: 8192 },
  { name: 'udf-bdr-250.img', media: 'bdr', rev: '2.50', blocks: 16384 },
  { name: 'udf-bdr-260.img', media: 'bdr', rev: '2.60', blocks: 16384 },
];

export function buildMkudffs(cache: string, v: MkudffsVariant): string {
  const out = join(cache, v.name);
  const tmp = `${out}.tmp`;
  rmSync(tmp, { force: true });
  const args = [`--media-type=${v.media}`, `--udfrev=${v.rev}`, `--label=L${v.rev.replace('.', '')}${v.media}`];
  if (v.blockSize) args.push(`--blocksize=${v.blockSize}`);
  execFileSync('mkudffs', [...args, tmp, String(v.blocks)], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  renameSync(tmp, out);
  return out;
}

export const UDF_BRIDGE = { name: 'udf-bridge.iso', exclude: ['/links/long'] };

/** genisoimage -udf -R -J over the ISO tests' seeded tree: UDF 1.02 + ISO 9660 on one disc. */
export function buildUdfBridge(cache: string): string {
  ensureIsoTree(cache);
  const out = join(cache, UDF_BRIDGE.name);
  const tmp = `${out}.tmp`;
  rmSync(tmp, { force: true });
  execFileSync('genisoimage', ['-quiet', '-udf', '-R', '-J', '-joliet-long', '-V', 'DISKPICK_UDF', '-m', 'long', '-o', tmp, isoTreeOf(cache)], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  renameSync(tmp, out);
  return out;
}
