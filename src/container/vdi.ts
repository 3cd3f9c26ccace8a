/**
 * VDI (VirtualBox Disk Image), read-only: fixed ("static"), dynamic ("normal") and
 * differencing images. Layout of the 1.1 header from VirtualBox's VDICore.h (see
 * docs/formats/vdi.md). All fields are little-endian.
 */
import { checkFileEnd, tableEnd } from './damage.js';
import { corrupt, unsupported } from '../errors.js';
import { readExact, type ByteSource } from '../source/source.js';
import type { Container, ContainerFormat, OpenContext } from './container.js';
import { MappedContainer, PagedTable, type Piece } from './mapped.js';

/** u32Signature at 0x40, after the 64-byte text pre-header. */
import { probeVdi, VDI_SIGNATURE } from './magic.js';

/** VDIHEADER1 (version 1.1) fields, at their offsets in the file. */
interface VdiHeader {
  u32Version: number;
  cbHeader: number;
  u32Type: number;
  offBlocks: number;
  offData: number;
  cbDisk: number;
  cbBlock: number;
  cbBlockExtra: number;
  cBlocks: number;
  uuidCreate: Buffer;
  uuidModify: Buffer;
  uuidLinkage: Buffer;
  uuidParentModify: Buffer;
}

const VDI_TYPE_NORMAL = 1;
const VDI_TYPE_FIXED = 2;
const VDI_TYPE_UNDO = 3;
const VDI_TYPE_DIFF = 4;

/** Block map values other than a block index. */
const VDI_IMAGE_BLOCK_FREE = 0xffffffff;
const VDI_IMAGE_BLOCK_ZERO = 0xfffffffe;

const HEADER_BYTES = 0x200;

function parseHeader(b: Buffer, name: string): VdiHeader {
  if (b.length < 0x1c8) throw corrupt(name, 'truncated: VDI header cut short');
  const version = b.readUInt32LE(0x44);
  if (version >>> 16 !== 1) throw unsupported(name, `VDI header version ${version >>> 16}.${version & 0xffff} is not supported (only 1.x)`);
  return {
    u32Version: version,
    cbHeader: b.readUInt32LE(0x48),
    u32Type: b.readUInt32LE(0x4c),
    offBlocks: b.readUInt32LE(0x154),
    offData: b.readUInt32LE(0x158),
    cbDisk: Number(b.readBigUInt64LE(0x170)),
    cbBlock: b.readUInt32LE(0x178),
    cbBlockExtra: b.readUInt32LE(0x17c),
    cBlocks: b.readUInt32LE(0x180),
    uuidCreate: Buffer.from(b.subarray(0x188, 0x198)),
    uuidModify: Buffer.from(b.subarray(0x198, 0x1a8)),
    uuidLinkage: Buffer.from(b.subarray(0x1a8, 0x1b8)),
    uuidParentModify: Buffer.from(b.subarray(0x1b8, 0x1c8)),
  };
}

/** An RTUUID as VirtualBox prints it (little-endian first three fields). */
export function vdiUuidString(u: Buffer): string {
  const h = (a: number, b: number) => Buffer.from(u.subarray(a, b)).toString('hex');
  const le = (a: number, b: number) => Buffer.from(u.subarray(a, b)).reverse().toString('hex');
  return `${le(0, 4)}-${le(4, 6)}-${le(6, 8)}-${h(8, 10)}-${h(10, 16)}`;
}

class VdiContainer extends MappedContainer {
  readonly format = 'vdi';
  readonly variant: string;
  constructor(
    file: ByteSource,
    readonly hdr: VdiHeader,
    parent: Container | null,
    private readonly map_: PagedTable,
  ) {
    super(file, hdr.cbDisk, parent);
    this.variant = hdr.u32Type === VDI_TYPE_FIXED ? 'fixed' : hdr.u32Type === VDI_TYPE_DIFF ? 'differencing' : hdr.u32Type === VDI_TYPE_UNDO ? 'undo' : 'dynamic';
  }

  protected async map(offset: number, length: number): Promise<Piece[]> {
    const bs = this.hdr.cbBlock;
    const block = Math.floor(offset / bs);
    const within = offset - block * bs;
    const len = Math.min(length, bs - within);
    const [page, at] = await this.map_.entry(block);
    const v = page.readUInt32LE(at);
    if (v === VDI_IMAGE_BLOCK_FREE) return [{ kind: this.parent ? 'parent' : 'zero', length: len }];
    if (v === VDI_IMAGE_BLOCK_ZERO) return [{ kind: 'zero', length: len }];
    const host = this.hdr.offData + v * (bs + this.hdr.cbBlockExtra) + this.hdr.cbBlockExtra;
    if (host + within >= this.file.size) {
      throw corrupt(this.name, `block map entry ${block} points at block ${v} (offset ${host}), past the end of the file (${this.file.size} bytes)`);
    }
    return [{ kind: 'host', offset: host + within, length: len }];
  }
}

async function openVdi(src: ByteSource, ctx: OpenContext): Promise<Container> {
  const name = src.name;
  const b = await readExact(src, 0, Math.min(HEADER_BYTES, src.size), 'VDI header');
  const hdr = parseHeader(b, name);
  if (![VDI_TYPE_NORMAL, VDI_TYPE_FIXED, VDI_TYPE_UNDO, VDI_TYPE_DIFF].includes(hdr.u32Type)) {
    throw unsupported(name, `VDI image type ${hdr.u32Type} is not supported`);
  }
  const bs = hdr.cbBlock;
  if (bs < 512 || bs % 512 !== 0 || bs > 256 * 1024 * 1024) throw corrupt(name, `VDI block size ${bs} is invalid`);
  if (hdr.cbBlockExtra % 512 !== 0 || hdr.cbBlockExtra > 1024 * 1024) throw corrupt(name, `VDI block extra size ${hdr.cbBlockExtra} is invalid`);
  if (!Number.isSafeInteger(hdr.cbDisk) || hdr.cbDisk <= 0 || hdr.cbDisk > 2 ** 50) throw corrupt(name, `VDI disk size ${hdr.cbDisk} is absurd`);
  const need = Math.ceil(hdr.cbDisk / bs);
  if (hdr.cBlocks < need) throw corrupt(name, `VDI block map has ${hdr.cBlocks} entries, the disk size needs ${need}`);
  if (hdr.offBlocks + need * 4 > src.size) {
    throw corrupt(name, `truncated: the block map (${need} entries at ${hdr.offBlocks}) is past the end of the file (${src.size} bytes)`);
  }
  const table = new PagedTable(src, hdr.offBlocks, need, 4, 'block map');
  // Entries ≥ 0xfffffffe are "not allocated" and "zero"; others number blocks in the data area.
  const blockBytes = bs + hdr.cbBlockExtra;
  checkFileEnd(ctx, src, await tableEnd(ctx, src, hdr.offBlocks, need, 4, (_i, v) => (v >= 0xfffffffe ? 0 : hdr.offData + (v + 1) * blockBytes)), 'block map entries');
  let parent: Container | null = null;
  if (hdr.u32Type === VDI_TYPE_DIFF || hdr.u32Type === VDI_TYPE_UNDO) {
    parent = await findParent(name, hdr, ctx);
  }
  return new VdiContainer(src, hdr, parent, table);
}

/**
 * A VDI child names its parent only by UUID (uuidLinkage = the parent's uuidCreate): look
 * at the files in the allowed folders for a VDI with that UUID (headers only).
 */
async function findParent(name: string, hdr: VdiHeader, ctx: OpenContext): Promise<Container> {
  const want = hdr.uuidLinkage;
  const wanted = vdiUuidString(want);
  if (want.every((x) => x === 0)) throw corrupt(name, 'differencing VDI without a parent UUID');
  const parent = await ctx.searchParent(name, HEADER_BYTES, (h) => h.readUInt32LE(0x40) === VDI_SIGNATURE && h.subarray(0x188, 0x198).equals(want), [`{${wanted.toLowerCase()}}.vdi`]);
  if (!parent) {
    throw corrupt(name, `parent image not found: needs the VDI with UUID {${wanted}}; put it next to the image or give its folder with --parent-dir DIR`);
  }
  // uuidParentModify is the parent's uuidModify when the child was made: a parent written to
  // since then no longer holds what the child was laid over.
  if (parent instanceof VdiContainer && !hdr.uuidParentModify.every((x) => x === 0) && !parent.hdr.uuidModify.equals(hdr.uuidParentModify)) {
    await ctx.parentMismatch(`its uuidModify is {${vdiUuidString(parent.hdr.uuidModify)}}, this differencing image was made over {${vdiUuidString(hdr.uuidParentModify)}} (the parent was modified after the child was made)`, name, parent);
  }
  return parent;
}

export const vdiFormat: ContainerFormat = {
  name: 'vdi',
  probe: probeVdi,
  open: openVdi,
};
