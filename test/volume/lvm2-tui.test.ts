/**
 * The browser's rows and image panel for an LVM disk (lvm-a): the VG folder at the top, each LV
 * a volume row with its filesystem and label, the image panel naming PVs and LVs.
 */
import { describe, expect, it } from 'vitest';
import { buildLvmImageA } from '../../scripts/images/lvm.js';
import { Vfs } from '../../src/vfs/vfs.js';
import { loadFolder } from '../../src/tui/listing.js';
import { infoLines } from '../../src/tui/panels.js';
import { cachedImage } from '../helpers/tools.js';

const A = cachedImage('lvm-a.img', (p) => void buildLvmImageA(p));

describe('LVM2 in the browser', () => {
  it('the top level shows the VG as a folder; inside it each LV with its filesystem; the image panel names them', async () => {
    const vfs = await Vfs.open(A);
    try {
      const top = await loadFolder(vfs, vfs.root());
      expect(top.map((e) => e.label)).toEqual(['p1  BOOT  FAT16  "boot"', 'p2  LVM2 PV of VG tvg (3 LVs)  "lvm-a"', 'p3  LVM2 PV of VG tvg (3 LVs)  "lvm-b"', 'tvg/']);
      const vg = top.find((e) => e.label === 'tvg/')!.node;
      const lvs = await loadFolder(vfs, vg);
      expect(lvs.map((e) => [e.label, e.size])).toEqual([['data  DATA  FAT16', '16.0 MiB'], ['mir  mir  ext4', '8.00 MiB'], ['root  root  ext4', '24.0 MiB']]);
      const root = await loadFolder(vfs, lvs.find((e) => e.node.name === 'root')!.node);
      expect(root.map((e) => e.node.path)).toContain('/tvg/root/hello.txt');
      const panel = infoLines(vfs.info()).join('\n');
      expect(panel).toMatch(/^p2 .*\n\s+holds\s+LVM2 PV of VG tvg \(3 LVs\)/m);
      expect(panel).toMatch(/^tvg\/root  size 24\.0 MiB\n\s+what\s+LV linear, 2 segments/m);
    } finally {
      await vfs.close();
    }
  });
});
