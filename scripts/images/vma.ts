/**
 * Proxmox VMA test archives, written here from pve-qemu's vma_spec.txt (Proxmox's `vma` tool is
 * not in Debian): the FAT tests' GPT disk as device 1, their floppy as device 2, a small
 * "vmstate" (the VM's RAM, as vzdump stores it with --vmstate) as device 3, and two config
 * files. Clusters of the devices are interleaved as vzdump's parallel backup jobs write them;
 * zero clusters are either left out or stored with mask 0 (both happen in real archives), zero
 * 4 KiB blocks are left out of every cluster. Then the compressed forms vzdump makes:
 * `zstd -T2` (one frame, several threads), `lzop`, `gzip`.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { buildBareFloppy, buildGptFatDisk, ensureImage } from './fat.js';

const CLUSTER = 65536;
const BLOCK = 4096;
const FIXED_HEADER = 12288;

export interface VmaDeviceSpec {
  name: string;
  /** A host file (a disk image) or bytes. */
  path?: string;
  data?: Buffer;
}

export interface VmaSpec {
  uuid: string;
  ctime: number;
  configs: Array<{ name: string; data: Buffer }>;
  devices: VmaDeviceSpec[];
}

export const VMA = {
  name: 'vzdump-qemu-100-2026_12_03-14_00_00.vma',
  uuid: '6a1d3b6e-5c1f-4e8e-9d6b-0f1e2d3c4b5a',
  ctime: 1_796_306_400,
  config: 'boot: order=scsi0\ncores: 2\nmemory: 2048\nname: diskpick-test\nscsi0: local-lvm:vm-100-disk-0,size=100M\nscsi1: local-lvm:vm-100-disk-1,size=1440K\n',
  firewall: '[OPTIONS]\nenable: 0\n',
  devices: ['drive-scsi0', 'drive-scsi1', 'vmstate'],
};

function md5Into(buf: Buffer, at: number): void {
  buf.fill(0, at, at + 16);
  createHash('md5').update(buf).digest().copy(buf, at);
}

/** The header: fixed part, then the blob buffer (names and config data, 2-byte LE length each). */
export function vmaHeader(spec: VmaSpec, sizes: number[]): Buffer {
  const blobs: Buffer[] = [Buffer.alloc(1)];
  let blobPos = 1;
  const addBlob = (data: Buffer): number => {
    const at = blobPos;
    const len = Buffer.alloc(2);
    len.writeUInt16LE(data.length);
    blobs.push(len, data);
    blobPos += 2 + data.length;
    return at;
  };
  const str = (s: string) => addBlob(Buffer.from(`${s}\0`, 'utf8'));
  const fixed = Buffer.alloc(FIXED_HEADER);
  fixed.write('VMA\0', 0, 'latin1');
  fixed.writeUInt32BE(1, 4);
  Buffer.from(spec.uuid.replace(/-/g, ''), 'hex').copy(fixed, 8);
  fixed.writeBigInt64BE(BigInt(spec.ctime), 24);
  spec.configs.forEach((c, i) => {
    fixed.writeUInt32BE(str(c.name), 2044 + 4 * i);
    fixed.writeUInt32BE(addBlob(c.data), 3068 + 4 * i);
  });
  spec.devices.forEach((d, i) => {
    const at = 4096 + 32 * (i + 1);
    fixed.writeUInt32BE(str(d.name), at);
    fixed.writeBigUInt64BE(BigInt(sizes[i]!), at + 8);
  });
  const blob = Buffer.concat(blobs);
  const padded = Buffer.alloc(Math.ceil(blob.length / 512) * 512);
  blob.copy(padded);
  fixed.writeUInt32BE(FIXED_HEADER, 48);
  fixed.writeUInt32BE(blobPos, 52);
  fixed.writeUInt32BE(FIXED_HEADER + padded.length, 56);
  const h = Buffer.concat([fixed, padded]);
  md5Into(h, 32);
  return h;
}

/** One extent: header (blockinfo per cluster, MD5) and the stored blocks, for hand-made archives. */
export function vmaExtent(uuid: string, clusters: Array<{ devId: number; cluster: number; mask: number; blocks: Buffer[] }>): Buffer {
  const h = Buffer.alloc(512);
  h.write('VMAE', 0, 'latin1');
  h.writeUInt16BE(clusters.reduce((n, c) => n + c.blocks.length, 0), 6);
  Buffer.from(uuid.replace(/-/g, ''), 'hex').copy(h, 8);
  clusters.forEach((c, i) => {
    h.writeUInt16BE(c.mask, 40 + 8 * i);
    h[40 + 8 * i + 3] = c.devId;
    h.writeUInt32BE(c.cluster, 40 + 8 * i + 4);
  });
  md5Into(h, 24);
  return Buffer.concat([h, ...clusters.flatMap((c) => c.blocks)]);
}

/** Writes a VMA archive of `spec` to `out`; returns the devices' sizes. */
export function writeVma(out: string, spec: VmaSpec): number[] {
  const sources = spec.devices.map((d) => (d.data ? { data: d.data, fd: -1, size: d.data.length } : { data: null, fd: openSync(d.path!, 'r'), size: readFileSync(d.path!).length }));
  const sizes = sources.map((s) => s.size);
  const fd = openSync(out, 'w');
  try {
    writeSync(fd, vmaHeader(spec, sizes));
    const uuid = Buffer.from(spec.uuid.replace(/-/g, ''), 'hex');
    let infos: Buffer[] = [];
    let datas: Buffer[] = [];
    let blocks = 0;
    const flush = () => {
      if (infos.length === 0) return;
      const h = Buffer.alloc(512);
      h.write('VMAE', 0, 'latin1');
      h.writeUInt16BE(blocks, 6);
      uuid.copy(h, 8);
      infos.forEach((b, i) => b.copy(h, 40 + 8 * i));
      md5Into(h, 24);
      writeSync(fd, h);
      for (const d of datas) writeSync(fd, d);
      infos = [];
      datas = [];
      blocks = 0;
    };
    const clusters = sizes.map((s) => Math.ceil(s / CLUSTER));
    const buf = Buffer.alloc(CLUSTER);
    let zeroCount = 0;
    // Round robin over the devices, a cluster each: the interleaving of vzdump's jobs.
    for (let c = 0; c < Math.max(...clusters); c++) {
      for (let dev = 0; dev < sources.length; dev++) {
        if (c >= clusters[dev]!) continue;
        const s = sources[dev]!;
        buf.fill(0);
        const n = Math.min(CLUSTER, s.size - c * CLUSTER);
        if (s.data) s.data.copy(buf, 0, c * CLUSTER, c * CLUSTER + n);
        else readSync(s.fd, buf, 0, n, c * CLUSTER);
        let mask = 0;
        const stored: Buffer[] = [];
        for (let b = 0; b < 16; b++) {
          const blk = buf.subarray(b * BLOCK, (b + 1) * BLOCK);
          if (blk.some((x) => x !== 0)) {
            mask |= 1 << b;
            stored.push(Buffer.from(blk));
          }
        }
        // A zero cluster: every other one is written with mask 0, the rest left out.
        if (mask === 0 && zeroCount++ % 2 === 0) continue;
        const info = Buffer.alloc(8);
        info.writeUInt16BE(mask, 0);
        info[3] = dev + 1;
        info.writeUInt32BE(c, 4);
        infos.push(info);
        datas.push(...stored);
        blocks += stored.length;
        if (infos.length === 59) flush();
      }
    }
    flush();
  } finally {
    closeSync(fd);
    for (const s of sources) if (s.fd >= 0) closeSync(s.fd);
  }
  return sizes;
}

/** The VM state device: a few MiB of recognisable bytes with zero stretches. */
export function vmstateBytes(): Buffer {
  const b = Buffer.alloc(3 * 1024 * 1024 + 12345);
  for (let i = 0; i + 4 <= b.length; i += 4) if ((i >> 16) % 3 !== 1) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  return b.subarray(0, b.length);
}

export function vmaSources(cache: string): string[] {
  return [ensureImage(cache, 'fat-gpt.img', buildGptFatDisk), ensureImage(cache, 'fat-floppy.img', buildBareFloppy)];
}

export function vmaSpec(cache: string): VmaSpec {
  const [disk1, disk2] = vmaSources(cache);
  return {
    uuid: VMA.uuid,
    ctime: VMA.ctime,
    configs: [
      { name: 'qemu-server.conf', data: Buffer.from(VMA.config) },
      { name: 'qemu-server.fw', data: Buffer.from(VMA.firewall) },
    ],
    devices: [
      { name: VMA.devices[0]!, path: disk1 },
      { name: VMA.devices[1]!, path: disk2 },
      { name: VMA.devices[2]!, data: vmstateBytes() },
    ],
  };
}

/** The archive and its compressed forms in `cache`: { vma, zst, lzo, gz }. */
export function buildVma(cache: string): { vma: string; zst: string; lzo: string; gz: string } {
  const vma = join(cache, VMA.name);
  const paths = { vma, zst: `${vma}.zst`, lzo: `${vma}.lzo`, gz: `${vma}.gz` };
  if (Object.values(paths).every((p) => existsSync(p))) return paths;
  const tmp = `${vma}.tmp`;
  writeVma(tmp, vmaSpec(cache));
  execFileSync('zstd', ['-q', '-f', '-T2', tmp, '-o', `${paths.zst}.tmp`]);
  execFileSync('lzop', ['-q', '-f', tmp, '-o', `${paths.lzo}.tmp`]);
  execFileSync('sh', ['-c', 'gzip -c "$1" > "$2"', 'sh', tmp, `${paths.gz}.tmp`]);
  for (const k of ['zst', 'lzo', 'gz'] as const) renameSync(`${paths[k]}.tmp`, paths[k]);
  renameSync(tmp, vma);
  rmSync(`${vma}.work`, { recursive: true, force: true });
  return paths;
}
