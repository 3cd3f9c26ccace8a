/**
 * The web page in a real browser: Debian's Chromium, headless, driven by puppeteer-core (no
 * browser download), keys as a user types them. Every view is compared with the demo image's
 * manifest, and its screenshot is kept in .cache/artifacts/serve/ (checked to be a real PNG of
 * the window's size).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, ROOT, sha256, sha256File, tool } from '../helpers/tools.js';

const DEMO = join(ROOT, 'images', 'fileserver.vmdk');
const ARTIFACTS = join(ROOT, '.cache', 'artifacts', 'serve');
interface ManifestEntry { path: string; type: string; size: number; sha256?: string; mtime: number }
const manifest = (JSON.parse(readFileSync(join(ROOT, 'images', 'fileserver.manifest.json'), 'utf8')) as Record<string, ManifestEntry[]>).p1!;
const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

const W = 1000;
const H = 640;

async function shot(page: Page, name: string): Promise<void> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  const png = readFileSync(file);
  expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  expect(png.readUInt32BE(16)).toBe(W);
  expect(png.readUInt32BE(20)).toBe(H);
}

async function rows(page: Page): Promise<string[]> {
  return page.$$eval('#list tbody td.name a', (as) => as.map((a) => a.textContent ?? ''));
}

async function waitForFile(dir: string, ms = 20_000): Promise<string> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    const done = readdirSync(dir).filter((f) => !f.endsWith('.crdownload'));
    if (done.length) return join(dir, done[0]!);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('no download arrived');
}

describe.skipIf(!chromium)('diskpick serve in Chromium', () => {
  let proc: ChildProcess;
  let url: string;
  let browser: Browser;
  let page: Page;
  let downloads: string;
  let before: string;

  beforeAll(async () => {
    before = await sha256File(DEMO);
    proc = spawn(process.execPath, [CLI, 'serve', DEMO, '--listen', '127.0.0.1:0', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    const line = await new Promise<string>((resolve) => createInterface({ input: proc.stdout! }).once('line', resolve));
    url = (JSON.parse(line) as { url: string }).url;
    browser = await puppeteer.launch({ executablePath: chromium!, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
    page = await browser.newPage();
    await page.setViewport({ width: W, height: H });
    downloads = mkdtempSync(join(tmpdir(), 'dp-serve-dl-'));
    const cdp = await page.createCDPSession();
    await cdp.send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    if (proc) await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    });
    rmSync(downloads, { recursive: true, force: true });
    expect(await sha256File(DEMO)).toBe(before);
  });

  it('lists a folder, filters it, opens a folder and previews a file by keys', async () => {
    await page.goto(`${url}fileserver.vmdk/p1/Users/anna/`, { waitUntil: 'networkidle0' });
    const kids = manifest.filter((m) => m.path.startsWith('/Users/anna/') && m.path.split('/').length === 4);
    // Folders first, then files, each by name: as the page sorts.
    const base = (m: ManifestEntry) => m.path.split('/').pop()!;
    const want = [...kids]
      .sort((a, b) => Number(a.type !== 'dir') - Number(b.type !== 'dir') || base(a).localeCompare(base(b), undefined, { numeric: true, sensitivity: 'base' }))
      .map(base);
    expect(await rows(page)).toEqual(want);
    await shot(page, 'folder');

    await page.keyboard.press('/');
    await page.keyboard.type('note');
    expect(await rows(page)).toEqual(['notes.txt']);
    await shot(page, 'filter');
    await page.keyboard.press('Escape');
    expect(await rows(page)).toHaveLength(kids.length);

    // Preview notes.txt: move the cursor to it, press p; the pane shows the file's text.
    const names = await rows(page);
    for (let i = 0; i < names.indexOf('notes.txt'); i++) await page.keyboard.press('j');
    await page.keyboard.press('p');
    await page.waitForSelector('#side:not([hidden]) pre');
    const text = await page.$eval('#side-body pre', (p) => p.textContent);
    const notes = manifest.find((m) => m.path === '/Users/anna/notes.txt')!;
    expect(sha256(Buffer.from(text ?? '', 'utf8'))).toBe(notes.sha256);
    await shot(page, 'preview');

    // Open the Documents folder with Enter.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Home');
    for (let i = 0; i < names.indexOf('Documents'); i++) await page.keyboard.press('j');
    await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.keyboard.press('Enter')]);
    expect(new URL(page.url()).pathname).toBe('/fileserver.vmdk/p1/Users/anna/Documents/');
    const docs = manifest.filter((m) => m.path.startsWith('/Users/anna/Documents/')).map((m) => m.path.split('/').pop()!);
    expect((await rows(page)).sort()).toEqual(docs.sort());
    await shot(page, 'subfolder');
  });

  it('searches below a folder', async () => {
    await page.goto(`${url}fileserver.vmdk/p1/`, { waitUntil: 'networkidle0' });
    await page.keyboard.press('s');
    await page.keyboard.type('*.TXT');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /found/.test(document.getElementById('status')?.textContent ?? ''));
    const found = (await rows(page)).map((h) => h.replace(/^\/fileserver\.vmdk\/p1/, '')).sort();
    expect(found).toEqual(manifest.filter((m) => m.type === 'file' && /\.txt$/i.test(m.path)).map((m) => m.path).sort());
    await shot(page, 'search');
  });

  it('downloads a file and a folder as ZIP, equal to the manifest', async () => {
    await page.goto(`${url}fileserver.vmdk/p1/Users/anna/`, { waitUntil: 'networkidle0' });
    const names = await rows(page);
    for (let i = 0; i < names.indexOf('notes.txt'); i++) await page.keyboard.press('j');
    await page.keyboard.press('Enter');
    const file = await waitForFile(downloads);
    expect(sha256(readFileSync(file))).toBe(manifest.find((m) => m.path === '/Users/anna/notes.txt')!.sha256);
    rmSync(file);

    await page.keyboard.press('Home');
    for (let i = 0; i < names.indexOf('Documents'); i++) await page.keyboard.press('j');
    await page.keyboard.press('d');
    const zip = await waitForFile(downloads);
    expect(zip.endsWith('Documents.zip')).toBe(true);
    const out = join(downloads, 'unzipped');
    tool('unzip', ['-q', zip, '-d', out]);
    for (const m of manifest.filter((x) => x.type === 'file' && x.path.startsWith('/Users/anna/Documents/'))) {
      expect(sha256(readFileSync(join(out, 'Documents', m.path.slice('/Users/anna/Documents/'.length)))), m.path).toBe(m.sha256);
    }
    expect(spawnSync('unzip', ['-tq', zip]).status).toBe(0);
  });
});
