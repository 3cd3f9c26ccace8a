/**
 * Extended attributes (kernel Documentation/filesystems/ext4/attributes.rst): entries in the
 * inode body after i_extra_isize and in one external block named by i_file_acl. Values can also
 * live in their own inode (ea_inode feature).
 */
import { corrupt } from '../../errors.js';

export const EXT4_XATTR_MAGIC = 0xea020000;

/** e_name_index → the prefix users see (attributes.rst "Attribute Name Indices"). */
const NAME_PREFIX: Record<number, string> = {
  1: 'user.',
  2: 'system.posix_acl_access',
  3: 'system.posix_acl_default',
  4: 'trusted.',
  6: 'security.',
  7: 'system.',
  8: 'system.richacl',
};

/** One struct ext4_xattr_entry. */
export interface XattrEntry {
  name: string;
  e_name_index: number;
  /** The value, or null when it lives in inode `e_value_inum`. */
  value: Buffer | null;
  e_value_inum: number;
  e_value_size: number;
}

/**
 * Parses entries starting at `entriesAt` in `region`; values are at `valueBase + e_value_offs`
 * (the first entry for in-inode attributes, the block start for an xattr block).
 */
export function parseXattrEntries(region: Buffer, entriesAt: number, valueBase: number, file: string): XattrEntry[] {
  const out: XattrEntry[] = [];
  let o = entriesAt;
  while (o + 4 <= region.length && region.readUInt32LE(o) !== 0) {
    if (o + 16 > region.length) throw corrupt(file, 'xattr entry runs past its region');
    const e_name_len = region[o]!;
    const e_name_index = region[o + 1]!;
    const e_value_offs = region.readUInt16LE(o + 2);
    const e_value_inum = region.readUInt32LE(o + 4);
    const e_value_size = region.readUInt32LE(o + 8);
    if (o + 16 + e_name_len > region.length) throw corrupt(file, 'xattr name runs past its region');
    const suffix = region.subarray(o + 16, o + 16 + e_name_len).toString('latin1');
    const prefix = NAME_PREFIX[e_name_index];
    const name = prefix === undefined ? `unknown${e_name_index}.${suffix}` : prefix + suffix;
    let value: Buffer | null = null;
    if (e_value_inum === 0) {
      const start = valueBase + e_value_offs;
      if (start + e_value_size > region.length) throw corrupt(file, `xattr ${name}: value runs past its region`);
      value = region.subarray(start, start + e_value_size);
    }
    out.push({ name, e_name_index, value, e_value_inum, e_value_size });
    o += (16 + e_name_len + 3) & ~3;
  }
  return out;
}

/**
 * POSIX ACLs are stored in ext4's compact form (version 1, 4-byte entries for owner/mask/other,
 * 8-byte for named users and groups); getfattr/setfattr speak the xattr form (version 2, 8-byte
 * entries, id 0xFFFFFFFF where none). Converting makes `extract --xattrs` restorable.
 */
export function aclToXattrForm(v: Buffer, file: string): Buffer {
  if (v.length < 4 || v.readUInt32LE(0) !== 1) throw corrupt(file, 'posix ACL has an unknown version');
  const entries: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32LE(2, 0);
  entries.push(head);
  let o = 4;
  while (o < v.length) {
    if (o + 4 > v.length) throw corrupt(file, 'posix ACL entry is truncated');
    const tag = v.readUInt16LE(o);
    const perm = v.readUInt16LE(o + 2);
    const e = Buffer.alloc(8);
    e.writeUInt16LE(tag, 0);
    e.writeUInt16LE(perm, 2);
    // ACL_USER (2) and ACL_GROUP (8) carry an id.
    if (tag === 2 || tag === 8) {
      if (o + 8 > v.length) throw corrupt(file, 'posix ACL entry is truncated');
      e.writeUInt32LE(v.readUInt32LE(o + 4), 4);
      o += 8;
    } else {
      e.writeUInt32LE(0xffffffff, 4);
      o += 4;
    }
    entries.push(e);
  }
  return Buffer.concat(entries);
}
