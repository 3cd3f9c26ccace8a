/**
 * Fuzz worker (a child process of scripts/fuzz.ts): receives image paths, runs exercise() on
 * each and replies with the result and its memory use. The parent kills it when a mutant runs
 * past the time bound; a crash of this process (out of memory, abort) is a finding too.
 */
import { exercise } from './exercise.js';

process.on('unhandledRejection', (err) => {
  const e = err as Error;
  process.send!({ type: 'fatal', message: `unhandled rejection: ${e?.message ?? String(err)}`, stack: e?.stack ?? '' });
  process.exit(70);
});
process.on('uncaughtException', (err) => {
  process.send!({ type: 'fatal', message: `uncaught exception: ${err?.message ?? String(err)}`, stack: err?.stack ?? '' });
  process.exit(70);
});

process.on('message', async (msg: { id: number; path: string }) => {
  const t0 = performance.now();
  const result = await exercise(msg.path);
  const mem = process.memoryUsage();
  process.send!({ type: 'done', id: msg.id, result, ms: performance.now() - t0, rss: mem.rss, heap: mem.heapUsed, external: mem.external + mem.arrayBuffers });
});
process.send!({ type: 'ready' });
