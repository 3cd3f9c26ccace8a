/**
 * Damaged and hostile copies of an ntfs-3g-made image: each damage gives a one-line
 * DiskpickError for the file or folder it touches, the rest of the volume still lists and
 * reads, nothing hangs. Where the damage sits is found with TSK (istat/ifind), and patched
 * at offsets the NTFS documentation gives (docs/formats/ntfs.md).
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { closeSync, openSync, readFileSync, readSync, writeSync, truncateSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { CACHE, cachedImage, readManifest, sha256, sha256File, tool, type ManifestEntry } from '../helpers/tools.js';
import { buildNtfsImage } from '../../scripts/images/ntfs.js';
import { Vfs, type VfsNode } from '../../src/vfs/vfs.js';
import { DiskpickError } from '../../src/errors.js';
import { FuseFs } from '../../src/fuse/ops.js';
import { namesOf } from '../../src/fuse/listing.js';
import type { ByteSource } from '../../src/source/source.js';

const CS = 4096;
const RS = 1024;

async function readAll(src: ByteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let o = 0; o < src.size; o += 1 << 20) parts.push(Buffer.from(await src.read(o, Math.min(1 << 20, src.size - o))));
  return Buffer.concat(parts);
}

/** The clusters of an attribute, as TSK's istat lists them. */
function attrClusters(img: string, inode: number, typeId: number): number[] {
  const out = tool('istat', [img, String(inode)]);
  const at = out.search(new RegExp(`Type: \\S+ \\(${typeId}-`));
  const rest = out.slice(at);
  const body = rest.slice(rest.indexOf('\n') + 1);
  const end = body.search(/Type: /);
  return (end >= 0 ? body.slice(0, end) : body).split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number);
}

function inodeOf(img: string, path: string): number {
  return Number(tool('ifind', ['-n', path, img]).trim());
}

class Patcher {
  readonly mft: number[];
  constructor(readonly img: string) {
    this.mft = attrClusters(img, 0, 128);
  }
  recordOffset(n: number): number {
    const byte = n * RS;
    return this.mft[Math.floor(byte / CS)]! * CS + (byte % CS);
  }
  read(off: number, len: number): Buffer {
    const fd = openSync(this.img, 'r');
    const b = Buffer.alloc(len);
    readSync(fd, b, 0, len, off);
    closeSync(fd);
    return b;
  }
  write(off: number, data: Buffer): void {
    // Bytes 510-511 of each 512-byte stride hold the update sequence number, not data.
    for (let i = 0; i < data.length; i++) expect([510, 511]).not.toContain((off + i) % 512);
    const fd = openSync(this.img, 'r+');
    writeSync(fd, data, 0, data.length, off);
    closeSync(fd);
  }
  /** A record with its fixups undone (for finding offsets) and its offset in the image. */
  record(n: number): { buf: Buffer; off: number } {
    const off = this.recordOffset(n);
    const buf = this.read(off, RS);
    const usa = buf.readUInt16LE(4);
    const count = buf.readUInt16LE(6);
    for (let i = 1; i < count; i++) buf.writeUInt16LE(buf.readUInt16LE(usa + 2 * i), i * 512 - 2);
    return { buf, off };
  }
  /** Attributes of a record: type, offset in the record, length, resident value offset. */
  attrs(buf: Buffer): { type: number; at: number; len: number; nonRes: boolean; valueAt: number }[] {
    const out = [];
    let at = buf.readUInt16LE(20);
    while (buf.readUInt32LE(at) !== 0xffffffff) {
      const len = buf.readUInt32LE(at + 4);
      const nonRes = buf[at + 8] !== 0;
      out.push({ type: buf.readUInt32LE(at), at, len, nonRes, valueAt: nonRes ? -1 : at + buf.readUInt16LE(at + 20) });
      at += len;
    }
    return out;
  }
  /** Inserts a resident $ATTRIBUTE_LIST naming `records` into record n (before its end marker). */
  addAttributeList(n: number, records: number[]): void {
    const { buf, off } = this.record(n);
    const endAt = this.attrs(buf).reduce((e, a) => Math.max(e, a.at + a.len), buf.readUInt16LE(20));
    const value = Buffer.alloc(32 * records.length);
    records.forEach((r, i) => {
      value.writeUInt32LE(0x80, i * 32);
      value.writeUInt16LE(32, i * 32 + 4);
      value[i * 32 + 7] = 26;
      value.writeBigUInt64LE(BigInt(r) | (1n << 48n), i * 32 + 16);
    });
    const attr = Buffer.alloc(24 + value.length);
    attr.writeUInt32LE(0x20, 0);
    attr.writeUInt32LE(attr.length, 4);
    attr.writeUInt16LE(24, 20);
    attr.writeUInt32LE(value.length, 16);
    value.copy(attr, 24);
    const tail = Buffer.concat([attr, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])]);
    // Rebuild the record with the new attribute, then redo its fixups.
    const rec = Buffer.from(buf);
    tail.copy(rec, endAt);
    rec.writeUInt32LE(endAt + attr.length + 8, 24);
    const usa = rec.readUInt16LE(4);
    const count = rec.readUInt16LE(6);
    const usn = rec.readUInt16LE(usa);
    for (let i = 1; i < count; i++) {
      rec.writeUInt16LE(rec.readUInt16LE(i * 512 - 2), usa + 2 * i);
      rec.writeUInt16LE(usn, i * 512 - 2);
    }
    const fd = openSync(this.img, 'r+');
    writeSync(fd, rec, 0, RS, off);
    closeSync(fd);
  }
}

let base: string;
let manifest: ManifestEntry[];

function damaged(name: string, damage: (p: Patcher) => void): string {
  const img = join(CACHE, `ntfs-hostile-${name}.img`);
  execFileSync('cp', ['--sparse=always', base, img]);
  damage(new Patcher(img));
  return img;
}

/** Lists the whole volume; returns the files that read back as in the manifest and the errors. */
async function sweep(vfs: Vfs): Promise<{ ok: Set<string>; errors: Map<string, DiskpickError> }> {
  const ok = new Set<string>();
  const errors = new Map<string, DiskpickError>();
  const byPath = new Map(manifest.map((m) => [m.path, m]));
  const go = async (d: VfsNode) => {
    let kids: VfsNode[];
    try {
      kids = await vfs.readdir(d);
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      errors.set(d.path.slice(3), err);
      return;
    }
    for (const k of kids) {
      const p = k.path.slice(3);
      if (k.stat.type === 'dir') await go(k);
      else if (k.stat.type === 'file' && !p.startsWith('/many/')) {
        try {
          const h = sha256(await readAll(await vfs.openFile(k)));
          if (!byPath.get(p) || byPath.get(p)!.sha256 === h) ok.add(p);
        } catch (err) {
          if (!(err instanceof DiskpickError)) throw err;
          errors.set(p, err);
        }
      }
    }
  };
  await go(await vfs.lookup('/p0'));
  return { ok, errors };
}

/** Where, in MFT record `buf`, the $INDEX_ROOT entry whose $FILE_NAME is `name` starts. */
function rootEntryNamed(p: Patcher, buf: Buffer, name: string): number {
  const root = p.attrs(buf).find((x) => x.type === 0x90)!;
  let e = root.valueAt + 16 + buf.readUInt32LE(root.valueAt + 16);
  for (;;) {
    const nameLen = buf[e + 16 + 64]!;
    if (buf.toString('utf16le', e + 16 + 66, e + 16 + 66 + nameLen * 2) === name) return e;
    e += buf.readUInt16LE(e + 8);
  }
}

function oneLine(err: DiskpickError | undefined): string {
  expect(err).toBeInstanceOf(DiskpickError);
  const line = err!.toLine();
  expect(line).not.toContain('\n');
  return line;
}

describe('NTFS hostile images', () => {
  beforeAll(() => {
    base = cachedImage('ntfs-main.img', (p) => buildNtfsImage(p, {}));
    manifest = readManifest(`${base}.manifest.json`);
  });

  it('a record with a torn fixup: that file fails, its folder and the rest still read', async () => {
    const a = inodeOf(base, '/docs/a.txt');
    const img = damaged('fixup', (p) => {
      const off = p.recordOffset(a) + 1022;
      p.write(off - 8, Buffer.from('garbage!'));
      const fd = openSync(p.img, 'r+');
      writeSync(fd, Buffer.from([0x55, 0xaa]), 0, 2, p.recordOffset(a) + 510);
      closeSync(fd);
    });
    const before = await sha256File(img);
    const vfs = await Vfs.open(img);
    const { ok, errors } = await sweep(vfs);
    expect(oneLine(errors.get('/docs/a.txt'))).toMatch(/fixup/);
    expect(errors.size).toBe(1);
    expect(ok.has('/docs/report.bin')).toBe(true);
    expect(ok.has('/hello.txt')).toBe(true);
    expect(await sha256File(img)).toBe(before);
  });

  it('a run list pointing outside the volume: that file fails with a one-line error', async () => {
    const r = inodeOf(base, '/docs/report.bin');
    const img = damaged('runlist', (p) => {
      const { buf, off } = p.record(r);
      const data = p.attrs(buf).find((x) => x.type === 0x80 && x.nonRes)!;
      const mp = data.at + buf.readUInt16LE(data.at + 32);
      const h = buf[mp]!;
      const lenBytes = h & 0xf;
      const offBytes = h >> 4;
      // The highest byte of the first run's (signed) LCN: 0x7f… is past the end of a 96 MiB volume.
      p.write(off + mp + lenBytes + offBytes, Buffer.from([0x7f]));
    });
    const vfs = await Vfs.open(img);
    const { ok, errors } = await sweep(vfs);
    expect(oneLine(errors.get('/docs/report.bin'))).toMatch(/outside the volume/);
    expect(errors.size).toBe(1);
    expect(ok.has('/docs/a.txt')).toBe(true);
  });

  it('attribute lists that name another file or loop between records: no hang, one-line errors', async () => {
    const hello = inodeOf(base, '/hello.txt');
    const a = inodeOf(base, '/docs/a.txt');
    const img1 = damaged('attrlist-other', (p) => p.addAttributeList(hello, [hello, a]));
    const v1 = await Vfs.open(img1);
    await expect(v1.openFile(await v1.lookup('/p0/hello.txt'))).rejects.toThrow(/not an extension/);
    expect((await sweep(v1)).ok.has('/docs/a.txt')).toBe(true);

    const tiny = inodeOf(base, '/docs/tiny.bin');
    const img2 = damaged('attrlist-loop', (p) => {
      p.addAttributeList(hello, [hello, tiny]);
      p.addAttributeList(tiny, [tiny, hello]);
      // tiny claims to be an extension of hello, whose list names tiny, whose list names hello …
      const { off } = p.record(tiny);
      const ref = Buffer.alloc(8);
      ref.writeBigUInt64LE(BigInt(hello) | (1n << 48n));
      p.write(off + 32, ref);
    });
    const v2 = await Vfs.open(img2);
    const { ok, errors } = await sweep(v2);
    expect(oneLine(errors.get('/docs/tiny.bin'))).toMatch(/extension/);
    expect(ok.has('/docs/a.txt')).toBe(true);
    expect(ok.has('/big/large.bin')).toBe(true);
  });

  it('index entries pointing at their own folder or node: skipped or reported, no endless walk', async () => {
    const docs = inodeOf(base, '/docs');
    const many = inodeOf(base, '/many');
    let loopName = '';
    const img = damaged('index-self', (p) => {
      // /docs: the entry for tiny.bin now names /docs itself.
      const { buf, off } = p.record(docs);
      const e = rootEntryNamed(p, buf, 'tiny.bin');
      const ref = Buffer.alloc(6);
      ref.writeUIntLE(docs, 0, 6);
      p.write(off + e, ref);
      // /many: the first index node under the root sends its first entry's child back to itself.
      const mrec = p.record(many);
      const mroot = p.attrs(mrec.buf).find((x) => x.type === 0x90)!;
      const first = mroot.valueAt + 16 + mrec.buf.readUInt32LE(mroot.valueAt + 16);
      const fl = mrec.buf.readUInt16LE(first + 12);
      expect(fl & 1).toBe(1);
      const vcn = Number(mrec.buf.readBigUInt64LE(first + mrec.buf.readUInt16LE(first + 8) - 8));
      const alloc = attrClusters(p.img, many, 160);
      const blockOff = alloc[vcn]! * CS;
      const block = p.read(blockOff, CS);
      const usa = block.readUInt16LE(4);
      for (let i = 1; i < block.readUInt16LE(6); i++) block.writeUInt16LE(block.readUInt16LE(usa + 2 * i), i * 512 - 2);
      const be = 24 + block.readUInt32LE(24);
      const bflags = block.readUInt16LE(be + 12);
      const blen = block.readUInt16LE(be + 8);
      const nameLen = block[be + 16 + 64]!;
      loopName = block.toString('utf16le', be + 16 + 66, be + 16 + 66 + nameLen * 2);
      if (bflags & 1) {
        const self = Buffer.alloc(8);
        self.writeBigUInt64LE(BigInt(vcn));
        p.write(blockOff + be + blen - 8, self);
      } else {
        // A leaf: make its first entry claim a child node, itself.
        loopName = '';
      }
    });
    const vfs = await Vfs.open(img);
    const kids = (await vfs.readdir(await vfs.lookup('/p0/docs'))).map((n) => n.name);
    expect(kids).not.toContain('tiny.bin');
    expect(kids).toContain('a.txt');
    expect((await vfs.readdir(await vfs.lookup('/p0/many'))).length).toBe(10_000);
    // A name sorting before the looping entry's key descends into the loop.
    expect(loopName > 'file00000.txt').toBe(true);
    const err = await vfs.lookup('/p0/many/file00000.txt').catch((e: unknown) => e);
    expect(oneLine(err as DiskpickError)).toMatch(/loops/);
    // Names in other subtrees are still found.
    expect((await vfs.lookup('/p0/many/file09999.txt')).name).toBe('file09999.txt');
    const { errors } = await sweep(vfs);
    expect([...errors.keys()].filter((p) => !p.startsWith('/many'))).toEqual([]);
  });

  it('a name holding "/" in the index: the listing by column keeps every name whole and in step', async () => {
    const docs = inodeOf(base, '/docs');
    const img = damaged('index-slash', (p) => {
      const { buf, off } = p.record(docs);
      const e = rootEntryNamed(p, buf, 'tiny.bin');
      // "tiny.bin" -> "tiny/bin": the '.' is the fifth UTF-16 unit.
      p.write(off + e + 16 + 66 + 4 * 2, Buffer.from('/', 'utf16le'));
    });
    const vfs = await Vfs.open(img);
    const dir = await vfs.lookup('/p0/docs');
    const byNode = (await vfs.readdir(dir, { namesOnly: true })).map((n) => n.name);
    const l = await vfs.readdirNames(dir);
    expect(byNode).toContain('tiny/bin');
    expect(l.names).toEqual(byNode);
    expect(l.names.length).toBe(l.types.length);
    // The mount's listing (names kept joined by "/") leaves that one name out, every other whole.
    const fsys = new FuseFs(vfs, { uid: 0, gid: 0, umask: null, log: () => undefined });
    expect(namesOf(await fsys.readdir('/p0/docs')).slice(2)).toEqual(byNode.filter((n) => n !== 'tiny/bin'));
  });

  it('a damaged $MFT record 0 is read from $MFTMirr, with a warning', async () => {
    const img = damaged('mftmirr', (p) => p.write(p.mft[0]! * CS, Buffer.from('BAAD')));
    const vfs = await Vfs.open(img);
    const fs = vfs.info().volumes[0]!.filesystem!;
    expect(fs.warnings.join(' ')).toMatch(/\$MFTMirr/);
    const { ok, errors } = await sweep(vfs);
    expect(errors.size).toBe(0);
    expect(ok.has('/big/seeded50.bin')).toBe(true);
  });

  it('a dirty volume is read as it is, with a warning', async () => {
    const img = damaged('dirty', (p) => {
      const { buf, off } = p.record(3);
      const vi = p.attrs(buf).find((x) => x.type === 0x70)!;
      p.write(off + vi.valueAt + 10, Buffer.from([0x01, 0x00]));
    });
    const vfs = await Vfs.open(img);
    expect(vfs.info().volumes[0]!.filesystem!.warnings.join(' ')).toMatch(/dirty/);
    expect((await sweep(vfs)).errors.size).toBe(0);
  });

  it('an EFS-encrypted file is listed and reading it says encrypted (EFS), not supported', async () => {
    const hello = inodeOf(base, '/hello.txt');
    const img = damaged('efs', (p) => {
      const { buf, off } = p.record(hello);
      const si = p.attrs(buf).find((x) => x.type === 0x10)!;
      const flags = Buffer.alloc(4);
      flags.writeUInt32LE(buf.readUInt32LE(si.valueAt + 32) | 0x4000);
      p.write(off + si.valueAt + 32, flags);
    });
    const vfs = await Vfs.open(img);
    const n = await vfs.lookup('/p0/hello.txt');
    expect(n.stat.attributes).toContain('encrypted');
    const err = await vfs.openFile(n).catch((e: unknown) => e);
    expect((err as DiskpickError).kind).toBe('unsupported');
    expect(oneLine(err as DiskpickError)).toMatch(/encrypted \(EFS\), not supported/);
  });

  it('a truncated image: files past the end fail one by one, the rest read', async () => {
    const img = damaged('truncated', (p) => truncateSync(p.img, 40 * 1024 * 1024));
    const vfs = await Vfs.open(img);
    const { ok, errors } = await sweep(vfs);
    expect(ok.size).toBeGreaterThan(10);
    expect(errors.size).toBeGreaterThan(0);
    for (const e of errors.values()) expect(oneLine(e)).toMatch(/truncated|past the end/);
  });

  it('a folder flagged case-sensitive ($STANDARD_INFORMATION 0x24 bit 0) looks names up exactly', async () => {
    const dir = inodeOf(base, '/Case');
    const img = damaged('casesensitive', (p) => {
      const { buf, off } = p.record(dir);
      const si = p.attrs(buf).find((x) => x.type === 0x10)!;
      const v = Buffer.alloc(4);
      v.writeUInt32LE(buf.readUInt32LE(si.valueAt + 0x24) | 1);
      p.write(off + si.valueAt + 0x24, v);
    });
    const vfs = await Vfs.open(img);
    expect((await vfs.lookup('/p0/Case/MixedCase.TXT')).name).toBe('MixedCase.TXT');
    await expect(vfs.lookup('/p0/Case/mixedcase.txt')).rejects.toMatchObject({ kind: 'notFound' });
    // Other folders stay case-insensitive.
    expect((await vfs.lookup('/p0/case/MixedCase.TXT')).name).toBe('MixedCase.TXT');
    expect((await vfs.lookup('/p0/DOCS/A.TXT')).name).toBe('a.txt');
  });

  it('a boot sector with impossible sizes is refused with one line', async () => {
    const img = damaged('boot', (p) => p.write(0x0d, Buffer.from([0x03])));
    const err = await Vfs.open(img).catch((e: unknown) => e);
    expect(oneLine(err as DiskpickError)).toMatch(/sectors per cluster/);
    expect(readFileSync(img).length).toBeGreaterThan(0);
  });
});
