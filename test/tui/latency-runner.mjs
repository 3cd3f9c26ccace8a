// Runs the built App (dist/) with React's production build, as `diskpick browse` ships, on a
// folder given on the command line; sends keys and prints per-key wall and CPU times as JSON.
// Spawned by large.test.tsx with NODE_ENV=production (vitest itself runs React in development mode).
import { createElement } from 'react';
import { render } from 'ink-testing-library';
const [, , dist, image, folder, count] = process.argv;
const { Vfs } = await import(`${dist}/vfs/vfs.js`);
const { App } = await import(`${dist}/tui/App.js`);
const vfs = await Vfs.open(image);
const inst = render(createElement(App, { vfs, cwd: process.cwd(), color: false, size: { columns: 100, rows: 30 }, start: folder }));
// eslint-disable-next-line no-control-regex
const frame = () => (inst.lastFrame() ?? '').replace(/\u001B\[[0-9;?]*[A-Za-z]/g, '');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const until = async (pred, what) => {
  const t0 = performance.now();
  while (!pred(frame())) {
    if (performance.now() - t0 > 20000) throw new Error(`timeout: ${what}\n${frame()}`);
    await sleep(1);
  }
};
const total = Number(count);
await until((f) => f.includes(` 1/${total}`), 'the folder');
await sleep(200);
const results = [];
const key = async (name, k, pred) => {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  inst.stdin.write(k);
  await until(pred, name);
  const c = process.cpuUsage(c0);
  results.push({ name, wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 });
};
const pos = (n) => (f) => new RegExp(` ${n}/${total}\\b`).test(f);
// Warm-up (JIT, first layouts), not measured: down and up again.
for (const k of ['\u001B[B', '\u001B[A']) {
  const before = frame();
  inst.stdin.write(k);
  await until((f) => f !== before, 'warm-up');
}
let at = 1;
for (let i = 0; i < 10; i++) await key('down', '\u001B[B', pos(++at));
for (let i = 0; i < 5; i++) { at += 24; await key('pageDown', '\u001B[6~', pos(at)); }
await key('end', '\u001B[F', pos(total));
await key('home', '\u001B[H', pos(1));
await key('/', '/', (f) => f.includes('filter: _'));
await key('filter 9', '9', (f) => f.includes('filter: 9_'));
await key('filter 99', '9', (f) => f.includes('filter: 99_'));
await key('backspace', '\u007F', (f) => f.includes('filter: 9_'));
await key('esc', '\u001B', (f) => !f.includes('filter:'));
await key('select all', 'a', (f) => f.includes(`selected: ${total} `));
await key('unselect all', 'a', (f) => !f.includes('selected:'));
inst.unmount();
await vfs.close();
process.stdout.write(JSON.stringify(results));
process.exit(0);
