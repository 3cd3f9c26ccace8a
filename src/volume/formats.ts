import { gptSystem, mbrSystem } from './detect.js';
import type { VolumeSystem } from './system.js';
import { elToritoSystem } from './eltorito/eltorito.js';
import { findLabel } from './lvm2/label.js';
import { probeLuks } from './luks/luks1-header.js';
import { parseBitLockerHeader } from './bitlocker/volume-header.js';

// LVM2, LUKS and BitLocker load only when their magic matched (issue 27: their readers and
// the ciphers under them were loaded at every start). Each line below has the system's own
// probe (a light one from its header module) and hands the rest to the module once loaded.
const lvm2 = async () => (await import('./lvm2/lvm2.js')).lvm2System;
const luks = async () => (await import('./luks/system.js')).luksSystem;
const bitlocker = async () => (await import('./bitlocker/system.js')).bitlockerSystem;

const lvm2System: VolumeSystem = {
  name: 'lvm2',
  probe: (head) => findLabel(head) >= 0,
  readMember: async (src, ctx) => (await lvm2()).readMember!(src, ctx),
  assemble: async (list, ctx) => (await lvm2()).assemble!(list, ctx),
};
const luksSystem: VolumeSystem = {
  name: 'luks',
  beforeFilesystems: true,
  probe: (head) => probeLuks(head) !== null,
  open: async (src, ctx) => (await luks()).open!(src, ctx),
  // Only a detached header (--header) makes a volume without a LUKS magic one.
  openUnmarked: async (src, ctx) => (ctx.keys?.header ? (await luks()).openUnmarked!(src, ctx) : null),
};
const bitlockerSystem: VolumeSystem = {
  name: 'bitlocker',
  beforeFilesystems: true,
  // The module's probe reads further (a To Go volume's metadata), so it runs once the header matched.
  probe: (head, src, sectorSize) => (parseBitLockerHeader(head) ? bitlocker().then((s) => s.probe(head, src, sectorSize)) : false),
  open: async (src, ctx) => (await bitlocker()).open!(src, ctx),
};

/**
 * Every volume system, tried in order by its probe on each volume the tree engine (tree.ts)
 * examines. Add one by adding a line here (later: ldm, md).
 */
export const volumeSystems: VolumeSystem[] = [
  gptSystem,
  mbrSystem,
  elToritoSystem,
  lvm2System,
  luksSystem,
  bitlockerSystem,
];
