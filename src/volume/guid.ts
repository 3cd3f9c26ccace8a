/** GUIDs are read alike by containers, volume systems and filesystems: src/source/bytes.ts. */
export { formatGuid, isZeroGuid } from '../source/bytes.js';
