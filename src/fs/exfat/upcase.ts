/**
 * The exFAT up-case table (§7.2): how names compare case-insensitively, with its checksum
 * (§7.2.2) and the compressed form's identity runs (§7.2.5).
 */

/** §7.2.2: the up-case table checksum is the boot checksum's rotate-and-add over all its bytes. */
export function tableChecksum(data: Buffer): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = ((((sum & 1) << 31) | (sum >>> 1)) + data[i]!) >>> 0;
  return sum;
}

/**
 * Expands the (possibly compressed) up-case table: FFFFh followed by a count stands for that
 * many identity mappings. A table shorter than 64 Ki characters leaves the rest identity.
 */
export function expandUpcase(data: Buffer): Uint16Array {
  const map = new Uint16Array(0x10000);
  for (let i = 0; i < 0x10000; i++) map[i] = i;
  let ch = 0;
  const n = Math.floor(data.length / 2);
  for (let i = 0; i < n && ch < 0x10000; i++) {
    const v = data.readUInt16LE(i * 2);
    if (v === 0xffff && i + 1 < n && ch !== 0xffff) {
      ch += data.readUInt16LE(++i * 2);
    } else {
      map[ch++] = v;
    }
  }
  return map;
}

/** The mandatory first 128 mappings (§7.2.5, Table 24), used when the volume's table is unusable. */
export function asciiUpcase(): Uint16Array {
  const map = new Uint16Array(0x10000);
  for (let i = 0; i < 0x10000; i++) map[i] = i >= 0x61 && i <= 0x7a ? i - 0x20 : i;
  return map;
}
