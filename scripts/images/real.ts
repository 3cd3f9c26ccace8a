/**
 * Images that reproduce what real Windows/Linux-made disks showed (issue #24), made with the
 * real tools (sfdisk, mkntfs, ntfscp, ntfs-3g, qemu-img, mkfs.fat, debugfs). Each builder
 * writes what it put in beside the image (`<image>.json`), never anything read back by diskpick.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededBytes } from './tree.js';

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 26 });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export interface CutPartitionInfo {
  /** Files written with ntfscp: path → sha256 and size. */
  files: Record<string, { sha256: string; size: number }>;
  /** CurrentSize in the footer the cut-out partition kept. */
  footerDiskSize: number;
}

/**
 * #24.1: an NTFS partition cut out of a fixed VHD with `dd`, keeping the VHD's 512-byte footer
 * at its end (the footer describes the whole 16 MiB disk, the file is the 15 MiB partition +
 * 512 bytes). TSK, 7-Zip and qemu-img read it as a raw NTFS volume.
 */
export function buildVhdCutPartition(path: string): CutPartitionInfo {
  const work = mkdtempSync(join(tmpdir(), 'dp-cut-'));
  try {
    const disk = join(work, 'disk.raw');
    const vol = join(work, 'vol.raw');
    const diskBytes = 16 * 1024 * 1024;
    sh('truncate', ['-s', String(diskBytes), disk]);
    sh('sfdisk', ['-q', disk], 'label: dos\nstart=2048, type=7\n');
    sh('truncate', ['-s', String(diskBytes - 1024 * 1024), vol]);
    sh('mkntfs', ['-F', '-Q', '-q', '-L', 'cut', '-p', '2048', vol]);
    const info: CutPartitionInfo = { files: {}, footerDiskSize: diskBytes };
    const put = (name: string, data: Buffer) => {
      const f = join(work, 'in.bin');
      writeFileSync(f, data);
      sh('ntfscp', ['-f', '-q', vol, f, `/${name}`]);
      info.files[`/${name}`] = { sha256: sha(data), size: data.length };
    };
    put('hello.txt', Buffer.from('cut out of a fixed VHD\n'));
    put('random.bin', seededBytes(241, 300_000));
    sh('dd', [`if=${vol}`, `of=${disk}`, 'bs=1M', 'seek=1', 'conv=notrunc,sparse', 'status=none']);
    const vhd = join(work, 'disk.vhd');
    sh('qemu-img', ['convert', '-f', 'raw', '-O', 'vpc', '-o', 'subformat=fixed,force_size=on', disk, vhd]);
    // The partition and everything after it, as `dd skip=` cuts it: the footer comes along.
    sh('dd', [`if=${vhd}`, `of=${path}.tmp`, 'bs=1M', 'skip=1', 'status=none']);
    const b = readFileSync(`${path}.tmp`);
    if (b.subarray(b.length - 512, b.length - 504).toString('latin1') !== 'conectix') throw new Error('no VHD footer at the end of the cut-out partition');
    writeFileSync(`${path}.json`, JSON.stringify(info, null, 1));
    renameSync(`${path}.tmp`, path);
    return info;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(`${path}.tmp`, { force: true });
  }
}

export interface NtfsUserDollarInfo {
  /** Every file written, as path → sha256/size (paths as a user sees them). */
  files: Record<string, { sha256: string; size: number }>;
  /** Named streams on folders: folder path → stream name → sha256/size. */
  folderStreams: Record<string, Record<string, { sha256: string; size: number }>>;
  /** The file whose folder index entry was cut off (in use, listed by no folder). */
  orphan: { path: string; sha256: string; size: number };
}

/**
 * #24.2, #24.3, #24.6 on NTFS: a volume written through ntfs-3g with what Windows and users
 * make — a `$RECYCLE.BIN` with a user's SID folder and `$I`/`$R` files, a user folder named
 * `$work`, named streams on folders (OneDrive's SyncRootIdentity on a folder) — and a file in
 * use that no folder lists: `test/1.txt`'s index entry is turned into the index's end entry
 * (one flag byte), as the ntfs3-written volume of the issue had it; its MFT record stays in use.
 */
export function buildNtfsUserDollar(path: string): NtfsUserDollarInfo {
  const work = mkdtempSync(join(tmpdir(), 'dp-ntfsd-'));
  const tmp = `${path}.tmp`;
  try {
    rmSync(tmp, { force: true });
    sh('truncate', ['-s', String(24 * 1024 * 1024), tmp]);
    sh('mkntfs', ['-F', '-Q', '-q', '-L', 'userdollar', tmp]);
    const mnt = join(work, 'mnt');
    sh('mkdir', [mnt]);
    sh('ntfs-3g', ['-o', 'streams_interface=xattr', tmp, mnt]);
    const info: NtfsUserDollarInfo = { files: {}, folderStreams: {}, orphan: { path: '/test/1.txt', sha256: '', size: 0 } };
    try {
      const put = (p: string, data: Buffer) => {
        sh('mkdir', ['-p', join(mnt, p, '..')]);
        writeFileSync(join(mnt, p), data);
        info.files[p] = { sha256: sha(data), size: data.length };
      };
      const sid = '/$RECYCLE.BIN/S-1-5-21-3623811015-3361044348-30300820-1013';
      put(`${sid}/desktop.ini`, Buffer.from('[.ShellClassInfo]\r\nCLSID={645FF040-5081-101B-9F08-00AA002F954E}\r\n', 'latin1'));
      put(`${sid}/$RZ3K1Q8.docx`, seededBytes(251, 40_000));
      const idx = Buffer.alloc(544);
      idx.writeBigInt64LE(2n, 0);
      idx.writeBigInt64LE(40_000n, 8);
      put(`${sid}/$IZ3K1Q8.docx`, idx);
      put('/$work/notes.txt', Buffer.from('a user folder whose name starts with a dollar\n'));
      put('/OneDrive/report.txt', Buffer.from('synced\n'));
      put('/test/0.txt', Buffer.from('listed\n'));
      const orphan = seededBytes(252, 286_671);
      writeFileSync(join(mnt, 'test', '1.txt'), orphan);
      info.orphan = { path: '/test/1.txt', sha256: sha(orphan), size: orphan.length };
      const stream = (folder: string, name: string, data: Buffer) => {
        sh('setfattr', ['-n', `user.${name}`, '-v', '0x' + data.toString('hex'), join(mnt, folder)]);
        (info.folderStreams[folder] ??= {})[name] = { sha256: sha(data), size: data.length };
      };
      stream('/OneDrive', '{3D0CE612-FDEE-43F7-8ACA-957BAC6F9A4E}.SyncRootIdentity', seededBytes(253, 1200));
      stream('/test', 'Zone.Identifier', Buffer.from('[ZoneTransfer]\r\nZoneId=3\r\n'));
      sh('sync', []);
    } finally {
      for (let i = 0; i < 20; i++) {
        try {
          sh('umount', [mnt]);
          break;
        } catch {
          sh('sleep', ['0.3']);
        }
      }
    }
    hideIndexEntry(tmp, '1.txt');
    writeFileSync(`${path}.json`, JSON.stringify(info, null, 1));
    renameSync(tmp, path);
    return info;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
}

/**
 * Turns the folder index entry for `name` (in an $INDEX_ROOT, i.e. a small folder) into the
 * node's end entry: INDEX_ENTRY flags |= 0x02 (INDEX_ENTRY_END). Readers stop there, so the
 * file is listed nowhere while its MFT record stays in use. The entry is found by its shape:
 * file reference (8), length (2), key length = the $FILE_NAME value (66 + 2 × name length),
 * flags (2), then the key whose name is `name`.
 */
function hideIndexEntry(img: string, name: string): void {
  const b = readFileSync(img);
  const needle = Buffer.from(name, 'utf16le');
  const keyLength = 66 + needle.length;
  let hits = 0;
  for (let at = b.indexOf(needle); at >= 0; at = b.indexOf(needle, at + 1)) {
    const entry = at - 16 - 66;
    if (entry < 0 || b[at - 2] !== name.length) continue;
    if (b.readUInt16LE(entry + 10) !== keyLength || b.readUInt16LE(entry + 8) !== Math.ceil((16 + keyLength) / 8) * 8) continue;
    const flagsAt = entry + 12;
    // The last two bytes of every 512-byte sector of an MFT record hold the update sequence
    // number on disk: a byte there cannot be patched without the fixup array.
    if (flagsAt % 512 >= 510) throw new Error('index entry flags fall on a sector end; change the layout');
    b.writeUInt16LE(b.readUInt16LE(flagsAt) | 0x02, flagsAt);
    hits++;
  }
  if (hits !== 1) throw new Error(`expected one index entry for ${name}, found ${hits}`);
  writeFileSync(img, b);
}

export interface ExtOrphansInfo {
  /** Files written: path at the time of writing → sha256/size. */
  files: Record<string, { sha256: string; size: number }>;
  /** What was unlinked with debugfs (the inode stays in use, no folder names it). */
  unlinked: string[];
}

/**
 * #24.6 on ext: an ext4 volume (mkfs.ext4 + debugfs) where `debugfs unlink` removed the folder
 * entries of a file and of a folder holding a file, leaving both inodes in use — what
 * e2fsck reports as "Unattached inode" and "Unconnected directory inode".
 */
export function buildExtOrphans(path: string): ExtOrphansInfo {
  const work = mkdtempSync(join(tmpdir(), 'dp-exto-'));
  const tmp = `${path}.tmp`;
  try {
    rmSync(tmp, { force: true });
    sh('truncate', ['-s', '8M', tmp]);
    sh('mkfs.ext4', ['-q', '-F', '-b', '1024', tmp]);
    const info: ExtOrphansInfo = { files: {}, unlinked: ['/lostfile.bin', '/lostdir'] };
    const cmds: string[] = ['mkdir keep', 'mkdir lostdir'];
    const put = (p: string, data: Buffer) => {
      const f = join(work, `f${Object.keys(info.files).length}`);
      writeFileSync(f, data);
      cmds.push(`write ${f} ${p.slice(1)}`);
      info.files[p] = { sha256: sha(data), size: data.length };
    };
    put('/lostfile.bin', seededBytes(261, 50_000));
    put('/keep/k.txt', Buffer.from('kept\n'));
    put('/lostdir/kid.txt', seededBytes(262, 3000));
    cmds.push('unlink lostfile.bin', 'unlink lostdir');
    sh('debugfs', ['-w', '-f', '-', tmp], cmds.join('\n') + '\n');
    writeFileSync(`${path}.json`, JSON.stringify(info, null, 1));
    renameSync(tmp, path);
    return info;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
}

export interface BitLockerToGoInfo {
  /** Files copied into the discovery volume with mcopy: name → sha256. */
  files: Record<string, string>;
  /** The three FVE metadata offsets written into the header. */
  metadataOffsets: number[];
}

/**
 * #24.7: a BitLocker To Go discovery volume, built after libbde's documented volume header
 * ("bde_volume_header_to_go"): mkfs.fat -F 32 and mcopy make the FAT32 discovery volume; its
 * boot sector then gets the OEM name "MSWIN4.1", the BitLocker identifier GUID at 0x1A8 and
 * three FVE metadata offsets (pointing at "-FVE-FS-" blocks past the FAT32's files). The
 * encrypted data itself is not made (no Windows here); bdeinfo accepts the header and stops
 * at the metadata, which is what the test checks it against. With `plain`, the same volume
 * without the BitLocker fields (the control).
 */
export function buildBitLockerToGo(path: string, plain = false): BitLockerToGoInfo {
  const work = mkdtempSync(join(tmpdir(), 'dp-btg-'));
  const tmp = `${path}.tmp`;
  try {
    const size = 40 * 1024 * 1024;
    rmSync(tmp, { force: true });
    sh('truncate', ['-s', String(size), tmp]);
    sh('mkfs.fat', ['-F', '32', '-n', 'BDETOGO', tmp]);
    const info: BitLockerToGoInfo = { files: {}, metadataOffsets: [] };
    for (const [name, data] of [['README.TXT', Buffer.from('Use BitLocker To Go Reader to open this drive.\r\n')], ['BITLOC~1.EXE', seededBytes(271, 20_000)]] as const) {
      const f = join(work, name);
      writeFileSync(f, data);
      sh('mcopy', ['-i', tmp, f, `::/${name}`]);
      info.files[name] = sha(data);
    }
    if (!plain) {
      const b = readFileSync(tmp);
      b.write('MSWIN4.1', 3, 'latin1');
      Buffer.from('3bd66749292ed84a8399f6a339e3d001', 'hex').copy(b, 0x1a8);
      info.metadataOffsets = [size - 3 * 65536, size - 2 * 65536, size - 65536];
      info.metadataOffsets.forEach((o, i) => {
        b.writeBigUInt64LE(BigInt(o), 0x1b8 + 8 * i);
        b.write('-FVE-FS-', o, 'latin1');
      });
      writeFileSync(tmp, b);
    }
    writeFileSync(`${path}.json`, JSON.stringify(info, null, 1));
    renameSync(tmp, path);
    return info;
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
}
