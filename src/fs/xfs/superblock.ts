/**
 * The XFS superblock (struct xfs_dsb, kernel fs/xfs/libxfs/xfs_format.h; "XFS Algorithms & Data
 * Structures" ch. "Allocation Groups"): the first sector of AG 0, big-endian. Every AG starts
 * with a copy; diskpick reads the primary. Also the AG headers AGF and AGI (their sector after).
 */
import { corrupt, unsupported } from '../../errors.js';
import { xfsCrcOk } from './crc.js';

export const XFS_SB_MAGIC = 0x58465342; // "XFSB"
const XFS_AGF_MAGIC = 0x58414746; // "XAGF"
const XFS_AGI_MAGIC = 0x58414749; // "XAGI"

/** sb_versionnum bits (low nibble: the version, 4 or 5). */
export const VERSION = { ATTR: 0x10, NLINK: 0x20, QUOTA: 0x40, ALIGN: 0x80, DALIGN: 0x100, LOGV2: 0x400, SECTOR: 0x800, EXTFLG: 0x1000, DIRV2: 0x2000, BORG: 0x4000, MOREBITS: 0x8000 } as const;
/** sb_features2 bits. */
export const FEATURES2 = { LAZYSBCOUNT: 0x2, ATTR2: 0x8, PARENT: 0x10, PROJID32: 0x80, CRC: 0x100, FTYPE: 0x200 } as const;
/** sb_features_ro_compat (v5). */
export const RO_COMPAT = { FINOBT: 0x1, RMAPBT: 0x2, REFLINK: 0x4, INOBTCNT: 0x8 } as const;
/** sb_features_incompat (v5). */
export const INCOMPAT = { FTYPE: 0x1, SPINODES: 0x2, META_UUID: 0x4, BIGTIME: 0x8, NEEDSREPAIR: 0x10, NREXT64: 0x20, EXCHRANGE: 0x40, PARENT: 0x80, METADIR: 0x100 } as const;
/** Incompat features this reader understands (others: refuse, as the kernel does). */
const INCOMPAT_KNOWN = 0x1ff & ~INCOMPAT.METADIR;

export interface Superblock {
  sb_blocksize: number;
  sb_dblocks: number;
  sb_rblocks: number;
  sb_uuid: Buffer;
  sb_logstart: number;
  sb_rootino: number;
  sb_rbmino: number;
  sb_rsumino: number;
  sb_agblocks: number;
  sb_agcount: number;
  sb_logblocks: number;
  sb_versionnum: number;
  sb_sectsize: number;
  sb_inodesize: number;
  sb_inopblock: number;
  sb_fname: string;
  sb_blocklog: number;
  sb_inodelog: number;
  sb_inopblog: number;
  sb_agblklog: number;
  sb_icount: number;
  sb_ifree: number;
  sb_fdblocks: number;
  sb_dirblklog: number;
  sb_logsectsize: number;
  sb_features2: number;
  sb_features_compat: number;
  sb_features_ro_compat: number;
  sb_features_incompat: number;
  sb_features_log_incompat: number;
  sb_lsn: bigint;
  /** 4 or 5. */
  version: number;
  /** Whether the CRC matched (always true on v4, which has none). */
  checksumOk: boolean;
  hasCrc: boolean;
  hasFtype: boolean;
  bigtime: boolean;
  nrext64: boolean;
  /** Directory block size in bytes (sb_blocksize << sb_dirblklog). */
  dirBlockSize: number;
}

function u64(b: Buffer, at: number, file: string, what: string): number {
  const v = b.readBigUInt64BE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw corrupt(file, `superblock ${what} is out of range (${v})`);
  return Number(v);
}

export function parseSuperblock(b: Buffer, file: string): Superblock {
  if (b.length < 512 || b.readUInt32BE(0) !== XFS_SB_MAGIC) throw corrupt(file, 'not an XFS superblock');
  const versionnum = b.readUInt16BE(100);
  const version = versionnum & 0xf;
  if (version !== 4 && version !== 5) throw unsupported(file, `XFS superblock version ${version}`);
  const sb: Superblock = {
    sb_blocksize: b.readUInt32BE(4),
    sb_dblocks: u64(b, 8, file, 'sb_dblocks'),
    sb_rblocks: u64(b, 16, file, 'sb_rblocks'),
    sb_uuid: Buffer.from(b.subarray(32, 48)),
    sb_logstart: u64(b, 48, file, 'sb_logstart'),
    sb_rootino: u64(b, 56, file, 'sb_rootino'),
    sb_rbmino: u64(b, 64, file, 'sb_rbmino'),
    sb_rsumino: u64(b, 72, file, 'sb_rsumino'),
    sb_agblocks: b.readUInt32BE(84),
    sb_agcount: b.readUInt32BE(88),
    sb_logblocks: b.readUInt32BE(96),
    sb_versionnum: versionnum,
    sb_sectsize: b.readUInt16BE(102),
    sb_inodesize: b.readUInt16BE(104),
    sb_inopblock: b.readUInt16BE(106),
    sb_fname: b.subarray(108, 120).toString('latin1').replace(/\0.*$/s, ''),
    sb_blocklog: b[120]!,
    sb_inodelog: b[122]!,
    sb_inopblog: b[123]!,
    sb_agblklog: b[124]!,
    sb_icount: u64(b, 128, file, 'sb_icount'),
    sb_ifree: u64(b, 136, file, 'sb_ifree'),
    sb_fdblocks: u64(b, 144, file, 'sb_fdblocks'),
    sb_dirblklog: b[192]!,
    sb_logsectsize: b.readUInt16BE(194),
    sb_features2: versionnum & VERSION.MOREBITS ? b.readUInt32BE(200) : 0,
    sb_features_compat: version === 5 ? b.readUInt32BE(208) : 0,
    sb_features_ro_compat: version === 5 ? b.readUInt32BE(212) : 0,
    sb_features_incompat: version === 5 ? b.readUInt32BE(216) : 0,
    sb_features_log_incompat: version === 5 ? b.readUInt32BE(220) : 0,
    sb_lsn: version === 5 ? b.readBigUInt64BE(240) : 0n,
    version,
    checksumOk: true,
    hasCrc: version === 5,
    hasFtype: false,
    bigtime: false,
    nrext64: false,
    dirBlockSize: 0,
  };
  // Geometry drives every offset computed later: a hostile value must fail here, once.
  const bs = sb.sb_blocksize;
  if (bs < 512 || bs > 65536 || (bs & (bs - 1)) !== 0 || 1 << sb.sb_blocklog !== bs) throw corrupt(file, `bad XFS block size ${bs}`);
  const is = sb.sb_inodesize;
  if (is < 256 || is > 2048 || (is & (is - 1)) !== 0 || 1 << sb.sb_inodelog !== is) throw corrupt(file, `bad XFS inode size ${is}`);
  if (sb.sb_inopblock !== bs / is || 1 << sb.sb_inopblog !== sb.sb_inopblock) throw corrupt(file, `bad XFS inodes per block ${sb.sb_inopblock}`);
  const ss = sb.sb_sectsize;
  if (ss < 512 || ss > 32768 || (ss & (ss - 1)) !== 0 || ss > bs) throw corrupt(file, `bad XFS sector size ${ss}`);
  if (sb.sb_agcount < 1 || sb.sb_agblocks < 1 || sb.sb_agblklog > 31 || sb.sb_agblocks > 2 ** sb.sb_agblklog) {
    throw corrupt(file, `bad XFS allocation group geometry (${sb.sb_agcount} groups of ${sb.sb_agblocks} blocks)`);
  }
  if (sb.sb_agblklog + sb.sb_inopblog > 32) throw corrupt(file, 'bad XFS inode number geometry');
  if (sb.sb_dirblklog > 16 - sb.sb_blocklog + 0 && bs << sb.sb_dirblklog > 65536) throw corrupt(file, `bad XFS directory block size (log ${sb.sb_dirblklog})`);
  sb.dirBlockSize = bs << sb.sb_dirblklog;
  if (version === 5) {
    sb.checksumOk = xfsCrcOk(b.subarray(0, ss), 224);
    const unknown = sb.sb_features_incompat & ~INCOMPAT_KNOWN;
    if (unknown) throw unsupported(file, `XFS incompatible features 0x${unknown.toString(16)} (metadata directory tree or newer)`);
  }
  sb.hasFtype = version === 5 ? (sb.sb_features_incompat & INCOMPAT.FTYPE) !== 0 : (sb.sb_features2 & FEATURES2.FTYPE) !== 0;
  sb.bigtime = (sb.sb_features_incompat & INCOMPAT.BIGTIME) !== 0;
  sb.nrext64 = (sb.sb_features_incompat & INCOMPAT.NREXT64) !== 0;
  return sb;
}

/** Feature names as xfs_info spells them, for `info`. */
export function featureNames(sb: Superblock): string[] {
  const f: string[] = [];
  const v = sb.sb_versionnum;
  if (sb.version === 5) f.push('crc');
  if (v & VERSION.ATTR || sb.version === 5) f.push('attr');
  if (sb.sb_features2 & FEATURES2.ATTR2 || sb.version === 5) f.push('attr2');
  if (v & VERSION.LOGV2) f.push('logv2');
  if (v & VERSION.EXTFLG || sb.version === 5) f.push('unwritten');
  if (v & VERSION.BORG) f.push('ascii-ci');
  if (sb.hasFtype) f.push('ftype');
  if (sb.sb_features2 & FEATURES2.LAZYSBCOUNT) f.push('lazy-count');
  if (sb.sb_features2 & FEATURES2.PROJID32) f.push('projid32bit');
  const ro = sb.sb_features_ro_compat;
  if (ro & RO_COMPAT.FINOBT) f.push('finobt');
  if (ro & RO_COMPAT.RMAPBT) f.push('rmapbt');
  if (ro & RO_COMPAT.REFLINK) f.push('reflink');
  if (ro & RO_COMPAT.INOBTCNT) f.push('inobtcount');
  const inc = sb.sb_features_incompat;
  if (inc & INCOMPAT.SPINODES) f.push('sparse');
  if (inc & INCOMPAT.META_UUID) f.push('meta_uuid');
  if (inc & INCOMPAT.BIGTIME) f.push('bigtime');
  if (inc & INCOMPAT.NEEDSREPAIR) f.push('needsrepair');
  if (inc & INCOMPAT.NREXT64) f.push('nrext64');
  if (inc & INCOMPAT.EXCHRANGE) f.push('exchange');
  if (inc & INCOMPAT.PARENT) f.push('parent');
  return f;
}

/** The UUID as xfs_db prints it. */
export function formatUuid(u: Buffer): string {
  const h = u.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** What `info` shows of an AG's free-space (AGF) and inode (AGI) headers. */
export interface AgHeaders {
  agno: number;
  agf_length: number;
  agf_freeblks: number;
  agi_count: number;
  agi_freecount: number;
  agfOk: boolean;
  agiOk: boolean;
  /** Problems, one line each (bad magic, bad CRC). */
  problems: string[];
}

/** Parses the AGF (sector 1 of the AG) and AGI (sector 2). */
export function parseAgHeaders(sb: Superblock, agno: number, agf: Buffer, agi: Buffer): AgHeaders {
  const h: AgHeaders = { agno, agf_length: 0, agf_freeblks: 0, agi_count: 0, agi_freecount: 0, agfOk: true, agiOk: true, problems: [] };
  if (agf.readUInt32BE(0) !== XFS_AGF_MAGIC || agf.readUInt32BE(8) !== agno) {
    h.agfOk = false;
    h.problems.push(`AG ${agno}: AGF has a bad magic or number`);
  } else {
    h.agf_length = agf.readUInt32BE(12);
    h.agf_freeblks = agf.readUInt32BE(52);
    // struct xfs_agf: agf_crc at byte 216 (after agf_uuid at 64, 16 spare u64s… see xfs_format.h).
    if (sb.hasCrc && !xfsCrcOk(agf, 216)) {
      h.agfOk = false;
      h.problems.push(`AG ${agno}: AGF checksum mismatch`);
    }
  }
  if (agi.readUInt32BE(0) !== XFS_AGI_MAGIC || agi.readUInt32BE(8) !== agno) {
    h.agiOk = false;
    h.problems.push(`AG ${agno}: AGI has a bad magic or number`);
  } else {
    h.agi_count = agi.readUInt32BE(16);
    h.agi_freecount = agi.readUInt32BE(28);
    // struct xfs_agi: agi_unlinked[64] at 40, then agi_uuid at 296, agi_crc at 312.
    if (sb.hasCrc && !xfsCrcOk(agi, 312)) {
      h.agiOk = false;
      h.problems.push(`AG ${agno}: AGI checksum mismatch`);
    }
  }
  return h;
}

/** The registry's probe (src/fs/formats.ts): sb_magicnum at the volume's start. */
export function probeXfs(head: Buffer): boolean {
  return head.length >= 4 && head.readUInt32BE(0) === XFS_SB_MAGIC;
}
