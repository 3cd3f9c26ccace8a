/**
 * The two sides every container test compares: the virtual disk as diskpick reads it
 * (openContainer, 1 MiB chunks) and as qemu-img converts it to raw.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { DiskpickError } from '../../src/errors.js';
import { openContainer, type OpenContainerOptions } from '../../src/container/open.js';
import type { Container } from '../../src/container/container.js';
import { sha256File } from '../helpers/tools.js';

export interface ReadBack {
  sha256: string;
  size: number;
  container: { format: string; variant: string; sectorSize: number; chain: Container['chain']; warnings: string[] };
}

/** sha256 of the whole virtual disk read through diskpick. */
export async function diskpickSha(path: string, opts: OpenContainerOptions = {}): Promise<ReadBack> {
  const c = await openContainer(path, opts);
  try {
    const h = createHash('sha256');
    const CH = 1 << 20;
    for (let o = 0; o < c.size; o += CH) {
      const b = await c.read(o, CH);
      expect(b.length).toBe(Math.min(CH, c.size - o));
      h.update(b);
    }
    return { sha256: h.digest('hex'), size: c.size, container: { format: c.format, variant: c.variant, sectorSize: c.sectorSize, chain: c.chain, warnings: [...c.warnings] } };
  } finally {
    await c.close();
  }
}

/** sha256 and size of `qemu-img convert -O raw` of the image (the oracle). */
export async function qemuSha(path: string, fmt?: string): Promise<{ sha256: string; size: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'dp-qemu-'));
  try {
    const out = join(dir, 'out.raw');
    execFileSync('qemu-img', ['convert', ...(fmt ? ['-f', fmt] : []), '-O', 'raw', path, out], { stdio: ['ignore', 'pipe', 'pipe'] });
    const size = Number(execFileSync('stat', ['-c', '%s', out], { encoding: 'utf8' }).trim());
    return { sha256: await sha256File(out), size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Opening (and reading all of) the image fails with one DiskpickError line of the given kind. */
export async function expectOneLineError(path: string, kind: DiskpickError['kind'], pattern: RegExp, opts: OpenContainerOptions = {}): Promise<DiskpickError> {
  let caught: unknown = null;
  const t0 = Date.now();
  try {
    await diskpickSha(path, opts);
  } catch (err) {
    caught = err;
  }
  expect(caught, `${path} opened without error`).toBeInstanceOf(DiskpickError);
  const e = caught as DiskpickError;
  expect(e.kind).toBe(kind);
  expect(e.toLine()).toMatch(pattern);
  expect(e.toLine()).not.toContain('\n');
  expect(Date.now() - t0).toBeLessThan(10_000);
  return e;
}
