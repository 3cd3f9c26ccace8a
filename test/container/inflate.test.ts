/**
 * Decoding a compressed cluster or grain straight into a caller's buffer (src/container/
 * inflate.ts), through node's zlib binding and through the public inflateSync fallback,
 * against zlib's own one-shot decoding of the same data: bytes, how many were written, data
 * that decodes to more than the room, truncated streams, trailing bytes after the stream.
 */
import { constants as zc, deflateRawSync, deflateSync, inflateRawSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Inflater } from '../../src/container/inflate.js';

function seeded(n: number, seed: number, text: boolean): Buffer {
  const b = Buffer.alloc(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = text ? 97 + ((x >>> 16) % 7) : x >>> 24;
  }
  return b;
}

const CS = 65536;
const inputs = [
  ['random', seeded(CS, 1, false)],
  ['text', seeded(CS, 2, true)],
  ['zeros', Buffer.alloc(CS)],
  ['short text', seeded(1000, 3, true)],
] as const;

for (const binding of [true, false]) {
  describe(`inflateInto (${binding ? 'zlib binding' : 'inflateSync fallback'})`, () => {
    for (const [name, data] of inputs) {
      it(`${name}: raw deflate and zlib streams decode to zlib's bytes at an offset, nothing written outside the room`, () => {
        for (const wrapper of ['raw', 'zlib'] as const) {
          const packed = wrapper === 'raw' ? deflateRawSync(data) : deflateSync(data);
          const oracle = wrapper === 'raw' ? inflateRawSync(packed) : inflateSync(packed);
          const inf = new Inflater(wrapper, binding);
          for (let round = 0; round < 2; round++) {
            const out = Buffer.alloc(CS + 100, 0xcc);
            const r = inf.inflateInto(packed, out, 50, CS, true);
            expect(r).toEqual({ written: oracle.length, overflow: false });
            expect(out.subarray(50, 50 + r.written).equals(oracle)).toBe(true);
            expect(out.subarray(0, 50).every((b) => b === 0xcc)).toBe(true);
            // Past `written` but inside the room zlib may leave bytes (it copies in wide chunks).
            expect(out.subarray(50 + CS).every((b) => b === 0xcc)).toBe(true);
          }
        }
      });
    }

    it('bytes after the end of the stream (the rest of a qcow2 sector) are ignored', () => {
      const data = inputs[1][1];
      const packed = Buffer.concat([deflateRawSync(data), seeded(700, 9, false)]);
      const out = Buffer.alloc(CS);
      expect(new Inflater('raw', binding).inflateInto(packed, out, 0, CS, false)).toEqual({ written: CS, overflow: false });
      expect(out.equals(data)).toBe(true);
    });

    it('data that decodes to more than the room fills it and says so', () => {
      const data = seeded(CS + 512, 4, true);
      for (const wrapper of ['raw', 'zlib'] as const) {
        const packed = wrapper === 'raw' ? deflateRawSync(data) : deflateSync(data);
        const out = Buffer.alloc(CS);
        const r = new Inflater(wrapper, binding).inflateInto(packed, out, 0, CS, true);
        expect(r).toEqual({ written: CS, overflow: true });
        expect(out.equals(data.subarray(0, CS))).toBe(true);
      }
    });

    it('a truncated stream is an error when the whole stream is required, else what decodes', () => {
      const data = inputs[1][1];
      const packed = deflateSync(data);
      const cut = packed.subarray(0, packed.length >> 1);
      const inf = new Inflater('zlib', binding);
      expect(() => inf.inflateInto(cut, Buffer.alloc(CS), 0, CS, true)).toThrow();
      const oracle = inflateSync(cut, { finishFlush: zc.Z_SYNC_FLUSH });
      const out = Buffer.alloc(CS);
      const r = inf.inflateInto(cut, out, 0, CS, false);
      expect(r.written).toBe(oracle.length);
      expect(out.subarray(0, r.written).equals(oracle)).toBe(true);
      // The stream is usable again after an error.
      expect(inf.inflateInto(packed, out, 0, CS, true)).toEqual({ written: CS, overflow: false });
      expect(out.equals(data)).toBe(true);
    });

    it('garbage is an error; a range outside the buffer is refused before zlib sees it', () => {
      const inf = new Inflater('zlib', binding);
      expect(() => inf.inflateInto(Buffer.alloc(64, 0xff), Buffer.alloc(CS), 0, CS, true)).toThrow();
      expect(() => inf.inflateInto(deflateSync(inputs[1][1]), Buffer.alloc(CS), 1, CS, true)).toThrow(RangeError);
    });
  });
}
