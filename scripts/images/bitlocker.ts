/**
 * A small BitLocker fuzz seed cut from a Windows-made volume (the suspended one of the test
 * data, docs/formats/bitlocker.md: its clear key opens it with no key, so mutants get past the
 * key chain without the 2^20-round password stretch). The first MiB of the volume is kept as it
 * is; the three FVE metadata blocks and the encrypted copy of the first sectors move behind it,
 * with the offsets that name them rewritten. The moved header copy decrypts to noise (its IVs
 * are those of its old place); the volume's sectors 16 … 2047 decrypt as on the real volume.
 */
import { closeSync, openSync, readSync, writeFileSync } from 'node:fs';

const MIB = 1 << 20;

export function buildBitLockerSeed(volume: string, out: string): void {
  const fd = openSync(volume, 'r');
  const read = (at: number, n: number) => {
    const b = Buffer.alloc(n);
    readSync(fd, b, 0, n, at);
    return b;
  };
  try {
    const img = Buffer.alloc(2 * MIB);
    read(0, MIB).copy(img, 0);
    const old = [176, 184, 192].map((o) => Number(img.readBigUInt64LE(o)));
    const moved = [MIB, MIB + 64 * 1024, MIB + 128 * 1024];
    const headerAt = MIB + 192 * 1024;
    moved.forEach((at, i) => img.writeBigUInt64LE(BigInt(at), 176 + i * 8));
    const first = read(old[0]!, 64 * 1024);
    const oldHeader = Number(first.readBigUInt64LE(56));
    read(oldHeader, 8192).copy(img, headerAt);
    old.forEach((o, i) => {
      const block = read(o, 64 * 1024);
      block.writeBigUInt64LE(BigInt(2 * MIB), 16);
      moved.forEach((at, j) => block.writeBigUInt64LE(BigInt(at), 32 + j * 8));
      block.writeBigUInt64LE(BigInt(headerAt), 56);
      // A volume-header-block entry (type 0x000f, value type 0x000f) names the copy too.
      const size = block.readUInt32LE(64);
      for (let p = 64 + 48; p + 8 <= 64 + size; ) {
        const n = block.readUInt16LE(p);
        if (n < 8) break;
        if (block.readUInt16LE(p + 2) === 0x000f && block.readUInt16LE(p + 4) === 0x000f) block.writeBigUInt64LE(BigInt(headerAt), p + 8);
        p += n;
      }
      block.copy(img, moved[i]!);
    });
    writeFileSync(out, img);
  } finally {
    closeSync(fd);
  }
}
