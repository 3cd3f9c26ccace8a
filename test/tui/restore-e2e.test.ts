/**
 * Restoring from the real `diskpick browse` in tmux (issue 20): Ctrl-C in the middle of a 1 GiB
 * file leaves nothing cut short (as Esc), a target under /proc ends with one line (Esc ends the
 * check), and the summary counts what was chosen. Oracles: the FAT builders' manifests.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildFatWithLargeFile, buildGptFatDisk } from '../../scripts/images/fat.js';
import { CLI, cachedImage, hasTool, sha256File, type ManifestEntry } from '../helpers/tools.js';

const SESSION = `diskpick-tui-restore-${process.pid}`;
const tmux = (...args: string[]) => execFileSync('tmux', args, { encoding: 'utf8' });
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);

async function waitScreen(pred: (s: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen();
    if (pred(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'tui-restore-'));
  dirs.push(d);
  return d;
};

function start(image: string, cwd: string): void {
  const cmd = `cd '${cwd}' && '${process.execPath}' '${CLI}' browse '${image}'; echo "diskpick exited $?"; sleep 600`;
  tmux('new-session', '-d', '-s', SESSION, '-x', '100', '-y', '30', cmd);
}

describe.skipIf(!hasTool('tmux'))('restoring from the browser', () => {
  let big: string;
  let gpt: string;
  beforeAll(() => {
    big = cachedImage('fat-1g.img', (p) => buildFatWithLargeFile(p, 1 << 30));
    gpt = cachedImage('fat-gpt.img', buildGptFatDisk);
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
  });
  afterEach(() => {
    spawnSync('tmux', ['kill-session', '-t', SESSION]);
  });
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('Ctrl-C in the middle of a 1 GiB file removes it, as Esc does; exit 130', async () => {
    const before = await sha256File(big);
    const out = tmp();
    start(big, out);
    const first = await waitScreen((s) => s.includes('big.bin') || /\bp0\b/.test(s), 'the image', 60_000);
    if (!first.includes('big.bin')) {
      keys('Enter');
      await waitScreen((s) => s.includes('big.bin'), 'the volume');
    }
    keys('e');
    await waitScreen((s) => s.includes(`to: ${out}_`), 'the target prompt');
    keys('Enter');
    const part = join(out, '.big.bin.diskpick-part');
    for (let i = 0; i < 1000 && !(existsSync(part) && statSync(part).size > 16 << 20); i++) await new Promise((r) => setTimeout(r, 10));
    expect(existsSync(part)).toBe(true);
    keys('C-c');
    await waitScreen((s) => s.includes('diskpick exited'), 'the exit');
    expect(screen()).toContain('diskpick exited 130');
    expect(readdirSync(out)).toEqual([]);
    expect(await sha256File(big)).toBe(before);
  });

  it('a target under /proc ends with one line, and the summary counts the entries chosen', async () => {
    const out = tmp();
    const manifest = JSON.parse(readFileSync(`${gpt}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    start(gpt, out);
    await waitScreen((s) => s.includes('p1  GPTDATA'), 'the volumes', 60_000);
    keys('Enter');
    await waitScreen((s) => s.includes('big.bin'), 'p1');
    keys('e');
    await waitScreen((s) => s.includes(`to: ${out}_`), 'the target prompt');
    // One key group per drawn frame (keys sent together are the browser engineer's issue).
    keys('C-u');
    await waitScreen((s) => s.includes('to: _'), 'the prompt emptied');
    keys('/proc/diskpick-none/out');
    await waitScreen((s) => s.includes('to: /proc/diskpick-none/out_'), 'the target typed');
    keys('Enter');
    const err = await waitScreen((s) => s.includes('restore failed'), 'the error', 20_000);
    expect(err).toMatch(/restore failed: \/proc\/diskpick-none: [^\n]+\n/);
    // Back in the list: the image can still be browsed.
    expect(err).toContain('big.bin');
    // Three files chosen, one of them with nothing special: the summary says 3 files.
    const names = manifest.p1!.filter((e) => e.type === 'file' && e.path.lastIndexOf('/') === 0).map((e) => e.path.slice(1)).sort();
    expect(names.length).toBeGreaterThanOrEqual(3);
    keys('/');
    await waitScreen((s) => s.includes('filter: _'), 'the filter prompt');
    keys('txt');
    await waitScreen((s) => s.includes('filter: txt_'), 'the filter typed');
    keys('Enter');
    await waitScreen((s) => /filter: txt\s/.test(s), 'the filter');
    for (let i = 1; i <= 3; i++) {
      keys('Space');
      await waitScreen((s) => s.includes(`selected: ${i}`), `${i} selected`);
    }
    keys('e');
    await waitScreen((s) => s.includes('Restore 3 entries'), 'the target prompt');
    keys('C-u');
    await waitScreen((s) => s.includes('to: _'), 'the prompt emptied');
    keys(out);
    await waitScreen((s) => s.includes(`to: ${out}_`), 'the target typed');
    keys('Enter');
    const sum = await waitScreen((s) => s.includes('Restore finished'), 'the summary');
    expect(sum).toMatch(/Restored 3 files \(/);
    expect(readdirSync(out).filter((n) => !n.startsWith('.'))).toHaveLength(3);
    expect(readdirSync(out).filter((n) => n.includes('diskpick-part'))).toEqual([]);
  });
});
