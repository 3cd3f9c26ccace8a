/**
 * Registry hive test files and a Windows-like disk holding one. hivexsh (Debian libhivex-bin)
 * writes the keys and values; it edits an existing hive only, so the builder starts from the
 * smallest hive hivex accepts (base block, one hive bin with the root key node and its
 * security cell), written here byte by byte from the format documentation. What the hive
 * holds afterwards is read back with hivexget, never with diskpick.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountNtfs, unmount } from './ntfs.js';

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

/** The smallest hive: a root key "ROOT" with no subkeys or values. */
export function emptyHive(): Buffer {
  const b = Buffer.alloc(8192);
  b.write('regf', 0, 'latin1');
  b.writeUInt32LE(1, 4); // primary sequence number
  b.writeUInt32LE(1, 8); // secondary sequence number
  b.writeUInt32LE(1, 20); // major version
  b.writeUInt32LE(3, 24); // minor version
  b.writeUInt32LE(0, 28); // file type: primary
  b.writeUInt32LE(1, 32); // file format: direct memory load
  b.writeUInt32LE(0x20, 36); // root cell offset
  b.writeUInt32LE(4096, 40); // hive bins data size
  b.writeUInt32LE(1, 44); // clustering factor
  let x = 0;
  for (let i = 0; i < 508; i += 4) x = (x ^ b.readUInt32LE(i)) >>> 0;
  b.writeUInt32LE(x, 508);
  const bin = 4096;
  b.write('hbin', bin, 'latin1');
  b.writeUInt32LE(0, bin + 4);
  b.writeUInt32LE(4096, bin + 8);
  // Root key node at cell offset 0x20.
  const nk = bin + 0x20;
  const nkSize = 88;
  b.writeInt32LE(-nkSize, nk);
  b.write('nk', nk + 4, 'latin1');
  b.writeUInt16LE(0x2c, nk + 6); // KEY_HIVE_ENTRY | KEY_NO_DELETE | KEY_COMP_NAME
  b.writeUInt32LE(0xffffffff, nk + 4 + 32); // volatile subkeys list
  b.writeUInt32LE(0xffffffff, nk + 4 + 28); // subkeys list
  b.writeUInt32LE(0xffffffff, nk + 4 + 40); // values list
  const sk = 0x20 + nkSize;
  b.writeUInt32LE(sk, nk + 4 + 44); // security key
  b.writeUInt32LE(0xffffffff, nk + 4 + 48); // class name
  b.writeUInt16LE(4, nk + 4 + 72);
  b.write('ROOT', nk + 4 + 76, 'latin1');
  // Security key: a self-relative descriptor with no owner, group or ACLs.
  const skAt = bin + sk;
  const sd = Buffer.alloc(20);
  sd[0] = 1; // revision
  sd.writeUInt16LE(0x8000, 2); // SE_SELF_RELATIVE
  const skSize = 24 + sd.length + 4;
  b.writeInt32LE(-skSize, skAt);
  b.write('sk', skAt + 4, 'latin1');
  b.writeUInt32LE(sk, skAt + 8); // flink
  b.writeUInt32LE(sk, skAt + 12); // blink
  b.writeUInt32LE(1, skAt + 16); // reference count
  b.writeUInt32LE(sd.length, skAt + 20);
  sd.copy(b, skAt + 24);
  // The rest of the bin is one free cell.
  const free = sk + skSize;
  b.writeInt32LE(4096 - free, bin + free);
  return b;
}

export interface HiveValue {
  name: string;
  /** winnt.h type: 1 REG_SZ, 3 REG_BINARY, 4 REG_DWORD. */
  type: number;
  data: Buffer;
}

/** A hive file at `path` with these keys (paths of names) and their values, written by hivexsh. */
export function writeHive(path: string, keys: { path: string[]; values: HiveValue[] }[]): void {
  writeFileSync(path, emptyHive());
  const lines: string[] = [];
  const made = new Set<string>();
  for (const k of keys) {
    lines.push('cd \\');
    k.path.forEach((name, i) => {
      const at = k.path.slice(0, i + 1).join('\\').toUpperCase();
      if (!made.has(at)) lines.push(`add ${name}`);
      made.add(at);
      lines.push(`cd ${name}`);
    });
    if (k.values.length) {
      lines.push(`setval ${k.values.length}`);
      for (const v of k.values) lines.push(v.name, `hex:${v.type}:${[...v.data].map((x) => x.toString(16).padStart(2, '0')).join(',')}`);
    }
  }
  lines.push('commit', 'quit');
  const script = `${path}.hivexsh`;
  writeFileSync(script, lines.join('\n') + '\n');
  try {
    sh('hivexsh', ['-w', '-f', script, path]);
  } finally {
    rmSync(script, { force: true });
  }
}

/** MountedDevices data for an MBR partition: disk signature and byte offset. */
export function mbrDevice(signature: number, offset: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(signature, 0);
  b.writeBigUInt64LE(BigInt(offset), 4);
  return b;
}

/** MountedDevices data for a GPT partition: "DMIO:ID:" and its unique GUID (Windows byte order). */
export function gptDevice(guid: string): Buffer {
  const h = guid.replace(/-/g, '');
  const le = (s: string) => Buffer.from(s, 'hex').reverse();
  return Buffer.concat([Buffer.from('DMIO:ID:', 'latin1'), le(h.slice(0, 8)), le(h.slice(8, 12)), le(h.slice(12, 16)), Buffer.from(h.slice(16), 'hex')]);
}

export interface WindowsDiskPlan {
  scheme: 'mbr' | 'gpt';
  /** MBR disk signature. */
  signature?: number;
  /** Per partition (p1, p2 …): byte offset, GPT unique GUID, the drive letter the hive gives it (or none). */
  partitions: { name: string; offset: number; sizeMiB: number; fs: 'ntfs' | 'fat'; guid?: string; letter?: string; windows?: boolean; gptType?: string }[];
  /** Values of MountedDevices as written (name → hex), for the oracle. */
  mountedDevices: Record<string, string>;
}

/**
 * A disk as Windows leaves it: the NTFS volume holding Windows\System32\config\SYSTEM, whose
 * MountedDevices gives letters in an order that is not the partition order (p2 is C:, p1 is
 * E:), a value for a disk that is not this one (F:) and a CD-ROM's string value (D:).
 */
export function buildWindowsDisk(path: string, scheme: 'mbr' | 'gpt', small = false): WindowsDiskPlan {
  const work = mkdtempSync(join(tmpdir(), 'dp-windisk-'));
  const MiB = 1024 * 1024;
  const plan: WindowsDiskPlan = {
    scheme,
    ...(scheme === 'mbr' ? { signature: 0x5eed1234 } : {}),
    // small: the fuzz seed (scripts/fuzz/seeds.ts), one 6 MiB Windows volume.
    partitions: small
      ? [{ name: 'p1', offset: 1 * MiB, sizeMiB: 6, fs: 'ntfs', letter: 'C', windows: true, guid: '6A1B5C2D-2222-4A4A-8B8B-0123456789AB' }]
      : [
        { name: 'p1', offset: 1 * MiB, sizeMiB: 12, fs: 'ntfs', letter: 'E', guid: '6A1B5C2D-1111-4A4A-8B8B-0123456789AB' },
        { name: 'p2', offset: 13 * MiB, sizeMiB: 16, fs: 'ntfs', letter: 'C', windows: true, guid: '6A1B5C2D-2222-4A4A-8B8B-0123456789AB' },
        { name: 'p3', offset: 29 * MiB, sizeMiB: 8, fs: 'fat', guid: '6A1B5C2D-3333-4A4A-8B8B-0123456789AB' },
      ],
    mountedDevices: {},
  };
  try {
    const disk = join(work, 'disk.raw');
    sh('truncate', ['-s', String((small ? 8 : 40) * MiB), disk]);
    if (scheme === 'mbr') {
      sh('sfdisk', ['-q', '--no-reread', '--no-tell-kernel', disk], `label: dos\nlabel-id: 0x${plan.signature!.toString(16)}\n` + plan.partitions.map((p) => `start=${p.offset / 512}, size=${p.sizeMiB * 2048}, type=${p.fs === 'ntfs' ? '7' : 'c'}`).join('\n') + '\n');
    } else {
      const args: string[] = [];
      plan.partitions.forEach((p, i) => args.push('-n', `${i + 1}:${p.offset / 512}:+${p.sizeMiB}M`, '-t', `${i + 1}:0700`, '-u', `${i + 1}:${p.guid}`));
      sh('sgdisk', [...args, disk]);
    }
    const values: HiveValue[] = [];
    for (const p of plan.partitions) {
      if (!p.letter) continue;
      values.push({ name: `\\DosDevices\\${p.letter}:`, type: 3, data: scheme === 'mbr' ? mbrDevice(plan.signature!, p.offset) : gptDevice(p.guid!) });
    }
    values.push({ name: '\\DosDevices\\F:', type: 3, data: scheme === 'mbr' ? mbrDevice(0x0badf00d, MiB) : gptDevice('11111111-2222-3333-4444-555555555555') });
    values.push({ name: '\\DosDevices\\D:', type: 3, data: Buffer.from('\\??\\IDE#CdRomQEMU_DVD-ROM#5&1\0', 'utf16le') });
    values.push({ name: '\\??\\Volume{0b5c4a8e-1111-2222-3333-444444444444}', type: 3, data: scheme === 'mbr' ? mbrDevice(plan.signature!, MiB) : gptDevice(plan.partitions[0]!.guid!) });
    for (const v of values) plan.mountedDevices[v.name] = v.data.toString('hex');
    const hive = join(work, 'SYSTEM');
    writeHive(hive, [{ path: ['MountedDevices'], values }, { path: ['Select'], values: [{ name: 'Current', type: 4, data: Buffer.from([1, 0, 0, 0]) }] }]);
    for (const p of plan.partitions) {
      const vol = join(work, `${p.name}.raw`);
      sh('truncate', ['-s', String(p.sizeMiB * MiB), vol]);
      if (p.fs === 'fat') {
        sh('mkfs.fat', ['-F', '32', '-n', p.name.toUpperCase(), vol]);
      } else {
        sh('mkntfs', ['-F', '-Q', '-q', '-L', p.windows ? 'Windows' : 'Data', '-p', String(p.offset / 512), vol]);
        const mnt = mountNtfs(vol, 'rw');
        try {
          writeFileSync(join(mnt, `on-${p.name}.txt`), `this is ${p.name}\n`);
          if (p.windows) {
            mkdirSync(join(mnt, 'Windows', 'System32', 'config'), { recursive: true });
            copyFileSync(hive, join(mnt, 'Windows', 'System32', 'config', 'SYSTEM'));
          }
        } finally {
          unmount(mnt);
        }
      }
      sh('dd', [`if=${vol}`, `of=${disk}`, 'bs=1M', `seek=${p.offset / MiB}`, 'conv=notrunc', 'status=none']);
    }
    copyFileSync(hive, `${path}.SYSTEM`);
    writeFileSync(`${path}.json`, JSON.stringify(plan, null, 1));
    renameSync(disk, path);
    return plan;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
