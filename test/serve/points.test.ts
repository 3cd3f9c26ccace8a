/**
 * `diskpick serve` of points in time: each point given is a folder of its own (named as given),
 * whose files are the state that point was made from (scripts/images/points.ts).
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, cachedImage } from '../helpers/tools.js';
import { buildPointsSet, states } from '../../scripts/images/points.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('serve: points in time', () => {
  it('serves a chain level and an internal snapshot side by side, each as its state', async () => {
    const dir = cachedImage('points-set', (d) => void buildPointsSet(d));
    const args = [`${join(dir, 'top.qcow2')}@level:1`, `${join(dir, 'snaps.qcow2')}@snap:second`];
    const proc = spawn(process.execPath, [CLI, 'serve', ...args, '--listen', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const stderr: string[] = [];
    proc.stderr!.on('data', (d: Buffer) => stderr.push(d.toString()));
    try {
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: proc.stdout! }).once('line', resolve);
        proc.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr.join('')}`)));
      });
      const url = (JSON.parse(line) as { url: string }).url.replace(/\/$/, '');
      for (const [folder, k] of [['top.qcow2@level:1', 0], ['snaps.qcow2@snap:second', 1]] as const) {
        for (const [name, data] of Object.entries(states[k]!)) {
          const res = await fetch(`${url}/${encodeURIComponent(folder)}/p0/${name}`);
          expect(res.status, `${folder} ${name}`).toBe(200);
          expect(sha(Buffer.from(await res.arrayBuffer())), `${folder} ${name}`).toBe(sha(data));
        }
        const gone = Object.keys(states[2]!).find((n) => !(n in states[k]!)) ?? 'old.txt';
        if (!(gone in states[k]!)) expect((await fetch(`${url}/${encodeURIComponent(folder)}/p0/${gone}`)).status).toBe(404);
      }
    } finally {
      proc.kill('SIGTERM');
    }
  }, 60_000);
});
