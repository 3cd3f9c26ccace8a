// Reads a whole container through diskpick's container layer in 4 MiB chunks (what
// `diskpick dd IMAGE -o /dev/null` does, until that command exists), or only opens it.
// Usage: node bench/container-read.mjs IMAGE [read|open]   (needs `npm run build`)
import { openContainer } from '../dist/container/open.js';

const [image, mode = 'read'] = process.argv.slice(2);
const t0 = performance.now();
const c = await openContainer(image);
const t1 = performance.now();
let bytes = 0;
if (mode === 'read') {
  const CHUNK = 4 << 20;
  // Four chunks in flight, as a dd overlapping reads with writes would keep.
  const inflight = [];
  for (let off = 0; off < c.size; off += CHUNK) {
    inflight.push(c.read(off, CHUNK));
    if (inflight.length >= 4) bytes += (await inflight.shift()).length;
  }
  for (const p of inflight) bytes += (await p).length;
}
await c.close();
console.log(JSON.stringify({ openMs: t1 - t0, readMs: performance.now() - t1, bytes, size: c.size }));
