/**
 * The browser asks for an encrypted volume's passphrase when it is opened (issue 22): LVM on
 * LUKS (scripts/images/luks-lvm.ts) opened with no key, p3 entered, a wrong passphrase refused
 * with the one-line error, the right one opening it; the VG inside then appears at the top and
 * its files are those written (the manifest). Nothing typed is ever on the screen.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LUKS_PASSPHRASE } from '../../scripts/images/luks.js';
import { buildLuksLvmImage } from '../../scripts/images/luks-lvm.js';
import { CACHE } from '../helpers/tools.js';
import { KEY, openApp, type Harness } from './harness.js';

const IMG = join(CACHE, 'luks-lvm.img');
let trees: string;
let h: Harness;
const seen: string[] = [];

beforeAll(async () => {
  trees = buildLuksLvmImage(IMG);
  h = await openApp(IMG, { size: { columns: 140, rows: 30 } });
});
afterAll(async () => {
  await h?.close();
});

describe('browse: a locked LUKS volume asks for its passphrase when opened', () => {
  it('asks on Enter, refuses a wrong passphrase, opens with the right one; the VG appears', async () => {
    await h.waitFor((f) => /p3 .*LUKS2 \(locked\)/.test(f), 'p3 shown locked');
    await h.press(KEY.down, KEY.down, KEY.enter);
    seen.push(await h.waitFor((f) => f.includes('/p3 (LUKS2) passphrase, not shown'), 'the prompt'));
    h.burst('not-the-passphrase');
    await h.press(KEY.enter);
    seen.push(await h.waitFor((f) => /wrong key/.test(f), 'the wrong-key line'));
    expect(h.frame()).toContain('/p3 (LUKS2) passphrase, not shown');
    h.burst(LUKS_PASSPHRASE);
    seen.push(h.frame());
    await h.press(KEY.enter);
    // p3 holds an LVM2 PV: its VG appears at the top, and the browser says where its LVs are.
    seen.push(await h.waitFor((f) => /^\s+vgubuntu/m.test(f), 'the VG at the top'));
    seen.push(await h.waitFor((f) => f.includes('logical volumes are the folders under /vgubuntu'), 'where the LVs are'));
    expect(h.frame()).toMatch(/p3 {2}LUKS2: LUKS2 aes-xts-plain64/);
  });

  it('the VG folder reads: root holds the files written', async () => {
    await h.press(KEY.down, KEY.enter);
    seen.push(await h.waitFor((f) => f.includes('swap_1'), 'the LVs'));
    await h.press(KEY.enter);
    seen.push(await h.waitFor((f) => f.includes('hello.txt'), 'the root LV'));
    expect(readFileSync(join(trees, 'root', 'hello.txt'), 'utf8')).toContain('hello from root');
  });

  it('never shows what was typed', () => {
    for (const f of [...seen, h.frame()]) {
      expect(f).not.toContain(LUKS_PASSPHRASE);
      expect(f).not.toContain('not-the-passphrase');
    }
  });
});
