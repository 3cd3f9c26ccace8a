/**
 * A GPT disk of volumes diskpick names but does not read, each made by its real tool (blkid
 * is the oracle for what they are): p1 LUKS2 and p2 LUKS1 (cryptsetup luksFormat on a file, no
 * device-mapper needed), p3 Linux swap (mkswap), p4 ISO 9660 (genisoimage), p5 a BitLocker boot
 * sector (only its -FVE-FS- signature and BPB: blkid's own probe is the check), p6 zeros.
 */
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

function writeAt(file: string, offset: number, data: Buffer): void {
  const fd = openSync(file, 'r+');
  try {
    writeSync(fd, data, 0, data.length, offset);
  } finally {
    closeSync(fd);
  }
}

/** Partition starts (MiB) and sizes of the named disk. */
export const NAMED_PARTS = [
  { n: 1, start: 1, size: 20 },
  { n: 2, start: 21, size: 8 },
  { n: 3, start: 29, size: 8 },
  { n: 4, start: 37, size: 4 },
  { n: 5, start: 41, size: 4 },
  { n: 6, start: 45, size: 4 },
];

export function buildNamedDisk(path: string): void {
  const work = `${path}.work`;
  const tmp = `${path}.tmp`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  rmSync(tmp, { force: true });
  sh('truncate', ['-s', '50M', tmp]);
  const args = ['-o'];
  for (const p of NAMED_PARTS) args.push('-n', `${p.n}:${p.start}M:+${p.size}M`, '-t', `${p.n}:8300`);
  sh('sgdisk', [...args, tmp]);
  const key = join(work, 'key');
  writeFileSync(key, 'diskpick test key');
  const vol = (name: string, mib: number) => {
    const f = join(work, name);
    sh('truncate', ['-s', `${mib}M`, f]);
    return f;
  };
  const fast = ['--batch-mode', '--key-file', key, '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000'];
  const l2 = vol('luks2', 20);
  sh('cryptsetup', ['luksFormat', '--type', 'luks2', ...fast, '--label', 'secret-home', '--uuid', '0b6f9a11-2f4e-4c1b-9d1e-5a7c3e2f1a01', l2]);
  const l1 = vol('luks1', 8);
  sh('cryptsetup', ['luksFormat', '--type', 'luks1', '--batch-mode', '--key-file', key, '--iter-time', '1', '--uuid', '0b6f9a11-2f4e-4c1b-9d1e-5a7c3e2f1a02', l1]);
  const sw = vol('swap', 8);
  sh('mkswap', ['-L', 'swappy', '-U', '0b6f9a11-2f4e-4c1b-9d1e-5a7c3e2f1a03', sw]);
  const isoDir = join(work, 'iso');
  mkdirSync(isoDir);
  writeFileSync(join(isoDir, 'readme.txt'), 'on a CD\n');
  const iso = join(work, 'cd.iso');
  sh('genisoimage', ['-quiet', '-V', 'DISKPICK_CD', '-o', iso, isoDir]);
  // A BitLocker volume's boot sector: jump, "-FVE-FS-" OEM id, a BPB with 512-byte sectors.
  const bde = Buffer.alloc(4 * MiB);
  Buffer.from([0xeb, 0x58, 0x90]).copy(bde, 0);
  bde.write('-FVE-FS-', 3, 'latin1');
  bde.writeUInt16LE(512, 11);
  bde[13] = 8;
  bde.writeUInt16LE(0, 14);
  bde[21] = 0xf8;
  bde.writeUInt16LE(63, 24);
  bde.writeUInt16LE(255, 26);
  bde.writeUInt32LE(2048, 28);
  bde[510] = 0x55;
  bde[511] = 0xaa;
  for (const [p, data] of [[1, readFileSync(l2)], [2, readFileSync(l1)], [3, readFileSync(sw)], [4, readFileSync(iso)], [5, bde]] as const) {
    writeAt(tmp, NAMED_PARTS[p - 1]!.start * MiB, data);
  }
  rmSync(work, { recursive: true, force: true });
  renameSync(tmp, path);
}
