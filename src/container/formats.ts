import type { ContainerFormat } from './container.js';
import { vmdkFormat } from './vmdk.js';

/**
 * Every container format, tried in this order by magic bytes; raw is the fallback and is
 * not listed. Add a format by adding its module here.
 */
export const containerFormats: ContainerFormat[] = [vmdkFormat];
