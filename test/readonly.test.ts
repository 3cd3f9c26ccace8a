/**
 * The read-only guarantee (SECURITY.md).
 * (a) A scan of src/: every Node fs call that can open, create, change or remove a host file
 *     appears only where diskpick writes OUTPUT (restore engine, dd, FUSE, TUI) or in the one
 *     image opener, src/source/file.ts, which opens with O_RDONLY and nothing else.
 * (b) Every command (info, ls -R, ls -l -R --json, cat, extract, find, dd) on read-only copies
 *     of small images (mode 0444 and, where the host filesystem supports it, chattr +i) succeeds
 *     and leaves the image's bytes and mtime exactly as they were.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { constants } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { READ_ONLY_FLAGS } from '../src/source/file.js';
import { buildSeeds } from '../scripts/fuzz/seeds.js';
import { CLI, ROOT, diskpick, sha256File } from './helpers/tools.js';

/** fs functions that open, create, change or remove host files (sync/promise/callback forms). */
const MUTATING = new Set([
  'open', 'openSync', 'createWriteStream', 'createReadStream', 'writeFile', 'writeFileSync', 'appendFile', 'appendFileSync',
  'truncate', 'truncateSync', 'ftruncate', 'ftruncateSync', 'mkdir', 'mkdirSync', 'mkdtemp', 'mkdtempSync', 'symlink', 'symlinkSync',
  'link', 'linkSync', 'rename', 'renameSync', 'unlink', 'unlinkSync', 'rm', 'rmSync', 'rmdir', 'rmdirSync', 'utimes', 'utimesSync',
  'lutimes', 'lutimesSync', 'futimes', 'futimesSync', 'chmod', 'chmodSync', 'lchmod', 'fchmod', 'chown', 'chownSync', 'lchown',
  'lchownSync', 'fchown', 'copyFile', 'copyFileSync', 'cp', 'cpSync', 'write', 'writeSync', 'writev', 'fsync', 'fsyncSync',
  'readFile', 'readFileSync', 'opendir',
]);

/** Where each such call is allowed, and why. Anything else in src/ fails the test. */
const ALLOWED: Record<string, string> = {
  'src/source/file.ts': 'the image opener: open(path, READ_ONLY_FLAGS) — checked separately below',
  'src/restore/restore.ts': 'extract writes OUTPUT files under -o DIR (O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW)',
  'src/cli/commands/dd.ts': 'dd writes its OUTPUT raw image',
  'src/fuse/mount.ts': 'FUSE: /dev/fuse probe, /proc/self/mountinfo, the daemon log file, bdi read-ahead',
  'src/cli/main.ts': "reads diskpick's own package.json for --version",
  'src/cli/run.ts': "writes the command's output to standard output (fd 1, write(2) without Node's stream); never a file it opens",
  'src/cli/secrets.ts': 'reads key files the user names and opens the terminal (/dev/tty) for a passphrase prompt; never an image',
  'src/source/http.ts': "reads the user's ~/.netrc for credentials of images by URL; never an image",
  'src/cli/commands/serve.ts': 'serve reads its TLS certificate, key and token files (never an image) and appends its --log file',
  'src/cli/commands/mount.ts': 'mount --daemon: reads the keys its parent typed from stdin (fd 0, a pipe), removes the log of a mount that failed and said why',
  'src/cli/mount-log.ts': "the daemon's log files under $XDG_STATE_HOME/diskpick: makes the folder, keeps the previous log as .1, removes the oldest past 16",
  'src/source/stream-cache.ts': 'the random-access cache of a compressed backup (--cache DIR or a temporary file): created O_EXCL|O_NOFOLLOW, never the input; a kept one is reopened read-write to add its side records',
  'src/tui/browse.tsx': 'appends the first-screen time to the file DISKPICK_FIRST_SCREEN_FILE names (bench/tui.ts); never an image',
};

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else if (/\.(ts|tsx)$/.test(e.name)) out.push(p);
  }
  return out;
}

/** Source without comments and string contents, so that prose never counts as a call. */
function codeOnly(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (m) => m.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:])\/\/.*$/gm, '$1');
}

interface FsUse {
  file: string;
  line: number;
  call: string;
}

/** Calls of fs functions in one file: named imports (with aliases) and namespace/default imports. */
function fsCalls(file: string): FsUse[] {
  const text = codeOnly(readFileSync(file, 'utf8'));
  const rel = relative(ROOT, file);
  const names = new Map<string, string>(); // local name → fs function
  const spaces: string[] = [];
  const imp = /import\s+([^;]*?)\s+from\s+['"](?:node:)?fs(?:\/promises)?['"]/g;
  for (const m of text.matchAll(imp)) {
    const clause = m[1];
    const named = /\{([^}]*)\}/.exec(clause);
    if (named) {
      for (const part of named[1].split(',')) {
        const p = part.trim().replace(/^type\s+/, '');
        if (!p) continue;
        const [orig, alias] = p.split(/\s+as\s+/);
        names.set((alias ?? orig).trim(), orig.trim());
      }
    }
    const ns = /\*\s+as\s+(\w+)/.exec(clause) ?? /^(\w+)\s*(,|$)/.exec(clause.trim());
    if (ns) spaces.push(ns[1]);
  }
  const uses: FsUse[] = [];
  const lines = text.split('\n');
  lines.forEach((l, i) => {
    for (const [local, orig] of names) {
      if (MUTATING.has(orig) && new RegExp(`(^|[^.\\w])${local}\\s*\\(`).test(l)) uses.push({ file: rel, line: i + 1, call: orig });
    }
    for (const ns of spaces) {
      for (const m of l.matchAll(new RegExp(`\\b${ns}\\.(\\w+)\\s*\\(`, 'g'))) if (MUTATING.has(m[1])) uses.push({ file: rel, line: i + 1, call: m[1] });
    }
    if (/\b(require\s*\(\s*['"](node:)?fs|import\s*\(\s*['"](node:)?fs)/.test(l)) uses.push({ file: rel, line: i + 1, call: 'dynamic fs import' });
  });
  return uses;
}

describe('read-only guarantee: code scan', () => {
  const files = walk(join(ROOT, 'src'));
  const uses = files.flatMap(fsCalls);

  it('scans the whole source tree', () => {
    expect(files.length).toBeGreaterThan(30);
    // The scanner itself must see the calls it exists for.
    expect(uses.some((u) => u.file === 'src/source/file.ts' && u.call === 'openSync')).toBe(true);
    expect(uses.some((u) => u.file === 'src/restore/restore.ts' && u.call === 'open')).toBe(true);
  });

  it('opens, writes or changes host files only in the output writers and the read-only image opener', () => {
    const bad = uses.filter((u) => !(u.file in ALLOWED)).map((u) => `${u.file}:${u.line} ${u.call}()`);
    expect(bad).toEqual([]);
  });

  it('src/source/file.ts opens only with O_RDONLY, and is the only image opener', () => {
    // O_RDONLY, plus O_NONBLOCK (a FIFO must not hang open; it changes nothing for files).
    expect(READ_ONLY_FLAGS).toBe(constants.O_RDONLY | constants.O_NONBLOCK);
    const text = codeOnly(readFileSync(join(ROOT, 'src/source/file.ts'), 'utf8'));
    const opens = [...text.matchAll(/(?:await\s+open|openSync)\s*\(([^)]*)\)/g)].map((m) => m[1].trim());
    expect(opens.length).toBeGreaterThan(0);
    for (const args of opens) expect(args).toMatch(/^\w+,\s*READ_ONLY_FLAGS$/);
    // Every container/volume/fs layer reaches host files only through src/source (FileSource).
    for (const u of uses) expect(u.file.startsWith('src/container/') || u.file.startsWith('src/fs/') || u.file.startsWith('src/volume/') || u.file.startsWith('src/vfs/'), `${u.file}:${u.line}`).toBe(false);
  });

  it('output writers create files exclusively (never open an existing path for writing by accident)', () => {
    const restore = codeOnly(readFileSync(join(ROOT, 'src/restore/restore.ts'), 'utf8'));
    for (const m of restore.matchAll(/(?<![.\w])open\s*\(([^;]*?)\)\.catch/g)) expect(m[1]).toMatch(/O_EXCL/);
  });
});

describe('read-only guarantee: every command on a read-only copy', () => {
  const seeds = buildSeeds();
  const work = mkdtempSync(join(ROOT, '.cache', 'readonly-'));
  const immutable: string[] = [];
  afterAll(() => {
    for (const p of immutable) spawnSync('chattr', ['-i', p]);
    rmSync(work, { recursive: true, force: true });
  });

  const images: Array<[string, string]> = [
    ['MBR disk of FAT volumes', seeds.mbr[0]],
    ['GPT disk', seeds.gpt[0]],
    ['ext4', seeds.ext[2]],
    ['NTFS', seeds.ntfs[0]],
    ['exFAT', seeds.exfat[0]],
    ['qcow2', seeds.qcow2[0]],
    ['VMDK', seeds.vmdk[0]],
    ['VHDX', seeds.vhdx[0]],
  ];
  let chattrOk: boolean | null = null;

  for (const [label, seed] of images) {
    it(`${label}: info, ls -R, ls -l -R --json, find, cat, extract, dd leave the image untouched`, async () => {
      const img = join(work, `${label.replace(/\W+/g, '-')}.img`);
      copyFileSync(seed, img);
      utimesSync(img, new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
      chmodSync(img, 0o444);
      const r = spawnSync('chattr', ['+i', img], { encoding: 'utf8' });
      if (r.status === 0) {
        immutable.push(img);
        chattrOk = true;
      } else if (chattrOk === null) {
        chattrOk = false;
        console.warn(`SKIP chattr +i part: ${(r.stderr || r.error?.message || '').trim()} (host filesystem does not support the immutable flag); testing with chmod 0444 only`);
      }
      const before = statSync(img);
      const hash = await sha256File(img);

      const run = (args: string[], ok = [0]) => {
        const res = diskpick(args);
        expect(ok, `${args.join(' ')}: ${res.stderr}`).toContain(res.status);
        return res;
      };
      run(['info', img]);
      run(['info', '--json', img]);
      const ls = run(['ls', '-R', img, '/']).stdout.toString();
      expect(ls.length).toBeGreaterThan(0);
      const json = run(['ls', '-l', '-R', '--json', img, '/']).stdout.toString();
      const entries = json.trim().startsWith('[') ? (JSON.parse(json) as Array<{ path: string; type: string }>) : json.trim().split('\n').map((l) => JSON.parse(l) as { path: string; type: string });
      const file = entries.find((e) => e.type === 'file' && /readme\.txt$/i.test(e.path)) ?? entries.find((e) => e.type === 'file');
      expect(file, 'a file to cat').toBeDefined();
      run(['find', img, '/', '--type', 'f']);
      const cat = run(['cat', img, file!.path]);
      expect(cat.stdout.length).toBeGreaterThan(0);
      const out = join(work, `${label.replace(/\W+/g, '-')}-out`);
      run(['extract', img, file!.path.split('/').slice(0, 2).join('/'), '-o', out], [0, 1]);
      run(['dd', '-q', img, '-o', join(work, `${label.replace(/\W+/g, '-')}.raw`)]);

      const after = statSync(img);
      expect(after.mtimeMs).toBe(before.mtimeMs);
      expect(after.ctimeMs).toBe(before.ctimeMs);
      expect(after.size).toBe(before.size);
      expect(await sha256File(img)).toBe(hash);
      rmSync(out, { recursive: true, force: true });
      rmSync(join(work, `${label.replace(/\W+/g, '-')}.raw`), { force: true });
    });
  }

  it('the CLI exists (npm test builds it)', () => {
    expect(statSync(CLI).isFile()).toBe(true);
  });
  void tmpdir;
});
