// Reads a whole container through diskpick's container layer as `diskpick dd IMAGE -o
// /dev/null` does (pump: a ring of reused 4 MiB buffers, two reads in flight), or only opens
// it, and prints the time of each part in-process (no Node start-up in these figures).
// Usage: node bench/container-read.mjs IMAGE [read|open] [chunkMiB] [ahead]   (needs `npm run build`)
import { openContainer } from '../dist/container/open.js';
import { pump } from '../dist/source/chunks.js';

const [image, mode = 'read', chunkMiB = '4', ahead = '2'] = process.argv.slice(2);
const t0 = performance.now();
const c = await openContainer(image);
const t1 = performance.now();
let bytes = 0;
if (mode === 'read') {
  bytes = await pump(c, () => undefined, { chunkSize: Number(chunkMiB) * 1024 * 1024, ahead: Number(ahead) });
}
await c.close();
console.log(JSON.stringify({ openMs: t1 - t0, readMs: performance.now() - t1, bytes, size: c.size }));
