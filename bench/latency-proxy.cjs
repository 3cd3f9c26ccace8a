/**
 * A TCP proxy that delays every chunk by DELAY ms in each direction (2 x DELAY of round trip),
 * in order: what `tc qdisc … netem delay` does on a link, for kernels without sch_netem (this
 * machine's has none). Bandwidth is not limited. Both diskpick and curl go through it in the
 * remote bench, so their ratio sees the same link.
 *
 *   node latency-proxy.cjs LISTEN_PORT TARGET_HOST:TARGET_PORT DELAY_MS   (prints "ready")
 */
'use strict';
const net = require('node:net');

const [listenPort, target, delayArg] = process.argv.slice(2);
const [host, port] = target.split(':');
const delay = Number(delayArg);

/** Bytes under way per direction before reading pauses: a window, as TCP's (8 MiB / 10 ms is 800 MiB/s, above what either side reads). */
const WINDOW = 8 << 20;

function pipeDelayed(from, to) {
  let queued = 0;
  from.on('data', (chunk) => {
    queued += chunk.length;
    if (queued > WINDOW) from.pause();
    // Equal delays fire in the order they were set: the stream stays in order.
    setTimeout(() => {
      if (to.destroyed) return;
      to.write(chunk, () => {
        queued -= chunk.length;
        if (queued <= WINDOW / 2 && from.isPaused()) from.resume();
      });
    }, delay);
  });
  from.on('end', () => setTimeout(() => to.end(), delay));
  from.on('error', () => to.destroy());
}

const server = net.createServer((client) => {
  client.setNoDelay(true);
  const up = net.connect(Number(port), host);
  up.setNoDelay(true);
  pipeDelayed(client, up);
  pipeDelayed(up, client);
  client.on('close', () => up.destroy());
});
server.listen(Number(listenPort), '127.0.0.1', () => process.stdout.write('ready\n'));
