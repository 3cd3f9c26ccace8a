/**
 * Shared by the CLI tests: the images they run on (built by the real tools, cached under
 * cli-* names), a small JSON Schema checker for docs/schema/*.json (no new packages), and a
 * walk of a host folder that never follows links.
 */
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { EXT_VARIANTS, buildExtImage, treeOf, type ExtVariant } from '../../scripts/images/ext.js';
import { buildHostileExt, type HostilePlan } from '../../scripts/images/hostile.js';
import { buildNtfsImage, type NtfsExtra } from '../../scripts/images/ntfs.js';
import { ROOT, cachedImage, readManifest, type ManifestEntry } from '../helpers/tools.js';

/** A small ext4 (4 KiB blocks) with the special files of the ext builder and a 200-entry folder. */
const CLI_EXT: ExtVariant = { ...EXT_VARIANTS[0]!, name: 'cli-ext4', big: false, many: 200 };

export function cliExt(): { img: string; tree: string } {
  const img = cachedImage('cli-ext4.img', (p) => void buildExtImage(p, CLI_EXT));
  return { img, tree: treeOf(img) };
}

export function hostileExt(): { img: string; plan: HostilePlan } {
  const img = cachedImage('cli-hostile.img', (p) => void buildHostileExt(p));
  return { img, plan: JSON.parse(readFileSync(`${img}.hostile.json`, 'utf8')) as HostilePlan };
}

/** The same small NTFS image the NTFS tests use (streams, hard links, sparse files). */
export function ntfsSmall(): { img: string; manifest: ManifestEntry[]; extra: NtfsExtra } {
  const img = cachedImage('ntfs-c512.img', (p) => buildNtfsImage(p, { clusterSize: 512, content: 'small', sizeMiB: 64 }));
  return { img, manifest: readManifest(`${img}.manifest.json`), extra: JSON.parse(readFileSync(`${img}.extra.json`, 'utf8')) as NtfsExtra };
}

// ---- JSON Schema (the subset our schema files use) ----

export interface Schema {
  type?: string | string[];
  required?: string[];
  properties?: Record<string, Schema>;
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
}

export function loadSchema(name: string): Schema {
  return JSON.parse(readFileSync(join(ROOT, 'docs', 'schema', name), 'utf8')) as Schema;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/** Problems found, as "path: message" lines; empty when the value fits the schema. */
export function validate(schema: Schema, v: unknown, at = '$'): string[] {
  const errs: string[] = [];
  if (schema.type !== undefined) {
    const want = Array.isArray(schema.type) ? schema.type : [schema.type];
    const got = typeOf(v);
    if (!want.includes(got) && !(got === 'integer' && want.includes('number'))) return [`${at}: is ${got}, want ${want.join('|')}`];
  }
  if (schema.enum && !schema.enum.includes(v)) errs.push(`${at}: ${JSON.stringify(v)} not in enum`);
  if (schema.pattern !== undefined && typeof v === 'string' && !new RegExp(schema.pattern, 'u').test(v)) errs.push(`${at}: ${JSON.stringify(v)} does not match ${schema.pattern}`);
  if (schema.minimum !== undefined && typeof v === 'number' && v < schema.minimum) errs.push(`${at}: ${v} < ${schema.minimum}`);
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in o)) errs.push(`${at}: missing ${r}`);
    for (const [k, val] of Object.entries(o)) {
      const p = schema.properties?.[k];
      if (p) errs.push(...validate(p, val, `${at}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${at}: unexpected property ${k}`);
      else if (typeof schema.additionalProperties === 'object') errs.push(...validate(schema.additionalProperties, val, `${at}.${k}`));
    }
  }
  if (Array.isArray(v) && schema.items) v.forEach((x, i) => errs.push(...validate(schema.items!, x, `${at}[${i}]`)));
  return errs;
}

// ---- host folders ----

export interface HostItem {
  /** Path relative to the root, with a leading "/". */
  rel: string;
  type: 'file' | 'dir' | 'symlink' | 'other';
  target?: string;
}

/** Everything below `root`, links listed and never followed. */
export function walkHost(root: string): HostItem[] {
  const out: HostItem[] = [];
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const st = lstatSync(p);
      const r = `${rel}/${name}`;
      if (st.isSymbolicLink()) out.push({ rel: r, type: 'symlink', target: readlinkSync(p) });
      else if (st.isDirectory()) {
        out.push({ rel: r, type: 'dir' });
        walk(p, r);
      } else out.push({ rel: r, type: st.isFile() ? 'file' : 'other' });
    }
  };
  walk(root, '');
  return out;
}
