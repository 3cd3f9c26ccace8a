/**
 * VMware VMDK: the text descriptor (standalone or embedded in a sparse extent) lists
 * extents that together make the virtual disk; a delta disk names its parent with
 * parentFileNameHint and checks it by CID. Extents are flat files (FLAT, VMFS), zeros
 * (ZERO) or sparse files in one of three formats told apart by magic: KDMV (hosted
 * sparse, streamOptimized), COWD (ESX redo logs, VMFSSPARSE) and SESparse (ESXi 6.5+).
 * See docs/formats/vmdk.md.
 */
import { checkFileEnd } from '../damage.js';
import { basename } from 'node:path';
import { corrupt, DiskpickError, unsupported } from '../../errors.js';
import { appendRun, hostRunsOf, readExact, readInto, SliceSource, type ByteSource, type HostRun, readSpan, readIntoSpan } from '../../source/source.js';
import type { ChainLevel, Container, ContainerFormat, OpenContext } from '../container.js';
import { hasParent, MAX_DESCRIPTOR_BYTES, parseDescriptor, type Descriptor } from './descriptor.js';
import { COWD_MAGIC, CowdExtent } from './cowd.js';
import { GrainReader, type Fallback, type GrainMap } from './grains.js';
import { isSesparse, SesparseExtent } from './sesparse.js';
import { probeVmdk } from '../magic.js';
import { parseSparseHeader, readEmbeddedDescriptor, SparseExtent, SPARSE_MAGIC, type SparseExtentHeader } from './sparse.js';

const SECTOR = 512;

/** One extent placed in the virtual disk. */
type Extent =
  | { kind: 'flat'; start: number; size: number; src: ByteSource }
  | { kind: 'zero'; start: number; size: number }
  | { kind: 'sparse'; start: number; size: number; reader: GrainReader };

export class VmdkContainer implements Container {
  readonly format = 'vmdk';
  readonly sectorSize = 512;
  readonly warnings: string[] = [];
  readonly size: number;
  readonly name: string;
  readonly chain: ChainLevel[];

  constructor(
    private readonly self: ByteSource,
    readonly variant: string,
    /** Descriptor CID, compared with a child's parentCID. */
    readonly cid: string | undefined,
    private readonly extents: Extent[],
    private readonly parent: Container | null,
    private readonly owned: ByteSource[],
  ) {
    this.name = self.name;
    const last = extents[extents.length - 1];
    this.size = last ? last.start + last.size : 0;
    const extra = [...new Set(owned.map((s) => s.name).filter((n) => n !== self.name))];
    this.chain = [
      { format: 'vmdk', variant, virtualSize: this.size, file: self.name, ...(extra.length ? { extraFiles: extra } : {}) },
      ...(parent ? parent.chain : []),
    ];
  }

  /** Index of the extent holding byte `offset` (extents are sorted and contiguous). */
  private extentAt(offset: number): number {
    let lo = 0;
    let hi = this.extents.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (this.extents[mid]!.start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** The next chunk of a sequential reader, being read while the caller works on this one. */
  private ahead: { offset: number; length: number; data: Promise<Buffer> } | null = null;
  private lastEnd = -1;

  async read(offset: number, length: number): Promise<Buffer> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return Buffer.alloc(0);
    const ahead = this.ahead;
    let data: Promise<Buffer>;
    if (ahead && ahead.offset === offset && ahead.length === n) {
      data = ahead.data;
      this.ahead = null;
    } else {
      data = this.readNow(offset, n);
    }
    // Two large reads back to back: a sequential copy (dd, extract, sha). Reading the next
    // chunk now overlaps the file I/O with the caller's work and our decompression.
    const end = offset + n;
    if (offset === this.lastEnd && n >= 256 * 1024 && end < this.size) {
      const m = Math.min(n, this.size - end);
      const next = this.readNow(end, m);
      next.catch(() => undefined); // reported when (if) the caller asks for it
      this.ahead = { offset: end, length: m, data: next };
    }
    this.lastEnd = end;
    return data;
  }

  private async readNow(offset: number, n: number): Promise<Buffer> {
    const first = this.extents[this.extentAt(offset)]!;
    if (offset + n <= first.start + first.size) {
      // Inside one extent: let it hand back its own buffer (no copy for a run of data).
      const inExt = offset - first.start;
      if (first.kind === 'flat') return first.src.read(inExt, n);
      if (first.kind === 'sparse') return first.reader.readBuffer(inExt, n, this.fallback(first.start));
    }
    const out = Buffer.allocUnsafe(n);
    await this.fill(out, 0, offset, n);
    return out;
  }

  async readInto(target: Buffer, at: number, offset: number, length: number): Promise<number> {
    const n = readIntoSpan(this.size, offset, length, target, at);
    if (n <= 0) return 0;
    await this.fill(target, at, offset, n);
    return n;
  }

  /** Virtual bytes [offset, offset+n) extent by extent: the extent, where in it, how many bytes, and where in the range. */
  private *spans(offset: number, n: number): Generator<[e: Extent, inExt: number, take: number, rel: number]> {
    let pos = offset;
    const end = offset + n;
    for (let i = this.extentAt(offset); pos < end && i < this.extents.length; i++) {
      const e = this.extents[i]!;
      const take = Math.min(e.size - (pos - e.start), end - pos);
      yield [e, pos - e.start, take, pos - offset];
      pos += take;
    }
  }

  /** Moves virtual bytes [offset, offset+n) into target[at …], extent by extent. */
  private async fill(target: Buffer, at: number, offset: number, n: number): Promise<void> {
    for (const [e, inExt, take, rel] of this.spans(offset, n)) {
      const d = at + rel;
      if (e.kind === 'zero') target.fill(0, d, d + take);
      else if (e.kind === 'flat') await readInto(e.src, target, d, inExt, take);
      else await e.reader.read(inExt, take, target, d, this.fallback(e.start));
    }
  }

  /**
   * Where [offset, offset + length) lies in host files, extent by extent (flat extents, zero
   * extents, stored grains of sparse ones, the parent's runs under unallocated grains); null
   * where any byte needs decoding (streamOptimized grains) or a file cannot say. The mount's
   * libfuse3 binding then preads files inside the disk itself.
   */
  async hostRuns(offset: number, length: number): Promise<HostRun[] | null> {
    const n = readSpan(this.size, offset, length);
    if (n === 0) return [];
    const runs: HostRun[] = [];
    for (const [e, inExt, take] of this.spans(offset, n)) {
      let got: HostRun[] | null;
      if (e.kind === 'zero') got = [{ length: take, fd: -1, offset: 0 }];
      else if (e.kind === 'flat') got = await hostRunsOf(e.src, inExt, take);
      else got = await e.reader.hostRuns(inExt, take, this.parentRuns(e.start));
      if (!got) return null;
      for (const r of got) appendRun(runs, r);
      if (runs.length > 1 << 16) return null;
    }
    return runs;
  }

  /** The parent's host runs under an extent starting at virtual offset `start` (zeros past its end). */
  private parentRuns(start: number): ((o: number, l: number) => Promise<HostRun[] | null>) | null {
    const parent = this.parent;
    if (!parent) return null;
    return async (o, l) => {
      const inParent = Math.max(0, Math.min(l, parent.size - (start + o)));
      const got = inParent > 0 ? await hostRunsOf(parent, start + o, inParent) : [];
      if (!got) return null;
      return l > inParent ? [...got, { length: l - inParent, fd: -1, offset: 0 }] : got;
    };
  }

  /** The parent's bytes under an extent starting at virtual offset `start` (zeros past its end). */
  private fallback(start: number): Fallback | null {
    const parent = this.parent;
    if (!parent) return null;
    return async (o, l, target, at) => {
      const got = await readInto(parent, target, at, start + o, l);
      if (got < l) target.fill(0, at + got, at + l);
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.owned.map((s) => s.close().catch(() => undefined)));
    await this.self.close().catch(() => undefined);
    if (this.parent) await this.parent.close();
  }
}

/** Opens the right sparse format for an extent file, by its magic. */
async function openSparse(file: ByteSource, ctx: OpenContext): Promise<GrainMap> {
  const head = await readExact(file, 0, Math.min(file.size, SECTOR), 'sparse extent header');
  if (head.length >= 4 && head.readUInt32LE(0) === SPARSE_MAGIC) {
    if (head.length < SECTOR) throw corrupt(file.name, 'truncated VMDK sparse header');
    return openKdmv(file, parseSparseHeader(head, file.name), ctx);
  }
  if (head.length >= 4 && head.readUInt32LE(0) === COWD_MAGIC) return CowdExtent.open(file);
  if (isSesparse(head)) return SesparseExtent.open(file);
  throw corrupt(file.name, 'VMDK sparse extent has no KDMV, COWD or SESparse header');
}

async function openKdmv(file: ByteSource, h: SparseExtentHeader, ctx: OpenContext): Promise<SparseExtent> {
  const map = await SparseExtent.open(file, h);
  // VMware sets uncleanShutdown while the disk is open; a copy taken then may hold grain
  // tables that do not yet list the newest grains.
  if (map.header.uncleanShutdown) ctx.warn(`VMDK extent was not closed cleanly (uncleanShutdown set); recent writes may be missing`, file.name);
  checkFileEnd(ctx, file, await map.dataEnd(ctx), 'grain tables');
  return map;
}

/** Splits a Windows or POSIX path and keeps the last part. */
function lastPart(p: string): string {
  const parts = p.split(/[\\/]/);
  return parts[parts.length - 1] ?? p;
}

async function openFromDescriptor(
  d: Descriptor,
  self: ByteSource,
  ctx: OpenContext,
  embedded: boolean,
): Promise<VmdkContainer> {
  const owned: ByteSource[] = [];
  const extents: Extent[] = [];
  const byRef = new Map<string, ByteSource>();
  const selfName = basename(self.name);
  const sparseCount = d.extents.filter((x) => x.type === 'SPARSE').length;
  try {
    const fileFor = async (ref: string, type: string): Promise<ByteSource> => {
      // An embedded descriptor describes the file it is in (whatever that file is now called).
      if (embedded && type === 'SPARSE' && (lastPart(ref) === selfName || sparseCount === 1)) return self;
      const known = byRef.get(ref);
      if (known) return known;
      const s = await ctx.openReferenced(ref, self.name, 'VMDK extent');
      owned.push(s);
      byRef.set(ref, s);
      return s;
    };
    let start = 0;
    for (const line of d.extents) {
      const size = line.sectors * SECTOR;
      if (line.access === 'NOACCESS') {
        ctx.warn(`extent ${line.file ?? 'ZERO'} is marked NOACCESS; it reads as zeros`, self.name);
        extents.push({ kind: 'zero', start, size });
      } else if (line.type === 'ZERO') {
        extents.push({ kind: 'zero', start, size });
      } else if (line.type === 'FLAT' || line.type === 'VMFS') {
        const f = await fileFor(line.file!, line.type);
        const from = line.offset * SECTOR;
        if (from + size > f.size) {
          throw corrupt(f.name, `truncated VMDK flat extent: the descriptor needs ${from + size} bytes, the file has ${f.size}`);
        }
        extents.push({ kind: 'flat', start, size, src: new SliceSource(f, from, size) });
      } else if (line.type === 'SPARSE' || line.type === 'VMFSSPARSE' || line.type === 'SESPARSE') {
        const f = await fileFor(line.file!, line.type);
        extents.push({ kind: 'sparse', start, size, reader: new GrainReader(await openSparse(f, ctx)) });
      } else {
        throw unsupported(self.name, `VMDK ${line.type} extent (raw device mapping of ${line.file}) points at a physical disk, not a file`);
      }
      start += size;
    }
    let parent: Container | null = null;
    if (d.parentFileNameHint) {
      // The hint is often an absolute path on the machine that made the snapshot
      // (`/vmfs/volumes/…/base.vmdk`, `C:\VMs\base.vmdk`): when it does not exist here, the
      // same file name next to the child or in a --parent-dir folder is used if its CID checks.
      const hint = d.parentFileNameHint;
      parent = await ctx.openParent({
        paths: [hint],
        // VMware refuses a parent whose CID is not the child's parentCID: it changed after the snapshot.
        check: (p) => (p instanceof VmdkContainer && p.cid !== undefined && p.cid !== d.parentCid ? `its CID is ${p.cid}, this delta disk's parentCID is ${d.parentCid} (the parent changed after the snapshot)` : null),
      }, self.name);
    } else if (hasParent(d)) {
      throw corrupt(self.name, `VMDK delta disk (parentCID ${d.parentCid}) names no parent (no parentFileNameHint)`);
    }
    return new VmdkContainer(self, d.createType, d.cid, extents, parent, owned);
  } catch (err) {
    await Promise.all(owned.map((s) => s.close().catch(() => undefined)));
    throw err;
  }
}

async function openVmdk(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const head = await src.read(0, Math.min(src.size, 4096));
  if (head.length >= 4 && head.readUInt32LE(0) === SPARSE_MAGIC) {
    if (head.length < SECTOR) throw corrupt(src.name, 'truncated VMDK sparse header');
    const h = parseSparseHeader(head.subarray(0, SECTOR), src.name);
    const text = await readEmbeddedDescriptor(src, h);
    // qemu reserves descriptor space in every twoGbMaxExtentSparse part but fills it only in
    // a monolithic file: an all-NUL or blank descriptor means a bare extent.
    if (text && text.toString('latin1').replace(/[\0\s]/g, '') !== '') return openFromDescriptor(parseDescriptor(text, src.name), src, ctx, true);
    // A bare sparse extent (a twoGbMaxExtentSparse part opened on its own): no parent known.
    const map = await openKdmv(src, h, ctx);
    ctx.warn(`sparse extent without a descriptor; read on its own (no parent)`, src.name);
    return new VmdkContainer(src, 'sparse extent', undefined, [{ kind: 'sparse', start: 0, size: map.capacity, reader: new GrainReader(map) }], null, []);
  }
  if (head.length >= 4 && head.readUInt32LE(0) === COWD_MAGIC) {
    // An ESX 2 redo log opened directly: its header may name the parent.
    const map = await CowdExtent.open(src);
    const parentName = map.header.parentFileName;
    const parent = parentName ? await ctx.openParent({ paths: [parentName] }, src.name) : null;
    const ext: Extent = { kind: 'sparse', start: 0, size: map.capacity, reader: new GrainReader(map) };
    return new VmdkContainer(src, 'COWD redo log', undefined, [ext], parent, []);
  }
  if (isSesparse(head)) {
    const map = await SesparseExtent.open(src);
    ctx.warn(`SESparse extent without its descriptor; the parent is unknown, unallocated grains read as zeros`, src.name);
    return new VmdkContainer(src, 'seSparse extent', undefined, [{ kind: 'sparse', start: 0, size: map.capacity, reader: new GrainReader(map) }], null, []);
  }
  if (src.size > MAX_DESCRIPTOR_BYTES) throw corrupt(src.name, 'VMDK descriptor file is too large');
  const text = await readExact(src, 0, src.size, 'VMDK descriptor');
  return openFromDescriptor(parseDescriptor(text, src.name), src, ctx, false);
}

export const vmdkFormat: ContainerFormat = {
  name: 'vmdk',
  probe: probeVmdk,
  open: openVmdk,
};

