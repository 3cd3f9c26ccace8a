import type { ContainerFormat } from './container.js';
import { qcowFormat } from './qcow.js';
import { qcow2Format } from './qcow2.js';
import { vdiFormat } from './vdi.js';
import { vhdFormat } from './vhd.js';
import { vhdxFormat } from './vhdx.js';
import { vmdkFormat } from './vmdk/vmdk.js';
import { ewfFormat } from './ewf/ewf.js';
import { ovaFormat } from './ova/ova.js';
import { vmaFormat } from './vma/vma.js';
import { compressedFormat } from './compressed.js';

/**
 * Every container format, tried in this order by magic bytes; raw is the fallback and is
 * not listed. Add a format by adding its module here.
 */
export const containerFormats: ContainerFormat[] = [qcowFormat, qcow2Format, vhdxFormat, vdiFormat, vmdkFormat, vhdFormat, ewfFormat, ovaFormat, vmaFormat, compressedFormat];
