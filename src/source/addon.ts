/**
 * diskpick's own native addons (dist/native/NAME.node, built by scripts/native.ts), found from
 * wherever this module runs: dist/source/, the bundle in dist/cli/, or src/source/ (tests).
 * Every addon has a JavaScript fallback or is optional, so one that is not built, or cannot
 * load (built for another Node, a system library missing), is simply absent.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where addon `name` ("codecs") was built, or null. */
export function addonPath(name: string): string | null {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const rel of ['../native', '../../dist/native']) {
    const p = resolve(here, rel, `${name}.node`);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Addon `name` loaded, or null where it is not built or does not load. */
export function loadAddon<T>(name: string): T | null {
  const p = addonPath(name);
  if (p === null) return null;
  try {
    return createRequire(import.meta.url)(p) as T;
  } catch {
    return null;
  }
}
