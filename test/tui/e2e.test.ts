/**
 * The real `diskpick browse` binary in a real terminal (tmux 100×30): into a volume, filter,
 * select two files (one of 20 MiB), restore them to a temp folder, quit. The restored files
 * are checked against the manifest's sha256; the screens seen on the way must include the
 * progress panel and the summary. Every wait polls capture-pane (no fixed sleeps).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildGptFatDisk } from '../../scripts/images/fat.js';
import { CLI, cachedImage, diskpick, hasTool, sha256File, type ManifestEntry } from '../helpers/tools.js';

const SESSION = `diskpick-tui-${process.pid}`;
let image: string;
let out: string;

function tmux(...args: string[]): string {
  return execFileSync('tmux', args, { encoding: 'utf8' });
}
const screen = () => tmux('capture-pane', '-p', '-t', SESSION);
const keys = (...k: string[]) => tmux('send-keys', '-t', SESSION, ...k);

/** Every distinct screen seen while waiting, so short-lived screens can be checked later. */
const seen: string[] = [];

async function waitScreen(pred: (s: string) => boolean, what: string, timeoutMs = 20_000, everyMs = 10): Promise<string> {
  const t0 = Date.now();
  for (;;) {
    const s = screen();
    if (seen[seen.length - 1] !== s) seen.push(s);
    if (pred(s)) return s;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}; screen:\n${s}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

describe.skipIf(!hasTool('tmux'))('diskpick browse in tmux', () => {
  beforeAll(() => {
    image = cachedImage('fat-gpt.img', buildGptFatDisk);
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first`);
    out = mkdtempSync(join(tmpdir(), 'tui-e2e-'));
  });

  afterAll(() => {
    spawnSync('tmux', ['kill-session', '-t', SESSION]);
    rmSync(out, { recursive: true, force: true });
  });

  it('navigates, filters, selects two files, restores them with progress and summary, quits', async () => {
    const imageHash = await sha256File(image);
    const manifest = JSON.parse(readFileSync(`${image}.manifest.json`, 'utf8')) as Record<string, ManifestEntry[]>;
    // The pane stays after diskpick exits, showing its exit status.
    const cmd = `cd '${out}' && TZ=UTC '${process.execPath}' '${CLI}' browse '${image}'; echo "diskpick exited $?"; sleep 600`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '100', '-y', '30', cmd);

    await waitScreen((s) => s.includes('p1  GPTDATA') && s.includes('p2  GPTSECOND'), 'the volumes', 60_000);
    keys('Enter');
    await waitScreen((s) => s.includes('fat-gpt.img › p1') && s.includes('big.bin'), 'p1');
    keys('/');
    await waitScreen((s) => s.includes('filter: _'), 'the filter prompt');
    keys('b', 'i', 'n');
    await waitScreen((s) => s.includes('filter: bin_'), 'the filter');
    keys('Enter');
    const filtered = await waitScreen((s) => /filter: bin\s/.test(s), 'the filter kept');
    const want = manifest.p1!.filter((e) => e.path.lastIndexOf('/') === 0 && e.path.endsWith('.bin'));
    expect(filtered).toContain(`/${want.length} of `);
    // big.bin and cluster.bin are the first two in name order.
    keys('Space');
    await waitScreen((s) => s.includes('selected: 1'), 'one selected');
    keys('Space');
    await waitScreen((s) => s.includes('selected: 2'), 'two selected');
    keys('e');
    await waitScreen((s) => s.includes(`Restore 2 entries to: ${out}_`), 'the target prompt');
    keys('Enter');
    const summary = await waitScreen((s) => s.includes('Restore finished'), 'the summary', 60_000, 5);
    expect(summary).toContain(`Restored 2 files (20.0 MiB) to ${out}`);
    expect(summary).toMatch(/\[#+\] 100%/);
    expect(summary).toContain('2/2 files');
    const live = seen.find((s) => s.includes(`Restoring to ${out}`) && s.includes('/2 files'));
    expect(live, `the progress panel was never on screen; screens seen:\n${seen.join('\n-----\n')}`).toBeDefined();
    console.info(`progress panel seen on ${seen.filter((s) => s.includes('Restoring to') && s.includes('/2 files')).length} screens`);
    expect(live).toMatch(/\[[#.]+\] +\d+%/);
    expect(live).toMatch(/\d+\/2 files .* of 20\.0 MiB .*\/s +ETA/);

    for (const name of ['big.bin', 'cluster.bin']) {
      const m = manifest.p1!.find((e) => e.path === `/${name}`)!;
      expect(await sha256File(join(out, name)), name).toBe(m.sha256);
    }
    keys('Escape');
    await waitScreen((s) => s.includes('Restored 2 files') && s.includes('filter: bin'), 'back in the list');
    // The terminal shrinks to 80×24: the layout follows (23 rows used, nothing past column 80).
    tmux('resize-window', '-t', SESSION, '-x', '80', '-y', '24');
    const small = await waitScreen((s) => {
      const l = s.split('\n');
      return l[1]!.includes('Name') && l[1]!.trimEnd().endsWith('Modified') && l[1]!.trimEnd().length <= 80 && l[22]!.startsWith('Restored 2 files');
    }, 'the 80×24 layout');
    expect(small.split('\n')[23] ?? '').toBe('');
    keys('q');
    await waitScreen((s) => s.includes('diskpick exited 0'), 'diskpick to exit');
    expect(await sha256File(image)).toBe(imageHash);
  });

  it('keys sent together in one send-keys, as a fast typist types them, all act in order', async () => {
    spawnSync('tmux', ['kill-session', '-t', SESSION]);
    const cmd = `cd '${out}' && '${process.execPath}' '${CLI}' browse '${image}'; echo "diskpick exited $?"; sleep 600`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '100', '-y', '30', cmd);
    await waitScreen((s) => s.includes('p1  GPTDATA') && s.includes('p2  GPTSECOND'), 'the volumes', 60_000);
    // One send-keys each: the keys reach diskpick in one read.
    keys('j', 'Enter');
    await waitScreen((s) => /fat-gpt\.img › p2\s*$/m.test(s.split('\n')[0]!) && s.includes('fragmented.bin'), 'p2 opened by "j Enter"');
    keys('/', 'd', 'o', 'c', 'Enter');
    await waitScreen((s) => /filter: doc\s/.test(s) && s.includes('docs/'), 'the filter "doc" kept');
    keys('Escape', 'j', 'Space');
    // p2 lists deep/, docs/, gaps/ first: "j" moves to docs/, Space selects it.
    const sel = await waitScreen((s) => s.includes('selected: 1'), '"j Space" selected the second row');
    expect(sel.split('\n').find((l) => l.startsWith('* '))).toMatch(/^\* docs\//);
    // Typed faster than drawn: Backspace (up to the volumes), j, k, Enter, Enter in one go.
    keys('BSpace', 'k', 'Enter', 'Enter');
    await waitScreen((s) => /fat-gpt\.img › p1 › deep\s*$/m.test(s.split('\n')[0]!), 'p1/deep opened by "← k Enter Enter"');
    keys('q');
    await waitScreen((s) => s.includes('diskpick exited 0'), 'diskpick to exit');
  });

  it('Ctrl-C leaves with status 130 and gives the shell its screen back', async () => {
    spawnSync('tmux', ['kill-session', '-t', SESSION]);
    const cmd = `echo shell-screen; '${process.execPath}' '${CLI}' browse '${image}'; echo "diskpick exited $?"; sleep 600`;
    tmux('new-session', '-d', '-s', SESSION, '-x', '100', '-y', '30', cmd);
    await waitScreen((s) => s.includes('p1  GPTDATA'), 'the volumes', 60_000);
    keys('C-c');
    const s = await waitScreen((x) => x.includes('diskpick exited'), 'diskpick to exit');
    expect(s).toContain('diskpick exited 130');
    expect(s).toContain('shell-screen');
    expect(s).not.toContain('GPTDATA');
  });

  it('without a terminal it says to use diskpick ls, in one line', () => {
    const r = diskpick(['browse', image]);
    expect(r.status).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`diskpick ls ${image}`);
    expect(r.stdout.length).toBe(0);
  });
});
