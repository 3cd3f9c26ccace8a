import { gptSystem, mbrSystem } from './detect.js';
import { lvm2System } from './lvm2/lvm2.js';
import { luksSystem } from './luks/system.js';
import { bitlockerSystem } from './bitlocker/system.js';
import type { VolumeSystem } from './system.js';
import { elToritoSystem } from './eltorito/eltorito.js';

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
