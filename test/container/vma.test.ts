/**
 * Proxmox VMA archives and their compressed forms. Oracles: the raw disks the archive was
 * written from (scripts/images/vma.ts, after vma_spec.txt), byte for byte, also through
 * `diskpick dd`; the FAT builder's manifest for files; the facts the writer put in the header;
 * Debian's zstd, lzop and gzip for the compressed streams. Proxmox's `vma` is not in Debian.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, renameSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openContainer } from '../../src/container/open.js';
import { openVmaDevices } from '../../src/container/vma/vma.js';
import { md5WithHole } from '../../src/container/vma/header.js';
import { FileSource } from '../../src/source/file.js';
import { configureStreamCache } from '../../src/source/stream-cache.js';
import { useNativeCodecs } from '../../src/source/codecs.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { DiskpickError } from '../../src/errors.js';
import type { Container } from '../../src/container/container.js';
import { CACHE, diskpick, sha256File, tool } from '../helpers/tools.js';
import { buildVma, VMA, vmaExtent, vmaHeader, vmaSources, vmstateBytes } from '../../scripts/images/vma.js';
import type { ManifestEntry } from '../../scripts/images/tree.js';

let paths: ReturnType<typeof buildVma>;
const hashes = new Map<string, string>();
const work = mkdtempSync(join(tmpdir(), 'dp-vma-'));

beforeAll(async () => {
  paths = buildVma(CACHE);
  for (const p of Object.values(paths)) hashes.set(p, await sha256File(p));
}, 180_000);

afterAll(async () => {
  configureStreamCache({});
  for (const [p, h] of hashes) expect(await sha256File(p), p).toBe(h);
  rmSync(work, { recursive: true, force: true });
});

async function digest(c: { size: number; read(o: number, n: number): Promise<Buffer> }): Promise<string> {
  const h = createHash('sha256');
  for (let off = 0; off < c.size; off += 1 << 20) h.update(await c.read(off, 1 << 20));
  return h.digest('hex');
}

async function failure(p: string): Promise<DiskpickError> {
  const e = await openContainer(p).then(async (c: Container) => {
    await c.close();
    return null;
  }, (err: unknown) => err);
  expect(e, p).toBeInstanceOf(DiskpickError);
  return e as DiskpickError;
}

describe('VMA', () => {
  it('every device reads as the raw disk it was written from (zero blocks left out read as zeros); the VM state is no disk', async () => {
    const [disk1, disk2] = vmaSources(CACHE);
    const f = await FileSource.open(paths.vma);
    const devices = await openVmaDevices(f);
    try {
      expect(devices.map((d) => d.variant)).toEqual(['device drive-scsi0, 1 of 2', 'device drive-scsi1, 2 of 2']);
      expect(devices.map((d) => d.size)).toEqual([statSync(disk1!).size, statSync(disk2!).size]);
      expect(await digest(devices[0]!)).toBe(await sha256File(disk1!));
      // The index holds exactly the raw disk's clusters that are not all zeros.
      const rawDisk = readFileSync(disk1!);
      let nonZero = 0;
      for (let o = 0; o < rawDisk.length; o += 65536) if (!rawDisk.subarray(o, o + 65536).equals(Buffer.alloc(Math.min(65536, rawDisk.length - o)))) nonZero++;
      expect(devices[0]!.details['device 1']).toBe(`drive-scsi0, ${rawDisk.length} bytes, ${nonZero} clusters with data (shown)`);
      expect(await digest(devices[1]!)).toBe(await sha256File(disk2!));
      // Reads across cluster and block edges, odd sizes.
      const raw = readFileSync(disk1!);
      for (const [o, n] of [[65536 - 3, 9], [4096 * 5 - 1, 70000], [raw.length - 5000, 9000], [1048576 + 12345, 300001]] as const) {
        expect((await devices[0]!.read(o, n)).equals(raw.subarray(o, o + n)), `${o}+${n}`).toBe(true);
      }
    } finally {
      await devices[0]!.close();
    }
  });

  it('large reads (one preadv over consecutive extents, headers and other devices\' blocks skipped) give the raw disks\' bytes at any offset; a file cut after open is a one-line truncated error', async () => {
    const sources = vmaSources(CACHE);
    const copy = join(work, 'gather.vma');
    copyFileSync(paths.vma, copy);
    const f = await FileSource.open(copy);
    const devices = await openVmaDevices(f);
    try {
      let seed = 12345;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (const [i, d] of devices.entries()) {
        const raw = readFileSync(sources[i]!);
        for (let k = 0; k < 25; k++) {
          const n = 256 * 1024 + rnd(5 << 20);
          const o = rnd(Math.max(1, d.size - 1000));
          const want = raw.subarray(o, o + n);
          const target = Buffer.alloc(n + 100, 0xee);
          expect(await d.readInto!(target, 50, o, n), `${i} ${o}+${n}`).toBe(want.length);
          expect(target.subarray(50, 50 + want.length).equals(want), `${i} ${o}+${n}`).toBe(true);
          // Nothing written around the span.
          expect(target.subarray(0, 50).equals(Buffer.alloc(50, 0xee))).toBe(true);
          expect((await d.read(o, n)).equals(want), `read ${i} ${o}+${n}`).toBe(true);
        }
      }
      truncateSync(copy, statSync(copy).size >> 1);
      const err = await devices[0]!.read(devices[0]!.size - (4 << 20), 4 << 20).then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(DiskpickError);
      expect((err as Error).message).toMatch(/truncated: data at host offset \d+ is past the end of the file/);
    } finally {
      await devices[0]!.close();
    }
  });

  it('opened as an image: the first disk, its files as the manifest says, info names configs, devices, time and UUID', async () => {
    const manifests = JSON.parse(readFileSync(`${vmaSources(CACHE)[0]}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    const vfs = await Vfs.open(paths.vma);
    try {
      for (const [vol, entries] of Object.entries(manifests)) {
        for (const m of entries.filter((e) => e.type === 'file').slice(0, 40)) {
          const s = await vfs.openFile(await vfs.lookup(`/${vol}${m.path}`));
          expect(createHash('sha256').update(await s.read(0, s.size)).digest('hex'), m.path).toBe(m.sha256);
        }
      }
      const c = vfs.info().container;
      expect(c.format).toBe('vma');
      const d = c.details!;
      expect(d.UUID).toBe(VMA.uuid);
      expect(d['backup time']).toBe(new Date(VMA.ctime * 1000).toISOString());
      expect(d['config files']).toBe(`qemu-server.conf (${VMA.config.length} bytes), qemu-server.fw (${VMA.firewall.length} bytes)`);
      expect(d['device 1']).toMatch(new RegExp(`^drive-scsi0, ${statSync(vmaSources(CACHE)[0]!).size} bytes, \\d+ clusters with data \\(shown\\)$`));
      expect(d['device 2']).toMatch(/^drive-scsi1, 1474560 bytes, \d+ clusters with data$/);
      expect(d['device 3']).toBe(`vmstate, ${vmstateBytes().length} bytes (VM state)`);
    } finally {
      await vfs.close();
    }
  });

  it('the second device is the image\'s further disk (moreDisks), from the .vma and the .vma.zst alike', async () => {
    configureStreamCache({});
    for (const p of [paths.vma, paths.zst]) {
      const c = await openContainer(p);
      try {
        const more = (c as unknown as { moreDisks: Array<{ label: string; container: Container }> }).moreDisks;
        expect(more.map((m) => m.label)).toEqual([`${p}:drive-scsi1 (VMA device 2)`]);
        expect(await digest(more[0]!.container)).toBe(await sha256File(vmaSources(CACHE)[1]!));
      } finally {
        await c.close();
      }
    }
  });

  it('every interface sees the second device as /disk2: its files as the manifest says, through cat', async () => {
    const manifest = JSON.parse(readFileSync(`${vmaSources(CACHE)[1]}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    const files = manifest.p0!.filter((e) => e.type === 'file').slice(0, 5);
    expect(files.length).toBeGreaterThan(0);
    for (const p of [paths.vma, paths.gz]) {
      for (const f of files) {
        const r = diskpick(['cat', p, `/disk2/p0${f.path}`]);
        expect(r.status, `${p} ${f.path}`).toBe(0);
        expect(createHash('sha256').update(r.stdout).digest('hex'), f.path).toBe(f.sha256);
      }
    }
  });

  it('diskpick dd writes the first disk byte for byte; a file is cat the same as from the raw disk', async () => {
    const out = join(work, 'dd.raw');
    const r = diskpick(['dd', '-q', paths.vma, '-o', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(await sha256File(out)).toBe(await sha256File(vmaSources(CACHE)[0]!));
    rmSync(out);
    const a = diskpick(['cat', paths.vma, '/p1/big.bin']);
    const b = diskpick(['cat', vmaSources(CACHE)[0]!, '/p1/big.bin']);
    expect(a.status).toBe(0);
    expect(a.stdout.length).toBeGreaterThan(1 << 20);
    expect(a.stdout.equals(b.stdout)).toBe(true);
  });

  it('damaged archives: cut short, a header MD5 that does not match, a cluster past its device, an extent of another archive: one line, exit 3', async () => {
    const b = readFileSync(paths.vma);
    const headerSize = b.readUInt32BE(56);
    const put = (name: string, data: Buffer) => {
      const p = join(work, name);
      writeFileSync(p, data);
      return p;
    };
    const patchedExtent = (edit: (e: Buffer) => void) => {
      const c = Buffer.from(b);
      const e = c.subarray(headerSize, headerSize + 512);
      edit(e);
      md5WithHole(e, 24).copy(e, 24);
      return c;
    };
    const cases: Array<[string, Buffer, RegExp]> = [
      ['cut.vma', b.subarray(0, b.length - 2000), /truncated: the extent at offset \d+ ends at \d+, past the end of the file/],
      ['cut-header.vma', b.subarray(0, headerSize - 100), /truncated/],
      ['md5.vma', (() => { const c = Buffer.from(b); c[12288 + 40] ^= 0x20; return c; })(), /header MD5 does not match/],
      ['past.vma', patchedExtent((e) => e.writeUInt32BE(0x00ffffff, 40 + 4)), /cluster 16777215 of device drive-scsi0 .* is past the device's end \(104857600 bytes\)/],
      ['twice.vma', patchedExtent((e) => e.copy(e, 48, 40, 48)), /stored twice|block_count/],
      ['uuid.vma', patchedExtent((e) => { e[8] ^= 1; }), /belongs to another archive/],
      ['extent-md5.vma', (() => { const c = Buffer.from(b); c[headerSize + 44] ^= 1; return c; })(), /extent header at offset \d+ is damaged \(MD5/],
    ];
    for (const [name, data, re] of cases) {
      const p = put(name, data);
      expect((await failure(p)).message, name).toMatch(re);
      const r = diskpick(['ls', p, '/']);
      expect(r.status, name).toBe(3);
      expect(r.stderr.trimEnd().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(new RegExp(`^diskpick: ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: (VMA: |truncated: VMA header)`));
    }
  });
});

describe('hostile VMA', () => {
  it('clusters scattered one per index page over a 4 TiB device: the index costs less memory than the archive', async () => {
    const uuid = '11111111222233334444555555555555';
    const spec = { uuid, ctime: 0, configs: [], devices: [{ name: 'drive-scsi0' }] };
    const block = Buffer.alloc(4096, 0x5a);
    const extents: Buffer[] = [];
    // 100 extents of 59 clusters, each cluster 4096 clusters (256 MiB) from the last, one block each.
    for (let e = 0; e < 100; e++) {
      extents.push(vmaExtent(uuid, Array.from({ length: 59 }, (_, i) => ({ devId: 1, cluster: (e * 59 + i) * 4096, mask: 1 << (i % 16), blocks: [block] }))));
    }
    const file = Buffer.concat([vmaHeader(spec, [4 * 2 ** 40]), ...extents]);
    const p = join(work, 'scattered.vma');
    writeFileSync(p, file);
    const f = await FileSource.open(p);
    const [d] = await openVmaDevices(f);
    try {
      const index = (d as unknown as { index: { memoryBytes: number; clusters: number } }).index;
      expect(index.clusters).toBe(5900);
      expect(index.memoryBytes).toBeLessThan(file.length);
      // Each scattered cluster reads back: its one block at its place, zeros around it.
      const c = 77 * 4096;
      const got = await d!.read(c * 65536, 65536);
      const blockAt = 77 % 59 % 16;
      expect(got.subarray(blockAt * 4096, blockAt * 4096 + 4096).equals(block)).toBe(true);
      expect(got.subarray(0, blockAt * 4096).equals(Buffer.alloc(blockAt * 4096))).toBe(true);
      expect((await d!.read(c * 65536 + 65536, 65536)).equals(Buffer.alloc(65536))).toBe(true);
    } finally {
      await d!.close();
    }
  });
});

describe('compressed VMA (.vma.zst, .vma.lzo, .vma.gz)', () => {
  it('each reads as the raw disk, through a temporary cache that leaves nothing behind', async () => {
    const xdg = join(work, 'xdg');
    mkdirSync(xdg);
    const was = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = xdg;
    try {
      configureStreamCache({});
      const want = await sha256File(vmaSources(CACHE)[0]!);
      for (const p of [paths.zst, paths.lzo, paths.gz]) {
        const c = await openContainer(p);
        try {
          expect(c.chain[0]!.variant, p).toMatch(/^device drive-scsi0, 1 of 2, in a (zstd|lzop|gzip) stream$/);
          expect(c.details!['stream cache']).toMatch(/^temporary/);
          expect(await digest(c), p).toBe(want);
        } finally {
          await c.close();
        }
      }
      // The temporary cache is unlinked as soon as it is made.
      expect(readdirSync(join(xdg, 'diskpick'))).toEqual([]);
    } finally {
      if (was === undefined) delete process.env.XDG_CACHE_HOME;
      else process.env.XDG_CACHE_HOME = was;
    }
  });

  it('the JavaScript forms (fzstd, deflate chunks) give the same disk', async () => {
    useNativeCodecs(false);
    try {
      configureStreamCache({});
      const c = await openContainer(paths.zst);
      try {
        expect(await digest(c)).toBe(await sha256File(vmaSources(CACHE)[0]!));
      } finally {
        await c.close();
      }
    } finally {
      useNativeCodecs(true);
    }
  });

  it('--cache DIR: kept and reused; a stale or damaged cache is rebuilt with a warning', async () => {
    const dir = join(work, 'keep');
    mkdirSync(dir);
    const input = join(work, 'copy.vma.zst');
    copyFileSync(paths.zst, input);
    configureStreamCache({ dir });
    const want = await sha256File(vmaSources(CACHE)[0]!);
    const open = async (expectWarning: RegExp | null, how: string) => {
      const c = await openContainer(input);
      try {
        expect(c.details!['stream cache']).toMatch(new RegExp(`diskpick-cache \\(${how}\\)$`));
        if (expectWarning) expect(c.warnings.join('\n')).toMatch(expectWarning);
        else expect(c.warnings).toEqual([]);
        expect(await digest(c)).toBe(want);
      } finally {
        await c.close();
      }
    };
    try {
      await open(null, 'made now');
      const [cacheFile] = readdirSync(dir);
      expect(cacheFile).toMatch(/^copy\.vma\.zst\.[0-9a-f]{12}\.diskpick-cache$/);
      await open(null, 'reused');
      // Cache size against the image: the decoded stream recompressed at zstd -1.
      expect(statSync(join(dir, cacheFile!)).size).toBeLessThan(statSync(paths.vma).size * 1.05);
      utimesSync(input, new Date(), new Date(Date.now() + 5000));
      await open(/stream cache .* is made from another version of the input .*: rebuilt/, 'made now');
      await open(null, 'reused');
      truncateSync(join(dir, cacheFile!), 100_000);
      await open(/stream cache .* is damaged .*: rebuilt/, 'made now');
      expect(readdirSync(dir)).toEqual([cacheFile]);
      // From the command line: the same, and the input is never written.
      const r = diskpick(['--cache', dir, 'info', input]);
      expect(r.status).toBe(0);
      expect(r.stdout.toString()).toMatch(/stream cache: .*\(reused\)/);
    } finally {
      configureStreamCache({});
    }
  });

  it('--cache DIR: a reuse opens from the VMA index kept in the cache (a few chunks decoded, the same bytes); a damaged index record is rebuilt with a warning', async () => {
    const dir = join(work, 'keep-side');
    mkdirSync(dir);
    const input = join(work, 'side.vma.zst');
    copyFileSync(paths.zst, input);
    configureStreamCache({ dir });
    const want = await sha256File(vmaSources(CACHE)[0]!);
    const raw = readFileSync(vmaSources(CACHE)[0]!);
    type Stats = { stats: { chunksDecoded: number }; size: number; putSide(n: string, b: Buffer): boolean; side(n: string): Buffer | string | null };
    const cacheOf = (c: Container) => (c as unknown as { cache: Stats }).cache;
    const open = async (warning: RegExp | null) => {
      const c = await openContainer(input);
      const cache = cacheOf(c);
      const atOpen = cache.stats.chunksDecoded;
      if (warning) expect(c.warnings.join('\n')).toMatch(warning);
      else expect(c.warnings).toEqual([]);
      return { c, cache, atOpen, chunks: Math.ceil(cache.size / (1 << 20)) };
    };
    try {
      const first = await open(null);
      // The first open walks the stream: every chunk that holds an extent header is decoded.
      expect(first.atOpen).toBeGreaterThan(3);
      const details = first.c.details;
      await first.c.close();
      const cacheFile = join(dir, readdirSync(dir)[0]!);
      const reuse = async (warning: RegExp | null) => {
        const r = await open(warning);
        try {
          expect(r.c.details, 'the same index: extents, clusters per device').toEqual({ ...details, 'stream cache': `${cacheFile} (reused)` });
          if (!warning) {
            // The header's chunk, the last extent's: a handful, of the cache's ~24.
            expect(r.atOpen).toBeLessThanOrEqual(3);
            // One MiB of the disk decodes only the chunks that hold it.
            const o = 40 << 20;
            expect((await r.c.read(o, 1 << 20)).equals(raw.subarray(o, o + (1 << 20)))).toBe(true);
            expect(r.cache.stats.chunksDecoded - r.atOpen).toBeLessThanOrEqual(3);
          }
          expect(await digest(r.c)).toBe(want);
          return r.cache;
        } finally {
          await r.c.close();
        }
      };
      await reuse(null);
      // A flipped byte in the record's body: its SHA-256 no longer matches.
      const b = readFileSync(cacheFile);
      b[b.length - 7] ^= 0x40;
      writeFileSync(cacheFile, b);
      await reuse(/VMA index kept in the stream cache is damaged \(its SHA-256 does not match\): rebuilt/);
      await reuse(null);
      // A record cut short.
      truncateSync(cacheFile, statSync(cacheFile).size - 100);
      await reuse(/VMA index kept in the stream cache is damaged \(the side record at \d+ claims \d+ bytes\): rebuilt/);
      await reuse(null);
      // A record whose SHA-256 matches but whose headers do not walk the archive (one missing).
      const c = await openContainer(input);
      const cache = cacheOf(c);
      const body = cache.side('vma-extent-headers/1') as Buffer;
      expect(body.length % 512).toBe(0);
      expect(cache.putSide('vma-extent-headers/1', body.subarray(0, body.length - 512))).toBe(true);
      await c.close();
      await reuse(/VMA index kept in the stream cache is damaged \(.*truncated.*\): rebuilt/);
      await reuse(null);
      // Hostile records: random bytes of the record (frame or body) changed in the file, or of
      // the body written back with a matching SHA-256. Each open warns, rebuilds, and reads
      // the disk's bytes; the next open is clean again.
      let seed = 99;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      for (let k = 0; k < 16; k++) {
        if (k % 2 === 0) {
          const f = readFileSync(cacheFile);
          const recordAt = f.length - body.length - 72;
          for (let j = 0; j <= rnd(3); j++) f[recordAt + rnd(72 + body.length)] ^= 1 + rnd(255);
          writeFileSync(cacheFile, f);
        } else {
          const c2 = await openContainer(input);
          const kept = cacheOf(c2).side('vma-extent-headers/1') as Buffer;
          const m = Buffer.from(kept);
          for (let j = 0; j <= rnd(3); j++) m[rnd(m.length)] ^= 1 + rnd(255);
          expect(cacheOf(c2).putSide('vma-extent-headers/1', m)).toBe(true);
          await c2.close();
        }
        const r = await open(/VMA index kept in the stream cache is damaged \(.+\): rebuilt/);
        try {
          const o = rnd(raw.length - (4 << 20));
          expect((await r.c.read(o, 4 << 20)).equals(raw.subarray(o, o + (4 << 20))), `mutant ${k}`).toBe(true);
          expect(r.c.details['extents'], `mutant ${k}`).toBe(details['extents']);
        } finally {
          await r.c.close();
        }
        const again = await open(null);
        expect(again.atOpen).toBeLessThanOrEqual(3);
        await again.c.close();
      }
    } finally {
      configureStreamCache({});
    }
  });

  it('cut-short and damaged streams: one line naming the file, exit 3; a --cache that is no folder: exit 2', async () => {
    const put = (name: string, data: Buffer) => {
      const p = join(work, name);
      writeFileSync(p, data);
      return p;
    };
    const zst = readFileSync(paths.zst);
    const lzo = readFileSync(paths.lzo);
    const gz = readFileSync(paths.gz);
    const cases: Array<[string, Buffer, RegExp]> = [
      ['cut.vma.zst', zst.subarray(0, zst.length >> 1), /zstd stream: .*cut short/],
      ['cut.vma.lzo', lzo.subarray(0, lzo.length >> 1), /lzop stream: cut short/],
      ['cut.vma.gz', gz.subarray(0, gz.length >> 1), /gzip stream: unexpected end of file/],
      ['bad.vma.lzo', (() => { const c = Buffer.from(lzo); c[lzo.length >> 1] ^= 0xff; return c; })(), /lzop stream: /],
      ['bad.vma.gz', (() => { const c = Buffer.from(gz); c[gz.length >> 1] ^= 0xff; return c; })(), /gzip stream: /],
      ['bad.vma.zst', (() => { const c = Buffer.from(zst); c[zst.length >> 1] ^= 0xff; return c; })(), /zstd stream: /],
    ];
    for (const [name, data, re] of cases) {
      const p = put(name, data);
      configureStreamCache({});
      expect((await failure(p)).message, name).toMatch(re);
      const r = diskpick(['ls', p, '/']);
      expect(r.status, name).toBe(3);
      expect(r.stderr.trimEnd().split('\n'), name).toHaveLength(1);
      expect(r.stderr, name).toMatch(/^diskpick: .*: (zstd|lzop|gzip) stream: /);
    }
    const notDir = diskpick(['--cache', paths.vma, 'ls', paths.zst, '/']);
    expect(notDir.status).toBe(2);
    expect(notDir.stderr).toMatch(/--cache: not a folder/);
  });

  it('a gzip-compressed disk in an OVA (ovf:compression="gzip") reads as its disk', async () => {
    const { buildOva, OVA, ovaSources } = await import('../../scripts/images/ova.js');
    const ova = existsSync(join(CACHE, OVA.name)) ? join(CACHE, OVA.name) : buildOva(CACHE);
    const x = join(work, 'ova-x');
    mkdirSync(x);
    tool('tar', ['-xf', ova, '-C', x]);
    const disk = join(x, OVA.disks[0]!.file);
    tool('gzip', [disk]);
    renameSync(`${disk}.gz`, disk);
    const ovf = readFileSync(join(x, 'appliance.ovf'), 'utf8').replace('ovf:href="appliance-disk1.vmdk"', 'ovf:href="appliance-disk1.vmdk" ovf:compression="gzip"');
    writeFileSync(join(x, 'appliance.ovf'), ovf);
    const out = join(work, 'gz.ova');
    tool('tar', ['--format=ustar', '-C', x, '-cf', out, 'appliance.ovf', ...OVA.disks.map((d) => d.file)]);
    configureStreamCache({});
    const c = await openContainer(out);
    try {
      expect(await digest(c)).toBe(await sha256File(ovaSources(CACHE)[0]!));
    } finally {
      await c.close();
    }
  }, 120_000);
});
