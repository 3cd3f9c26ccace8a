/**
 * Rebuilds the committed demo image images/fileserver.vmdk: a GPT disk with one FAT32 volume
 * (sgdisk, mkfs.vfat, mtools) holding a handful of ordinary files, converted to a VMDK
 * (monolithicSparse) with qemu-img so it stays small. Its manifest comes from the host tree.
 *   npx tsx scripts/make-demo.ts
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildDemoDisk } from './images/fat.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = mkdtempSync(join(tmpdir(), 'diskpick-demo-'));
const raw = join(work, 'fileserver.img');
buildDemoDisk(raw);
const out = join(root, 'images', 'fileserver.vmdk');
execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'vmdk', '-o', 'subformat=monolithicSparse', raw, out]);
copyFileSync(`${raw}.manifest.json`, join(root, 'images', 'fileserver.manifest.json'));
writeFileSync(join(root, 'images', 'fileserver.raw.sha256'), `${execFileSync('sha256sum', [raw]).toString().split(' ')[0]}\n`);
rmSync(work, { recursive: true, force: true });
console.log(`wrote ${out} (${readFileSync(out).length} bytes)`);
