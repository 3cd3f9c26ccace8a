/**
 * QCOW version 1 test images, all written by qemu-img / qemu-io (qemu 7.2 still writes the
 * format, with 4 KiB clusters only): plain, compressed clusters, and an overlay over a backing file
 * that qemu-io wrote into. The oracle is `qemu-img convert -O raw`.
 *
 * `qemu-img convert -c -O qcow` fails in qemu 7.2 (exit 1, no message: its compressed writes
 * span several clusters, which the qcow driver refuses), so compressed clusters are written
 * one cluster at a time with `qemu-io write -c -s FILE`, from seeded text (compresses) and
 * seeded random bytes (does not: qemu then stores the cluster uncompressed).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { qemu, qemuWrite, seededRaw } from './qcow2.js';
import { seededBytes, seededText } from './tree.js';

export function buildQcowSet(dir: string): Record<string, string> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'src'), { recursive: true });
  const p = (n: string) => join(dir, n);
  seededRaw(p('base.raw'), 6, 11);
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow', p('base.raw'), p('plain.qcow')]);
  qemu('qemu-img', ['create', '-f', 'qcow', p('compressed.qcow'), '6M']);
  const cmds: string[] = [];
  for (let i = 0; i < 160; i++) {
    const f = join(dir, 'src', `c${i}`);
    writeFileSync(f, i % 5 === 4 ? seededBytes(300 + i, 4096) : seededText(300 + i, 4096));
    // Every other cluster from the start, then a stretch near the end of the disk.
    const at = i < 100 ? i * 2 * 4096 : 5 * 1024 * 1024 + (i - 100) * 4096;
    cmds.push('-c', `write -c -s ${f} ${at} 4096`);
  }
  cmds.push('-c', `write -P 0x5a ${3 * 1024 * 1024} 65536`);
  qemu('qemu-io', ['-f', 'qcow', ...cmds, p('compressed.qcow')]);
  qemu('qemu-img', ['create', '-f', 'qcow', '-b', 'compressed.qcow', '-F', 'qcow', p('overlay.qcow')]);
  qemuWrite(p('overlay.qcow'), 'qcow', [[0x42, 4096, 65536], [0x24, 5 * 1024 * 1024 + 512, 1024]]);
  // An image cut short in its clusters, for the error path.
  qemu('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow', p('base.raw'), p('cut.qcow')]);
  qemu('truncate', ['-s', '%2', p('cut.qcow')]);
  qemu('truncate', ['-s', '-1M', p('cut.qcow')]);
  rmSync(p('base.raw'));
  rmSync(join(dir, 'src'), { recursive: true, force: true });
  return { dir };
}
