/**
 * The registry hive reader (src/vfs/regf) against hivex: hives written by hivexsh/hivexregedit
 * (Debian libhivex-bin, libwin-hivex-perl), read back with hivexsh and hivexget as the oracle.
 * Hostile hives (offsets outside the hive, free cells, sizes and counts past their cells, an
 * index list inside an index list) are one-line errors; random mutants never throw anything
 * else and never hang.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DiskpickError } from '../../src/errors.js';
import { openHostFile } from '../../src/source/index.js';
import { BufferSource } from '../../src/source/source.js';
import { keyValues, openHive } from '../../src/vfs/regf/hive.js';
import { findSubkey, openKey, readKeyNode } from '../../src/vfs/regf/key-node.js';
import { subkeyOffsets } from '../../src/vfs/regf/subkey-list.js';
import { emptyHive, writeHive } from '../../scripts/images/regf.js';
import { hasTool } from '../helpers/tools.js';

const work = mkdtempSync(join(tmpdir(), 'dp-regf-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], input?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', input, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A hive with a 700-subkey key (lh lists), values of every size class, written by hivex. */
function bigHive(): string {
  const path = join(work, 'BIG');
  writeHive(path, [
    ...Array.from({ length: 700 }, (_, i) => ({ path: ['Many', `Key${String(i).padStart(4, '0')}`], values: [] })),
    { path: ['MountedDevices'], values: [{ name: '\\DosDevices\\C:', type: 3, data: Buffer.from('5eed1234000010000000000000', 'hex').subarray(0, 12) }] },
  ]);
  if (hasTool('hivexregedit')) {
    const big = Array.from({ length: 40000 }, (_, i) => (i % 251).toString(16).padStart(2, '0')).join(',');
    writeFileSync(join(work, 'v.reg'), `Windows Registry Editor Version 5.00\n\n[\\Vals]\n"big"=hex:${big}\n"small"=dword:01020304\n"text"="hello world"\n"empty"=hex:\n`);
    run('hivexregedit', ['--merge', path, join(work, 'v.reg')]);
  }
  return path;
}

/** hivexget's values of a key as name → bytes. */
function hivexValues(hive: string, key: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const text = run('hivexget', [hive, key]);
  // `"name"=hex(T):aa,bb,…` (long values are one line here), `"name"=dword:…`, `"name"="text"`.
  for (const line of text.split('\n')) {
    const m = /^"((?:[^"\\]|\\.)*)"=hex\((\w+)\):([0-9a-f,]*)$/.exec(line);
    if (m) out.set(m[1]!.replace(/\\(.)/g, '$1'), Buffer.from(m[3]!.replace(/,/g, ''), 'hex'));
  }
  return out;
}

describe('regf reader against hivex', () => {
  const hive = bigHive();

  it('finds every subkey hivexsh lists, through lh lists', async () => {
    const want = run('hivexsh', [hive], 'cd Many\nls\n').split('\n').filter(Boolean);
    expect(want).toHaveLength(700);
    const src = await openHostFile(hive);
    try {
      const { hive: h, root } = await openHive(src);
      const many = (await findSubkey(h, root, 'many'))!;
      expect(many.number_of_subkeys).toBe(700);
      const names: string[] = [];
      for (const off of await subkeyOffsets(h, many.subkeys_list_offset)) names.push((await readKeyNode(h, off)).name);
      expect(names.sort()).toEqual([...want].sort());
      for (const n of [want[0]!, want[350]!, want[699]!]) expect((await openKey(h, root, ['MANY', n.toLowerCase()]))?.name).toBe(n);
      expect(await openKey(h, root, ['Many', 'Key9999'])).toBeNull();
    } finally {
      await src.close();
    }
  });

  it('values equal hivexget\'s bytes (in the offset field, in a cell, 40 000 bytes)', async (ctx) => {
    const src = await openHostFile(hive);
    try {
      const md = await keyValues(src, ['MountedDevices']);
      const want = hivexValues(hive, 'MountedDevices');
      expect(md!.map((v) => [v.name, v.data.toString('hex')])).toEqual([...want].map(([k, v]) => [k, v.toString('hex')]));
      if (!hasTool('hivexregedit')) return ctx.skip();
      const vals = await keyValues(src, ['Vals']);
      const got = new Map(vals!.map((v) => [v.name, v]));
      expect(got.get('big')!.data.length).toBe(40000);
      expect(got.get('big')!.data).toEqual(Buffer.from(Array.from({ length: 40000 }, (_, i) => i % 251)));
      expect(got.get('small')!.data.readUInt32LE(0)).toBe(0x01020304);
      expect(got.get('text')!.data.toString('utf16le').replace(/\0$/, '')).toBe('hello world');
      expect(got.get('empty')!.data.length).toBe(0);
      // hivexget prints REG_SZ as text and dword as a number; the hex ones must match byte for byte.
      for (const [k, v] of hivexValues(hive, 'Vals')) expect(got.get(k)!.data.toString('hex'), k).toBe(v.toString('hex'));
    } finally {
      await src.close();
    }
  });
});

describe('hostile hives', () => {
  const base = readFileSync(bigHive());
  /** Reads MountedDevices and every subkey of Many; returns the error (must be a DiskpickError) or null. */
  const readAll = async (b: Buffer): Promise<DiskpickError | null> => {
    const src = new BufferSource(b, 'hostile-SYSTEM');
    try {
      await keyValues(src, ['MountedDevices']);
      await keyValues(src, ['Vals']);
      const { hive: h, root } = await openHive(src);
      const many = await findSubkey(h, root, 'Many');
      if (many) await findSubkey(h, many, 'nope');
      return null;
    } catch (err) {
      if (!(err instanceof DiskpickError)) throw err;
      expect(err.message).not.toMatch(/\n/);
      return err;
    }
  };
  const rootAt = 4096 + base.readUInt32LE(36);

  it('each damaged field is a one-line error naming the hive', async () => {
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['no signature', (b) => b.write('regx', 0, 'latin1'), /not a registry hive/],
      ['version 2.0', (b) => b.writeUInt32LE(2, 20), /version 2\.3/],
      ['a transaction log', (b) => b.writeUInt32LE(1, 28), /transaction log/],
      ['root offset past the end', (b) => b.writeUInt32LE(0x7ffffff8, 36), /outside the hive/],
      ['root offset misaligned', (b) => b.writeUInt32LE(0x21, 36), /outside the hive/],
      ['root cell free', (b) => b.writeInt32LE(88, rootAt), /free cell/],
      ['root cell 2 GiB', (b) => b.writeInt32LE(-0x7ffffff8, rootAt), /bad size/],
      ['root not nk', (b) => b.write('xx', rootAt + 4, 'latin1'), /no "nk" signature/],
      ['key name longer than its cell', (b) => b.writeUInt16LE(0xffff, rootAt + 4 + 72), /larger than its cell/],
    ];
    for (const [what, edit, msg] of cases) {
      const b = Buffer.from(base);
      edit(b);
      const err = await readAll(b);
      expect(err?.message, what).toMatch(msg);
      expect(err?.file, what).toBe('hostile-SYSTEM');
    }
  });

  it('lists: a count past its cell, an unknown signature, an index list inside an index list', async () => {
    const src0 = new BufferSource(base, 'hostile-SYSTEM');
    const { hive: h, root } = await openHive(src0);
    const many = (await findSubkey(h, root, 'Many'))!;
    const list = 4096 + many.subkeys_list_offset + 4;
    const edits: [string, (b: Buffer) => void, RegExp][] = [
      ['count', (b) => b.writeUInt16LE(0xffff, list + 2), /larger than its cell/],
      ['signature', (b) => b.write('zz', list, 'latin1'), /unknown signature "zz"/],
      // An ri whose first entry is itself: an index inside an index (would loop).
      ['ri loop', (b) => {
        b.write('ri', list, 'latin1');
        b.writeUInt16LE(1, list + 2);
        b.writeUInt32LE(many.subkeys_list_offset, list + 4);
      }, /index list inside an index list/],
      ['value count', (b) => {
        // MountedDevices claims 2^31 values: more than its value list's cell.
        const md = base.indexOf(Buffer.from('MountedDevices', 'latin1')) - 4 - 76;
        b.writeUInt32LE(0x7fffffff, md + 4 + 36);
      }, /claims 2147483647 values/],
    ];
    for (const [what, edit, msg] of edits) {
      const b = Buffer.from(base);
      edit(b);
      const err = await readAll(b);
      expect(err?.message, what).toMatch(msg);
    }
  });

  it('2 000 random mutants: only one-line errors', async () => {
    let seed = 20;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) / 0x1000000;
    let errors = 0;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.from(base);
      const n = 1 + Math.floor(rnd() * 8);
      for (let k = 0; k < n; k++) {
        // Mostly the first bin (root key, lists, MountedDevices), sometimes anywhere.
        const at = rnd() < 0.8 ? 4096 + Math.floor(rnd() * 4096) : Math.floor(rnd() * b.length);
        const v = [0, 0xff, 0x7f, 0x80, Math.floor(rnd() * 256)][Math.floor(rnd() * 5)]!;
        b[at] = v;
      }
      const cut = rnd() < 0.05 ? b.subarray(0, Math.floor(rnd() * b.length)) : b;
      if (await readAll(cut)) errors++;
    }
    expect(errors).toBeGreaterThan(50);
  });
});

it('the minimal hive the builders start from is one hivex opens', () => {
  const p = join(work, 'EMPTY');
  writeFileSync(p, emptyHive());
  expect(run('hivexsh', [p], 'ls\nlsval\n')).toBe('');
});
