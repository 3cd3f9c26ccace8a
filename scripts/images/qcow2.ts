/**
 * QCOW2 test images, all made by qemu-img / qemu-io (the reference implementation), from a
 * seeded raw disk. Every builder takes the output folder and returns the paths it made;
 * tests call them through cachedImage(). The raw oracle is `qemu-img convert -O raw`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, openSync, writeSync, closeSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { seededBytes, seededText } from './tree.js';

export function qemu(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/**
 * A raw disk of `mib` MiB in 256 KiB stripes: random (incompressible), text (compresses),
 * zeros (sparse in every format) — so every format sees allocated, zero and compressible data.
 */
export function seededRaw(path: string, mib: number, seed: number): void {
  const fd = openSync(path, 'w');
  const stripe = 256 * 1024;
  for (let i = 0; i < (mib * 1024 * 1024) / stripe; i++) {
    const kind = (i * 7 + seed) % 5;
    const data = kind === 0 || kind === 3 ? Buffer.alloc(stripe) : kind === 1 ? seededText(seed * 10000 + i, stripe) : seededBytes(seed * 10000 + i, stripe);
    writeSync(fd, data);
  }
  closeSync(fd);
}

/** qemu-io writes of a pattern byte, so an overlay really differs from its base. */
export function qemuWrite(img: string, fmt: string, writes: Array<[number, number, number]>): void {
  const cmds = writes.flatMap(([pattern, off, len]) => ['-c', `write -P 0x${pattern.toString(16)} ${off} ${len}`]);
  qemu('qemu-io', ['-f', fmt, ...cmds, img]);
}

export interface Qcow2Set {
  dir: string;
  base: string;
  images: Record<string, string>;
}

/** One folder with every single-file QCOW2 variant made from the same 8 MiB base. */
export function buildQcow2Set(dir: string): Qcow2Set {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const base = join(dir, 'base.raw');
  seededRaw(base, 8, 3);
  const images: Record<string, string> = {};
  const conv = (name: string, opts: string[]) => {
    const out = join(dir, name);
    qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', ...opts, base, out]);
    images[name] = out;
  };
  conv('plain.qcow2', []);
  conv('v2.qcow2', ['-o', 'compat=0.10']);
  conv('zlib.qcow2', ['-c']);
  conv('zstd.qcow2', ['-c', '-o', 'compression_type=zstd']);
  conv('extl2.qcow2', ['-o', 'extended_l2=on,cluster_size=128k']);
  conv('small-clusters.qcow2', ['-o', 'cluster_size=4k']);
  conv('big-clusters.qcow2', ['-o', 'cluster_size=2M']);
  // External data file: the metadata file names "data.bin" next to it.
  qemu('qemu-img', ['create', '-f', 'qcow2', '-o', `data_file=${join(dir, 'data.bin')}`, join(dir, 'datafile.qcow2'), '8M']);
  qemuWrite(join(dir, 'datafile.qcow2'), 'qcow2', [[0x5a, 0, 65536], [0x33, 3 * 1024 * 1024 + 512, 200000]]);
  images['datafile.qcow2'] = join(dir, 'datafile.qcow2');
  // Zero clusters (v3 zero flag) over allocated data, written with qemu-io.
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', base, join(dir, 'zeroed.qcow2')]);
  qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -z 1048576 1048576', '-c', 'write -z -u 4194304 65536', join(dir, 'zeroed.qcow2')]);
  images['zeroed.qcow2'] = join(dir, 'zeroed.qcow2');
  // Extended L2 with subclusters written one at a time over a backing file.
  qemu('qemu-img', ['create', '-f', 'qcow2', '-o', 'extended_l2=on', '-b', 'base.raw', '-F', 'raw', join(dir, 'extl2-overlay.qcow2')]);
  qemuWrite(join(dir, 'extl2-overlay.qcow2'), 'qcow2', [[0x11, 2048, 2048], [0x22, 65536 + 4096 * 3, 8192], [0x44, 5 * 1024 * 1024, 100]]);
  qemu('qemu-io', ['-f', 'qcow2', '-c', 'write -z 6291456 4096', join(dir, 'extl2-overlay.qcow2')]);
  images['extl2-overlay.qcow2'] = join(dir, 'extl2-overlay.qcow2');
  return { dir, base, images };
}

/**
 * Chains: qcow2 over qcow2 (both levels differ), qcow2 over a raw base, and a 3-level mixed
 * chain vhd (vpc) <- qcow2 <- qcow2 whose top is smaller than nothing and bigger than its base.
 */
export function buildQcow2Chains(dir: string): Record<string, string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const raw = join(dir, 'base.raw');
  seededRaw(raw, 4, 7);
  const out: Record<string, string> = { raw };
  const q = (name: string) => join(dir, name);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, q('base.qcow2')]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', q('mid.qcow2')]);
  qemuWrite(q('mid.qcow2'), 'qcow2', [[0xa1, 0, 4096], [0xa2, 1024 * 1024 + 100, 300000]]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'mid.qcow2', '-F', 'qcow2', q('top.qcow2')]);
  qemuWrite(q('top.qcow2'), 'qcow2', [[0xb1, 2048, 1024], [0xb2, 3 * 1024 * 1024, 65536]]);
  Object.assign(out, { 'base.qcow2': q('base.qcow2'), 'mid.qcow2': q('mid.qcow2'), 'top.qcow2': q('top.qcow2') });
  // A qcow2 overlay on the raw base, in a subfolder so the reference is relative with "..".
  mkdirSync(q('sub'), { recursive: true });
  qemu('qemu-img', ['create', '-f', 'qcow2', '-b', '../base.raw', '-F', 'raw', q('sub/over-raw.qcow2')]);
  qemuWrite(q('sub/over-raw.qcow2'), 'qcow2', [[0xc1, 512, 512], [0xc2, 2 * 1024 * 1024, 70000]]);
  out['sub/over-raw.qcow2'] = q('sub/over-raw.qcow2');
  // Mixed: vpc (dynamic VHD) <- qcow2 (v2) <- qcow2 (v3, larger than its backing).
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', raw, q('m0.vhd')]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-o', 'compat=0.10', '-b', 'm0.vhd', '-F', 'vpc', q('m1.qcow2')]);
  qemuWrite(q('m1.qcow2'), 'qcow2', [[0xd1, 4096, 8192]]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'm1.qcow2', '-F', 'qcow2', q('m2.qcow2'), '6M']);
  qemuWrite(q('m2.qcow2'), 'qcow2', [[0xd2, 5 * 1024 * 1024, 4096], [0xd3, 8192, 512]]);
  Object.assign(out, { 'm0.vhd': q('m0.vhd'), 'm1.qcow2': q('m1.qcow2'), 'm2.qcow2': q('m2.qcow2') });
  // A qcow2 over a VHDX over nothing, and over a VDI: any format can be a backing file.
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vhdx', raw, q('x0.vhdx')]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'x0.vhdx', '-F', 'vhdx', q('x1.qcow2')]);
  qemuWrite(q('x1.qcow2'), 'qcow2', [[0xe1, 0, 1024 * 1024]]);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'vdi', raw, q('v0.vdi')]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-o', 'extended_l2=on', '-b', 'v0.vdi', '-F', 'vdi', q('v1.qcow2')]);
  qemuWrite(q('v1.qcow2'), 'qcow2', [[0xe2, 1000, 3000]]);
  Object.assign(out, { 'x1.qcow2': q('x1.qcow2'), 'v1.qcow2': q('v1.qcow2') });
  // Hostile chains: a loop, a missing backing file.
  qemu('qemu-img', ['create', '-f', 'qcow2', q('loop-a.qcow2'), '1M']);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-b', 'loop-a.qcow2', '-F', 'qcow2', q('loop-b.qcow2')]);
  qemu('qemu-img', ['rebase', '-u', '-f', 'qcow2', '-b', 'loop-b.qcow2', '-F', 'qcow2', q('loop-a.qcow2')]);
  qemu('qemu-img', ['create', '-f', 'qcow2', '-u', '-b', 'gone.raw', '-F', 'raw', q('orphan.qcow2'), '1M']);
  Object.assign(out, { 'loop-a.qcow2': q('loop-a.qcow2'), 'orphan.qcow2': q('orphan.qcow2') });
  return out;
}

/** Encrypted images (AES and LUKS): diskpick must refuse them with one clear line. */
export function buildQcow2Encrypted(dir: string): Record<string, string> {
  // Built beside and renamed into place whole: a build that fails half-way (below) must not
  // leave a folder that later runs take for a finished one.
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  for (const fmt of ['aes', 'luks']) {
    const p = join(tmp, `${fmt}.qcow2`);
    // qemu times its LUKS PBKDF to encrypt.iter-time; at 10 ms it failed on a busy CI machine
    // ("Unable to get accurate CPU usage"), so 200 ms; it still failed twice in a row in a clean-clone
    // CI run beside a loaded machine, so up to five tries a second apart.
    const extra = fmt === 'luks' ? ',encrypt.iter-time=200' : '';
    const args = ['create', '-f', 'qcow2', '--object', 'secret,id=s0,data=diskpick', '-o', `encrypt.format=${fmt},encrypt.key-secret=s0${extra}`, p, '1M'];
    for (let attempt = 1; ; attempt++) {
      try {
        qemu('qemu-img', args);
        break;
      } catch (err) {
        rmSync(p, { force: true });
        if (attempt === 5) throw err;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return { aes: join(dir, 'aes.qcow2'), luks: join(dir, 'luks.qcow2') };
}
