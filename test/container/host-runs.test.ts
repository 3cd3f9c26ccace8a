/**
 * Container host runs (what the mount's libfuse3 binding preads by itself, docs/fuse.md):
 * every container whose bytes lie in host files as they are — fixed VHD, stored QCOW2
 * clusters (external data file, subclusters, chains over VHD/VHDX/VDI), VHDX payload blocks,
 * VDI blocks, VMDK flat extents and uncompressed sparse grains (KDMV, COWD, SESparse, split
 * parts, delta chains) — gives runs for the whole disk and for windows across cluster, grain
 * and block edges, and the host bytes they name (zeros for fd -1), read here from the files
 * the fds name, equal the oracle (qemu-img convert, or the spec writer's bytes). Containers
 * with compressed clusters or grains, or a VHDX log replayed in memory, give none.
 */
import { closeSync, openSync, readSync, readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openContainer } from '../../src/container/open.js';
import { hostRunsOf, type HostRun } from '../../src/source/source.js';
import { sha256File } from '../helpers/tools.js';
import { CASES } from './cases.js';

const MiB = 1024 * 1024;

/** The bytes the runs name, read from the files behind their fds (opened here, not through diskpick's fd). */
function bytesOfRuns(runs: HostRun[]): Buffer {
  const out = Buffer.alloc(runs.reduce((a, r) => a + r.length, 0));
  let at = 0;
  for (const r of runs) {
    if (r.fd >= 0) {
      const fd = openSync(readlinkSync(`/proc/self/fd/${r.fd}`), 'r');
      try {
        expect(readSync(fd, out, at, r.length, r.offset)).toBe(r.length);
      } finally {
        closeSync(fd);
      }
    }
    at += r.length;
  }
  return out;
}

describe('host runs of every container equal the oracle, or are absent where bytes need decoding', () => {
  for (const k of CASES) {
    it(`${k.name}: ${k.decodes ? 'no runs' : 'whole disk and windows across edges'}`, async () => {
      const path = k.path();
      const sha = await sha256File(path);
      const c = await openContainer(path);
      try {
        const runs = await hostRunsOf(c);
        if (k.decodes) {
          expect(runs).toBeNull();
          return;
        }
        const want = k.oracle(path);
        expect(runs, 'runs given').not.toBeNull();
        expect(runs!.length).toBeGreaterThan(0);
        const got = bytesOfRuns(runs!);
        expect(got.length).toBe(want.length);
        if (!got.equals(want)) {
          let i = 0;
          while (got[i] === want[i]) i++;
          expect.fail(`${path}: host runs differ from the oracle first at virtual offset ${i}`);
        }
        // Windows that start and end inside clusters, grains and blocks.
        for (const [offset, length] of [[1, 511], [65536 - 100, 200], [MiB - 7, 3 * MiB + 11], [want.length - 4097, 4097], [want.length - 10, 100]] as const) {
          if (offset < 0 || offset >= want.length) continue;
          const w = await hostRunsOf(c, offset, length);
          expect(w, `runs of (${offset}, ${length})`).not.toBeNull();
          expect(bytesOfRuns(w!).equals(want.subarray(offset, offset + length)), `bytes of (${offset}, ${length})`).toBe(true);
        }
      } finally {
        await c.close();
      }
      expect(await sha256File(path), `${path} unchanged`).toBe(sha);
    });
  }
});
