/**
 * Hostile images of issue 26 ("hostile images, round two"), each built from an oracle-checked
 * base (mkfs.ext4 -d, mkfs.fat + mcopy) and then damaged with the tools' own editors
 * (debugfs -w) or patched in code at offsets the tools report, with the structure's field
 * names. What was planted is written next to the image as `<image>.plan.json`, from what this
 * builder did, never from diskpick.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTree } from './tree.js';

function run(cmd: string, args: string[], input?: string): string {
  return execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
}

/** Runs debugfs -w with one command per line. */
export function debugfsWrite(img: string, cmds: string[]): void {
  run('debugfs', ['-w', '-f', '-', img], cmds.join('\n') + '\n');
}

function finish(tmp: string, imgPath: string, plan: unknown): void {
  writeFileSync(`${imgPath}.plan.json`, JSON.stringify(plan, null, 1));
  renameSync(tmp, imgPath);
}

export interface LoopPlan {
  /** Folder entries planted to point at their own folder or one above it: folder → names. */
  loops: Record<string, string[]>;
}

/**
 * Item 1: /d holds a.txt, b.txt, zsub/ (with c.txt), zz.txt and "self" (a hard link of /d
 * itself, made by debugfs ln); /d/zsub holds "rootup" (→ /) and "parentup" (→ /d).
 */
export function buildExtLoopEntries(imgPath: string): LoopPlan {
  const tree = `${imgPath}.tree`;
  rmSync(tree, { recursive: true, force: true });
  writeTree(tree, [
    { path: 'd/a.txt', content: 'first file\n' },
    { path: 'd/b.txt', content: 'second file\n' },
    { path: 'd/zsub/c.txt', content: 'in the subfolder\n' },
    { path: 'd/zz.txt', content: 'last file\n' },
  ]);
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  run('mkfs.ext4', ['-F', '-q', '-b', '1024', '-E', 'root_owner=0:0', '-d', tree, tmp, '4M']);
  debugfsWrite(tmp, ['ln /d /d/self', 'ln / /d/zsub/rootup', 'ln /d /d/zsub/parentup']);
  const plan: LoopPlan = { loops: { '/d': ['self'], '/d/zsub': ['rootup', 'parentup'] } };
  finish(tmp, imgPath, plan);
  return plan;
}

export interface DeepPlan {
  /** Folder levels below /p0 of each chain: /deep/d/d/… and /mid/d/d/…. */
  deep: number;
  mid: number;
  /** Content of the file at the bottom of each chain (/…/d/bottom.txt). */
  bottom: string;
}

/**
 * Item 2: two chains of folders each named "d", 3 000 and 1 000 levels deep, with a file at
 * the bottom of each and one file beside every 100th level of the shorter one. Made by debugfs
 * mkdir/cd (a host tree that deep passes PATH_MAX, so mkfs -d cannot take one).
 */
export function buildExtDeepTree(imgPath: string, deep = 3000, mid = 1000): DeepPlan {
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  const bottom = `${imgPath}.bottom`;
  const plan: DeepPlan = { deep, mid, bottom: 'at the bottom of the tree\n' };
  writeFileSync(bottom, plan.bottom);
  run('mkfs.ext4', ['-F', '-q', '-b', '1024', '-N', String(deep + mid + 64), '-O', '^metadata_csum', '-E', 'root_owner=0:0', tmp, '16M']);
  const cmds: string[] = [];
  for (const [top, levels] of [['deep', deep], ['mid', mid]] as const) {
    cmds.push('cd /', `mkdir ${top}`, `cd ${top}`);
    for (let i = 1; i <= levels; i++) {
      cmds.push('mkdir d', 'cd d');
      if (top === 'mid' && i % 100 === 0) cmds.push(`write ${bottom} level${i}.txt`);
    }
    cmds.push(`write ${bottom} bottom.txt`);
  }
  debugfsWrite(tmp, cmds);
  rmSync(bottom, { force: true });
  finish(tmp, imgPath, plan);
  return plan;
}

export interface FatChainPlan {
  /** Files whose chains were damaged, by name: what was done. */
  damaged: Record<string, string>;
  /** Files left as mcopy wrote them: name → content (hex). */
  intact: Record<string, string>;
}

/** The BPB fields a patch needs (Microsoft FAT specification names). */
function fatBpb(b: Buffer): { BPB_BytsPerSec: number; BPB_RsvdSecCnt: number; BPB_NumFATs: number; BPB_RootEntCnt: number; BPB_FATSz16: number } {
  return { BPB_BytsPerSec: b.readUInt16LE(11), BPB_RsvdSecCnt: b.readUInt16LE(14), BPB_NumFATs: b[16]!, BPB_RootEntCnt: b.readUInt16LE(17), BPB_FATSz16: b.readUInt16LE(22) };
}

/** The first cluster of each file as mshowfat (mtools) reports its chain, e.g. "<2-17>". */
export function mshowfatFirst(img: string, name: string): number {
  const m = /<(\d+)/.exec(run('mshowfat', ['-i', img, `::/${name}`]));
  if (!m) throw new Error(`mshowfat gave no chain for ${name}`);
  return Number(m[1]);
}

/**
 * Item 3: a FAT16 volume (512-byte clusters) from mkfs.fat + mcopy with loop.bin (16 clusters)
 * whose chain is patched to point from its 9th cluster back to its 4th (in every FAT copy),
 * and big.bin whose DIR_FileSize is patched to 0xFFFFFFFF (more than the volume holds).
 */
export function buildFatChainLoop(imgPath: string): FatChainPlan {
  const tmp = `${imgPath}.tmp`;
  const work = `${imgPath}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const loop = Buffer.alloc(8192);
  for (let i = 0; i < loop.length; i++) loop[i] = (i * 7 + (i >> 9)) & 0xff;
  writeFileSync(join(work, 'loop.bin'), loop);
  writeFileSync(join(work, 'big.bin'), 'claims four gigabytes\n');
  writeFileSync(join(work, 'ok.txt'), 'an intact file\n');
  rmSync(tmp, { force: true });
  run('mkfs.fat', ['-F', '16', '-s', '1', '-C', tmp, '16384']);
  run('mcopy', ['-i', tmp, join(work, 'loop.bin'), join(work, 'big.bin'), join(work, 'ok.txt'), '::']);
  const first = mshowfatFirst(tmp, 'loop.bin');
  const b = readFileSync(tmp);
  const bpb = fatBpb(b);
  // FAT16: a 2-byte entry per cluster; cluster first+8 → first+3.
  for (let k = 0; k < bpb.BPB_NumFATs; k++) {
    const fat = (bpb.BPB_RsvdSecCnt + k * bpb.BPB_FATSz16) * bpb.BPB_BytsPerSec;
    b.writeUInt16LE(first + 3, fat + 2 * (first + 8));
  }
  // The root folder follows the FATs; a short entry is DIR_Name(11) … DIR_FileSize at 28.
  const rootDir = (bpb.BPB_RsvdSecCnt + bpb.BPB_NumFATs * bpb.BPB_FATSz16) * bpb.BPB_BytsPerSec;
  let patched = false;
  for (let e = 0; e < bpb.BPB_RootEntCnt; e++) {
    const at = rootDir + 32 * e;
    if (b.toString('latin1', at, at + 11) === 'BIG     BIN') {
      b.writeUInt32LE(0xffffffff, at + 28);
      patched = true;
    }
  }
  if (!patched) throw new Error('BIG.BIN not found in the root folder');
  writeFileSync(tmp, b);
  rmSync(work, { recursive: true, force: true });
  const plan: FatChainPlan = {
    damaged: { 'loop.bin': `FAT[${first + 8}] = ${first + 3}`, 'big.bin': 'DIR_FileSize = 0xFFFFFFFF' },
    intact: { 'ok.txt': Buffer.from('an intact file\n').toString('hex') },
  };
  finish(tmp, imgPath, plan);
  return plan;
}

export interface ControlNamesPlan {
  /** Stored names (as bytes, hex) of the files in /ctl, and each one's content. */
  files: { nameHex: string; content: string }[];
  /** The volume label as stored (hex). */
  labelHex: string;
}

/**
 * Item 7: names that would drive a terminal: OSC title change (ESC ] 0 ; … BEL), screen clear
 * (ESC [ 2 J), DEL, a C1 CSI (U+009B, UTF-8 C2 9B), an invalid UTF-8 byte, a lone CR; and a
 * volume label with ESC and BEL. The tree is written with byte-exact host names and mkfs.ext4
 * -d copies them; the label is set by mkfs.ext4 -L.
 */
export function buildControlNames(imgPath: string): ControlNamesPlan {
  const tree = `${imgPath}.tree`;
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(join(tree, 'ctl'), { recursive: true });
  const names = [
    Buffer.from('title\x1b]0;pwned\x07.txt'),
    Buffer.from('clear\x1b[2J\x1b[H.txt'),
    Buffer.from('del\x7f.txt'),
    Buffer.from('c1\u009b31m.txt'),
    Buffer.concat([Buffer.from('bad'), Buffer.from([0xff, 0xfe]), Buffer.from('.txt')]),
    Buffer.from('cr\rover.txt'),
    Buffer.from('plain.txt'),
  ];
  const files = names.map((n, i) => ({ nameHex: n.toString('hex'), content: `file ${i}\n` }));
  for (const [i, n] of names.entries()) writeFileSync(Buffer.concat([Buffer.from(join(tree, 'ctl') + '/'), n]), files[i]!.content);
  const label = Buffer.from('L\x1b[2J\x07x');
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  execFileSync('mkfs.ext4', ['-F', '-q', '-b', '1024', '-L', label.toString('latin1'), '-E', 'root_owner=0:0', '-d', tree, tmp, '4M'], { stdio: 'pipe' });
  const plan: ControlNamesPlan = { files, labelHex: label.toString('hex') };
  finish(tmp, imgPath, plan);
  return plan;
}

/** Item 10: an ext volume with /many holding 24 files of 16 KiB each (more than a 64 KiB tmpfs takes). */
export function buildManyFiles(imgPath: string): { files: number; size: number } {
  const tree = `${imgPath}.tree`;
  const plan = { files: 24, size: 16384 };
  writeTree(tree, Array.from({ length: plan.files }, (_, i) => ({ path: `many/f${String(i).padStart(2, '0')}.bin`, seed: i + 1, size: plan.size })));
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  run('mkfs.ext4', ['-F', '-q', '-b', '1024', '-E', 'root_owner=0:0', '-d', tree, tmp, '4M']);
  finish(tmp, imgPath, plan);
  return plan;
}

export interface DuplicatePlan {
  /** The folder holding the duplicates and the name both entries carry. */
  folder: string;
  name: string;
  /** Contents of the two files (the first and the patched entry). */
  contents: [string, string];
}

/**
 * Item 9: two entries with one name. ext: mkfs.ext4 -d with dup/same.txt and dup/samf.txt,
 * then the second entry's name patched to "same.txt" (struct ext4_dir_entry_2: inode,
 * rec_len, name_len, file_type, name; same length, so the record stays valid). FAT: mcopy of
 * SAME.TXT and SAMF.TXT, the second DIR_Name patched to "SAME    TXT".
 */
export function buildDuplicateNames(imgPath: string, kind: 'ext' | 'fat'): DuplicatePlan {
  const tmp = `${imgPath}.tmp`;
  const tree = `${imgPath}.tree`;
  const contents: [string, string] = ['the first of two files named alike\n', 'the second, renamed on restore\n'];
  mkdirSync(join(imgPath, '..'), { recursive: true });
  rmSync(tmp, { force: true });
  if (kind === 'ext') {
    writeTree(tree, [{ path: 'dup/same.txt', content: contents[0] }, { path: 'dup/samf.txt', content: contents[1] }, { path: 'dup/other.txt', content: 'other\n' }]);
    run('mkfs.ext4', ['-F', '-q', '-b', '1024', '-O', '^metadata_csum,^dir_index', '-E', 'root_owner=0:0', '-d', tree, tmp, '4M']);
    const b = readFileSync(tmp);
    const at = b.indexOf(Buffer.from('samf.txt'));
    // name_len sits 2 bytes before the name; it must say 8 for the entry to be the one.
    if (at < 8 || b[at - 2] !== 8 || b.indexOf(Buffer.from('samf.txt'), at + 1) !== -1) throw new Error('samf.txt entry not found once');
    b.write('same.txt', at, 'latin1');
    writeFileSync(tmp, b);
    finish(tmp, imgPath, { folder: '/dup', name: 'same.txt', contents });
  } else {
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree, { recursive: true });
    writeFileSync(join(tree, 'SAME.TXT'), contents[0]);
    writeFileSync(join(tree, 'SAMF.TXT'), contents[1]);
    run('mkfs.fat', ['-F', '12', '-C', tmp, '1024']);
    run('mmd', ['-i', tmp, '::/DUP']);
    run('mcopy', ['-i', tmp, join(tree, 'SAME.TXT'), join(tree, 'SAMF.TXT'), '::/DUP']);
    const b = readFileSync(tmp);
    const at = b.indexOf(Buffer.from('SAMF    TXT'));
    if (at < 0 || b.indexOf(Buffer.from('SAMF    TXT'), at + 1) !== -1) throw new Error('SAMF.TXT entry not found once');
    b.write('SAME    TXT', at, 'latin1');
    writeFileSync(tmp, b);
    finish(tmp, imgPath, { folder: '/DUP', name: 'SAME.TXT', contents });
  }
  return JSON.parse(readFileSync(`${imgPath}.plan.json`, 'utf8')) as DuplicatePlan;
}

export interface SparsePlan {
  /** i_size of /sparse.bin (set by debugfs sif) and of /gig.bin. */
  hugeSize: number;
  gigSize: number;
  /** The one data block at the start of each (4 KiB, hex of its sha256 not needed: the bytes). */
  blockHex: string;
}

/**
 * Item 4: an ext4 volume (4 KiB blocks) with /sparse.bin and /gig.bin, each one data block
 * written by mkfs.ext4 -d, their i_size then raised by debugfs `sif … size` to 1 TiB and
 * 1 GiB: everything after the first block is a hole.
 */
export function buildSparseExt(imgPath: string): SparsePlan {
  const tree = `${imgPath}.tree`;
  const block = Buffer.alloc(4096);
  for (let i = 0; i < block.length; i++) block[i] = (i * 31 + 7) & 0xff;
  rmSync(tree, { recursive: true, force: true });
  mkdirSync(tree, { recursive: true });
  writeFileSync(join(tree, 'sparse.bin'), block);
  writeFileSync(join(tree, 'gig.bin'), block);
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  run('mkfs.ext4', ['-F', '-q', '-b', '4096', '-E', 'root_owner=0:0', '-d', tree, tmp, '8M']);
  const plan: SparsePlan = { hugeSize: 2 ** 40, gigSize: 2 ** 28, blockHex: block.toString('hex') };
  debugfsWrite(tmp, [`sif /sparse.bin size ${plan.hugeSize}`, `sif /gig.bin size ${plan.gigSize}`]);
  finish(tmp, imgPath, plan);
  return plan;
}

/** #24 item 10: a FAT volume (no holes) with an 8 MiB file of zeros around one data cluster. */
export function buildZeroFat(imgPath: string): { size: number; dataAt: number } {
  const work = `${imgPath}.work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const plan = { size: 8 << 20, dataAt: 3 << 20 };
  const b = Buffer.alloc(plan.size);
  b.write('data in the middle of zeros', plan.dataAt);
  writeFileSync(join(work, 'zeros.bin'), b);
  const tmp = `${imgPath}.tmp`;
  rmSync(tmp, { force: true });
  run('mkfs.fat', ['-F', '32', '-C', tmp, String(40 * 1024)]);
  run('mcopy', ['-i', tmp, join(work, 'zeros.bin'), '::']);
  rmSync(work, { recursive: true, force: true });
  finish(tmp, imgPath, plan);
  return plan;
}

/** Item 11: /big.bin's i_size set by debugfs sif to 2^60 + 1 (more than ext can hold); /ok.txt intact. */
export function buildHugeSizeExt(imgPath: string): { size: string } {
  const tree = `${imgPath}.tree`;
  writeTree(tree, [{ path: 'big.bin', content: 'hi\n' }, { path: 'ok.txt', content: 'ok\n' }]);
  const tmp = `${imgPath}.tmp`;
  mkdirSync(join(imgPath, '..'), { recursive: true });
  run('mkfs.ext4', ['-F', '-q', '-b', '4096', '-E', 'root_owner=0:0', '-d', tree, tmp, '8M']);
  const plan = { size: String(2n ** 60n + 1n) };
  debugfsWrite(tmp, [`sif /big.bin size 0x${(2n ** 60n + 1n).toString(16)}`]);
  finish(tmp, imgPath, plan);
  return plan;
}
