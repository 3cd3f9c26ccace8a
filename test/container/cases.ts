/**
 * The containers the container tests read, each with its oracle: `qemu-img convert -O raw`,
 * or for images from the spec writers the writer's expected bytes (which the format's own
 * tests check against vhdimount/qemu).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildQcow2Chains, buildQcow2Set } from '../../scripts/images/qcow2.js';
import { buildVhdSet } from '../../scripts/images/vhd.js';
import { buildVhdxSet } from '../../scripts/images/vhdx.js';
import { buildVdiSet } from '../../scripts/images/vdi.js';
import { buildChain, buildConverted, buildEsxDeltas } from '../../scripts/images/vmdk.js';
import { CACHE, cachedImage } from '../helpers/tools.js';

/** `qemu-img convert -O raw` of the image, in memory. */
function qemuRaw(path: string, fmt?: string): Buffer {
  const out = join(tmpdir(), `diskpick-cases-${process.pid}-${Math.random().toString(36).slice(2)}.raw`);
  execFileSync('qemu-img', ['convert', ...(fmt ? ['-f', fmt] : []), '-O', 'raw', path, out], { stdio: 'ignore' });
  try {
    return readFileSync(out);
  } finally {
    rmSync(out);
  }
}

export interface Case {
  name: string;
  path: () => string;
  oracle: (path: string) => Buffer;
  /** Some bytes need decoding (compressed clusters/grains, a log replayed in memory): no host runs. */
  decodes?: true;
}

const qcow2Set = () => cachedImage('container-qcow2-set', (d) => void buildQcow2Set(d));
const chains = () => cachedImage('container-chains', (d) => void buildQcow2Chains(d));
const vhdSet = () => cachedImage('container-vhd-set', (d) => void buildVhdSet(d));
const vhdxSet = () => cachedImage('container-vhdx-set', (d) => void buildVhdxSet(d));
const vdiSet = () => cachedImage('container-vdi-set', (d) => void buildVdiSet(d));
const expected = (p: string) => readFileSync(`${p}.expected`);
const qemu = (fmt?: string) => (p: string) => qemuRaw(p, fmt);

export const CASES: Case[] = [
  { name: 'raw', path: () => join(qcow2Set(), 'base.raw'), oracle: qemu('raw') },
  { name: 'qcow2 plain', path: () => join(qcow2Set(), 'plain.qcow2'), oracle: qemu('qcow2') },
  { name: 'qcow2 zlib clusters', path: () => join(qcow2Set(), 'zlib.qcow2'), oracle: qemu('qcow2'), decodes: true },
  { name: 'qcow2 zstd clusters', path: () => join(qcow2Set(), 'zstd.qcow2'), oracle: qemu('qcow2'), decodes: true },
  { name: 'qcow2 small clusters', path: () => join(qcow2Set(), 'small-clusters.qcow2'), oracle: qemu('qcow2') },
  { name: 'qcow2 external data file', path: () => join(qcow2Set(), 'datafile.qcow2'), oracle: qemu('qcow2') },
  { name: 'qcow2 extended L2 overlay (subclusters, parent)', path: () => join(qcow2Set(), 'extl2-overlay.qcow2'), oracle: qemu('qcow2') },
  { name: 'qcow2 three-level chain', path: () => join(chains(), 'top.qcow2'), oracle: qemu() },
  { name: 'qcow2 over qcow2 over vhd', path: () => join(chains(), 'm2.qcow2'), oracle: qemu() },
  { name: 'qcow2 over vhdx', path: () => join(chains(), 'x1.qcow2'), oracle: qemu() },
  { name: 'qcow2 over vdi', path: () => join(chains(), 'v1.qcow2'), oracle: qemu() },
  { name: 'vhd dynamic', path: () => join(vhdSet(), 'dynamic.vhd'), oracle: qemu('vpc') },
  { name: 'vhd fixed', path: () => join(vhdSet(), 'fixed.vhd'), oracle: qemu('vpc') },
  { name: 'vhd differencing (sector bitmap)', path: () => join(vhdSet(), 'diff-w2ru.vhd'), oracle: expected },
  { name: 'vhd three levels', path: () => join(vhdSet(), 'diff-level3.vhd'), oracle: expected },
  { name: 'vhdx dynamic', path: () => join(vhdxSet(), 'dynamic.vhdx'), oracle: qemu('vhdx') },
  { name: 'vhdx 1 MiB blocks', path: () => join(vhdxSet(), 'block1m.vhdx'), oracle: qemu('vhdx') },
  { name: 'vhdx differencing', path: () => join(vhdxSet(), 'diff.vhdx'), oracle: expected },
  { name: 'vhdx differencing 4 MiB blocks', path: () => join(vhdxSet(), 'diff-bs4m.vhdx'), oracle: expected },
  { name: 'vhdx with a log replayed in memory', path: () => join(vhdxSet(), 'dirty-log.vhdx'), oracle: expected, decodes: true },
  { name: 'vdi dynamic', path: () => join(vdiSet(), 'dynamic.vdi'), oracle: qemu('vdi') },
  { name: 'vdi differencing, two levels', path: () => join(vdiSet(), 'grandchild.vdi'), oracle: expected },
  { name: 'vmdk monolithicSparse', path: () => buildConverted(join(CACHE, 'vmdk-monolithicSparse'), 'monolithicSparse'), oracle: qemu('vmdk') },
  { name: 'vmdk streamOptimized', path: () => buildConverted(join(CACHE, 'vmdk-streamOptimized'), 'streamOptimized'), oracle: qemu('vmdk'), decodes: true },
  { name: 'vmdk twoGbMaxExtentSparse', path: () => buildConverted(join(CACHE, 'vmdk-twoGbMaxExtentSparse'), 'twoGbMaxExtentSparse'), oracle: qemu('vmdk') },
  { name: 'vmdk monolithicFlat', path: () => buildConverted(join(CACHE, 'vmdk-monolithicFlat'), 'monolithicFlat'), oracle: qemu('vmdk') },
  { name: 'vmdk delta chain (zeroed grains, parent grains)', path: () => buildChain(join(CACHE, 'vmdk-chain')), oracle: qemu('vmdk') },
  { name: 'vmdk COWD delta', path: () => join(buildEsxDeltas(join(CACHE, 'vmdk-esx')), 'delta.vmdk'), oracle: qemu('vmdk') },
  { name: 'vmdk SESparse delta', path: () => join(buildEsxDeltas(join(CACHE, 'vmdk-esx')), 'sesparse.vmdk'), oracle: qemu('vmdk') },
];
