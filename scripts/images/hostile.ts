/**
 * A hostile ext4 image for restore safety tests: names with "\", control characters, a
 * leading "-", symlinks to /etc and to ../../.. (and deeper); then, patched into the folder
 * entries after mkfs (no tool creates them), names that are "..", contain "/" or NUL.
 *
 * The patched names replace placeholder names of the same length inside one linear folder
 * block; metadata_csum is off so the patch leaves a consistent volume (e2fsck would only
 * complain about the names themselves). The list of what was planted is written to
 * `<image>.hostile.json` from what this builder did, never from diskpick.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeTree } from './tree.js';

export interface HostilePlan {
  /** Names as they end up stored in /evil (after patching). */
  storedNames: string[];
  /** Symlinks: path → target as stored. */
  symlinks: Record<string, string>;
  /** Content of each planted file, by stored name (all distinct). */
  contents: Record<string, string>;
}

/** Placeholder → hostile name (never longer: the entry's space stays the same). */
const PATCHES: [string, string][] = [
  ['DOTDOT-PH-0001', '..'],
  ['SLASH-PH-00001', '../../etc/pwnd'],
  ['SLASH-PH-00002', '/tmp/dp-escape'],
  ['NUL-PH-00000003', 'nul\0inside.txt'],
];

export function buildHostileExt(imgPath: string): HostilePlan {
  const tree = `${imgPath}.tree`;
  const contents: Record<string, string> = {};
  const files: { path: string; content: string }[] = [];
  const plain: Record<string, string> = {
    'back\\slash.txt': 'backslash',
    'ctl\x01\x1b[31mred\x07.txt': 'control characters',
    'new\nline.txt': 'newline',
    '-rf': 'leading dash',
    'CON': 'windows reserved',
    'aux.txt': 'windows reserved with extension',
    'what?.txt': 'windows-illegal character',
    'trailing.': 'trailing dot',
  };
  for (const [n, c] of Object.entries(plain)) {
    files.push({ path: `evil/${n}`, content: c });
    contents[n] = c;
  }
  for (const [i, [ph]] of PATCHES.entries()) files.push({ path: `evil/${ph}`, content: `planted hostile name ${i}` });
  files.push({ path: 'safe/ok.txt', content: 'an ordinary file' });
  writeTree(tree, files);
  const symlinks: Record<string, string> = {
    '/evil/etc-link': '/etc',
    '/evil/up-link': '../../..',
    '/evil/deep-up': '../../../../../../../../tmp',
    '/evil/passwd-link': '/etc/passwd',
  };
  for (const [p, t] of Object.entries(symlinks)) symlinkSync(t, join(tree, p));

  const tmp = `${imgPath}.tmp`;
  rmSync(tmp, { force: true });
  execFileSync('mkfs.ext4', ['-F', '-q', '-b', '1024', '-O', '^metadata_csum,^dir_index', '-N', '64', '-E', 'root_owner=0:0', '-d', tree, tmp, '4M'], { stdio: 'pipe' });

  // Patch the placeholder names in /evil's folder block. A directory entry is inode(4)
  // rec_len(2) name_len(1) file_type(1) name: the name length byte sits 2 bytes before the name.
  const raw = readFileSync(tmp);
  const stored: string[] = [...Object.keys(plain)];
  for (const [i, [ph, hostile]] of PATCHES.entries()) {
    const at = raw.indexOf(Buffer.from(ph));
    if (at < 8 || raw.indexOf(Buffer.from(ph), at + 1) !== -1) throw new Error(`placeholder ${ph} not found once in ${tmp}`);
    const name = hostile;
    const bytes = Buffer.from(name, 'latin1');
    raw.fill(0, at, at + ph.length);
    bytes.copy(raw, at);
    raw[at - 2] = bytes.length;
    stored.push(name);
    contents[name] = `planted hostile name ${i}`;
  }
  writeFileSync(tmp, raw);
  mkdirSync(join(imgPath, '..'), { recursive: true });
  renameSync(tmp, imgPath);
  const plan: HostilePlan = { storedNames: stored, symlinks, contents };
  writeFileSync(`${imgPath}.hostile.json`, JSON.stringify(plan, null, 1));
  return plan;
}
