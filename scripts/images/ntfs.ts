/**
 * NTFS test images: made with the real tools only (mkntfs, then files written through an
 * ntfs-3g mount), so the reader is checked against what ntfs-3g wrote. Each builder also
 * writes `<image>.manifest.json` (manifestOf on the host tree that was copied in) and
 * `<image>.extra.json` (streams, reparse links and sparse layouts that a host tree cannot
 * express, recorded from what the builder wrote, never from diskpick).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, linkSync, openSync, writeSync, closeSync, utimesSync, unlinkSync, renameSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { addSymlink, manifestOf, seededBytes, seededText, writeLargeSeeded, writeTree, type TreeFile } from './tree.js';

export interface NtfsImageOptions {
  /** Bytes per cluster (mkntfs -c). */
  clusterSize?: number;
  /** Bytes per sector (mkntfs -s); 4096 also gives 4096-byte MFT records. */
  sectorSize?: number;
  /** Volume size in MiB. */
  sizeMiB?: number;
  /** Put the volume in partition 1 of a GPT disk instead of a bare file. */
  gpt?: boolean;
  /** Which content: 'full' (50 MiB file, 10 000-file folder …) or 'small'. */
  content?: 'full' | 'small';
  label?: string;
}

/** What the builder wrote that the host tree cannot hold. */
export interface NtfsExtra {
  /** path → stream name → sha256 and size of the alternate data stream written. */
  streams: Record<string, Record<string, { size: number; sha256: string }>>;
  /** Reparse-point links set with system.ntfs_reparse_data: path → expected target. */
  reparseLinks: Record<string, string>;
  /** Files inside a folder with the compressed attribute set (LZNT1 through ntfs-3g). */
  compressed: string[];
  /** Sparse files: path → bytes of data actually written (the rest are holes). */
  sparse: Record<string, number>;
  /** DOS 8.3 names given with system.ntfs_dos_name: long path → short name. */
  dosNames: Record<string, string>;
  /** Hard link groups (paths sharing one MFT record). */
  hardLinks: string[][];
  /** Byte offset of the NTFS volume inside the image. */
  volumeOffset: number;
  label: string;
}

const MTIME = 1_600_000_000;

function sh(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 28 });
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The host tree every full image starts from. */
function treeFiles(content: 'full' | 'small'): TreeFile[] {
  const files: TreeFile[] = [
    { path: 'hello.txt', content: 'Hello, NTFS!\n' },
    { path: 'empty.bin', content: Buffer.alloc(0) },
    { path: 'docs/a.txt', content: seededText(1, 3000) },
    { path: 'docs/report.bin', size: 200_000, seed: 2 },
    { path: 'docs/tiny.bin', size: 700, seed: 3 },
    { path: 'Ümläute/Grüße.txt', content: 'Grüße aus Köln\n' },
    { path: 'CJK/日本語のファイル.txt', content: seededText(4, 5000) },
    { path: 'emoji/😀 smile 🎉.bin', size: 12345, seed: 5 },
    { path: 'Case/MixedCase.TXT', content: 'mixed\n' },
    { path: 'compressed/text.txt', content: seededText(6, 300_000) },
    { path: 'compressed/random.bin', size: 150_000, seed: 7 },
    { path: 'compressed/mixed.bin', content: Buffer.concat([seededText(8, 70_000), seededBytes(9, 70_000), Buffer.alloc(70_000), seededText(10, 33_333)]) },
    { path: 'compressed/small.txt', content: 'short compressed file\n' },
    { path: 'links/target.txt', content: 'link target\n' },
  ];
  let deep = 'deep';
  for (let i = 0; i < 24; i++) deep += `/level${i}`;
  files.push({ path: `${deep}/bottom.txt`, content: 'at the bottom\n' });
  if (content === 'full') {
    files.push({ path: 'big/large.bin', size: 3 * 1024 * 1024 + 12345, seed: 11 });
    for (let i = 0; i < 10_000; i++) files.push({ path: `many/file${String(i).padStart(5, '0')}.txt`, content: `file number ${i}\n` });
  }
  return files;
}

/** A reparse buffer for a symbolic link (tag 0xA000000C) or a junction (0xA0000003), as hex. */
export function reparseHex(kind: 'symlink' | 'junction', substitute: string, print: string, relative = false): string {
  const sub = Buffer.from(substitute, 'utf16le');
  const prn = Buffer.from(print, 'utf16le');
  const head = kind === 'symlink' ? 12 : 8;
  const body = Buffer.alloc(head + sub.length + prn.length + (kind === 'junction' ? 4 : 0));
  body.writeUInt16LE(0, 0);
  body.writeUInt16LE(sub.length, 2);
  body.writeUInt16LE(sub.length + (kind === 'junction' ? 2 : 0), 4);
  body.writeUInt16LE(prn.length, 6);
  if (kind === 'symlink') body.writeUInt32LE(relative ? 1 : 0, 8);
  sub.copy(body, head);
  prn.copy(body, head + sub.length + (kind === 'junction' ? 2 : 0));
  const hdr = Buffer.alloc(8);
  hdr.writeUInt32LE(kind === 'symlink' ? 0xa000000c : 0xa0000003, 0);
  hdr.writeUInt16LE(body.length, 4);
  return '0x' + Buffer.concat([hdr, body]).toString('hex');
}

export function mountNtfs(dev: string, opts: string): string {
  const mnt = mkdtempSync(join(tmpdir(), 'dp-ntfs-mnt-'));
  sh('ntfs-3g', ['-o', opts, dev, mnt]);
  return mnt;
}

export function unmount(mnt: string): void {
  for (let i = 0; i < 20; i++) {
    try {
      sh('umount', [mnt]);
      break;
    } catch {
      execFileSync('sleep', ['0.3']);
    }
  }
  rmSync(mnt, { recursive: true, force: true });
}

/**
 * Builds an NTFS image at `path` (and its manifest/extra JSON beside it).
 * Returns nothing; tests read the JSON files.
 */
export function buildNtfsImage(path: string, o: NtfsImageOptions = {}): void {
  const clusterSize = o.clusterSize ?? 4096;
  const sectorSize = o.sectorSize ?? 512;
  const sizeMiB = o.sizeMiB ?? 96;
  const content = o.content ?? 'full';
  const label = o.label ?? 'DiskpickNTFS';
  const work = mkdtempSync(join(tmpdir(), 'dp-ntfs-'));
  const tmpImg = `${path}.tmp`;
  try {
    const tree = join(work, 'tree');
    writeTree(tree, treeFiles(content), MTIME);
    if (content === 'full') writeLargeSeeded(join(tree, 'big', 'seeded50.bin'), 50 * 1024 * 1024, 50, MTIME);
    // Hard links and Interix (ntfs-3g default) symlinks exist in the host tree, so manifestOf sees them.
    linkSync(join(tree, 'links', 'target.txt'), join(tree, 'links', 'hardlink.txt'));
    linkSync(join(tree, 'links', 'target.txt'), join(tree, 'docs', 'hardlink-in-docs.txt'));
    // 40 names and 30 streams overflow one MFT record: ntfs-3g moves attributes to extension
    // records listed in a (non-resident) $ATTRIBUTE_LIST.
    const many: string[] = ['/hardlinks/target.txt'];
    mkdirSync(join(tree, 'hardlinks'));
    writeFileSync(join(tree, 'hardlinks', 'target.txt'), 'one file, forty-one names\n');
    utimesSync(join(tree, 'hardlinks', 'target.txt'), MTIME, MTIME);
    for (let i = 1; i <= 40; i++) {
      const name = `link-with-a-rather-long-name-number-${i}.txt`;
      linkSync(join(tree, 'hardlinks', 'target.txt'), join(tree, 'hardlinks', name));
      many.push(`/hardlinks/${name}`);
    }
    utimesSync(join(tree, 'hardlinks'), MTIME, MTIME);
    addSymlink(tree, 'links/rel-symlink', 'target.txt');
    addSymlink(tree, 'links/dir-symlink', '../docs');
    addSymlink(tree, 'links/abs-symlink', '/docs/a.txt');
    for (const p of ['links/target.txt', 'links/rel-symlink', 'links/dir-symlink', 'links/abs-symlink', 'links']) {
      execFileSync('touch', ['-h', '-d', `@${MTIME}`, join(tree, p)]);
    }

    const volOffset = o.gpt ? 1024 * 1024 : 0;
    const volBytes = sizeMiB * 1024 * 1024;
    rmSync(tmpImg, { force: true });
    let dev = tmpImg;
    if (o.gpt) {
      sh('truncate', ['-s', String(volOffset + volBytes + 1024 * 1024), tmpImg]);
      sh('sgdisk', ['-a', '2048', '-n', `1:2048:+${volBytes / 1024}K`, '-t', '1:0700', '-c', '1:data', tmpImg]);
      dev = join(work, 'vol.img');
    }
    sh('truncate', ['-s', String(volBytes), dev]);
    sh('mkntfs', ['-F', '-Q', '-q', '-c', String(clusterSize), '-s', String(sectorSize), '-L', label, '-p', String(volOffset / sectorSize), dev]);

    const extra: NtfsExtra = { streams: {}, reparseLinks: {}, compressed: [], sparse: {}, dosNames: {}, hardLinks: [], volumeOffset: volOffset, label };
    const mnt = mountNtfs(dev, 'streams_interface=xattr,compression');
    try {
      // Compression is inherited from the folder's attribute: set it before the files arrive.
      mkdirSync(join(mnt, 'compressed'));
      sh('setfattr', ['-n', 'system.ntfs_attrib_be', '-v', '0x00000800', join(mnt, 'compressed')]);
      sh('cp', ['-a', '--sparse=always', `${tree}/.`, `${mnt}/`]);
      for (const f of treeFiles(content)) if (f.path.startsWith('compressed/')) extra.compressed.push('/' + f.path);
      extra.hardLinks.push(['/links/target.txt', '/links/hardlink.txt', '/docs/hardlink-in-docs.txt'], many);

      // Alternate data streams through the xattr interface.
      const streamsOf = (p: string, name: string, data: Buffer) => {
        sh('setfattr', ['-n', `user.${name}`, '-v', '0x' + data.toString('hex'), join(mnt, p)]);
        (extra.streams['/' + p] ??= {})[name] = { size: data.length, sha256: sha(data) };
      };
      streamsOf('hello.txt', 'Zone.Identifier', Buffer.from('[ZoneTransfer]\r\nZoneId=3\r\n'));
      streamsOf('hello.txt', 'second', seededBytes(12, 3000));
      streamsOf('docs', 'dirstream', Buffer.from('a stream on a folder\n'));
      streamsOf('docs/report.bin', 'big', seededBytes(13, 60_000));
      for (let i = 1; i <= 30; i++) streamsOf('hardlinks/target.txt', `stream${i}`, Buffer.from(`stream number ${i}\n`));

      // A DOS 8.3 alias next to a long name (Windows makes these; ntfs-3g only when asked).
      sh('setfattr', ['-n', 'system.ntfs_dos_name', '-v', 'MIXEDC~1.TXT', join(mnt, 'Case', 'MixedCase.TXT')]);
      extra.dosNames['/Case/MixedCase.TXT'] = 'MIXEDC~1.TXT';

      // Reparse-point symlinks and a junction, as Windows writes them.
      const reparse = (p: string, isDir: boolean, hex: string, expect: string) => {
        const full = join(mnt, p);
        if (isDir) mkdirSync(full);
        else writeFileSync(full, '');
        sh('setfattr', ['-n', 'system.ntfs_reparse_data', '-v', hex, full]);
        extra.reparseLinks['/' + p] = expect;
      };
      reparse('links/win-abs-symlink', false, reparseHex('symlink', '\\??\\C:\\docs\\a.txt', 'C:\\docs\\a.txt'), '/docs/a.txt');
      reparse('links/win-rel-symlink', false, reparseHex('symlink', '..\\docs\\a.txt', '..\\docs\\a.txt', true), '../docs/a.txt');
      reparse('links/win-junction', true, reparseHex('junction', '\\??\\C:\\docs', 'C:\\docs'), '/docs');

      // Sparse files: holes made by seeking (ntfs-3g allocates only what was written).
      const sparse = (p: string, size: number, pieces: [number, Buffer][]) => {
        const full = join(mnt, p);
        const fd = openSync(full, 'w');
        let written = 0;
        for (const [at, data] of pieces) {
          writeSync(fd, data, 0, data.length, at);
          written += data.length;
        }
        closeSync(fd);
        sh('truncate', ['-s', String(size), full]);
        utimesSync(full, MTIME, MTIME);
        extra.sparse['/' + p] = written;
      };
      mkdirSync(join(mnt, 'sparse'));
      sparse('sparse/holes.bin', 8 * 1024 * 1024, [[0, seededBytes(14, 5000)], [3 * 1024 * 1024, seededBytes(15, 70_000)], [8 * 1024 * 1024 - 100, seededBytes(16, 100)]]);
      sparse('sparse/all-hole.bin', 5 * 1024 * 1024, []);
      utimesSync(join(mnt, 'sparse'), MTIME, MTIME);
      sh('sync', []);
    } finally {
      unmount(mnt);
    }

    // The sparse files and reparse links are described by `extra`; add the sparse ones to the
    // tree too (same bytes, written the same way) so manifestOf covers their content.
    mkdirSync(join(tree, 'sparse'), { recursive: true });
    const mirrorSparse = (p: string, size: number, pieces: [number, Buffer][]) => {
      const fd = openSync(join(tree, p), 'w');
      for (const [at, data] of pieces) writeSync(fd, data, 0, data.length, at);
      closeSync(fd);
      sh('truncate', ['-s', String(size), join(tree, p)]);
      utimesSync(join(tree, p), MTIME, MTIME);
    };
    mirrorSparse('sparse/holes.bin', 8 * 1024 * 1024, [[0, seededBytes(14, 5000)], [3 * 1024 * 1024, seededBytes(15, 70_000)], [8 * 1024 * 1024 - 100, seededBytes(16, 100)]]);
    mirrorSparse('sparse/all-hole.bin', 5 * 1024 * 1024, []);
    utimesSync(join(tree, 'sparse'), MTIME, MTIME);

    if (o.gpt) {
      sh('dd', [`if=${dev}`, `of=${tmpImg}`, 'bs=1M', `seek=${volOffset / (1024 * 1024)}`, 'conv=notrunc,sparse', 'status=none']);
    }
    writeFileSync(`${path}.manifest.json`, JSON.stringify(manifestOf(tree), null, 1));
    writeFileSync(`${path}.extra.json`, JSON.stringify(extra, null, 1));
    renameSync(tmpImg, path);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmpImg, { force: true });
  }
}

/**
 * A small volume whose free space is cut into one-cluster pieces (fill with 4 KiB files,
 * delete every other one) before a big file is written: the big file gets so many runs that
 * its run list spans extension records (an $ATTRIBUTE_LIST), and the $MFT is fragmented.
 */
export function buildNtfsFragmented(path: string): void {
  const work = mkdtempSync(join(tmpdir(), 'dp-ntfsf-'));
  const tmpImg = `${path}.tmp`;
  try {
    rmSync(tmpImg, { force: true });
    sh('truncate', ['-s', String(24 * 1024 * 1024), tmpImg]);
    sh('mkntfs', ['-F', '-Q', '-q', '-c', '4096', '-L', 'frag', tmpImg]);
    const mnt = mountNtfs(tmpImg, 'big_writes');
    const extra = { files: [] as { path: string; size: number; sha256: string }[] };
    try {
      mkdirSync(join(mnt, 'fill'));
      let n = 0;
      for (;;) {
        try {
          writeFileSync(join(mnt, 'fill', `f${n}.bin`), seededBytes(1000 + n, 4096));
          n++;
        } catch {
          break;
        }
        if (n > 8000) break;
      }
      for (let i = 0; i < n; i += 2) unlinkSync(join(mnt, 'fill', `f${i}.bin`));
      sh('sync', []);
      const size = Math.floor((n / 2) * 4096 * 0.6);
      const data = seededBytes(77, size);
      writeFileSync(join(mnt, 'fragmented.bin'), data);
      extra.files.push({ path: '/fragmented.bin', size, sha256: sha(data) });
      // More records after the fill so the $MFT grows into the cut-up space too.
      mkdirSync(join(mnt, 'later'));
      for (let i = 0; i < 300; i++) {
        const d = seededBytes(5000 + i, 100 + i);
        writeFileSync(join(mnt, 'later', `l${i}.txt`), d);
        extra.files.push({ path: `/later/l${i}.txt`, size: d.length, sha256: sha(d) });
      }
      for (let i = 1; i < n; i += 2) extra.files.push({ path: `/fill/f${i}.bin`, size: 4096, sha256: sha(seededBytes(1000 + i, 4096)) });
    } finally {
      unmount(mnt);
    }
    writeFileSync(`${path}.extra.json`, JSON.stringify(extra));
    renameSync(tmpImg, path);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmpImg, { force: true });
  }
}

/** A volume with `count` files spread over folders of 1 000 (the `ls -R` benchmark). */
export function buildNtfsManyFiles(path: string, count: number): void {
  const tmpImg = `${path}.tmp`;
  rmSync(tmpImg, { force: true });
  const sizeMiB = Math.max(256, Math.ceil((count * 2.5) / 1024) + 64);
  sh('truncate', ['-s', String(sizeMiB * 1024 * 1024), tmpImg]);
  sh('mkntfs', ['-F', '-Q', '-q', '-c', '4096', '-L', 'many', tmpImg]);
  const work = mkdtempSync(join(tmpdir(), 'dp-ntfsm-'));
  try {
    const tree = join(work, 'tree');
    for (let d = 0; d * 1000 < count; d++) {
      const dir = join(tree, `d${String(d).padStart(3, '0')}`);
      mkdirSync(dir, { recursive: true });
      for (let i = 0; i < 1000 && d * 1000 + i < count; i++) writeFileSync(join(dir, `file-${i}.txt`), `${d}/${i}\n`);
    }
    const mnt = mountNtfs(tmpImg, 'big_writes');
    try {
      sh('cp', ['-r', `${tree}/.`, `${mnt}/`]);
    } finally {
      unmount(mnt);
    }
    renameSync(tmpImg, path);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmpImg, { force: true });
  }
}

/** A volume holding one large seeded file `/big.bin` (the `cat` benchmark). */
export function buildNtfsBigFile(path: string, sizeMiB: number): void {
  const tmpImg = `${path}.tmp`;
  rmSync(tmpImg, { force: true });
  sh('truncate', ['-s', String((sizeMiB + 64) * 1024 * 1024), tmpImg]);
  sh('mkntfs', ['-F', '-Q', '-q', '-c', '4096', '-L', 'big', tmpImg]);
  const work = mkdtempSync(join(tmpdir(), 'dp-ntfsb-'));
  try {
    writeLargeSeeded(join(work, 'big.bin'), sizeMiB * 1024 * 1024, 256);
    const mnt = mountNtfs(tmpImg, 'big_writes');
    try {
      sh('cp', [join(work, 'big.bin'), join(mnt, 'big.bin')]);
    } finally {
      unmount(mnt);
    }
    renameSync(tmpImg, path);
  } finally {
    rmSync(work, { recursive: true, force: true });
    rmSync(tmpImg, { force: true });
  }
}


