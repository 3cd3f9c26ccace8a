// After `npm pack` / `npm publish` (package.json "postpack"): the checkout's own package.json
// back in place of the packed one (scripts/prepack.mjs wrote it without "prepare").
import { existsSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kept = join(root, 'package.json.unpacked');
if (existsSync(kept)) renameSync(kept, join(root, 'package.json'));
